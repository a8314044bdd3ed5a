package service

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/payscore-console/payscore-console/store"
)

// Single sign-on with an OpenID Connect provider: the authorization code
// flow with PKCE (S256), state and nonce; the ID token is verified by
// go-oidc (issuer, audience, expiry, signature through the provider's JWKS).
// The provider's account becomes a console user on its first sign-in, with
// the role mapped from a claim (OIDC_ROLE_CLAIM through OIDC_ROLE_MAP); the
// role follows the provider at each sign-in; disabling in the console wins.
// An SSO user has no local password, and no local second factor: the
// provider is where their factors are checked.

// Audit actions and the detail of single sign-on.
const (
	// AuditSSORefused: a provider's account was refused a console session
	// (no mapped role, disabled, username taken, token refused); Detail
	// says why.
	AuditSSORefused = "auth.sso_refused"
	// auditLogin is a sign-in (auth.login); Detail method=oidc for SSO.
	auditLogin = "auth.login"
	// DetailOIDC marks SSO entries.
	DetailOIDC = "method=oidc"
)

// Why an SSO sign-in was refused (the audit entry's detail, the i18n key's
// last part).
const (
	SSOReasonNoRole   = "no_mapped_role"
	SSOReasonDisabled = "disabled"
	SSOReasonUsername = "bad_username"
	SSOReasonTaken    = "username_taken"
	SSOReasonToken    = "token_refused"
	SSOReasonState    = "bad_state"
	SSOReasonProvider = "provider_error"
	SSOReasonDenied   = "provider_denied"
	// At a step-up: the provider signed in another account, or did not
	// say it authenticated the person again.
	SSOReasonOtherAccount = "other_account"
	SSOReasonNotReauth    = "not_reauthenticated"
)

// AuditSSOStepUp: a single sign-on user confirmed who they are at the
// provider before a dangerous act.
const AuditSSOStepUp = "auth.stepup"

// ErrSSORefused is the cause of every refused SSO sign-in; the *SSORefusal
// wrapping it says why.
var ErrSSORefused = errors.New("service: single sign-on refused")

// SSORefusal is why an SSO sign-in was refused (Reason: an SSOReason
// constant), for the page and the audit entry.
type SSORefusal struct {
	Reason string
	Err    error
}

// Error implements error.
func (e *SSORefusal) Error() string {
	if e.Err != nil {
		return "service: single sign-on refused: " + e.Reason + ": " + e.Err.Error()
	}
	return "service: single sign-on refused: " + e.Reason
}

// Unwrap returns ErrSSORefused and the cause.
func (e *SSORefusal) Unwrap() []error { return []error{ErrSSORefused, e.Err} }

// OIDCConfig is the provider and how its accounts map to console users.
type OIDCConfig struct {
	Issuer       string // OIDC_ISSUER
	ClientID     string // OIDC_CLIENT_ID
	ClientSecret string // OIDC_CLIENT_SECRET
	// RedirectURL is BASE_URL/login/oidc/callback.
	RedirectURL string
	// ProviderName is shown on /login ("Sign in with …").
	ProviderName string
	// RoleClaim names the ID token claim holding the person's provider
	// roles (a string or an array of strings; a dotted path such as
	// resource_access.console.roles reaches into objects).
	RoleClaim string
	// RoleMap maps a provider role to a console role (ParseRoleMap).
	RoleMap map[string]string
	// HTTPClient calls the provider (nil: one with a 10 s time-out).
	HTTPClient *http.Client
}

// OIDCStore is what single sign-on needs from the database.
type OIDCStore interface {
	SignInSSO(ctx context.Context, issuer, subject, username, role string,
		audit func(u *store.User, ch store.SSOChange) []store.AuditEntry) (*store.User, store.SSOChange, error)
	Audit(ctx context.Context, e store.AuditEntry) error
	ReauthSession(ctx context.Context, idHash string) error
}

// OIDC signs people in with the identity provider. The provider's
// discovery document is fetched on first use (and again after a failure),
// so the console starts, and its break-glass accounts sign in, while the
// provider is down.
type OIDC struct {
	cfg    OIDCConfig
	Store  OIDCStore
	Now    func() time.Time
	Logger *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDC builds the single sign-on service.
func NewOIDC(cfg OIDCConfig, st OIDCStore, now func() time.Time, logger *slog.Logger) *OIDC {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "roles"
	}
	if cfg.ProviderName == "" {
		if u, err := url.Parse(cfg.Issuer); err == nil && u.Host != "" {
			cfg.ProviderName = u.Hostname()
		}
	}
	return &OIDC{cfg: cfg, Store: st, Now: now, Logger: logger}
}

// ProviderName is what /login calls the provider.
func (s *OIDC) ProviderName() string { return s.cfg.ProviderName }

// ParseRoleMap parses OIDC_ROLE_MAP: comma-separated provider=console
// pairs, e.g. "payscore-admin=admin,payscore-support=support". Each console
// role must be one of store.Roles; a provider role appears once.
func ParseRoleMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("%q is not provider-role=console-role", pair)
		}
		if !ValidRole(to) {
			return nil, fmt.Errorf("%q: unknown role %q (one of %s)", pair, to, strings.Join(store.Roles, ", "))
		}
		if _, dup := m[from]; dup {
			return nil, fmt.Errorf("%q is mapped twice", from)
		}
		m[from] = to
	}
	if len(m) == 0 {
		return nil, errors.New("no provider-role=console-role pair")
	}
	return m, nil
}

// OIDCFlow is what a sign-in started with the provider must present when
// the browser comes back: kept in the browser (a signed, short-lived
// cookie) and compared there, never sent anywhere but the token endpoint.
type OIDCFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	Next     string `json:"x"` // where to go after signing in
	// Started is when the flow began (Unix seconds).
	Started int64 `json:"t"`
	// StepUp: the signed-in user (UserID) confirms who they are at the
	// provider again before a dangerous act (BeginStepUp).
	StepUp bool  `json:"u,omitempty"`
	UserID int64 `json:"i,omitempty"`
}

// OIDCFlowTTL is how long a started sign-in may take at the provider.
const OIDCFlowTTL = 10 * time.Minute

// Begin starts a sign-in: fresh state, nonce and PKCE verifier, and the
// provider's authorization URL to send the browser to. A provider that
// cannot be reached is Upstream (sso.err.provider_error).
func (s *OIDC) Begin(ctx context.Context, next string) (string, OIDCFlow, error) {
	return s.begin(ctx, OIDCFlow{Next: next})
}

// BeginStepUp starts a step-up for the signed-in single sign-on user u: the
// provider is asked to authenticate them again whatever session it has
// (prompt=login, max_age=0), and CompleteStepUp checks it did.
func (s *OIDC) BeginStepUp(ctx context.Context, u *store.User, next string) (string, OIDCFlow, error) {
	return s.begin(ctx, OIDCFlow{Next: next, StepUp: true, UserID: u.ID},
		oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
}

func (s *OIDC) begin(ctx context.Context, f OIDCFlow, opts ...oauth2.AuthCodeOption) (string, OIDCFlow, error) {
	p, err := s.discover(ctx)
	if err != nil {
		return "", OIDCFlow{}, err
	}
	f.State, f.Nonce, f.Verifier, f.Started = randomString(), randomString(), oauth2.GenerateVerifier(), nowOr(s.Now).Unix()
	opts = append(opts, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return s.oauth2(p).AuthCodeURL(f.State, opts...), f, nil
}

// Callback is what the provider sent the browser back with.
type Callback struct {
	State, Code string
	// Error and ErrorDescription are the provider's refusal
	// (access_denied, …), if any.
	Error, ErrorDescription string
}

// Complete finishes a sign-in the browser came back from: the state must be
// the flow's (and the flow fresh), the code is exchanged with the PKCE
// verifier, the ID token verified (issuer, audience, expiry, signature) and
// its nonce must be the flow's; then the account is found or created, its
// role mapped from the claim, and the sign-in audited (auth.login,
// method=oidc) in the same transaction. Every refusal is Forbidden with an
// *SSORefusal (Key sso.err.<reason>) and audited (auth.sso_refused), except
// a provider that cannot be reached: Upstream.
func (s *OIDC) Complete(ctx context.Context, ip string, flow OIDCFlow, cb Callback) (*store.User, error) {
	if flow.StepUp {
		return nil, s.refuse(ctx, ip, "", SSOReasonState, errors.New("a step-up flow at the sign-in callback"))
	}
	idt, claims, err := s.verify(ctx, ip, flow, cb)
	if err != nil {
		return nil, err
	}
	return s.signIn(ctx, ip, idt, claims)
}

// verify checks a callback against its flow and returns the verified ID
// token and its claims.
func (s *OIDC) verify(ctx context.Context, ip string, flow OIDCFlow, cb Callback) (*oidc.IDToken, map[string]any, error) {
	now := nowOr(s.Now)
	switch {
	case flow.State == "" || cb.State == "" || subtle.ConstantTimeCompare([]byte(flow.State), []byte(cb.State)) != 1:
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonState, errors.New("state does not match the browser's"))
	case now.Sub(time.Unix(flow.Started, 0)) > OIDCFlowTTL:
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonState, errors.New("sign-in started too long ago"))
	case cb.Error != "":
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonDenied, fmt.Errorf("provider: %.100s: %.200s", cb.Error, cb.ErrorDescription))
	case cb.Code == "":
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonState, errors.New("no code"))
	}
	p, err := s.discover(ctx)
	if err != nil {
		return nil, nil, err
	}
	tok, err := s.oauth2(p).Exchange(s.clientContext(ctx), cb.Code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// The provider answered and refused the code.
			return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, err)
		}
		loggerOr(s.Logger).Error("oidc: token endpoint unreachable", "err", err)
		return nil, nil, newError(Upstream, "sso.err."+SSOReasonProvider, &SSORefusal{Reason: SSOReasonProvider, Err: err})
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, errors.New("no id_token in the token response"))
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.cfg.ClientID, Now: s.Now}).Verify(s.clientContext(ctx), raw)
	if err != nil {
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.Nonce)) != 1 {
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, errors.New("nonce does not match the flow's"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, err)
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, s.refuse(ctx, ip, "", SSOReasonToken, err)
	}
	return idt, claims, nil
}

// signIn finds, creates or updates the account of a verified ID token.
func (s *OIDC) signIn(ctx context.Context, ip string, idt *oidc.IDToken, claims map[string]any) (*store.User, error) {
	username, _ := claims["preferred_username"].(string)
	if !ValidateUsername(username) {
		return nil, s.refuse(ctx, ip, username, SSOReasonUsername, fmt.Errorf("preferred_username %.64q is not a console username", username))
	}
	provided := claimStrings(claims, s.cfg.RoleClaim)
	role := s.mapRole(provided)
	if role == "" {
		return nil, s.refuse(ctx, ip, username, SSOReasonNoRole,
			fmt.Errorf("claim %s %.200q maps to no console role", s.cfg.RoleClaim, strings.Join(provided, ",")))
	}
	who := Actor{Username: username, IP: ip}
	target := "user:" + username
	u, ch, err := s.Store.SignInSSO(ctx, idt.Issuer, idt.Subject, username, role,
		func(u *store.User, ch store.SSOChange) []store.AuditEntry {
			who.UserID = u.ID
			target = "user:" + u.Username
			if ch.Disabled {
				return []store.AuditEntry{who.entry(store.AuditEntry{Action: AuditSSORefused, Target: target, Result: "refused",
					Detail: DetailOIDC + " reason=" + SSOReasonDisabled})}
			}
			var out []store.AuditEntry
			if ch.Created {
				out = append(out, who.entry(store.AuditEntry{Action: "user.create", Target: target, Result: "ok",
					Detail: "role=" + u.Role + " " + DetailOIDC}))
			}
			if ch.OldRole != "" {
				out = append(out, who.entry(store.AuditEntry{Action: "user.role", Target: target, Result: "ok",
					Detail: "role=" + u.Role + " was=" + ch.OldRole + " " + DetailOIDC}))
			}
			return append(out, who.entry(store.AuditEntry{Action: auditLogin, Target: target, Result: "ok",
				Detail: DetailOIDC + " role=" + u.Role}))
		})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, s.refuse(ctx, ip, username, SSOReasonTaken, err)
	case err != nil:
		return nil, err
	case ch.Disabled:
		// Already audited with the (absent) change.
		loggerOr(s.Logger).Warn("sso sign-in refused", "reason", SSOReasonDisabled, "username", u.Username, "ip", ip)
		return nil, newError(Forbidden, "sso.err."+SSOReasonDisabled, &SSORefusal{Reason: SSOReasonDisabled})
	}
	loggerOr(s.Logger).Info("signed in", "method", "oidc", "username", u.Username, "role", u.Role,
		"created", ch.Created, "role_was", ch.OldRole, "ip", ip)
	return u, nil
}

// CompleteStepUp finishes a step-up of the signed-in single sign-on user u
// (BeginStepUp): the callback is verified as at sign-in, the token must name
// u's own provider account and say (auth_time) that the provider
// authenticated them after the step-up began; then the session whose id
// hashes to sessionHash counts as freshly authenticated, audited
// auth.stepup method=oidc. Refusals are as Complete's.
func (s *OIDC) CompleteStepUp(ctx context.Context, actor Actor, u *store.User, sessionHash string, flow OIDCFlow, cb Callback) error {
	if !flow.StepUp || flow.UserID != u.ID || u.SSOSubject == "" {
		return s.refuse(ctx, actor.IP, u.Username, SSOReasonState, errors.New("not this user's step-up"))
	}
	idt, claims, err := s.verify(ctx, actor.IP, flow, cb)
	if err != nil {
		return err
	}
	if idt.Issuer != u.SSOIssuer || idt.Subject != u.SSOSubject {
		return s.refuse(ctx, actor.IP, u.Username, SSOReasonOtherAccount, fmt.Errorf("step-up signed in subject %.64q", idt.Subject))
	}
	at, _ := claims["auth_time"].(float64)
	if at == 0 || time.Unix(int64(at), 0).Before(time.Unix(flow.Started, 0).Add(-time.Minute)) {
		return s.refuse(ctx, actor.IP, u.Username, SSOReasonNotReauth, errors.New("auth_time missing or older than the step-up"))
	}
	if err := s.Store.ReauthSession(ctx, sessionHash); err != nil {
		return err
	}
	if err := s.Store.Audit(ctx, actor.entry(store.AuditEntry{Action: AuditSSOStepUp, Target: "user:" + u.Username,
		Result: "ok", Detail: DetailOIDC})); err != nil {
		return err
	}
	loggerOr(s.Logger).Info("re-authenticated", "method", "oidc", "username", u.Username, "ip", actor.IP)
	return nil
}

// refuse audits and logs a refused SSO sign-in and returns its error.
func (s *OIDC) refuse(ctx context.Context, ip, username, reason string, cause error) error {
	log := loggerOr(s.Logger)
	log.Warn("sso sign-in refused", "reason", reason, "username", LogUsername(username), "ip", ip, "err", cause)
	target := "oidc"
	if username != "" {
		target = "user:" + LogUsername(username)
	}
	if err := s.Store.Audit(ctx, Actor{Username: LogUsername(username), IP: ip}.entry(store.AuditEntry{
		Action: AuditSSORefused, Target: target, Result: "refused", Detail: DetailOIDC + " reason=" + reason})); err != nil {
		return err
	}
	return newError(Forbidden, "sso.err."+reason, &SSORefusal{Reason: reason, Err: cause})
}

// LogUsername is a username from outside, cut to 32 bytes for a log line or
// an audit entry.
func LogUsername(s string) string {
	if len(s) <= 32 {
		return s
	}
	cut := 32
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// mapRole is the most privileged console role (store.Roles order) any of
// the provider's roles maps to, or "".
func (s *OIDC) mapRole(provided []string) string {
	best := -1
	for _, p := range provided {
		if r, ok := s.cfg.RoleMap[p]; ok {
			if i := slices.Index(store.Roles, r); i >= 0 && (best < 0 || i < best) {
				best = i
			}
		}
	}
	if best < 0 {
		return ""
	}
	return store.Roles[best]
}

// claimStrings reads a claim that is a string or an array of strings; a
// name not found as such is tried as a dotted path into nested objects.
func claimStrings(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			cur = m[part]
		}
		v = cur
	}
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// discover fetches the provider's discovery document once it answers.
func (s *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return s.provider, nil
	}
	p, err := oidc.NewProvider(s.clientContext(ctx), s.cfg.Issuer)
	if err != nil {
		loggerOr(s.Logger).Error("oidc: discovery failed", "issuer", s.cfg.Issuer, "err", err)
		return nil, newError(Upstream, "sso.err."+SSOReasonProvider, &SSORefusal{Reason: SSOReasonProvider, Err: err})
	}
	s.provider = p
	return p, nil
}

func (s *OIDC) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, s.cfg.HTTPClient)
}

func (s *OIDC) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.cfg.ClientID,
		ClientSecret: s.cfg.ClientSecret,
		RedirectURL:  s.cfg.RedirectURL,
		Endpoint:     p.Endpoint(),
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

// randomString is 256 random bits, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// PasswordSignInAllowed reports whether u may sign in with a password: never
// an SSO user (they have none), and with local login off (LOCAL_LOGIN=off)
// only a break-glass user. The answer to a refused one is the same as to a
// wrong password, and it counts toward the lockout alike.
func PasswordSignInAllowed(u *store.User, localLoginOff bool) bool {
	if u.SSOSubject != "" || u.PasswordHash == "" {
		return false
	}
	return !localLoginOff || u.BreakGlass
}
