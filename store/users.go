package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles a user can have.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleSupport  = "support"
	RoleViewer   = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []string{RoleAdmin, RoleOperator, RoleSupport, RoleViewer}

// User is a person who signs in to the console.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// MFA is true once the user has confirmed a TOTP enrolment.
	MFA bool
	// SSOIssuer and SSOSubject name the identity provider's account of a
	// single sign-on user (users_sso.go); empty for a local user.
	SSOIssuer, SSOSubject string
	// BreakGlass marks a local user who may sign in with a password even
	// when password sign-in is off (LOCAL_LOGIN=off).
	BreakGlass bool
}

const userColumns = `id, username, password_hash, role, disabled, created_at, updated_at,
	EXISTS (SELECT 1 FROM user_mfa m WHERE m.user_id = users.id AND m.enabled_at IS NOT NULL),
	coalesce(sso_issuer, ''), coalesce(sso_subject, ''), break_glass`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.MFA,
		&u.SSOIssuer, &u.SSOSubject, &u.BreakGlass); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser adds a user; a taken username is ErrConflict.
func (db *DB) CreateUser(ctx context.Context, username, passwordHash, role string) (*User, error) {
	return db.createUser(ctx, username, passwordHash, role, nil)
}

// CreateUserAudited is CreateUser that also appends audit in the same
// transaction: the entry exists if and only if the user does.
func (db *DB) CreateUserAudited(ctx context.Context, username, passwordHash, role string, audit AuditEntry) (*User, error) {
	return db.createUser(ctx, username, passwordHash, role, &audit)
}

func (db *DB) createUser(ctx context.Context, username, passwordHash, role string, audit *AuditEntry) (*User, error) {
	var u *User
	err := db.update(ctx, func(tx *Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			username, passwordHash, role, fmtTime(tx.now), fmtTime(tx.now)).Scan(&id)
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("store: create user %q: %w", username, ErrConflict)
			}
			return fmt.Errorf("store: create user: %w", err)
		}
		if u, err = findUser(ctx, tx, "id = ?", id); err != nil || audit == nil {
			return err
		}
		return insertAudit(ctx, tx, *audit)
	})
	return u, err
}

// CreateFirstUserAudited creates the first user, with its audit entry in
// the same transaction, only if no user exists yet; created is false when
// one does. Instances starting at once on an empty database create it
// once: the insert is conditional and ON CONFLICT DO NOTHING, in a
// transaction that runs alone (SQLite) or SERIALIZABLE (PostgreSQL,
// retried on a serialization failure).
func (db *DB) CreateFirstUserAudited(ctx context.Context, username, passwordHash, role string, audit AuditEntry) (u *User, created bool, err error) {
	err = db.update(ctx, func(tx *Tx) error {
		u, created = nil, false
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, role, created_at, updated_at)
			SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)
			ON CONFLICT (username) DO NOTHING RETURNING id`,
			username, passwordHash, role, fmtTime(tx.now), fmtTime(tx.now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			if isConstraint(err) {
				return nil // created by a transaction that committed first
			}
			return fmt.Errorf("store: create first user: %w", err)
		}
		if u, err = findUser(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		created = true
		return insertAudit(ctx, tx, audit)
	})
	return u, created, err
}

// UserByID finds a user by id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	var u *User
	err := db.view(ctx, func(tx *readTx) (err error) {
		u, err = findUser(ctx, tx, "id = ?", id)
		return err
	})
	return u, err
}

// UserByUsername finds a user by username.
func (db *DB) UserByUsername(ctx context.Context, username string) (*User, error) {
	var u *User
	err := db.view(ctx, func(tx *readTx) (err error) {
		u, err = findUser(ctx, tx, "username = ?", username)
		return err
	})
	return u, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func findUser(ctx context.Context, q querier, where string, args ...any) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: find user: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	return u, nil
}

// Users lists every user by username.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		users = append(users, *u)
	}
	return users, rows.Err()
}

// CountUsers reports how many users exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// UserChange is an update to a user; nil fields stay as they are. Any change
// ends the user's sessions, so a demoted or disabled user is out at once.
type UserChange struct {
	Role         *string
	Disabled     *bool
	PasswordHash *string
}

// UpdateUser applies a change to a user and ends all of that user's sessions
// in the same transaction.
func (db *DB) UpdateUser(ctx context.Context, id int64, ch UserChange) (*User, error) {
	return db.updateUser(ctx, id, ch, nil)
}

// UpdateUserAudited is UpdateUser that also appends audit in the same
// transaction.
func (db *DB) UpdateUserAudited(ctx context.Context, id int64, ch UserChange, audit AuditEntry) (*User, error) {
	return db.updateUser(ctx, id, ch, &audit)
}

func (db *DB) updateUser(ctx context.Context, id int64, ch UserChange, audit *AuditEntry) (*User, error) {
	var u *User
	err := db.update(ctx, func(tx *Tx) error {
		var sets []string
		var args []any
		if ch.Role != nil {
			sets, args = append(sets, "role = ?"), append(args, *ch.Role)
		}
		if ch.Disabled != nil {
			sets, args = append(sets, "disabled = ?"), append(args, *ch.Disabled)
		}
		if ch.PasswordHash != nil {
			sets, args = append(sets, "password_hash = ?"), append(args, *ch.PasswordHash)
		}
		sets, args = append(sets, "updated_at = ?"), append(args, fmtTime(tx.now))
		args = append(args, id)
		res, err := tx.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
		if err != nil {
			return fmt.Errorf("store: update user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: update user %d: %w", id, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		if u, err = findUser(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		if ch.PasswordHash != nil {
			// A new password ends the lockouts of the old one, from every
			// address.
			if _, err := tx.ExecContext(ctx, `DELETE FROM login_attempts WHERE username = ?`, u.Username); err != nil {
				return fmt.Errorf("store: clear lockouts: %w", err)
			}
		}
		if audit == nil {
			return nil
		}
		return insertAudit(ctx, tx, *audit)
	})
	return u, err
}
