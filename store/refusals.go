package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Refusal is a notification attempt that was refused. It never holds the
// decrypted data of a refused payload.
type Refusal struct {
	ID             int64
	ReceivedAt     time.Time
	RemoteAddr     string
	Reason         string
	Serial         string
	NotificationID string
}

// MaxRefusals bounds the refused-attempts log: older rows are dropped.
const MaxRefusals = 10000

// RecordRefusal keeps a refused attempt visible, bounded to the newest
// MaxRefusals.
func (db *DB) RecordRefusal(ctx context.Context, r Refusal) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO callback_refusals (received_at, remote_addr, reason, serial, notification_id) VALUES (?, ?, ?, ?, ?)`,
			fmtTime(tx.now), r.RemoteAddr, r.Reason, truncate(r.Serial, 64), truncate(r.NotificationID, 64))
		if err != nil {
			return fmt.Errorf("store: record refusal: %w", err)
		}
		id, _ := res.LastInsertId()
		if id%100 == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM callback_refusals WHERE id <= ?`, id-MaxRefusals); err != nil {
				return fmt.Errorf("store: trim refusals: %w", err)
			}
		}
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RefusalFilter narrows the refused-attempts log. Before and After are
// keyset cursors, as in CallbackFilter.
type RefusalFilter struct {
	NotificationID string
	From, To       time.Time
	Before         int64
	// After is the polling cursor: only rows with a greater id, the oldest
	// Limit of them (returned newest first).
	After int64
	Limit int
}

const refusalColumns = `id, received_at, remote_addr, reason, serial, notification_id`

// RefusalLog lists refused notification attempts, newest first, one page
// at a time.
func (db *DB) RefusalLog(ctx context.Context, f RefusalFilter) ([]Refusal, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.NotificationID != "" {
		add("notification_id = ?", f.NotificationID)
	}
	if !f.From.IsZero() {
		add("received_at >= ?", fmtTime(f.From))
	}
	if !f.To.IsZero() {
		add("received_at < ?", fmtTime(f.To))
	}
	q, args, ascending := keysetPage(`SELECT `+refusalColumns+` FROM callback_refusals`, where, args, f.Before, f.After, f.Limit)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: refusal log: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		if err := rows.Scan(&r.ID, timeCol{&r.ReceivedAt}, &r.RemoteAddr, &r.Reason, &r.Serial, &r.NotificationID); err != nil {
			return nil, fmt.Errorf("store: refusal log: %w", err)
		}
		out = append(out, r)
	}
	if ascending {
		slices.Reverse(out)
	}
	return out, rows.Err()
}
