package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Refusal is a notification attempt that was refused, or several: the same
// reason from the same address within one minute is one row, counted, with
// the time of the first (ReceivedAt) and the last (LastAt). It never holds
// the decrypted data of a refused payload.
type Refusal struct {
	ID             int64
	ReceivedAt     time.Time
	LastAt         time.Time
	Count          int
	RemoteAddr     string
	Reason         string
	Serial         string // the first attempt's
	NotificationID string // the first attempt's (unverified unless Verified)
	// Verified is set when the notification passed the signature check
	// (refused afterwards: not ours, unknown sub_mchid): WeChat Pay signed
	// its id, so each id keeps its own row, and the size cap never folds
	// it away (nobody without WeChat Pay's key can flood with those).
	Verified bool

	// The diagnosis of the first attempt (issue 15): never decrypted data.
	// Kind groups reasons (probe, forged, unknown_key, decryption, clock,
	// headers, malformed, ownership, throttled, internal); Step is the check
	// that failed; Detail names the field that did not match (ownership).
	Kind, Step, Detail string
	// Timestamp is Wechatpay-Timestamp as received; Skew is our clock
	// minus it, in seconds, when SkewKnown.
	Timestamp string
	Skew      int64
	SkewKnown bool
	// BodySize (when BodyRead) and BodySHA256 describe the body as received.
	BodySize   int
	BodyRead   bool
	BodySHA256 string
	// RawHeaders (JSON) and RawBody are kept for refusals of the signature
	// and decryption kind, for a re-verify; at most MaxKeptBody bytes of
	// body (a larger one is not kept). Written only with the row's first
	// attempt; RefusalLog does not read them, RefusalByID does.
	RawHeaders string
	RawBody    []byte
	// KeepKey, for an unverified refusal, gives it a row of its own within
	// the minute, reason and address: a kept delivery's untrusted
	// notification id (each of WeChat Pay's notifications refused for a
	// wrong key stays re-verifiable), or a kind that must not be counted
	// with others (probe). The size cap still folds new ones into the
	// overflow row.
	KeepKey string
	// Reverify is the last re-verify of the kept delivery, if any.
	Reverify *Reverification
}

// MaxKeptBody bounds a kept refused body (real notifications are about
// 1 KiB): the refusal log holds at most REFUSAL_MAX_ROWS of them.
const MaxKeptBody = 16 << 10

// Reverification is the outcome of re-verifying a kept refused delivery.
type Reverification struct {
	At time.Time
	By string
	// Outcome is accepted, duplicate or stale (stored as if just arrived),
	// or refused (Reason says why).
	Outcome, Reason string
}

// Kept reports whether the refused delivery's headers and body were kept.
func (r *Refusal) Kept() bool { return r.RawHeaders != "" && r.RawBody != nil }

// Defaults of the refusal log's bounds (SetRefusalLimits changes them).
const (
	// DefaultRefusalRetention is how long refusal rows are kept after
	// their last attempt.
	DefaultRefusalRetention = 30 * 24 * time.Hour
	// MaxRefusals is the default size cap: at this many rows, an
	// unverified refusal that would start a new row is counted in the
	// minute's overflow row instead. Old rows are never pushed out by new
	// ones: only age removes them.
	MaxRefusals = 100000
)

// OverflowReason and OverflowAddr name the minute's overflow row: the
// refusals counted there arrived while the log was at its size cap.
const (
	OverflowReason = "overflow"
	OverflowAddr   = "*"
)

// refusalPruneEvery is how often the writer deletes rows past retention.
const refusalPruneEvery = time.Minute

// maxRefusalBatch bounds the refused attempts one shared commit carries.
const maxRefusalBatch = 4096

// refusalState is the writer's own view of the refusal log (only the
// group-commit goroutine touches rows and lastPrune).
type refusalState struct {
	retention atomic.Int64 // nanoseconds
	maxRows   atomic.Int64
	rows      int64 // rows in the table, counted at open, kept by the writer
	lastPrune time.Time
	// keptMinute and kept count, per reason and address, the unverified
	// refusals of the current minute given a row of their own (KeepKey).
	keptMinute string
	kept       map[refusalKey]int
}

// MaxKeptPerMinute bounds the unverified refusals of one reason from one
// address that get a row (and a kept delivery) of their own within a
// minute; past it they are aggregated as any refusal, without their
// delivery. A flood of forged bodies with ever new ids then adds at most
// this many rows a minute per address; WeChat Pay's own notifications,
// refused for a wrong key, come again (its retries span a day) and are
// kept in a later minute.
const MaxKeptPerMinute = 30

// SetRefusalLimits sets how long refusal rows are kept (retention, after
// their last attempt) and the size cap (maxRows); zero keeps the default.
func (db *DB) SetRefusalLimits(retention time.Duration, maxRows int) {
	if retention <= 0 {
		retention = DefaultRefusalRetention
	}
	if maxRows <= 0 {
		maxRows = MaxRefusals
	}
	db.refusal.retention.Store(int64(retention))
	db.refusal.maxRows.Store(int64(maxRows))
}

type refusalItem struct {
	r    Refusal
	done chan error
}

// RecordRefusal keeps a refused attempt visible. It goes through the
// group-commit writer: the refusals that arrive together share one
// transaction with each other and with the notifications, aggregated by
// (minute, reason, address) before they are written; it returns after that
// commit. The log is bounded by age (retention) and by a size cap that
// folds new unverified rows into one overflow row per minute instead of
// pushing old rows out.
func (db *DB) RecordRefusal(ctx context.Context, r Refusal) error {
	it := &refusalItem{r: r, done: make(chan error, 1)}
	select {
	case db.refusals <- it:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closed:
		return errors.New("store: closed")
	}
	select {
	case err := <-it.done:
		return err
	case <-db.batcherDone:
		select {
		case err := <-it.done:
			return err
		default:
			return errors.New("store: closed before the refusal was written")
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countRefusalRows reads the table's size once, at open.
func (db *DB) countRefusalRows(ctx context.Context) error {
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM callback_refusals`).Scan(&db.refusal.rows); err != nil {
		return fmt.Errorf("store: count refusals: %w", err)
	}
	return nil
}

type refusalKey struct{ minute, reason, addr, keyID string }

type refusalAgg struct {
	first Refusal
	n     int
	key   refusalKey
}

// writeRefusals aggregates refs and writes them in tx: an existing row of
// the same key is counted up; a new key gets a row, unless the log is at
// its size cap and the refusal is unverified, when it is counted in the
// minute's overflow row. Rows past retention are pruned once a minute.
// It returns how many rows it added (the caller commits, then counts them).
func (db *DB) writeRefusals(ctx context.Context, tx *Tx, refs []*refusalItem) (added int64, err error) {
	if len(refs) == 0 {
		return 0, nil
	}
	now := fmtTime(tx.now)
	minute := now[:16] // 2006-01-02T15:04
	var order []refusalKey
	aggs := map[refusalKey]*refusalAgg{}
	if db.refusal.keptMinute != minute {
		db.refusal.keptMinute, db.refusal.kept = minute, map[refusalKey]int{}
	}
	for _, it := range refs {
		r := it.r
		k := refusalKey{minute: minute, reason: r.Reason, addr: r.RemoteAddr}
		if r.Verified {
			k.keyID = r.NotificationID
		} else if r.KeepKey != "" {
			k.keyID = "~" + truncate(r.KeepKey, 64)
			if aggs[k] == nil {
				plain := refusalKey{minute: minute, reason: r.Reason, addr: r.RemoteAddr}
				if db.refusal.kept[plain] >= MaxKeptPerMinute {
					// Past the minute's share: aggregated, not kept.
					k.keyID, r.KeepKey, r.RawHeaders, r.RawBody = "", "", "", nil
				} else {
					db.refusal.kept[plain]++
				}
			}
		}
		a := aggs[k]
		if a == nil {
			a = &refusalAgg{first: r, key: k}
			aggs[k] = a
			order = append(order, k)
		}
		a.n++
	}
	maxRows := db.refusal.maxRows.Load()
	for _, k := range order {
		a := aggs[k]
		res, err := tx.ExecContext(ctx, `UPDATE callback_refusals SET count = count + ?, last_at = ?
			WHERE minute = ? AND reason = ? AND remote_addr = ? AND key_id = ?`, a.n, now, k.minute, k.reason, k.addr, k.keyID)
		if err != nil {
			return 0, fmt.Errorf("store: record refusal: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			continue
		}
		r := a.first
		if db.refusal.rows+added >= maxRows && !r.Verified {
			// At the cap: counted, in the minute's overflow row.
			var count int
			if err := tx.QueryRowContext(ctx, `INSERT INTO callback_refusals (received_at, last_at, minute, count, remote_addr, reason, serial, notification_id, key_id)
				VALUES (?, ?, ?, ?, ?, ?, '', '', '')
				ON CONFLICT (minute, reason, remote_addr, key_id) DO UPDATE SET count = callback_refusals.count + excluded.count, last_at = excluded.last_at
				RETURNING count`, now, now, k.minute, a.n, OverflowAddr, OverflowReason).Scan(&count); err != nil {
				return 0, fmt.Errorf("store: record refusal overflow: %w", err)
			}
			if count == a.n {
				added++ // the minute's overflow row is new
			}
			continue
		}
		var skew, size, headers, body any
		if r.SkewKnown {
			skew = r.Skew
		}
		if r.BodyRead {
			size = r.BodySize
		}
		if r.RawHeaders != "" && r.RawBody != nil && len(r.RawBody) <= MaxKeptBody && len(r.RawHeaders) <= MaxKeptBody {
			headers, body = r.RawHeaders, r.RawBody
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO callback_refusals (received_at, last_at, minute, count, remote_addr, reason, serial, notification_id, key_id,
				kind, step, detail, wechatpay_timestamp, skew_seconds, body_size, body_sha256, raw_headers, raw_body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			now, now, k.minute, a.n, r.RemoteAddr, r.Reason, truncate(r.Serial, 64), truncate(r.NotificationID, 64), k.keyID,
			truncate(r.Kind, 32), truncate(r.Step, 32), truncate(r.Detail, 64), truncate(r.Timestamp, 32), skew, size, truncate(r.BodySHA256, 64),
			headers, body); err != nil {
			return 0, fmt.Errorf("store: record refusal: %w", err)
		}
		added++
	}
	if tx.now.Sub(db.refusal.lastPrune) >= refusalPruneEvery {
		cutoff := tx.now.Add(-time.Duration(db.refusal.retention.Load()))
		res, err := tx.ExecContext(ctx, `DELETE FROM callback_refusals WHERE last_at < ?`, fmtTime(cutoff))
		if err != nil {
			return 0, fmt.Errorf("store: prune refusals: %w", err)
		}
		n, _ := res.RowsAffected()
		added -= n
	}
	return added, nil
}

// refusalsWritten updates the writer's counts after a commit.
func (db *DB) refusalsWritten(at time.Time, added int64) {
	db.refusal.rows += added
	if at.Sub(db.refusal.lastPrune) >= refusalPruneEvery {
		db.refusal.lastPrune = at
	}
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

const refusalColumns = `id, received_at, last_at, count, remote_addr, reason, serial, notification_id, kind`

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
		var last string
		if err := rows.Scan(&r.ID, timeCol{&r.ReceivedAt}, &last, &r.Count, &r.RemoteAddr, &r.Reason, &r.Serial, &r.NotificationID, &r.Kind); err != nil {
			return nil, fmt.Errorf("store: refusal log: %w", err)
		}
		r.LastAt = r.ReceivedAt
		if last != "" {
			if r.LastAt, err = parseTime(last); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	if ascending {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

// RefusalByID is one refusal row with its diagnosis, kept delivery and
// last re-verify.
func (db *DB) RefusalByID(ctx context.Context, id int64) (*Refusal, error) {
	var r Refusal
	var last string
	var skew, size sql.NullInt64
	var headers sql.NullString
	var body []byte
	var rvAt *time.Time
	var rv Reverification
	err := db.read.QueryRowContext(ctx, `SELECT `+refusalColumns+`, key_id, step, detail, wechatpay_timestamp, skew_seconds, body_size, body_sha256,
			raw_headers, raw_body, reverified_at, reverified_by, reverify_outcome, reverify_reason
		FROM callback_refusals WHERE id = ?`, id).Scan(&r.ID, timeCol{&r.ReceivedAt}, &last, &r.Count, &r.RemoteAddr, &r.Reason, &r.Serial,
		&r.NotificationID, &r.Kind, &r.KeepKey, &r.Step, &r.Detail, &r.Timestamp, &skew, &size, &r.BodySHA256, &headers, &body,
		nullTimeCol{&rvAt}, &rv.By, &rv.Outcome, &rv.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: refusal: %w", err)
	}
	r.LastAt = r.ReceivedAt
	if last != "" {
		if r.LastAt, err = parseTime(last); err != nil {
			return nil, err
		}
	}
	r.Skew, r.SkewKnown = skew.Int64, skew.Valid
	r.BodySize, r.BodyRead = int(size.Int64), size.Valid
	if headers.Valid && body != nil {
		r.RawHeaders, r.RawBody = headers.String, body
	}
	if rvAt != nil {
		rv.At = *rvAt
		r.Reverify = &rv
	}
	return &r, nil
}

// MarkRefusalReverified records a re-verify's outcome on refusal id, with
// its audit entry in the same transaction.
func (db *DB) MarkRefusalReverified(ctx context.Context, id int64, rv Reverification, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE callback_refusals SET reverified_at = ?, reverified_by = ?, reverify_outcome = ?, reverify_reason = ?
			WHERE id = ?`, fmtTime(tx.now), rv.By, rv.Outcome, truncate(rv.Reason, 64), id)
		if err != nil {
			return fmt.Errorf("store: mark refusal re-verified: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertAudit(ctx, tx, audit)
	})
}

// RefusalKindCount is the refused attempts of one kind since a time.
type RefusalKindCount struct {
	Kind  string
	Count int
	// Reason is set for rows from before the diagnosis (Kind ""): their
	// kind is read from it.
	Reason string
}

// RefusalKinds counts the refused attempts whose row was last counted at
// or after since, by kind (one index range; rows from before the
// diagnosis by reason), and the busiest minute's attempts (a spike).
func (db *DB) RefusalKinds(ctx context.Context, since time.Time) (kinds []RefusalKindCount, peak int, err error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kind, CASE WHEN kind = '' THEN reason ELSE '' END, CAST(sum(count) AS BIGINT)
		FROM callback_refusals WHERE last_at >= ? GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2`, fmtTime(since))
	if err != nil {
		return nil, 0, fmt.Errorf("store: refusal kinds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k RefusalKindCount
		if err := rows.Scan(&k.Kind, &k.Reason, &k.Count); err != nil {
			return nil, 0, fmt.Errorf("store: refusal kinds: %w", err)
		}
		kinds = append(kinds, k)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: refusal kinds: %w", err)
	}
	var p sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT CAST(max(n) AS BIGINT) FROM (SELECT sum(count) AS n FROM callback_refusals WHERE last_at >= ? GROUP BY minute) AS per_minute`,
		fmtTime(since)).Scan(&p); err != nil {
		return nil, 0, fmt.Errorf("store: refusal peak: %w", err)
	}
	return kinds, int(p.Int64), nil
}
