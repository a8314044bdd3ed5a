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

// LoginAttempt counts a sign-in attempt for username *before* its password
// is checked, in one transaction with the lock check, so that guesses sent at
// once cannot all slip past the limit while the first ones are being checked.
// A locked name is refused: refusedUntil is the end of the lock and nothing is
// counted. Otherwise the attempt counts as a failure until LoginSuccess clears
// the count; the attempt that reaches max locks the name for lock (the ones
// after it are refused, not itself). Failures older than window, or from
// before a lock that has ended, are forgotten.
func (db *DB) LoginAttempt(ctx context.Context, username string, max int, window, lock time.Duration) (refusedUntil time.Time, err error) {
	err = db.update(ctx, func(tx *Tx) error {
		failures, start, until, err := findLoginAttempts(ctx, tx, username)
		if err != nil {
			return fmt.Errorf("store: login attempt: %w", err)
		}
		if until.After(tx.now) {
			refusedUntil = until
			return nil
		}
		if !until.IsZero() || tx.now.Sub(start) >= window {
			failures, start, until = 0, tx.now, time.Time{}
		}
		failures++
		if failures >= max {
			until = tx.now.Add(lock)
		}
		if err := saveLoginAttempts(ctx, tx, username, failures, start, until); err != nil {
			return fmt.Errorf("store: login attempt: %w", err)
		}
		return nil
	})
	return refusedUntil, err
}

// findLoginAttempts reads a username's failure count; a name with none has
// zero failures and a window starting at the zero time.
func findLoginAttempts(ctx context.Context, tx *Tx, username string) (failures int, start, until time.Time, err error) {
	var untilP *time.Time
	err = tx.QueryRowContext(ctx, `SELECT failures, window_start, locked_until FROM login_attempts WHERE username = ?`, username).
		Scan(&failures, timeCol{&start}, nullTimeCol{&untilP})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, err
	}
	if untilP != nil {
		until = *untilP
	}
	return failures, start, until, nil
}

func saveLoginAttempts(ctx context.Context, tx *Tx, username string, failures int, start, until time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO login_attempts (username, failures, window_start, locked_until) VALUES (?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until`,
		username, failures, fmtTime(start), fmtTimePtr(&until))
	return err
}

// LockedUntil reports until when a username is locked (zero if it is not).
func (db *DB) LockedUntil(ctx context.Context, username string) (time.Time, error) {
	var until *time.Time
	err := db.read.QueryRowContext(ctx, `SELECT locked_until FROM login_attempts WHERE username = ?`, username).Scan(nullTimeCol{&until})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		// Never fail open: an unreadable lock is an error, not "unlocked".
		return time.Time{}, fmt.Errorf("store: locked until: %w", err)
	}
	if until == nil || !until.After(db.Now()) {
		return time.Time{}, nil
	}
	return *until, nil
}

// LoginSuccess clears a username's failures.
func (db *DB) LoginSuccess(ctx context.Context, username string) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE username = ?`, username); err != nil {
			return fmt.Errorf("store: login success: %w", err)
		}
		return nil
	})
}
