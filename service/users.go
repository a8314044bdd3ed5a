package service

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,32}$`)

// ValidateUsername reports whether a username is acceptable.
func ValidateUsername(s string) bool { return usernamePattern.MatchString(s) }

// ValidRole reports whether role is one of store.Roles.
func ValidRole(role string) bool { return slices.Contains(store.Roles, role) }

// UserStore is what managing users needs from the database.
type UserStore interface {
	Users(ctx context.Context) ([]store.User, error)
	UserByID(ctx context.Context, id int64) (*store.User, error)
	UserByUsername(ctx context.Context, username string) (*store.User, error)
	CreateUserAudited(ctx context.Context, username, passwordHash, role string, audit store.AuditEntry) (*store.User, error)
	UpdateUserAudited(ctx context.Context, id int64, ch store.UserChange, audit store.AuditEntry) (*store.User, error)
}

// Users manages accounts; every change is audited in its own transaction.
type Users struct {
	Store  UserStore
	Now    func() time.Time
	Logger *slog.Logger
}

// Actions of Users.Update.
const (
	UserActionRole     = "role"
	UserActionDisable  = "disable"
	UserActionEnable   = "enable"
	UserActionPassword = "password"
)

// List lists every user by username.
func (s *Users) List(ctx context.Context) ([]store.User, error) { return s.Store.Users(ctx) }

// ByID finds a user.
func (s *Users) ByID(ctx context.Context, id int64) (*store.User, error) {
	return s.Store.UserByID(ctx, id)
}

// ByUsername finds a user.
func (s *Users) ByUsername(ctx context.Context, username string) (*store.User, error) {
	return s.Store.UserByUsername(ctx, username)
}

// Create adds a user. A bad username, role or password is Invalid (Key
// users.err.username / role / password); a taken username is Conflict
// (users.err.taken).
func (s *Users) Create(ctx context.Context, actor Actor, username, password, role string) (*store.User, error) {
	if !ValidateUsername(username) {
		return nil, newError(Invalid, "users.err.username", errors.New("service: invalid username"))
	}
	if !ValidRole(role) {
		return nil, newError(Invalid, "users.err.role", errors.New("service: invalid role"))
	}
	if err := CheckPasswordPolicy(username, password); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.CreateUserAudited(ctx, username, hash, role,
		actor.entry(store.AuditEntry{Action: "user.create", Target: "user:" + username, Result: "ok", Detail: "role=" + role}))
	if errors.Is(err, store.ErrConflict) {
		return nil, newError(Conflict, "users.err.taken", err)
	}
	return u, err
}

// UserChange is a change Users.Update makes: Action is one of the
// UserAction constants; Role and Password go with their actions. A person
// changing their own password gives the current one (CurrentPassword).
type UserChange struct {
	Action          string
	Role            string
	Password        string
	CurrentPassword string
}

// KeyCurrentPassword is the catalog key of a missing or wrong current
// password when changing one's own (ErrCurrentPassword).
const KeyCurrentPassword = "account.err.current"

// Update changes a role, disables or enables, or resets a password. Every
// change ends the user's sessions (the store does it in the same
// transaction). Nobody changes their own role or status (Invalid,
// users.err.self); a password may be their own, given the current one.
// Passwords meet the policy (CheckPasswordPolicy).
func (s *Users) Update(ctx context.Context, actor Actor, id int64, c UserChange) (*store.User, error) {
	target, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	var ch store.UserChange
	detail := ""
	switch c.Action {
	case UserActionRole:
		if !ValidRole(c.Role) {
			return nil, newError(Invalid, "users.err.role", errors.New("service: invalid role"))
		}
		role := c.Role
		ch.Role, detail = &role, "role="+role
	case UserActionDisable, UserActionEnable:
		v := c.Action == UserActionDisable
		ch.Disabled = &v
	case UserActionPassword:
		if target.SSOSubject != "" {
			// Their password is the provider's business.
			return nil, newError(Invalid, "users.err.sso_password", errors.New("service: an SSO user has no local password"))
		}
		if target.ID == actor.UserID {
			// Changing one's own: the current password first, so that a
			// session left open is not enough to take the account over.
			ok, err := CheckPassword(target.PasswordHash, c.CurrentPassword)
			if err != nil {
				return nil, err
			}
			if c.CurrentPassword == "" || !ok {
				loggerOr(s.Logger).Warn("own password change: current password wrong", "username", target.Username, "ip", actor.IP)
				return nil, newError(Invalid, KeyCurrentPassword, ErrCurrentPassword)
			}
		}
		if err := CheckPasswordPolicy(target.Username, c.Password); err != nil {
			return nil, err
		}
		hash, err := HashPassword(c.Password)
		if err != nil {
			return nil, err
		}
		ch.PasswordHash = &hash
	default:
		return nil, newError(Invalid, "", errors.New("service: unknown user action "+c.Action))
	}
	if target.ID == actor.UserID && c.Action != UserActionPassword {
		return nil, newError(Invalid, "users.err.self", errors.New("service: own role or status"))
	}
	return s.Store.UpdateUserAudited(ctx, id, ch,
		actor.entry(store.AuditEntry{Action: "user." + c.Action, Target: "user:" + target.Username, Result: "ok", Detail: detail}))
}
