package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in browser, found by the hash of its cookie id.
type Session struct {
	IDHash     string
	UserID     int64
	Values     string // JSON of the session's own values (flash messages, language)
	CreatedAt  time.Time
	LastSeenAt time.Time
	AuthAt     time.Time // when the person last authenticated (sign-in or step-up)
	IP         string
	// UserAgent is the browser the session was started from.
	UserAgent string
	// ID is the row's number: what the session list names a session by
	// (never the cookie id nor its hash).
	ID int64
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, values_json, created_at, last_seen_at, auth_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			s.IDHash, s.UserID, s.Values, fmtTime(tx.now), fmtTime(tx.now), fmtTime(tx.now), s.IP, s.UserAgent)
		if err != nil {
			return fmt.Errorf("store: create session: %w", err)
		}
		return nil
	})
}

// SessionByHash finds a session.
func (db *DB) SessionByHash(ctx context.Context, idHash string) (*Session, error) {
	var s Session
	err := db.read.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id_hash = ?`, idHash).
		Scan(s.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	return &s, nil
}

// TouchSession records activity and the session's values.
func (db *DB) TouchSession(ctx context.Context, idHash, values string) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, values_json = ? WHERE id_hash = ?`, fmtTime(tx.now), values, idHash)
		if err != nil {
			return fmt.Errorf("store: touch session: %w", err)
		}
		return nil
	})
}

// ReauthSession records that the person authenticated again (step-up).
func (db *DB) ReauthSession(ctx context.Context, idHash string) error {
	return db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET auth_at = ?, last_seen_at = ? WHERE id_hash = ?`, fmtTime(tx.now), fmtTime(tx.now), idHash)
		if err != nil {
			return fmt.Errorf("store: reauth session: %w", err)
		}
		return nil
	})
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
			return fmt.Errorf("store: delete session: %w", err)
		}
		return nil
	})
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or
// created before createdBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`, fmtTime(idleBefore), fmtTime(createdBefore))
		if err != nil {
			return fmt.Errorf("store: delete expired sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
