package store

import (
	"context"
	"errors"
	"fmt"
)

// SSOChange says what a single sign-on did to the user's account.
type SSOChange struct {
	// Created: the account was made by this sign-in.
	Created bool
	// OldRole is the role the account had before this sign-in changed it
	// (empty when it did not).
	OldRole string
	// Disabled: the account is disabled in the console; nothing changed
	// and the sign-in must be refused.
	Disabled bool
}

// SignInSSO finds the account of the identity provider's user (issuer,
// subject) or creates it (username, role, no local password), or brings its
// role up to date, and appends the entries audit returns for it, all in one
// transaction. A disabled account is left as it is (the console's decision
// wins). A new account whose username is taken is ErrConflict and nothing is
// written. A role change ends the user's other sessions, like any change.
func (db *DB) SignInSSO(ctx context.Context, issuer, subject, username, role string,
	audit func(u *User, ch SSOChange) []AuditEntry) (*User, SSOChange, error) {
	var u *User
	var ch SSOChange
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		u, err = findUser(ctx, tx, "sso_issuer = ? AND sso_subject = ?", issuer, subject)
		switch {
		case errors.Is(err, ErrNotFound):
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, role, sso_issuer, sso_subject, created_at, updated_at)
				VALUES (?, '', ?, ?, ?, ?, ?) RETURNING id`, username, role, issuer, subject, fmtTime(tx.now), fmtTime(tx.now)).Scan(&id)
			if err != nil {
				if isConstraint(err) {
					return fmt.Errorf("store: sso user %q: %w", username, ErrConflict)
				}
				return fmt.Errorf("store: sso user: %w", err)
			}
			if u, err = findUser(ctx, tx, "id = ?", id); err != nil {
				return err
			}
			ch.Created = true
		case err != nil:
			return err
		case u.Disabled:
			ch.Disabled = true
		case u.Role != role:
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE id = ?`, role, fmtTime(tx.now), u.ID); err != nil {
				return fmt.Errorf("store: sso role: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID); err != nil {
				return fmt.Errorf("store: end sessions: %w", err)
			}
			ch.OldRole = u.Role
			if u, err = findUser(ctx, tx, "id = ?", u.ID); err != nil {
				return err
			}
		}
		if audit == nil {
			return nil
		}
		for _, e := range audit(u, ch) {
			if err := insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, SSOChange{}, err
	}
	return u, ch, nil
}

// CreateBreakGlassUserAudited creates a local user marked break-glass (may
// sign in with a password when LOCAL_LOGIN=off) and appends audit, in one
// transaction; a taken username is ErrConflict.
func (db *DB) CreateBreakGlassUserAudited(ctx context.Context, username, passwordHash, role string, audit AuditEntry) (*User, error) {
	var u *User
	err := db.update(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, role, break_glass, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?) RETURNING id`,
			username, passwordHash, role, fmtTime(tx.now), fmtTime(tx.now)).Scan(&id)
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("store: create user %q: %w", username, ErrConflict)
			}
			return fmt.Errorf("store: create user: %w", err)
		}
		if u, err = findUser(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
	return u, err
}
