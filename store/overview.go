package store

import (
	"context"
	"fmt"
	"time"
)

// Overview is the start page's figures.
type Overview struct {
	// ActiveAuthorizations counts AVAILABLE authorizations (exact).
	ActiveAuthorizations int
	// AwaitingUser counts links whose authorization is UNBINDUSER and whose
	// token has not expired: handed out, not yet agreed to.
	AwaitingUser int
	// Callbacks24h and Refusals24h count notifications first received and
	// attempts refused in the 24 hours before now.
	Callbacks24h int
	Refusals24h  int
	// TerminatedToday counts terminations that succeeded, requested since
	// the start of the day given to OverviewFigures.
	TerminatedToday int
	// NotificationKeys says which keys signed the notifications accepted
	// in the last 24 hours (counted by the hour), the latest used first.
	NotificationKeys []NotificationKey
}

// NotificationKey is one Wechatpay-Serial that signed verified
// notifications: a PUB_KEY_ID_… or a platform certificate serial.
type NotificationKey struct {
	Serial       string
	Deliveries   int
	LastReceived time.Time
}

// OverviewFigures reads the overview's counts in one consistent snapshot.
// Each is an index range or a single row, never a scan of a whole table.
func (db *DB) OverviewFigures(ctx context.Context, now, dayStart time.Time) (Overview, error) {
	var o Overview
	err := db.view(ctx, func(tx *readTx) error {
		// CROSS JOIN makes SQLite walk the links first: those with a live
		// token are an hour's worth, while UNBINDUSER authorizations pile
		// up (every link never agreed to stays so).
		queries := []struct {
			dest *int
			q    string
			args []any
		}{
			{&o.ActiveAuthorizations, `SELECT coalesce((SELECT n FROM authorization_counts WHERE state = ?), 0)`, []any{StateAvailable}},
			{&o.AwaitingUser, `SELECT count(*) FROM links l ` + db.d.pick("CROSS JOIN", "JOIN") + ` authorizations a ON a.authorization_code = l.authorization_code
				WHERE l.token_expires_at > ? AND a.state = ?`, []any{fmtTime(now), StateUnbindUser}},
			// Counted by time through the (first_received_at, id) index:
			// an index range, never the table. Not by id differences: under
			// concurrent writers (several instances, PostgreSQL sequences)
			// ids have gaps and are not in time order.
			{&o.Callbacks24h, `SELECT count(*) FROM callbacks WHERE first_received_at >= ?`,
				[]any{fmtTime(now.Add(-24 * time.Hour))}},
			// Refused attempts are aggregated (a row per reason, address and
			// minute, counted) and the log is bounded: a bounded sum.
			{&o.Refusals24h, `SELECT coalesce(sum(count), 0) FROM callback_refusals WHERE last_at >= ?`,
				[]any{fmtTime(now.Add(-24 * time.Hour))}},
			{&o.TerminatedToday, `SELECT count(*) FROM terminations WHERE created_at >= ? AND status = ?`,
				[]any{fmtTime(dayStart), TerminationSucceeded}},
		}
		for _, q := range queries {
			if err := tx.QueryRowContext(ctx, q.q, q.args...).Scan(q.dest); err != nil {
				return fmt.Errorf("store: overview: %w", err)
			}
		}
		// At most 25 hourly rows per key.
		rows, err := tx.QueryContext(ctx, `SELECT serial, sum(deliveries), max(last_received_at) FROM notification_keys
			WHERE hour >= ? GROUP BY serial ORDER BY max(last_received_at) DESC, serial`, fmtTime(now.Add(-24 * time.Hour))[:13])
		if err != nil {
			return fmt.Errorf("store: overview: keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k NotificationKey
			var last string
			if err := rows.Scan(&k.Serial, &k.Deliveries, &last); err != nil {
				return fmt.Errorf("store: overview: keys: %w", err)
			}
			if k.LastReceived, err = parseTime(last); err != nil {
				return fmt.Errorf("store: overview: keys: %w", err)
			}
			o.NotificationKeys = append(o.NotificationKeys, k)
		}
		return rows.Err()
	})
	return o, err
}
