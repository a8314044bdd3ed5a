package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
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
	// SubAppID is the sub_appid the notification names ("" if none), and
	// ForeignAppID that its appid is not the one configured: both are
	// checked against the link that holds AuthorizationCode, if one of
	// ours does (LinkMismatchError).
	SubAppID     string
	ForeignAppID bool
}

// LinkMismatchError: a notification names a code of one of our links but
// not what the link was issued for. Nothing of it is written: otherwise it
// would overwrite the authorization's sub-merchant. Field is "sub_mchid",
// "appid" or "sub_appid".
type LinkMismatchError struct {
	Field        string
	LinkSubMchID string
}

func (e *LinkMismatchError) Error() string {
	return fmt.Sprintf("store: %s does not match the link's (link's sub_mchid %s)", e.Field, e.LinkSubMchID)
}

// linkMismatch is the rule itself, the same on both engines (PostgreSQL's
// batch function says it in plpgsql): the link's sub-merchant first, then
// the configured appid, then the link's sub_appid when the notification
// names one.
func linkMismatch(n Notification, link LinkIssue) *LinkMismatchError {
	switch {
	case link.SubMchID != n.SubMchID:
		return &LinkMismatchError{Field: "sub_mchid", LinkSubMchID: link.SubMchID}
	case n.ForeignAppID:
		return &LinkMismatchError{Field: "appid", LinkSubMchID: link.SubMchID}
	case n.SubAppID != "" && n.SubAppID != link.SubAppID:
		return &LinkMismatchError{Field: "sub_appid", LinkSubMchID: link.SubMchID}
	}
	return nil
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
	return db.listCallbacks(ctx, db.read, f)
}

func (db *DB) listCallbacks(ctx context.Context, q querier, f CallbackFilter) ([]Callback, error) {
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
	conds, targs := db.timeRange("callbacks", "first_received_at", f.From, f.To)
	where, args = append(where, conds...), append(args, targs...)
	query, args, ascending := keysetPage(`SELECT `+callbackListColumns+` FROM callbacks`, where, args, f.Before, f.After, f.Limit)
	rows, err := q.QueryContext(ctx, query, args...)
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
	dest := []any{&cb.ID, &cb.NotificationID, &cb.EventType, &cb.AuthorizationCode, &cb.SubMchID, &cb.OpenID, &cb.SubOpenID,
		nullTimeCol{&cb.OpenOrCloseTime}, &cb.CreateTime, &cb.Serial, &cb.Applied, &cb.Deliveries, timeCol{&cb.FirstReceivedAt}, timeCol{&cb.LastReceivedAt}}
	if full {
		dest = append(dest, &cb.Envelope, &cb.Payload)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &cb, nil
}

// CallbackByID finds one recorded notification with its deliveries.
func (db *DB) CallbackByID(ctx context.Context, id int64) (*Callback, []Delivery, error) {
	var cb *Callback
	var deliveries []Delivery
	err := db.view(ctx, func(tx *readTx) error {
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
			if err := rows.Scan(timeCol{&d.ReceivedAt}, &d.RemoteAddr, &d.Serial, &d.Outcome); err != nil {
				return fmt.Errorf("store: deliveries: %w", err)
			}
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
		rows, err := db.read.QueryContext(ctx, `SELECT notification_id, deliveries FROM callbacks WHERE notification_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
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

// SeedCallbacks writes n synthetic notifications — callbacks, their
// deliveries and authorizations, shaped like real ones (an envelope of
// about a kilobyte) — for benchmarks and load tests at scale. Rows are
// spread over the days before now, newest last; a tenth are closes and one
// in fifty was delivered twice.
func (db *DB) SeedCallbacks(ctx context.Context, n int, subMchIDs []string, now time.Time) error {
	const perTx = 5000
	cipher := make([]byte, 420)
	span := 30 * 24 * time.Hour
	run := fmt.Sprintf("%x", now.UnixNano())[4:]
	for done := 0; done < n; {
		batch := min(perTx, n-done)
		err := db.update(ctx, func(tx *Tx) error {
			insCb, err := tx.PrepareContext(ctx, `INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
				openorclose_time, create_time, serial, envelope, payload, applied, deliveries, first_received_at, last_received_at)
				VALUES (?, ?, ?, ?, ?, '', ?, ?, 'PUB_KEY_ID_SEED', ?, ?, 1, ?, ?, ?) RETURNING id`)
			if err != nil {
				return err
			}
			insDel, err := tx.PrepareContext(ctx, `INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, '127.0.0.1', 'PUB_KEY_ID_SEED', ?)`)
			if err != nil {
				return err
			}
			save, err := tx.PrepareContext(ctx, saveAuthorizationSQL)
			if err != nil {
				return err
			}
			for i := done; i < done+batch; i++ {
				at := now.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
				sub := subMchIDs[i%len(subMchIDs)]
				code := fmt.Sprintf("SEED%s%07d", run, i)
				openid := fmt.Sprintf("oSeed%023d", i)
				event, state := EventOpen, StateAvailable
				if i%10 == 9 {
					event, state = EventClose, StateUnavailable
				}
				deliveries := 1
				if i%50 == 0 {
					deliveries = 2
				}
				_, _ = rand.Read(cipher)
				id := fmt.Sprintf("EV-SEED%s%09d", run, i)
				envelope := fmt.Sprintf(`{"id":%q,"create_time":%q,"resource_type":"encrypt-resource","event_type":%q,"summary":"授权成功","resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":%q,"associated_data":"payscore","nonce":"0123456789ab"}}`,
					id, at.Format(time.RFC3339), event, base64.StdEncoding.EncodeToString(cipher))
				payload := fmt.Sprintf(`{"appid":"wxd678efh567hg6787","mchid":"1900000109","sub_mchid":%q,"service_id":"2002000000000558128851361561536","openid":%q,"user_service_status":"USER_OPEN_SERVICE","openorclose_time":%q,"authorization_code":%q}`,
					sub, openid, at.Format("20060102150405"), code)
				ts := fmtTime(at)
				var cbID int64
				err := insCb.QueryRowContext(ctx, id, event, code, sub, openid, ts, at.Format(time.RFC3339), envelope, payload, deliveries, ts, ts).Scan(&cbID)
				if err != nil {
					return fmt.Errorf("store: seed: %w", err)
				}
				for d := range deliveries {
					outcome := OutcomeAccepted
					if d > 0 {
						outcome = OutcomeDuplicate
					}
					if _, err := insDel.ExecContext(ctx, cbID, ts, outcome); err != nil {
						return fmt.Errorf("store: seed: %w", err)
					}
				}
				var success, cancel any
				if state == StateAvailable {
					success = ts
				} else {
					cancel = ts
				}
				if _, err := save.ExecContext(ctx, code, sub, state, openid, "", "A", success, cancel, ts, "notification", ts); err != nil {
					return fmt.Errorf("store: seed: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += batch
	}
	return nil
}
