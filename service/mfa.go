package service

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/payscore-console/payscore-console/store"
)

// Audit actions of two-factor sign-in and of sessions.
const (
	AuditMFAEnrolled      = "auth.mfa_enrolled"
	AuditMFAFailed        = "auth.mfa_failed"
	AuditMFAReset         = "auth.mfa_reset"
	AuditRecoveryCodeUsed = "auth.recovery_code_used"
	AuditSessionRevoked   = "auth.session_revoked"
	// AuditStepUpFailed is a wrong password at a step-up other than a
	// termination's (which keeps AuditTerminateReauth).
	AuditStepUpFailed = "auth.stepup_failed"
)

// TOTP parameters (RFC 6238 defaults, what every authenticator app reads):
// 6 digits, 30-second steps, HMAC-SHA1; a code of the step before or after
// the current one is accepted too (clock drift).
const (
	TOTPPeriod = 30
	totpSkew   = 1
	// RecoveryCodeCount is how many recovery codes an enrolment gives.
	RecoveryCodeCount = 10
)

// DefaultIssuer names the console in authenticator apps.
const DefaultIssuer = "payscore-console"

var totpOpts = totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// ErrCodeWrong is a wrong, spent or replayed second-factor code.
var ErrCodeWrong = errors.New("service: two-factor code wrong")

// MFAStore is what two-factor sign-in and step-up need from the database.
type MFAStore interface {
	UserByID(ctx context.Context, id int64) (*store.User, error)
	MFAOf(ctx context.Context, userID int64) (*store.MFA, error)
	BeginMFA(ctx context.Context, userID int64, sealedSecret string) error
	EnableMFA(ctx context.Context, userID, step int64, recoveryHashes []string, audit store.AuditEntry) error
	UseTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	UseRecoveryCode(ctx context.Context, userID int64, hash string, audit store.AuditEntry) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	ResetMFA(ctx context.Context, userID int64, audit store.AuditEntry) error
	BeginLogin(ctx context.Context, username, ip string, l store.LoginLimits) (refusedUntil time.Time, busy bool, err error)
	LoginFailed(ctx context.Context, username, ip string, l store.LoginLimits, failed store.AuditEntry, lockout func(until time.Time) store.AuditEntry) (time.Time, error)
	LoginSucceeded(ctx context.Context, username, ip string, audit store.AuditEntry) error
	ReauthSession(ctx context.Context, idHash string) error
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// MFA is two-factor sign-in with TOTP (RFC 6238): enrolment, the second
// sign-in step, recovery codes, the admin's reset, and step-up before
// dangerous acts.
type MFA struct {
	Store MFAStore
	// Key seals TOTP secrets at rest (AES-256-GCM); DeriveKey makes it
	// from the session key.
	Key []byte
	// Issuer names the console in authenticator apps.
	Issuer string
	// RequiredRoles must sign in with two-factor (MFA_REQUIRED_ROLES).
	RequiredRoles []string
	Now           func() time.Time
	Logger        *slog.Logger
}

// DeriveKey derives a 32-byte key for purpose from a master key (HKDF-SHA256),
// so that one setting (SESSION_KEY) can key several things independently.
// No master key gives no key (nil): what it would key then refuses to work.
func DeriveKey(master []byte, purpose string) []byte {
	if len(master) == 0 {
		return nil
	}
	k, err := hkdf.Key(sha256.New, master, nil, "payscore-console "+purpose, 32)
	if err != nil {
		panic(err) // only for a length HKDF cannot give; 32 it always can
	}
	return k
}

// Required reports whether u's role must sign in with two-factor. Never a
// single sign-on user: the identity provider checks their factors (see
// oidc.go), and they have no local password to pair a TOTP code with.
func (s *MFA) Required(u *store.User) bool {
	return u != nil && u.SSOSubject == "" && slices.Contains(s.RequiredRoles, u.Role)
}

// Enrolment is a pending TOTP enrolment: what the authenticator app reads.
type Enrolment struct {
	// URI is the otpauth://totp/… URI (also what the QR code holds).
	URI string
	// Secret is the base32 secret, for typing in by hand.
	Secret string
}

// Status is what /account shows of a user's two-factor.
type Status struct {
	Enabled      bool
	Pending      *Enrolment // nil unless an enrolment awaits its first code
	RecoveryLeft int
	Required     bool
	EnabledAt    time.Time
	PendingSince time.Time
}

// Status reads u's two-factor state; a pending enrolment comes with its URI.
func (s *MFA) Status(ctx context.Context, u *store.User) (Status, error) {
	st := Status{Required: s.Required(u)}
	m, err := s.Store.MFAOf(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if m.Enabled() {
		st.Enabled, st.EnabledAt = true, *m.EnabledAt
		st.RecoveryLeft, err = s.Store.RecoveryCodesLeft(ctx, u.ID)
		return st, err
	}
	secret, err := s.open(u.ID, m.Secret)
	if err != nil {
		return st, err
	}
	e, err := s.enrolment(u.Username, secret)
	if err != nil {
		return st, err
	}
	st.Pending, st.PendingSince = e, m.CreatedAt
	return st, nil
}

// Begin starts (or restarts) u's enrolment with a new secret. A user already
// enrolled is Conflict (mfa.err.enrolled).
func (s *MFA) Begin(ctx context.Context, u *store.User) (*Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer(), AccountName: u.Username, Period: TOTPPeriod})
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal(u.ID, key.Secret())
	if err != nil {
		return nil, err
	}
	if err := s.Store.BeginMFA(ctx, u.ID, sealed); errors.Is(err, store.ErrConflict) {
		return nil, newError(Conflict, "mfa.err.enrolled", err)
	} else if err != nil {
		return nil, err
	}
	return &Enrolment{URI: key.URL(), Secret: key.Secret()}, nil
}

// Confirm finishes u's pending enrolment with the first code from the app.
// It returns the recovery codes, in the clear for the one time they are
// shown; only their hashes are kept. A wrong code is Invalid
// (mfa.err.code); nothing pending is Conflict (mfa.err.nothing).
func (s *MFA) Confirm(ctx context.Context, actor Actor, u *store.User, code string) ([]string, error) {
	m, err := s.Store.MFAOf(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.Enabled() {
		return nil, newError(Conflict, "mfa.err.nothing", errors.New("service: no pending enrolment"))
	}
	if err != nil {
		return nil, err
	}
	secret, err := s.open(u.ID, m.Secret)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(secret, normalizeCode(code), nowOr(s.Now))
	if !ok {
		return nil, newError(Invalid, "mfa.err.code", ErrCodeWrong)
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.Store.EnableMFA(ctx, u.ID, step, hashes,
		actor.entry(store.AuditEntry{Action: AuditMFAEnrolled, Target: "user:" + u.Username, Result: "ok"}))
	if errors.Is(err, store.ErrConflict) {
		return nil, newError(Conflict, "mfa.err.nothing", err)
	} else if err != nil {
		return nil, err
	}
	loggerOr(s.Logger).Info("two-factor enrolled", "username", u.Username)
	return codes, nil
}

// SecondFactor is the second sign-in step of u: a TOTP code, or one of the
// recovery codes. Every try counts toward the same lockout as passwords
// (service.Auth); a right code clears the count. A wrong, spent or replayed
// code is Forbidden (ErrCodeWrong); a locked name a *LockedError.
func (s *MFA) SecondFactor(ctx context.Context, actor Actor, u *store.User, code string) error {
	log := loggerOr(s.Logger)
	until, busy, err := s.Store.BeginLogin(ctx, u.Username, actor.IP, LoginLimits)
	switch {
	case err != nil:
		return err
	case !until.IsZero():
		log.Warn("second step refused: locked", "username", u.Username, "ip", actor.IP)
		return newError(Forbidden, "login.locked", &LockedError{Until: until})
	case busy:
		return newError(Forbidden, "mfa.err.code", ErrCodeWrong)
	}
	ctx = context.WithoutCancel(ctx) // the count is finished whatever happens
	who := Actor{UserID: u.ID, Username: u.Username, IP: actor.IP}
	ok, recovery, err := s.verify(ctx, who, u, normalizeCode(code))
	if err != nil {
		return err
	}
	if !ok {
		// Counted and audited (auth.mfa_failed, and auth.lockout when it
		// locks) in one transaction.
		log.Warn("two-factor code wrong", "username", u.Username, "ip", actor.IP, "at", "sign-in")
		failed := who.entry(store.AuditEntry{Action: AuditMFAFailed, Target: "user:" + u.Username, Result: "failed", Detail: "sign-in"})
		lockout := func(until time.Time) store.AuditEntry {
			return who.entry(store.AuditEntry{Action: AuditLockout, Target: "user:" + u.Username, Result: "locked",
				Detail: "until=" + until.UTC().Format(time.RFC3339)})
		}
		until, err := s.Store.LoginFailed(ctx, u.Username, actor.IP, LoginLimits, failed, lockout)
		if err != nil {
			return err
		}
		if !until.IsZero() {
			return newError(Forbidden, "login.locked", &LockedError{Until: until})
		}
		return newError(Forbidden, "mfa.err.code", ErrCodeWrong)
	}
	if recovery {
		log.Warn("recovery code used", "username", u.Username, "ip", actor.IP)
	}
	factor := "totp"
	if recovery {
		factor = "recovery"
	}
	if err := s.Store.LoginSucceeded(ctx, u.Username, actor.IP,
		who.entry(store.AuditEntry{Action: AuditLogin, Target: "user:" + u.Username, Result: "ok", Detail: "factor=" + factor})); err != nil {
		return err
	}
	log.Info("signed in", "username", u.Username, "ip", actor.IP, "factor", factor)
	return nil
}

// check verifies a code of u's: six digits are a TOTP code (accepted once:
// its time step must be later than the last one accepted), anything else a
// recovery code (spent by using it, audited). A wrong code is audited
// AuditMFAFailed with where it was tried.
func (s *MFA) check(ctx context.Context, actor Actor, u *store.User, code, where string) (bool, error) {
	code = normalizeCode(code)
	ok, recovery, err := s.verify(ctx, actor, u, code)
	if err != nil {
		return false, err
	}
	if ok {
		if recovery {
			loggerOr(s.Logger).Warn("recovery code used", "username", u.Username, "ip", actor.IP)
		}
		return true, nil
	}
	loggerOr(s.Logger).Warn("two-factor code wrong", "username", u.Username, "ip", actor.IP, "at", where)
	if err := s.Store.Audit(ctx, actor.entry(store.AuditEntry{Action: AuditMFAFailed, Target: "user:" + u.Username, Result: "failed", Detail: where})); err != nil {
		return false, err
	}
	return false, nil
}

func (s *MFA) verify(ctx context.Context, actor Actor, u *store.User, code string) (ok, recovery bool, err error) {
	if code == "" {
		return false, false, nil
	}
	m, err := s.Store.MFAOf(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, false, nil
	}
	if err != nil || !m.Enabled() {
		return false, false, err
	}
	if isTOTPCode(code) {
		secret, err := s.open(u.ID, m.Secret)
		if err != nil {
			return false, false, err
		}
		step, ok := matchTOTP(secret, code, nowOr(s.Now))
		if !ok || step <= m.LastStep {
			return false, false, nil
		}
		// The store accepts the step once, even for two requests at once.
		ok, err = s.Store.UseTOTPStep(ctx, u.ID, step)
		return ok, false, err
	}
	ok, err = s.Store.UseRecoveryCode(ctx, u.ID, hashRecoveryCode(code),
		actor.entry(store.AuditEntry{Action: AuditRecoveryCodeUsed, Target: "user:" + u.Username, Result: "ok"}))
	return ok, ok, err
}

// Reset removes target's two-factor (enrolment and recovery codes) and ends
// their sessions, audited AuditMFAReset. Nobody resets their own (Invalid,
// users.err.self): they would need no second factor to drop it.
func (s *MFA) Reset(ctx context.Context, actor Actor, targetID int64) (*store.User, error) {
	u, err := s.Store.UserByID(ctx, targetID)
	if err != nil {
		return nil, err
	}
	if actor.UserID != 0 && actor.UserID == u.ID {
		return nil, newError(Invalid, "users.err.self", errors.New("service: own two-factor"))
	}
	if err := s.Store.ResetMFA(ctx, u.ID, actor.entry(store.AuditEntry{Action: AuditMFAReset, Target: "user:" + u.Username, Result: "ok"})); err != nil {
		return nil, err
	}
	loggerOr(s.Logger).Warn("two-factor reset", "username", u.Username, "by", actor.Username)
	return u, nil
}

// StepUp checks a person again before a dangerous act: a fresh TOTP code
// (or a recovery code) when they have two-factor, their password when they
// do not. A right one renews the authentication time of the session whose
// id hashes to sessionHash. A wrong one is audited — AuditMFAFailed for a
// code, failedAction (AuditTerminateReauth, AuditStepUpFailed) for a
// password — against target; MaxReauthFailures of them within ReauthAfter
// end the session (ended). Nothing given is asked again: nothing was guessed.
func (s *MFA) StepUp(ctx context.Context, actor Actor, u *store.User, sessionHash, failedAction, target, password, code string) (ok, ended bool, err error) {
	log := loggerOr(s.Logger)
	action := failedAction
	if u.MFA {
		if strings.TrimSpace(code) == "" {
			return false, false, nil
		}
		action = AuditMFAFailed
		ok, err = s.check(ctx, actor, u, code, "step-up "+target)
	} else {
		if password == "" || u.PasswordHash == "" {
			// Nothing given, or a single sign-on user without a password:
			// they step up at the provider (OIDC.BeginStepUp).
			return false, false, nil
		}
		ok, err = CheckPassword(u.PasswordHash, password)
		if err == nil && !ok {
			log.Warn("re-authentication failed", "username", u.Username, "ip", actor.IP)
			err = s.Store.Audit(ctx, actor.entry(store.AuditEntry{Action: failedAction, Target: target, Result: "failed"}))
		}
	}
	if err != nil {
		return false, false, err
	}
	if ok {
		if err := s.Store.ReauthSession(ctx, sessionHash); err != nil {
			return false, false, err
		}
		log.Info("re-authenticated", "username", u.Username, "ip", actor.IP)
		return true, false, nil
	}
	recent, err := s.Store.AuditLog(ctx, store.AuditFilter{Username: u.Username, Action: action,
		From: nowOr(s.Now).Add(-ReauthAfter), Limit: MaxReauthFailures})
	if err != nil {
		return false, false, err
	}
	if len(recent) >= MaxReauthFailures {
		log.Warn("re-authentication: too many failures, session ended", "username", u.Username)
		return false, true, nil
	}
	return false, false, nil
}

func (s *MFA) issuer() string {
	if s.Issuer != "" {
		return s.Issuer
	}
	return DefaultIssuer
}

// enrolment rebuilds the URI of a secret (base32).
func (s *MFA) enrolment(username, secret string) (*Enrolment, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("service: stored TOTP secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer(), AccountName: username, Period: TOTPPeriod, Secret: raw})
	if err != nil {
		return nil, err
	}
	return &Enrolment{URI: key.URL(), Secret: key.Secret()}, nil
}

// sealPrefix marks the sealing scheme of a stored secret.
const sealPrefix = "v1:"

// seal encrypts a TOTP secret for user id (AES-256-GCM, the user id as
// associated data: a sealed secret copied to another user's row does not
// open).
func (s *MFA) seal(userID int64, secret string) (string, error) {
	aead, err := s.aead()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := aead.Seal(nonce, nonce, []byte(secret), []byte("user:"+strconv.FormatInt(userID, 10)))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (s *MFA) open(userID int64, sealed string) (string, error) {
	aead, err := s.aead()
	if err != nil {
		return "", err
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if !strings.HasPrefix(sealed, sealPrefix) || err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("service: stored TOTP secret: unknown format")
	}
	pt, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte("user:"+strconv.FormatInt(userID, 10)))
	if err != nil {
		return "", fmt.Errorf("service: stored TOTP secret does not open (SESSION_KEY changed?): %w", err)
	}
	return string(pt), nil
}

func (s *MFA) aead() (cipher.AEAD, error) {
	if len(s.Key) != 32 {
		return nil, errors.New("service: two-factor needs a 32-byte key")
	}
	block, err := aes.NewCipher(s.Key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// matchTOTP finds the time step, within the allowed skew of now, whose code
// is code.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if !isTOTPCode(code) {
		return 0, false
	}
	cur := now.Unix() / TOTPPeriod
	for step := cur + totpSkew; step >= cur-totpSkew; step-- {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*TOTPPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

func isTOTPCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// normalizeCode drops spaces and hyphens and lowers the case: codes are
// read off a phone or a sheet of paper.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// recoveryAlphabet avoids letters read as digits (0/o, 1/l/i).
const recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// newRecoveryCodes makes RecoveryCodeCount codes of 12 characters (about 59
// bits each), shown as xxxx-xxxx-xxxx, and their hashes.
func newRecoveryCodes() (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, 12)
		for i := range b {
			n, err := randIndex(len(recoveryAlphabet))
			if err != nil {
				return nil, nil, err
			}
			b[i] = recoveryAlphabet[n]
		}
		c := string(b[:4]) + "-" + string(b[4:8]) + "-" + string(b[8:])
		codes, hashes = append(codes, c), append(hashes, hashRecoveryCode(normalizeCode(c)))
	}
	return codes, hashes, nil
}

// randIndex is a uniform random number in [0, n), n ≤ 256.
func randIndex(n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}

func hashRecoveryCode(normalized string) string {
	sum := sha256.Sum256([]byte("recovery:" + normalized))
	return hex.EncodeToString(sum[:])
}
