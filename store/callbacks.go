package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// RecordNotification stores a notification exactly once by its id and
// applies its state change in the same transaction. A duplicate only counts
// a delivery. It returns after the commit: a nil error is a durable promise.
// Concurrent calls share commits (group commit), each still answered only
// after the commit that holds it.
func (db *DB) RecordNotification(ctx context.Context, n Notification) (string, error) {
	item := &batchItem{n: n, done: make(chan batchResult, 1)}
	select {
	case db.batch <- item:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-db.closed:
		return "", errors.New("store: closed")
	}
	select {
	case r := <-item.done:
		return r.outcome, r.err
	case <-db.batcherDone:
		select {
		case r := <-item.done:
			return r.outcome, r.err
		default:
			return "", errors.New("store: closed before the notification was written")
		}
	case <-ctx.Done():
		// The write may still commit; WeChat Pay will retry and the retry
		// is then a duplicate, which is harmless.
		return "", ctx.Err()
	}
}

type batchItem struct {
	n    Notification
	done chan batchResult
}

type batchResult struct {
	outcome string
	err     error
}

// maxBatch bounds one shared commit.
const maxBatch = 256

// runBatcher is the group-commit writer: it takes whatever notifications
// are waiting (no added delay: items gather while the previous commit
// syncs), writes them in one transaction, each in its own savepoint so that
// one failure does not fail the rest, and answers each after the commit.
func (db *DB) runBatcher() {
	defer close(db.batcherDone)
	for {
		var first *batchItem
		select {
		case first = <-db.batch:
		case <-db.closed:
			return
		}
		items := []*batchItem{first}
	drain:
		for len(items) < maxBatch {
			select {
			case it := <-db.batch:
				items = append(items, it)
			default:
				break drain
			}
		}
		db.writeBatch(items)
	}
}

func (db *DB) writeBatch(items []*batchItem) {
	ctx := context.Background()
	results := make([]batchResult, len(items))
	err := db.update(ctx, func(tx *Tx) error {
		for i, it := range items {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT item`); err != nil {
				return err
			}
			outcome, err := recordNotification(ctx, tx, it.n)
			if err != nil {
				results[i].err = err
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO item`); err != nil {
					return err
				}
			}
			results[i].outcome = outcome
			if _, err := tx.ExecContext(ctx, `RELEASE item`); err != nil {
				return err
			}
		}
		return nil
	})
	for i, it := range items {
		if err != nil {
			results[i] = batchResult{err: err}
		}
		it.done <- results[i]
	}
}

func recordNotification(ctx context.Context, tx *Tx, n Notification) (string, error) {
	now := fmtTime(tx.now)
	var id, deliveries int64
	err := tx.QueryRowContext(ctx, `INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
			openorclose_time, create_time, serial, envelope, payload, first_received_at, last_received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (notification_id) DO UPDATE SET deliveries = deliveries + 1, last_received_at = excluded.last_received_at
		RETURNING id, deliveries`,
		n.NotificationID, n.EventType, n.AuthorizationCode, n.SubMchID, n.OpenID, n.SubOpenID,
		fmtTimePtr(&n.OpenOrCloseTime), n.CreateTime, n.Serial, string(n.Envelope), string(n.Payload), now, now).Scan(&id, &deliveries)
	if err != nil {
		return "", fmt.Errorf("store: record notification: %w", err)
	}
	outcome := OutcomeDuplicate
	if deliveries == 1 {
		a := Authorization{AuthorizationCode: n.AuthorizationCode, SubMchID: n.SubMchID, OpenID: n.OpenID, SubOpenID: n.SubOpenID,
			StateTime: n.OpenOrCloseTime, Source: "notification"}
		t := n.OpenOrCloseTime
		if n.EventType == EventOpen {
			a.State, a.SuccessTime = StateAvailable, &t
		} else {
			a.State, a.CancelTime = StateUnavailable, &t
		}
		applied, err := saveAuthorization(ctx, tx, a)
		if err != nil {
			return "", err
		}
		outcome = OutcomeStale
		if applied {
			outcome = OutcomeAccepted
			if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET applied = 1 WHERE id = ?`, id); err != nil {
				return "", fmt.Errorf("store: record notification: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, ?, ?, ?)`,
		id, now, n.RemoteAddr, n.Serial, outcome); err != nil {
		return "", fmt.Errorf("store: record delivery: %w", err)
	}
	return outcome, nil
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
	After             int64 // only rows with a greater id (polling for new rows)
	Limit             int
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
	switch f.Outcome {
	case OutcomeAccepted:
		add("applied = ?", 1)
	case OutcomeStale:
		add("applied = ?", 0)
	case OutcomeDuplicate:
		add("deliveries > ?", 1)
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
	if !f.From.IsZero() {
		add("first_received_at >= ?", fmtTime(f.From))
	}
	if !f.To.IsZero() {
		add("first_received_at < ?", fmtTime(f.To))
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	if f.After > 0 {
		add("id > ?", f.After)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + callbackListColumns + ` FROM callbacks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
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

// Refusals lists refused attempts, newest first.
func (db *DB) Refusals(ctx context.Context, before int64, limit int) ([]Refusal, error) {
	q, args := `SELECT id, received_at, remote_addr, reason, serial, notification_id FROM callback_refusals`, []any{}
	if before > 0 {
		q, args = q+` WHERE id < ?`, append(args, before)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: refusals: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		var at string
		if err := rows.Scan(&r.ID, &at, &r.RemoteAddr, &r.Reason, &r.Serial, &r.NotificationID); err != nil {
			return nil, err
		}
		r.ReceivedAt = parseTime(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
