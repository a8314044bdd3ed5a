package store

import (
	"context"
	"fmt"
	"strings"
)

const sessionColumns = `id_hash, user_id, values_json, created_at, last_seen_at, auth_at, ip, user_agent, rowid`

func (s *Session) dest() []any {
	return []any{&s.IDHash, &s.UserID, &s.Values, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.AuthAt}, &s.IP, &s.UserAgent, &s.ID}
}

// SessionsOf lists a user's sessions (userID 0: everyone's), most recently
// seen first.
func (db *DB) SessionsOf(ctx context.Context, userID int64) ([]Session, error) {
	q, args := `SELECT `+sessionColumns+` FROM sessions ORDER BY last_seen_at DESC, rowid DESC`, []any{}
	if userID != 0 {
		q, args = `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, rowid DESC`, []any{userID}
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RevokeSession ends session number id of a user, with audit in the same
// transaction. A session that is not the user's (or is gone) is ErrNotFound.
func (db *DB) RevokeSession(ctx context.Context, userID, id int64, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE rowid = ? AND user_id = ?`, id, userID)
		if err != nil {
			return fmt.Errorf("store: revoke session: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: revoke session %d: %w", id, ErrNotFound)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// RevokeSessions ends every session of a user except the one whose id
// hashes to keepHash ("" keeps none), with audit in the same transaction
// when any ended. It reports how many ended.
func (db *DB) RevokeSessions(ctx context.Context, userID int64, keepHash string, audit AuditEntry) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?`, userID, keepHash)
		if err != nil {
			return fmt.Errorf("store: revoke sessions: %w", err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		audit.Detail = strings.TrimSpace(fmt.Sprintf("%s sessions=%d", audit.Detail, n))
		return insertAudit(ctx, tx, audit)
	})
	return n, err
}
