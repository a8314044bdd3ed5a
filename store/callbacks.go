package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Notification events WeChat Pay sends.
const (
	EventOpen  = "PAYSCORE.USER_OPEN_SERVICE"
	EventClose = "PAYSCORE.USER_CLOSE_SERVICE"
)

// Outcomes of recording a notification delivery.
const (
	OutcomeAccepted  = "accepted"  // first delivery; the state change applied
	OutcomeStale     = "stale"     // first delivery, but a newer state was known
	OutcomeDuplicate = "duplicate" // seen before: nothing changed
)

// Notification is a verified, decrypted notification to record.
type Notification struct {
	NotificationID    string
	EventType         string
	AuthorizationCode string
	SubMchID          string
	OpenID            string
	SubOpenID         string
	OpenOrCloseTime   time.Time
	CreateTime        string
	Serial            string
	Envelope          []byte
	Payload           []byte
	RemoteAddr        string
}

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

// Callback is a recorded notification.
type Callback struct {
	ID                int64
	NotificationID    string
	EventType         string
	AuthorizationCode string
	SubMchID          string
	OpenID            string
	SubOpenID         string
	OpenOrCloseTime   *time.Time
	CreateTime        string
	Serial            string
	Envelope          string
	Payload           string
	Applied           bool
	Deliveries        int
	FirstReceivedAt   time.Time
	LastReceivedAt    time.Time
}

// Delivery is one delivery of a notification.
type Delivery struct {
	ReceivedAt time.Time
	RemoteAddr string
	Serial     string
	Outcome    string
}

// CallbackFilter narrows the callback log. Before is the keyset cursor: only
// rows with a smaller id. Fields are named as the notification's fields.
type CallbackFilter struct {
	EventType         string
	Outcome           string // accepted, duplicate (delivered more than once), stale
	AuthorizationCode string
	SubMchID          string
	OpenID            string // matches openid or sub_openid
	From, To          time.Time
	Before            int64
	// After is the polling cursor: only rows with a greater id, the oldest
	// Limit of them (returned newest first).
	After int64
	Limit int
}

const callbackListColumns = `id, notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid, openorclose_time, create_time, serial, applied, deliveries, first_received_at, last_received_at`

// Callbacks lists recorded notifications, newest first, one page at a time.
func (db *DB) Callbacks(ctx context.Context, f CallbackFilter) ([]Callback, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.EventType != "" {
		add("event_type = ?", f.EventType)
	}
	// Literal terms, not parameters: SQLite uses the partial indexes
	// callbacks_stale and callbacks_duplicate only for these exact terms.
	switch f.Outcome {
	case OutcomeAccepted:
		where = append(where, "applied = 1")
	case OutcomeStale:
		where = append(where, "applied = 0")
	case OutcomeDuplicate:
		where = append(where, "deliveries > 1")
	}
	if f.AuthorizationCode != "" {
		add("authorization_code = ?", f.AuthorizationCode)
	}
	if f.SubMchID != "" {
		add("sub_mchid = ?", f.SubMchID)
	}
	if f.OpenID != "" {
		where, args = append(where, "(openid = ? OR sub_openid = ?)"), append(args, f.OpenID, f.OpenID)
	}
	conds, targs := timeRange("callbacks", "first_received_at", f.From, f.To)
	where, args = append(where, conds...), append(args, targs...)
	q, args, ascending := keysetPage(`SELECT `+callbackListColumns+` FROM callbacks`, where, args, f.Before, f.After, f.Limit)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list callbacks: %w", err)
	}
	defer rows.Close()
	var out []Callback
	for rows.Next() {
		cb, err := scanCallback(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: list callbacks: %w", err)
		}
		out = append(out, *cb)
	}
	if ascending {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

func scanCallback(row interface{ Scan(...any) error }, full bool) (*Callback, error) {
	var cb Callback
	var oc sql.NullString
	var first, last string
	dest := []any{&cb.ID, &cb.NotificationID, &cb.EventType, &cb.AuthorizationCode, &cb.SubMchID, &cb.OpenID, &cb.SubOpenID,
		&oc, &cb.CreateTime, &cb.Serial, &cb.Applied, &cb.Deliveries, &first, &last}
	if full {
		dest = append(dest, &cb.Envelope, &cb.Payload)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	cb.OpenOrCloseTime = parseTimePtr(oc)
	cb.FirstReceivedAt, cb.LastReceivedAt = parseTime(first), parseTime(last)
	return &cb, nil
}

// CallbackByID finds one recorded notification with its deliveries.
func (db *DB) CallbackByID(ctx context.Context, id int64) (*Callback, []Delivery, error) {
	var cb *Callback
	var deliveries []Delivery
	err := db.view(ctx, func(tx *sql.Tx) error {
		var err error
		cb, err = scanCallback(tx.QueryRowContext(ctx, `SELECT `+callbackListColumns+`, envelope, payload FROM callbacks WHERE id = ?`, id), true)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: find callback %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: find callback: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT received_at, remote_addr, serial, outcome FROM callback_deliveries WHERE callback_id = ? ORDER BY id`, id)
		if err != nil {
			return fmt.Errorf("store: deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d Delivery
			var at string
			if err := rows.Scan(&at, &d.RemoteAddr, &d.Serial, &d.Outcome); err != nil {
				return err
			}
			d.ReceivedAt = parseTime(at)
			deliveries = append(deliveries, d)
		}
		return rows.Err()
	})
	return cb, deliveries, err
}

// DeliveryCounts returns, for each of ids that is recorded, its delivery
// count. The load generator uses it to check that every notification that
// got a 2xx is present exactly once.
func (db *DB) DeliveryCounts(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT notification_id, deliveries FROM callbacks WHERE notification_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: delivery counts: %w", err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keysetPage completes a list query: the filters, the keyset cursor
// (before / after an id), the order and the limit (default 50). Polling
// (after, without before) takes the oldest rows above the cursor, so that a
// burst larger than one page is picked up over several polls, none skipped;
// the caller then returns the page newest first (ascending reports it).
func keysetPage(q string, where []string, args []any, before, after int64, limit int) (string, []any, bool) {
	if before > 0 {
		where, args = append(where, "id < ?"), append(args, before)
	}
	if after > 0 {
		where, args = append(where, "id > ?"), append(args, after)
	}
	if limit <= 0 {
		limit = 50
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	ascending := after > 0 && before == 0
	if ascending {
		q += ` ORDER BY id ASC LIMIT ?`
	} else {
		q += ` ORDER BY id DESC LIMIT ?`
	}
	return q, append(args, limit), ascending
}
