package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LoginLimits are the sign-in throttling rules, counted per username AND
// client address: Max failures within Window lock that pair for Lock; each
// further lockout of the pair lasts twice the one before, at most MaxLock;
// lockouts are remembered for Memory after the last one ends.
type LoginLimits struct {
	Max     int
	Window  time.Duration
	Lock    time.Duration
	MaxLock time.Duration
	Memory  time.Duration
}

// lockFor is how long the pair's next lockout lasts, after locks earlier ones.
func (l LoginLimits) lockFor(locks int) time.Duration {
	d := l.Lock
	for i := 0; i < locks && d < l.MaxLock; i++ {
		d *= 2
	}
	if l.MaxLock > 0 && d > l.MaxLock {
		d = l.MaxLock
	}
	return d
}

// loginRow is one (username, address) pair's count.
type loginRow struct {
	failures, pending, locks int
	windowStart              time.Time
	lockedUntil              *time.Time
}

// forgetAt is when the row stops meaning anything: the end of its window,
// or Memory after its last lockout ends.
func (r loginRow) forgetAt(l LoginLimits) time.Time {
	t := r.windowStart.Add(l.Window)
	if r.lockedUntil != nil {
		if m := r.lockedUntil.Add(l.Memory); m.After(t) {
			t = m
		}
	}
	return t
}

// loginPruneBatch bounds the stale rows one attempt deletes: each attempt
// adds at most one row, so rows never pile up, and no attempt does much.
const loginPruneBatch = 100

// BeginLogin counts a sign-in attempt for username from ip *before* its
// password is checked, in one transaction with the lock check, so that
// guesses sent at once cannot all slip past the limit while the first ones
// are being checked. A locked pair is refused (refusedUntil is the end of
// the lock); when as many attempts as the limit leaves are already being
// checked, busy refuses this one. Either way nothing is counted. A counted
// attempt must be finished with LoginFailed or LoginSucceeded. Stale rows
// (of any name) are pruned on the way.
func (db *DB) BeginLogin(ctx context.Context, username, ip string, l LoginLimits) (refusedUntil time.Time, busy bool, err error) {
	err = db.updateLogin(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE rowid IN
			(SELECT rowid FROM login_attempts WHERE forget_at < ? LIMIT ?)`, fmtTime(tx.now), loginPruneBatch); err != nil {
			return fmt.Errorf("store: prune login attempts: %w", err)
		}
		r, err := findLogin(ctx, tx, username, ip)
		if err != nil {
			return err
		}
		if r.lockedUntil != nil && r.lockedUntil.After(tx.now) {
			refusedUntil = *r.lockedUntil
			return nil
		}
		switch {
		case r.failures >= l.Max:
			// The lockout has ended: a new count (the lockout is remembered).
			r.failures, r.pending, r.windowStart = 0, 0, tx.now
		case tx.now.Sub(r.windowStart) >= l.Window:
			r.failures, r.pending, r.windowStart = 0, 0, tx.now
		}
		if r.failures+r.pending >= l.Max {
			busy = true
			return nil
		}
		r.pending++
		return saveLogin(ctx, tx, username, ip, r, l)
	})
	return refusedUntil, busy, err
}

// LoginFailed records that an attempt BeginLogin counted had a wrong
// password (or an unknown or disabled user), with failed appended to the
// audit log in the same transaction (none when its Action is empty: a
// right password whose second step is still to come counts, unaudited,
// until that step's right code clears it). The failure that reaches the
// limit locks the pair: lockedUntil is the end of that lock, and
// lockout(until) is appended too.
func (db *DB) LoginFailed(ctx context.Context, username, ip string, l LoginLimits, failed AuditEntry, lockout func(until time.Time) AuditEntry) (lockedUntil time.Time, err error) {
	err = db.updateLogin(ctx, func(tx *Tx) error {
		r, err := findLogin(ctx, tx, username, ip)
		if err != nil {
			return err
		}
		if r.windowStart.IsZero() {
			r.windowStart = tx.now
		}
		if r.pending > 0 {
			r.pending--
		}
		r.failures++
		if failed.Action != "" {
			if err := insertAudit(ctx, tx, failed); err != nil {
				return err
			}
		}
		if r.failures >= l.Max && (r.lockedUntil == nil || !r.lockedUntil.After(tx.now)) {
			until := tx.now.Add(l.lockFor(r.locks))
			r.lockedUntil, r.locks, lockedUntil = &until, r.locks+1, until
			if lockout != nil {
				if err := insertAudit(ctx, tx, lockout(until)); err != nil {
					return err
				}
			}
		}
		return saveLogin(ctx, tx, username, ip, r, l)
	})
	return lockedUntil, err
}

// LoginSucceeded clears the pair's count (its lockout history too), with
// audit appended in the same transaction.
func (db *DB) LoginSucceeded(ctx context.Context, username, ip string, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE username = ? AND ip = ?`, username, ip); err != nil {
			return fmt.Errorf("store: login success: %w", err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// updateLogin runs a read-modify-write of one (username, address) count.
// SQLite runs it alone. PostgreSQL runs it READ COMMITTED with the row
// locked first (findLogin: created if missing, then SELECT … FOR UPDATE):
// concurrent attempts on the pair queue on the row lock and each reads
// the count the previous one committed, so none is lost and none needs a
// retry.
func (db *DB) updateLogin(ctx context.Context, fn func(tx *Tx) error) error {
	if !db.d.pg {
		return db.update(ctx, fn)
	}
	return db.updateWith(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, nil, fn)
}

func findLogin(ctx context.Context, tx *Tx, username, ip string) (loginRow, error) {
	var r loginRow
	forUpdate := ""
	if tx.d.pg {
		// An empty row to lock, forgotten at once unless saved.
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_attempts (username, ip, window_start, forget_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (username, ip) DO NOTHING`, username, ip, fmtTime(tx.now), fmtTime(tx.now)); err != nil {
			return r, fmt.Errorf("store: login attempts: %w", err)
		}
		forUpdate = " FOR UPDATE"
	}
	err := tx.QueryRowContext(ctx, `SELECT failures, pending, locks, window_start, locked_until FROM login_attempts WHERE username = ? AND ip = ?`+forUpdate,
		username, ip).Scan(&r.failures, &r.pending, &r.locks, timeCol{&r.windowStart}, nullTimeCol{&r.lockedUntil})
	if errors.Is(err, sql.ErrNoRows) {
		return loginRow{windowStart: tx.now}, nil
	}
	if err != nil {
		return r, fmt.Errorf("store: login attempts: %w", err)
	}
	return r, nil
}

func saveLogin(ctx context.Context, tx *Tx, username, ip string, r loginRow, l LoginLimits) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO login_attempts (username, ip, failures, pending, window_start, locked_until, locks, forget_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username, ip) DO UPDATE SET failures = excluded.failures, pending = excluded.pending, window_start = excluded.window_start,
			locked_until = excluded.locked_until, locks = excluded.locks, forget_at = excluded.forget_at`,
		username, ip, r.failures, r.pending, fmtTime(r.windowStart), fmtTimePtr(r.lockedUntil), r.locks, fmtTime(r.forgetAt(l)))
	if err != nil {
		return fmt.Errorf("store: save login attempts: %w", err)
	}
	return nil
}

// LockedUntil reports until when username is locked for ip (zero if it is
// not).
func (db *DB) LockedUntil(ctx context.Context, username, ip string) (time.Time, error) {
	var until *time.Time
	err := db.read.QueryRowContext(ctx, `SELECT locked_until FROM login_attempts WHERE username = ? AND ip = ?`, username, ip).Scan(nullTimeCol{&until})
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

// Lock is a username's current lockouts: from how many addresses, and
// until when the last one lasts.
type Lock struct {
	Addresses int
	Until     time.Time
}

// Locks lists the usernames locked now from at least one address.
func (db *DB) Locks(ctx context.Context) (map[string]Lock, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT username, count(*), max(locked_until) FROM login_attempts
		WHERE locked_until > ? GROUP BY username`, fmtTime(db.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: locks: %w", err)
	}
	defer rows.Close()
	out := map[string]Lock{}
	for rows.Next() {
		var name string
		var l Lock
		if err := rows.Scan(&name, &l.Addresses, timeCol{&l.Until}); err != nil {
			return nil, fmt.Errorf("store: locks: %w", err)
		}
		out[name] = l
	}
	return out, rows.Err()
}

// UnlockUser ends every lockout and failure count of username, from every
// address, with audit appended in the same transaction. It reports how many
// addresses were locked.
func (db *DB) UnlockUser(ctx context.Context, username string, audit AuditEntry) (locked int64, err error) {
	err = db.update(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM login_attempts WHERE username = ? AND locked_until > ?`,
			username, fmtTime(tx.now)).Scan(&locked); err != nil {
			return fmt.Errorf("store: unlock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE username = ?`, username); err != nil {
			return fmt.Errorf("store: unlock: %w", err)
		}
		return insertAudit(ctx, tx, audit)
	})
	return locked, err
}

// EndSessionAudited ends one session (sign-out) with audit appended in the
// same transaction.
func (db *DB) EndSessionAudited(ctx context.Context, idHash string, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
			return fmt.Errorf("store: end session: %w", err)
		}
		return insertAudit(ctx, tx, audit)
	})
}
