package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Sign-in throttling, per username AND client address: after
// MaxLoginFailures within LoginWindow, that address is locked out of that
// username for LockDuration; each further lockout of the same pair lasts
// twice as long, up to MaxLockDuration, while lockouts are remembered
// (LockMemory after the last one ends). Other addresses are never locked
// by it.
const (
	MaxLoginFailures = 5
	LoginWindow      = 15 * time.Minute
	LockDuration     = 15 * time.Minute
	MaxLockDuration  = 24 * time.Hour
	LockMemory       = 24 * time.Hour
)

// LoginLimits are the rules above, as the store applies them.
var LoginLimits = store.LoginLimits{Max: MaxLoginFailures, Window: LoginWindow, Lock: LockDuration,
	MaxLock: MaxLockDuration, Memory: LockMemory}

// MaxUsernameBytes is the longest username a sign-in attempt may give:
// longer ones are refused before anything is written (no account can have
// one: see ValidateUsername).
const MaxUsernameBytes = 64

// Audit actions of signing in and out.
const (
	AuditLogin       = "auth.login"
	AuditLoginFailed = "auth.login_failed"
	AuditLogout      = "auth.logout"
	AuditLockout     = "auth.lockout"
	AuditUnlock      = "auth.unlock"
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
	BeginLogin(ctx context.Context, username, ip string, l store.LoginLimits) (refusedUntil time.Time, busy bool, err error)
	LoginFailed(ctx context.Context, username, ip string, l store.LoginLimits, failed store.AuditEntry, lockout func(until time.Time) store.AuditEntry) (time.Time, error)
	LoginSucceeded(ctx context.Context, username, ip string, audit store.AuditEntry) error
	Locks(ctx context.Context) (map[string]store.Lock, error)
	UnlockUser(ctx context.Context, username string, audit store.AuditEntry) (int64, error)
	EndSessionAudited(ctx context.Context, idHash string, audit store.AuditEntry) error
}

// Auth checks passwords: at sign-in, with a lockout per username and
// address, and again before sensitive actions.
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
// username is a *LockedError. Both come as Forbidden. Every checked attempt
// is audited (auth.login, auth.login_failed, auth.lockout) in the same
// transaction as the count it changes. For a user with two-factor
// (User.MFA) the password is only the first step: the sign-in is complete
// (and audited auth.login) after MFA.SecondFactor.
func (s *Auth) SignIn(ctx context.Context, username, password, ip string) (*store.User, error) {
	log := loggerOr(s.Logger)
	if len(username) > MaxUsernameBytes {
		// No account has such a name: refused before anything is written.
		log.Warn("sign-in failed: username too long", "username", LogUsername(username), "ip", ip)
		return nil, newError(Forbidden, "login.failed", ErrSignInFailed)
	}
	// The attempt is counted before the password is checked, in the same
	// transaction as the lock check: guesses sent at once cannot all slip
	// past the limit while the first ones are being checked.
	until, busy, err := s.Store.BeginLogin(ctx, username, ip, LoginLimits)
	switch {
	case err != nil:
		return nil, err
	case !until.IsZero():
		log.Warn("sign-in refused: locked", "username", LogUsername(username), "ip", ip)
		return nil, newError(Forbidden, "login.locked", &LockedError{Until: until})
	case busy:
		log.Warn("sign-in refused: too many at once", "username", LogUsername(username), "ip", ip)
		return nil, newError(Forbidden, "login.failed", ErrSignInFailed)
	}
	// The count must be finished even if the person goes away meanwhile.
	ctx = context.WithoutCancel(ctx)
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
	who := Actor{Username: username, IP: ip}
	if user != nil {
		who.UserID = user.ID
	}
	lockout := func(until time.Time) store.AuditEntry {
		return who.entry(store.AuditEntry{Action: AuditLockout, Target: "user:" + username, Result: "locked",
			Detail: "until=" + until.UTC().Format(time.RFC3339)})
	}
	if user == nil || user.Disabled || !ok || !PasswordSignInAllowed(user, s.LocalLoginOff) {
		failed := who.entry(store.AuditEntry{Action: AuditLoginFailed, Target: "user:" + username, Result: "failed"})
		until, err := s.Store.LoginFailed(ctx, username, ip, LoginLimits, failed, lockout)
		if err != nil {
			return nil, err
		}
		log.Warn("sign-in failed", "username", LogUsername(username), "ip", ip, "locked", !until.IsZero())
		if !until.IsZero() {
			return nil, newError(Forbidden, "login.locked", &LockedError{Until: until})
		}
		return nil, newError(Forbidden, "login.failed", ErrSignInFailed)
	}
	if user.MFA {
		// Half-way: the attempt keeps counting as a failure (unaudited)
		// until the second step's right code clears the count
		// (MFA.SecondFactor), so that knowing the password does not buy
		// unlimited guesses at the code.
		until, err := s.Store.LoginFailed(ctx, username, ip, LoginLimits, store.AuditEntry{}, lockout)
		if err != nil {
			return nil, err
		}
		if !until.IsZero() {
			return nil, newError(Forbidden, "login.locked", &LockedError{Until: until})
		}
		log.Info("password accepted, second step next", "username", username, "ip", ip)
		return user, nil
	}
	if err := s.Store.LoginSucceeded(ctx, username, ip,
		who.entry(store.AuditEntry{Action: AuditLogin, Target: "user:" + username, Result: "ok"})); err != nil {
		return nil, err
	}
	log.Info("signed in", "username", username, "ip", ip)
	return user, nil
}

// SignOut ends the session whose id hashes to sessionHash, audited
// (auth.logout) in the same transaction.
func (s *Auth) SignOut(ctx context.Context, actor Actor, sessionHash string) error {
	if err := s.Store.EndSessionAudited(ctx, sessionHash,
		actor.entry(store.AuditEntry{Action: AuditLogout, Target: "user:" + actor.Username, Result: "ok"})); err != nil {
		return err
	}
	loggerOr(s.Logger).Info("signed out", "username", actor.Username, "ip", actor.IP)
	return nil
}

// Locks lists the usernames locked now from at least one address.
func (s *Auth) Locks(ctx context.Context) (map[string]store.Lock, error) { return s.Store.Locks(ctx) }

// Unlock ends every lockout of username (from every address), audited
// (auth.unlock) in the same transaction, whether or not one was on.
func (s *Auth) Unlock(ctx context.Context, actor Actor, username string) (int64, error) {
	if !ValidateUsername(username) {
		return 0, newError(Invalid, "users.err.username", errors.New("service: invalid username"))
	}
	var n int64
	n, err := s.Store.UnlockUser(ctx, username,
		actor.entry(store.AuditEntry{Action: AuditUnlock, Target: "user:" + username, Result: "ok"}))
	if err != nil {
		return 0, err
	}
	loggerOr(s.Logger).Warn("sign-in unlocked", "username", username, "by", actor.Username, "addresses", n)
	return n, nil
}

// User is the signed-in person's account, for each request.
func (s *Auth) User(ctx context.Context, id int64) (*store.User, error) {
	return s.Store.UserByID(ctx, id)
}
