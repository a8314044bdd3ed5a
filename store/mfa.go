package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MFA is a user's TOTP enrolment. Secret is sealed by the service; the store
// never sees it in the clear.
type MFA struct {
	UserID    int64
	Secret    string
	CreatedAt time.Time
	EnabledAt *time.Time // nil while the enrolment awaits its first code
	LastStep  int64      // last TOTP time step accepted
}

// Enabled reports whether the enrolment has been confirmed.
func (m *MFA) Enabled() bool { return m != nil && m.EnabledAt != nil }

// MFAOf finds a user's enrolment; none is ErrNotFound.
func (db *DB) MFAOf(ctx context.Context, userID int64) (*MFA, error) {
	var m MFA
	err := db.read.QueryRowContext(ctx, `SELECT user_id, secret, created_at, enabled_at, last_step FROM user_mfa WHERE user_id = ?`, userID).
		Scan(&m.UserID, &m.Secret, timeCol{&m.CreatedAt}, nullTimeCol{&m.EnabledAt}, &m.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find two-factor: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find two-factor: %w", err)
	}
	return &m, nil
}

// BeginMFA stores a new, unconfirmed secret for a user, replacing an earlier
// unconfirmed one. A user whose enrolment is confirmed keeps it: ErrConflict.
func (db *DB) BeginMFA(ctx context.Context, userID int64, sealedSecret string) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO user_mfa (user_id, secret, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
			WHERE user_mfa.enabled_at IS NULL`, userID, sealedSecret, fmtTime(tx.now))
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("store: begin two-factor: %w", ErrNotFound)
			}
			return fmt.Errorf("store: begin two-factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: begin two-factor: already enrolled: %w", ErrConflict)
		}
		return nil
	})
}

// EnableMFA confirms a user's pending enrolment: the first code's time step
// is remembered, the recovery codes (hashes) replace any earlier ones, and
// audit is appended, all in one transaction. No pending enrolment (or a
// confirmed one) is ErrConflict.
func (db *DB) EnableMFA(ctx context.Context, userID, step int64, recoveryHashes []string, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_mfa SET enabled_at = ?, last_step = ? WHERE user_id = ? AND enabled_at IS NULL`,
			fmtTime(tx.now), step, userID)
		if err != nil {
			return fmt.Errorf("store: enable two-factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: enable two-factor: nothing pending: %w", ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("store: enable two-factor: %w", err)
		}
		for _, h := range recoveryHashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, h); err != nil {
				return fmt.Errorf("store: recovery code: %w", err)
			}
		}
		return insertAudit(ctx, tx, audit)
	})
}

// UseTOTPStep records that the code of time step was accepted for a user,
// unless a code of that step or a later one already was (a replay): then it
// reports false and changes nothing. Only a confirmed enrolment counts, and
// a pending one confirmed by EnableMFA.
func (db *DB) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	var ok bool
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_mfa SET last_step = ? WHERE user_id = ? AND enabled_at IS NOT NULL AND last_step < ?`, step, userID, step)
		if err != nil {
			return fmt.Errorf("store: use TOTP step: %w", err)
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

// UseRecoveryCode spends a user's unused recovery code with that hash and
// appends audit in the same transaction; an unknown or spent code reports
// false and writes nothing.
func (db *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string, audit AuditEntry) (bool, error) {
	var ok bool
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL
			AND EXISTS (SELECT 1 FROM user_mfa WHERE user_id = ? AND enabled_at IS NOT NULL)`, fmtTime(tx.now), userID, hash, userID)
		if err != nil {
			return fmt.Errorf("store: use recovery code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ok = true
		return insertAudit(ctx, tx, audit)
	})
	return ok, err
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: recovery codes left: %w", err)
	}
	return n, nil
}

// ResetMFA removes a user's enrolment and recovery codes and ends the
// user's sessions, with audit in the same transaction. A user who does not
// exist is ErrNotFound.
func (db *DB) ResetMFA(ctx context.Context, userID int64, audit AuditEntry) error {
	return db.update(ctx, func(tx *Tx) error {
		if _, err := findUser(ctx, tx, "id = ?", userID); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM user_mfa WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM sessions WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("store: reset two-factor: %w", err)
			}
		}
		return insertAudit(ctx, tx, audit)
	})
}
