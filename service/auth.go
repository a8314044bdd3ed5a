package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Sign-in throttling: after MaxLoginFailures within LoginWindow, the
// username is locked for LockDuration.
const (
	MaxLoginFailures = 5
	LoginWindow      = 15 * time.Minute
	LockDuration     = 15 * time.Minute
)

// ReauthAfter is how long after giving their password a person may
// terminate an authorization without giving it again (ASVS re-authentication
// for sensitive actions).
const ReauthAfter = 15 * time.Minute

// MaxReauthFailures is how many wrong passwords at the re-authentication
// step within ReauthAfter end the session, so a stolen session cannot guess
// the password through the terminate form.
const MaxReauthFailures = 5

// LockedError says until when a username is locked.
type LockedError struct{ Until time.Time }

// Error implements error.
func (e *LockedError) Error() string {
	return fmt.Sprintf("service: sign-in locked until %s", e.Until.Format(time.RFC3339))
}

// ErrSignInFailed is a wrong password, an unknown or a disabled user: they
// answer alike.
var ErrSignInFailed = errors.New("service: sign-in failed")

// AuthStore is what signing in needs from the database.
type AuthStore interface {
	UserByID(ctx context.Context, id int64) (*store.User, error)
	UserByUsername(ctx context.Context, username string) (*store.User, error)
	LoginAttempt(ctx context.Context, username string, max int, window, lock time.Duration) (refusedUntil time.Time, err error)
	LockedUntil(ctx context.Context, username string) (time.Time, error)
	LoginSuccess(ctx context.Context, username string) error
	ReauthSession(ctx context.Context, idHash string) error
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// Auth checks passwords: at sign-in, with a lockout per username, and again
// before sensitive actions.
type Auth struct {
	Store  AuthStore
	Now    func() time.Time
	Logger *slog.Logger
	// LocalLoginOff (LOCAL_LOGIN=off) keeps password sign-in for
	// break-glass users only (see PasswordSignInAllowed).
	LocalLoginOff bool
}

// SignIn checks username and password from ip. Unknown user and wrong
// password answer alike (ErrSignInFailed, same argon2id work); a locked
// username is a *LockedError. Both come as Forbidden. For a user with
// two-factor (User.MFA) the password is only the first step: the sign-in
// is complete after MFA.SecondFactor.
func (s *Auth) SignIn(ctx context.Context, username, password, ip string) (*store.User, error) {
	log := loggerOr(s.Logger)
	// The attempt is counted before the password is checked, in the same
	// transaction as the lock check: guesses sent at once cannot all slip
	// past the limit while the first ones are being checked.
	if until, err := s.Store.LoginAttempt(ctx, username, MaxLoginFailures, LoginWindow, LockDuration); err != nil {
		return nil, err
	} else if !until.IsZero() {
		log.Warn("sign-in refused: locked", "username", username, "ip", ip)
		return nil, newError(Forbidden, "login.locked", &LockedError{Until: until})
	}
	user, err := s.Store.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash := dummyHash
	if user != nil && user.PasswordHash != "" {
		hash = user.PasswordHash
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return nil, err
	}
	if user == nil || user.Disabled || !ok || !PasswordSignInAllowed(user, s.LocalLoginOff) {
		// This attempt is already counted; it may have locked the name.
		until, err := s.Store.LockedUntil(ctx, username)
		if err != nil {
			return nil, err
		}
		log.Warn("sign-in failed", "username", username, "ip", ip, "locked", !until.IsZero())
		if !until.IsZero() {
			return nil, newError(Forbidden, "login.locked", &LockedError{Until: until})
		}
		return nil, newError(Forbidden, "login.failed", ErrSignInFailed)
	}
	if user.MFA {
		// Half-way: the count is cleared only by the second step's right
		// code (MFA.SecondFactor), so that knowing the password does not
		// buy unlimited guesses at the code.
		log.Info("password accepted, second step next", "username", username, "ip", ip)
		return user, nil
	}
	if err := s.Store.LoginSuccess(ctx, username); err != nil {
		return nil, err
	}
	log.Info("signed in", "username", username, "ip", ip)
	return user, nil
}

// User is the signed-in person's account, for each request.
func (s *Auth) User(ctx context.Context, id int64) (*store.User, error) {
	return s.Store.UserByID(ctx, id)
}
