package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// RecordNotification stores a notification exactly once by its id and
// applies its state change in the same transaction. A duplicate only counts
// a delivery. It returns after the commit: a nil error is a durable promise
// (synchronous=FULL). Concurrent calls share commits (group commit), each
// still answered only after the commit that holds it.
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

// maxBatch bounds one shared commit; batchWindow is how long a commit waits
// for company.
const (
	maxBatch    = 256
	batchWindow = time.Millisecond
)

// runBatcher is the group-commit writer: it takes the notifications (and
// refused attempts) that arrive within batchWindow of the first (and those
// that waited while the previous commit synced), writes them in one
// transaction, and answers each after the commit. If the shared
// transaction fails, each notification is retried alone (and the refusals
// together), so one bad item cannot fail the others.
func (db *DB) runBatcher() {
	defer close(db.batcherDone)
	for {
		var items []*batchItem
		var refs []*refusalItem
		select {
		case it := <-db.batch:
			items = append(items, it)
		case r := <-db.refusals:
			refs = append(refs, r)
		case <-db.closed:
			return
		}
		// Gather for a moment more: at thousands a second, arrivals are
		// about as far apart as one fsync, so without the window most
		// commits would carry one or two notifications and pay a whole
		// commit each. A millisecond is nothing beside WeChat Pay's 5 s.
		window := time.NewTimer(batchWindow)
	gather:
		for len(items) < maxBatch && len(refs) < maxRefusalBatch {
			select {
			case it := <-db.batch:
				items = append(items, it)
			case r := <-db.refusals:
				refs = append(refs, r)
			case <-window.C:
				break gather
			}
		}
		window.Stop()
		results, err := db.writeBatch(items, refs)
		if err != nil && len(items)+len(refs) > 1 {
			for _, it := range items {
				r, err := db.writeBatch([]*batchItem{it}, nil)
				if err != nil {
					r = []batchResult{{err: err}}
				}
				it.done <- r[0]
			}
			if len(refs) > 0 {
				_, err := db.writeBatch(nil, refs)
				for _, r := range refs {
					r.done <- err
				}
			}
			continue
		}
		for i, it := range items {
			if err != nil {
				it.done <- batchResult{err: err}
				continue
			}
			it.done <- results[i]
		}
		for _, r := range refs {
			r.done <- err
		}
	}
}

// notifyStmts are the hot path's statements, prepared once on the writer's
// single connection and reused by every batch.
type notifyStmts struct {
	findCallback, countDelivery, saveAuthorization, touchAuthorization, insertCallback, insertDelivery, countKey, linkIssue *sql.Stmt
	// recordPG is PostgreSQL's one call per batch (postgres_notify.go),
	// types the pgx type map that reads its answer.
	recordPG *sql.Stmt
	types    *pgtype.Map
}

func (db *DB) prepareNotifyStmts(ctx context.Context) error {
	var errs []error
	prep := func(q string) *sql.Stmt {
		s, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			// The statements are constants, but the schema they name is
			// the file's: a database from a newer or damaged build fails
			// here, and Open reports it.
			errs = append(errs, fmt.Errorf("store: prepare %q: %w", q, err))
		}
		return s
	}
	st := notifyStmts{
		findCallback:       prep(`SELECT id FROM callbacks WHERE notification_id = ?`),
		countDelivery:      prep(`UPDATE callbacks SET deliveries = deliveries + 1, last_received_at = ? WHERE id = ?`),
		saveAuthorization:  prep(saveAuthorizationSQL),
		touchAuthorization: prep(touchAuthorizationSQL),
		insertCallback: prep(`INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
			openorclose_time, create_time, serial, envelope, payload, applied, first_received_at, last_received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (notification_id) DO NOTHING
			RETURNING id`),
		insertDelivery: prep(`INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, ?, ?, ?)`),
		countKey: prep(`INSERT INTO notification_keys (serial, hour, deliveries, last_received_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (serial, hour) DO UPDATE SET deliveries = notification_keys.deliveries + 1,
				last_received_at = ` + db.d.pick("max", "greatest") + `(notification_keys.last_received_at, excluded.last_received_at)`),
		linkIssue: prep(linkIssueSQL),
	}
	if db.d.pg {
		st.recordPG, st.types = prep(pgRecordNotificationsCall), pgtype.NewMap()
	}
	if err := errors.Join(errs...); err != nil {
		st.close()
		return err
	}
	db.notify = st
	return nil
}

// close closes the statements that were prepared.
func (st notifyStmts) close() {
	for _, s := range []*sql.Stmt{st.findCallback, st.countDelivery, st.saveAuthorization, st.touchAuthorization, st.insertCallback, st.insertDelivery, st.countKey, st.linkIssue, st.recordPG} {
		if s != nil {
			s.Close()
		}
	}
}

func (db *DB) writeBatch(items []*batchItem, refs []*refusalItem) ([]batchResult, error) {
	ctx := context.Background()
	results := make([]batchResult, len(items))
	if db.d.pg && len(refs) == 0 {
		// The hot path: one statement, its own transaction — one round
		// trip that begins, writes and commits (no lock: see
		// postgres_notify.go).
		err := db.retrying(ctx, func() error {
			r, err := recordNotificationsPG(ctx, db.notify.recordPG, db.notify.types, items, fmtTime(db.Now().UTC()))
			results = r
			return err
		})
		return results, err
	}
	var added int64
	var at time.Time
	err := db.updateWith(ctx, db.batchTxOptions(), db.batchLock, func(tx *Tx) error {
		at = tx.now
		if len(items) > 0 && db.d.pg {
			r, err := recordNotificationsPG(ctx, tx.StmtContext(ctx, db.notify.recordPG), db.notify.types, items, fmtTime(tx.now))
			if err != nil {
				return err
			}
			results = r
		} else if len(items) > 0 {
			st := notifyStmts{
				findCallback:       tx.StmtContext(ctx, db.notify.findCallback),
				countDelivery:      tx.StmtContext(ctx, db.notify.countDelivery),
				saveAuthorization:  tx.StmtContext(ctx, db.notify.saveAuthorization),
				touchAuthorization: tx.StmtContext(ctx, db.notify.touchAuthorization),
				insertCallback:     tx.StmtContext(ctx, db.notify.insertCallback),
				insertDelivery:     tx.StmtContext(ctx, db.notify.insertDelivery),
				countKey:           tx.StmtContext(ctx, db.notify.countKey),
				linkIssue:          tx.StmtContext(ctx, db.notify.linkIssue),
			}
			for i, it := range items {
				mismatch, err := checkLink(ctx, st.linkIssue, it.n)
				if err != nil {
					return err
				}
				if mismatch != nil {
					// This one is refused, nothing of it written; the
					// others go on.
					results[i].err = mismatch
					continue
				}
				outcome, err := recordNotification(ctx, tx, st, it.n)
				if err != nil {
					return err
				}
				results[i].outcome = outcome
			}
		}
		var err error
		added, err = db.writeRefusals(ctx, tx, refs)
		return err
	})
	if err == nil && len(refs) > 0 {
		db.refusalsWritten(at, added)
	}
	return results, err
}

// linkIssueSQL reads what the link holding a code was issued for.
const linkIssueSQL = `SELECT m.sub_mchid, l.sub_appid FROM links l JOIN sub_merchants m ON m.id = l.sub_merchant_id
	WHERE l.authorization_code = ?`

// checkLink returns the mismatch of n with the link that holds its code,
// or nil (no code, no link of ours, or all agrees).
func checkLink(ctx context.Context, stmt *sql.Stmt, n Notification) (*LinkMismatchError, error) {
	if n.AuthorizationCode == "" {
		return nil, nil
	}
	var li LinkIssue
	err := stmt.QueryRowContext(ctx, n.AuthorizationCode).Scan(&li.SubMchID, &li.SubAppID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: find link: %w", err)
	}
	return linkMismatch(n, li), nil
}

// recordNotification looks the id up first, so that a new notification's
// row is written once, with its outcome already known. On SQLite nothing
// can slip in between (one writer); on PostgreSQL the batch function does
// the same, and another instance's batch may store the same notification
// in between. So the insert says ON CONFLICT (notification_id) DO NOTHING,
// and a row found there turns the notification into a duplicate: exactly
// once by notification_id whatever the writers.
func recordNotification(ctx context.Context, tx *Tx, st notifyStmts, n Notification) (string, error) {
	now := fmtTime(tx.now)
	var id int64
	outcome := OutcomeDuplicate
	err := st.findCallback.QueryRowContext(ctx, n.NotificationID).Scan(&id)
	switch {
	case err == nil:
		// Seen before: count the delivery, change nothing else.
		if _, err := st.countDelivery.ExecContext(ctx, now, id); err != nil {
			return "", fmt.Errorf("store: count delivery: %w", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("store: record notification: %w", err)
	case n.AuthorizationCode == "":
		// The spec lets a notification omit authorization_code: with no
		// code there is no authorization to change (an empty key would
		// merge every such user into one row). Kept, visibly not applied.
		outcome = OutcomeStale
		if id, err = insertCallback(ctx, st, n, false, now); err != nil {
			return "", err
		}
		if id == 0 {
			return recordDuplicate(ctx, st, n, now)
		}
	default:
		a := Authorization{AuthorizationCode: n.AuthorizationCode, SubMchID: n.SubMchID, OpenID: n.OpenID, SubOpenID: n.SubOpenID,
			StateTime: n.OpenOrCloseTime, Source: "notification"}
		t := n.OpenOrCloseTime
		if n.EventType == EventOpen {
			a.State, a.SuccessTime = StateAvailable, &t
		} else {
			a.State, a.CancelTime = StateUnavailable, &t
		}
		applied, err := execSaveAuthorization(ctx, st.saveAuthorization, st.touchAuthorization, tx, a)
		if err != nil {
			return "", err
		}
		outcome = OutcomeStale
		if applied {
			outcome = OutcomeAccepted
		}
		if id, err = insertCallback(ctx, st, n, applied, now); err != nil {
			return "", err
		}
		if id == 0 {
			// Stored meanwhile by a writer that committed first (another
			// instance, were the batches not serialised): a duplicate.
			return recordDuplicate(ctx, st, n, now)
		}
	}
	return finishDelivery(ctx, st, n, id, outcome, now)
}

// finishDelivery records the delivery and counts the key that signed it.
func finishDelivery(ctx context.Context, st notifyStmts, n Notification, id int64, outcome, now string) (string, error) {
	if _, err := st.insertDelivery.ExecContext(ctx, id, now, n.RemoteAddr, n.Serial, outcome); err != nil {
		return "", fmt.Errorf("store: record delivery: %w", err)
	}
	// Which key signed it, for the overview (hour: "YYYY-MM-DDTHH" of now).
	if _, err := st.countKey.ExecContext(ctx, n.Serial, now[:13], now); err != nil {
		return "", fmt.Errorf("store: count signing key: %w", err)
	}
	return outcome, nil
}

// insertCallback writes a new notification's row and returns its id, or 0
// when a row with that notification_id exists already.
func insertCallback(ctx context.Context, st notifyStmts, n Notification, applied bool, now string) (int64, error) {
	var id int64
	err := st.insertCallback.QueryRowContext(ctx, n.NotificationID, n.EventType, n.AuthorizationCode, n.SubMchID, n.OpenID, n.SubOpenID,
		fmtTimePtr(&n.OpenOrCloseTime), n.CreateTime, n.Serial, string(n.Envelope), string(n.Payload), boolInt(applied), now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: record notification: %w", err)
	}
	return id, nil
}

// recordDuplicate counts one more delivery of a stored notification.
func recordDuplicate(ctx context.Context, st notifyStmts, n Notification, now string) (string, error) {
	var id int64
	if err := st.findCallback.QueryRowContext(ctx, n.NotificationID).Scan(&id); err != nil {
		return "", fmt.Errorf("store: record notification: %w", err)
	}
	if _, err := st.countDelivery.ExecContext(ctx, now, id); err != nil {
		return "", fmt.Errorf("store: count delivery: %w", err)
	}
	return finishDelivery(ctx, st, n, id, OutcomeDuplicate, now)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// notifyBatchLock is the advisory lock key of the notification batches on
// PostgreSQL ("notify" in ASCII).
const notifyBatchLock int64 = 0x6e6f74696679

// batchTxOptions: on PostgreSQL a batch that carries refused attempts
// runs READ COMMITTED under batchLock. Its statements are single-row
// upserts and conditional updates, each atomic on its own; the lock makes
// such batches commit one at a time, so the refusals' aggregated rows and
// their day counts are never locked in two orders. (Notifications alone
// are one statement and take no lock: recordNotificationsPG orders their
// rows, and the batch function writes the shared counters last, in key
// order.)
func (db *DB) batchTxOptions() *sql.TxOptions {
	if db.d.pg {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil
}

func (db *DB) batchLock(tx *Tx) error {
	if !db.d.pg {
		return nil
	}
	if _, err := tx.ExecContext(context.Background(), `SELECT pg_advisory_xact_lock(?)`, notifyBatchLock); err != nil {
		return fmt.Errorf("store: batch lock: %w", err)
	}
	return nil
}
