package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Termination statuses.
const (
	TerminationPending   = "pending"
	TerminationSucceeded = "succeeded"
	TerminationFailed    = "failed"
)

// Termination is a request to end an authorization: written as pending
// before WeChat Pay is called, finished with the result after.
type Termination struct {
	ID                int64
	AuthorizationCode string
	SubMchID          string
	Reason            string
	Status            string
	RequestID         string
	ErrorCode         string
	ErrorMessage      string
	UserID            int64
	Username          string
	CreatedAt         time.Time
	FinishedAt        *time.Time
	// InstanceID is the console instance that began it ("" before
	// migration 014): while that instance lives, a pending termination is
	// its own request's to finish.
	InstanceID string
	// Guard (BeginTermination only): refuse with ErrTerminated when a
	// termination of the code newer than SeenID (the newest the request
	// knew to have succeeded, 0 for none) has succeeded — another request
	// ended it since.
	Guard  bool
	SeenID int64
}

// ErrTerminated: a termination of the code succeeded since the request
// looked (Termination.Guard). A code is agreed to once at most, so it ends
// once: no second call.
var ErrTerminated = errors.New("store: already terminated")

// BeginTermination records the intent and its audit entry. A second one
// for the same code while one is pending is ErrConflict, and with t.Guard
// one after a termination of the code the request did not know of
// succeeded is ErrTerminated: no second call. Both are decided in the
// transaction that writes the intent, so that two instances submitting the
// same code at once make one call between them.
func (db *DB) BeginTermination(ctx context.Context, t Termination, audit AuditEntry) (int64, error) {
	var id int64
	err := db.update(ctx, func(tx *Tx) error {
		var uid any
		if t.UserID != 0 {
			uid = t.UserID
		}
		if t.Guard {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM terminations WHERE authorization_code = ? AND status = ? AND id > ?`,
				t.AuthorizationCode, TerminationSucceeded, t.SeenID).Scan(&done); err != nil {
				return fmt.Errorf("store: begin termination: %w", err)
			}
			if done > 0 {
				return fmt.Errorf("store: termination of %s: %w", t.AuthorizationCode, ErrTerminated)
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO terminations (authorization_code, sub_mchid, reason, status, user_id, created_at, instance_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			t.AuthorizationCode, t.SubMchID, t.Reason, TerminationPending, uid, fmtTime(tx.now), t.InstanceID).Scan(&id)
		if isConstraint(err) {
			return fmt.Errorf("store: termination of %s already in flight: %w", t.AuthorizationCode, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: begin termination: %w", err)
		}
		return insertAudit(ctx, tx, audit)
	})
	return id, err
}

// FinishTermination records the result and its audit entry; on success
// the authorization becomes UNAVAILABLE.
func (db *DB) FinishTermination(ctx context.Context, id int64, status, requestID, errCode, errMsg string, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		var code, sub string
		if err := tx.QueryRowContext(ctx, `SELECT authorization_code, sub_mchid FROM terminations WHERE id = ?`, id).Scan(&code, &sub); err != nil {
			return fmt.Errorf("store: finish termination: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE terminations SET status = ?, request_id = ?, error_code = ?, error_message = ?, finished_at = ? WHERE id = ? AND status = ?`,
			status, requestID, errCode, errMsg, fmtTime(tx.now), id, TerminationPending)
		if err != nil {
			return fmt.Errorf("store: finish termination: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Settled already (by the start-up resolver or the reconciler):
			// one outcome per termination, never two.
			return fmt.Errorf("store: termination %d is no longer pending: %w", id, ErrConflict)
		}
		if status == TerminationSucceeded {
			now := tx.now
			if _, err := saveAuthorization(ctx, tx, Authorization{AuthorizationCode: code, SubMchID: sub, State: StateUnavailable,
				CancelTime: &now, StateTime: now, Source: "terminate"}); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, audit)
	})
}

// PendingTerminations lists terminations left pending (by a crash).
func (db *DB) PendingTerminations(ctx context.Context) ([]Termination, error) {
	return db.terminations(ctx, `WHERE t.status = ? ORDER BY t.id`, TerminationPending)
}

// TerminationsByCode lists an authorization's terminations, newest first.
func (db *DB) TerminationsByCode(ctx context.Context, code string) ([]Termination, error) {
	return db.terminations(ctx, `WHERE t.authorization_code = ? ORDER BY t.id DESC`, code)
}

// RecentTerminations lists terminations since a time, newest first.
func (db *DB) RecentTerminations(ctx context.Context, since time.Time, limit int) ([]Termination, error) {
	return db.terminations(ctx, `WHERE t.created_at >= ? ORDER BY t.id DESC LIMIT ?`, fmtTime(since), limit)
}

func (db *DB) terminations(ctx context.Context, tail string, args ...any) ([]Termination, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT t.id, t.authorization_code, t.sub_mchid, t.reason, t.status, t.request_id, t.error_code, t.error_message,
		coalesce(t.user_id, 0), coalesce(u.username, ''), t.created_at, t.finished_at, t.instance_id
		FROM terminations t LEFT JOIN users u ON u.id = t.user_id `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("store: terminations: %w", err)
	}
	defer rows.Close()
	var out []Termination
	for rows.Next() {
		var t Termination
		if err := rows.Scan(&t.ID, &t.AuthorizationCode, &t.SubMchID, &t.Reason, &t.Status, &t.RequestID, &t.ErrorCode, &t.ErrorMessage,
			&t.UserID, &t.Username, timeCol{&t.CreatedAt}, nullTimeCol{&t.FinishedAt}, &t.InstanceID); err != nil {
			return nil, fmt.Errorf("store: terminations: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
