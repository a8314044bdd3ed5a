package handlers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// testRoleMap is the OIDC_ROLE_MAP of the single sign-on tests.
var testRoleMap = map[string]string{
	"payscore-admin": store.RoleAdmin, "payscore-operator": store.RoleOperator,
	"payscore-support": store.RoleSupport, "payscore-viewer": store.RoleViewer,
}

// ssoServer is a console with single sign-on against an in-test provider
// sharing its fake clock, configured as serve does from the OIDC_*
// variables; localOff is LOCAL_LOGIN=off.
func ssoServer(t *testing.T, localOff bool, mfaRoles ...string) (*testServer, *testProvider) {
	t.Helper()
	var prov *testProvider
	ts := newTestServer(t, withDeps(func(d *testWiring) {
		d.MFARequiredRoles = mfaRoles
		prov = newTestProvider(t, d.Now)
		base, st, now, logger := d.BaseURL.String(), d.Store, d.Now, d.Logger
		d.AdjustServices = func(s *service.Services) {
			s.Auth.LocalLoginOff = localOff
			s.OIDC = service.NewOIDC(service.OIDCConfig{
				Issuer: prov.URL, ClientID: testClientID, ClientSecret: testClientSecret,
				RedirectURL: base + "/login/oidc/callback", ProviderName: "Test IdP",
				RoleMap: testRoleMap,
			}, st, now, logger)
		}
	}))
	return ts, prov
}

// ssoSignIn runs the browser through single sign-on: /login/oidc, the
// provider, the callback (whose query tamper may change). It returns the
// callback's answer.
func (tc *testClient) ssoSignIn(t *testing.T, next string, tamper func(q url.Values)) *response {
	t.Helper()
	path := "/login/oidc"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	start := tc.get(t, path)
	if start.status != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302; %s", path, start.status, start.body)
	}
	flow := start.cookie("oidc")
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Fatalf("GET %s: flow cookie %+v, want HttpOnly, SameSite=Lax, short-lived", path, flow)
	}
	// At the provider (another host: the request goes there directly).
	res, err := tc.http.Get(start.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("provider /auth: status %d", res.StatusCode)
	}
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if tamper != nil {
		tamper(q)
	}
	return tc.get(t, back.Path+"?"+q.Encode())
}

// auditDetailCount counts entries of action whose detail contains detail.
func (ts *testServer) auditDetailCount(t *testing.T, action, detail string) int {
	t.Helper()
	entries, err := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Detail, detail) {
			n++
		}
	}
	return n
}

// TestOIDCSignInCreatesUser: the whole journey over HTTP — /login offers
// the provider, the authorization request is a code flow with PKCE S256,
// state and nonce, the user is created with the mapped role (the most
// privileged of several), has no local password, gets a session through
// the same path as a password sign-in and is audited auth.login
// method=oidc.
func TestOIDCSignInCreatesUser(t *testing.T) {
	ts, prov := ssoServer(t, false)
	tc := ts.anonymous(t)
	page := tc.get(t, "/login?next=/callbacks")
	if got := page.text(`[data-testid="sso-link"]`); got != "使用 Test IdP 登录" {
		t.Errorf("/login SSO link %q", got)
	}
	if href, _ := page.doc.Find(`[data-testid="sso-link"]`).Attr("href"); href != "/login/oidc?next=%2Fcallbacks" {
		t.Errorf("/login SSO href %q", href)
	}
	if !page.has(`[data-testid="login-form"]`) {
		t.Error("/login: the password form is gone with LOCAL_LOGIN on")
	}

	prov.as(idIdentity{Subject: "sub-alice", Username: "alice", Roles: []string{"payscore-viewer", "payscore-support", "other"}})
	res := tc.ssoSignIn(t, "/callbacks", nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/callbacks" {
		t.Fatalf("callback: status %d → %q, want 303 → /callbacks; %s", res.status, res.header.Get("Location"), res.text("[role=alert]"))
	}
	if c := res.cookie("oidc"); c == nil || c.MaxAge >= 0 {
		t.Errorf("callback: flow cookie not cleared: %+v", c)
	}
	for k, want := range map[string]string{"code_challenge_method": "S256", "scope": "openid profile email", "response_type": "code"} {
		if got := prov.seen.Get(k); got != want {
			t.Errorf("authorization request %s=%q, want %q", k, got, want)
		}
	}
	if !tc.signedIn(t) {
		t.Fatal("not signed in after single sign-on")
	}
	u, err := ts.db.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleSupport || u.PasswordHash != "" || u.SSOSubject != "sub-alice" || u.SSOIssuer != prov.URL {
		t.Errorf("user %+v, want support (most privileged mapped), no password, subject sub-alice", u)
	}
	if ts.sessionCount(t, u.ID) != 1 {
		t.Errorf("sessions of alice: %d, want 1", ts.sessionCount(t, u.ID))
	}
	// The session works for the role: support may look authorizations up,
	// not manage users.
	if got := tc.get(t, "/authorizations").status; got != http.StatusOK {
		t.Errorf("GET /authorizations as SSO support: %d", got)
	}
	if got := tc.get(t, "/users").status; got != http.StatusForbidden {
		t.Errorf("GET /users as SSO support: %d, want 403", got)
	}
	if n := ts.auditDetailCount(t, "auth.login", "method=oidc"); n != 1 {
		t.Errorf("auth.login method=oidc entries: %d, want 1", n)
	}
	if n := ts.auditDetailCount(t, "user.create", "method=oidc"); n != 1 {
		t.Errorf("user.create method=oidc entries: %d, want 1", n)
	}
	// An SSO user has no local password: nothing the form can guess.
	if res := ts.anonymous(t).login(t, "alice", ""); res.status == http.StatusSeeOther {
		t.Error("SSO user signed in with an empty password")
	}
	if res := ts.anonymous(t).login(t, "alice", testPassword); res.status == http.StatusSeeOther {
		t.Error("SSO user signed in with a password")
	}
	// Signing in again is the same user, not a second one.
	again := ts.anonymous(t)
	if res := again.ssoSignIn(t, "", nil); res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
		t.Fatalf("second sign-in: %d → %q", res.status, res.header.Get("Location"))
	}
	if n, _ := queryInt(t, ts.db, `SELECT count(*) FROM users WHERE sso_subject = 'sub-alice'`); n != 1 {
		t.Errorf("users with subject sub-alice: %d", n)
	}
}

// TestOIDCRefusals: every way a callback can be wrong is refused with a
// clear page, no session and an audit entry (auth.sso_refused, reason).
func TestOIDCRefusals(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ok := idIdentity{Subject: "sub-bob", Username: "bob", Roles: "payscore-operator"}
	with := func(f func(*idIdentity)) idIdentity { w := ok; f(&w); return w }
	for _, tt := range []struct {
		name   string
		who    idIdentity
		tamper func(url.Values)
		status int
		reason string
	}{
		{"wrong audience", with(func(w *idIdentity) { w.Audience = "another-client" }), nil, http.StatusForbidden, service.SSOReasonToken},
		{"expired token", with(func(w *idIdentity) { w.ExpiresIn = -time.Minute }), nil, http.StatusForbidden, service.SSOReasonToken},
		{"bad nonce", with(func(w *idIdentity) { w.Nonce = "not-the-flows-nonce" }), nil, http.StatusForbidden, service.SSOReasonToken},
		{"forged signature", with(func(w *idIdentity) { w.Key = otherKey }), nil, http.StatusForbidden, service.SSOReasonToken},
		{"bad state", ok, func(q url.Values) { q.Set("state", "attacker-state") }, http.StatusBadRequest, service.SSOReasonState},
		{"no state", ok, func(q url.Values) { q.Del("state") }, http.StatusBadRequest, service.SSOReasonState},
		{"code not issued", ok, func(q url.Values) { q.Set("code", "forged") }, http.StatusForbidden, service.SSOReasonToken},
		{"provider refused", ok, func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") }, http.StatusForbidden, service.SSOReasonDenied},
		{"unmapped role", with(func(w *idIdentity) { w.Roles = []string{"payscore-auditor", "staff"} }), nil, http.StatusForbidden, service.SSOReasonNoRole},
		{"no role claim", with(func(w *idIdentity) { w.Roles = nil }), nil, http.StatusForbidden, service.SSOReasonNoRole},
		{"bad username", with(func(w *idIdentity) { w.Username = "bob smith" }), nil, http.StatusForbidden, service.SSOReasonUsername},
		{"local username taken", with(func(w *idIdentity) { w.Username = store.RoleAdmin }), nil, http.StatusForbidden, service.SSOReasonTaken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts, prov := ssoServer(t, false)
			prov.as(tt.who)
			tc := ts.anonymous(t)
			res := tc.ssoSignIn(t, "", tt.tamper)
			if res.status != tt.status {
				t.Fatalf("callback: status %d, want %d; %s", res.status, tt.status, res.body)
			}
			if got, _ := res.doc.Find(`[data-testid="sso-refused"]`).Attr("data-reason"); got != tt.reason {
				t.Errorf("refusal reason %q, want %q", got, tt.reason)
			}
			if res.text("[role=alert]") == "" {
				t.Error("refusal page without a message")
			}
			if tc.signedIn(t) {
				t.Error("signed in after a refused callback")
			}
			if n := ts.auditDetailCount(t, service.AuditSSORefused, "reason="+tt.reason); n != 1 {
				t.Errorf("auth.sso_refused reason=%s entries: %d, want 1", tt.reason, n)
			}
			if n := ts.auditDetailCount(t, "auth.login", "method=oidc"); n != 0 {
				t.Errorf("auth.login method=oidc entries: %d, want 0", n)
			}
			if n, _ := queryInt(t, ts.db, `SELECT count(*) FROM users WHERE sso_subject IS NOT NULL`); n != 0 {
				t.Errorf("SSO users created: %d", n)
			}
		})
	}
}

// TestOIDCCallbackReplayAndOtherBrowser: the callback URL is good once, in
// the browser that started the flow: replayed, or opened in another browser
// (login CSRF), it is refused.
func TestOIDCCallbackReplayAndOtherBrowser(t *testing.T) {
	ts, prov := ssoServer(t, false)
	prov.as(idIdentity{Subject: "sub-carol", Username: "carol", Roles: "payscore-viewer"})
	victim := ts.anonymous(t)
	var callback string
	res := ts.anonymous(t).ssoSignIn(t, "", func(q url.Values) { callback = "/login/oidc/callback?" + q.Encode() })
	if res.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d", res.status)
	}
	// The attacker's callback URL, opened in the victim's browser.
	if got := victim.get(t, callback).status; got != http.StatusBadRequest {
		t.Errorf("callback in another browser: %d, want 400", got)
	}
	if victim.signedIn(t) {
		t.Error("another browser signed in with someone's callback URL")
	}
	// A flow older than its time-to-live is refused too.
	slow := ts.anonymous(t)
	res = slow.ssoSignIn(t, "", func(url.Values) { ts.clock.Advance(service.OIDCFlowTTL + time.Second) })
	if res.status != http.StatusBadRequest {
		t.Errorf("callback after %s: %d, want 400", service.OIDCFlowTTL, res.status)
	}
}

// TestOIDCDisabledUserRefused: disabling in the console wins over the
// provider.
func TestOIDCDisabledUserRefused(t *testing.T) {
	ts, prov := ssoServer(t, false)
	prov.as(idIdentity{Subject: "sub-dave", Username: "dave", Roles: "payscore-admin"})
	tc := ts.anonymous(t)
	if res := tc.ssoSignIn(t, "", nil); res.status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", res.status)
	}
	u, _ := ts.db.UserByUsername(context.Background(), "dave")
	admin := ts.client(t, store.RoleAdmin)
	if res := admin.post(t, "/users/"+strconv.FormatInt(u.ID, 10), url.Values{"action": {"disable"}, "confirm": {"1"}}); res.status != http.StatusSeeOther {
		t.Fatalf("disable dave: %d", res.status)
	}
	if tc.signedIn(t) {
		t.Error("disabled SSO user still signed in")
	}
	res := ts.anonymous(t).ssoSignIn(t, "", nil)
	if res.status != http.StatusForbidden {
		t.Fatalf("disabled user's sign-in: %d, want 403", res.status)
	}
	if got, _ := res.doc.Find(`[data-testid="sso-refused"]`).Attr("data-reason"); got != service.SSOReasonDisabled {
		t.Errorf("reason %q", got)
	}
	if n := ts.auditDetailCount(t, service.AuditSSORefused, "reason=disabled"); n != 1 {
		t.Errorf("auth.sso_refused reason=disabled: %d", n)
	}
	if u, _ := ts.db.UserByUsername(context.Background(), "dave"); !u.Disabled || u.Role != store.RoleAdmin {
		t.Errorf("dave after refused sign-in: %+v", u)
	}
}

// TestOIDCRoleChangeAtNextSignIn: the provider's role change takes effect
// at the next sign-in (audited user.role), not before.
func TestOIDCRoleChangeAtNextSignIn(t *testing.T) {
	ts, prov := ssoServer(t, false)
	prov.as(idIdentity{Subject: "sub-erin", Username: "erin", Roles: "payscore-admin"})
	tc := ts.anonymous(t)
	if res := tc.ssoSignIn(t, "", nil); res.status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", res.status)
	}
	if got := tc.get(t, "/users").status; got != http.StatusOK {
		t.Fatalf("GET /users as SSO admin: %d", got)
	}
	prov.as(idIdentity{Subject: "sub-erin", Username: "erin", Roles: []string{"payscore-viewer"}})
	// Until erin signs in again, the console knows nothing of the change.
	if got := tc.get(t, "/users").status; got != http.StatusOK {
		t.Fatalf("GET /users before the next sign-in: %d", got)
	}
	next := ts.anonymous(t)
	if res := next.ssoSignIn(t, "", nil); res.status != http.StatusSeeOther {
		t.Fatalf("next sign-in: %d", res.status)
	}
	if u, _ := ts.db.UserByUsername(context.Background(), "erin"); u.Role != store.RoleViewer {
		t.Errorf("role after next sign-in: %s, want viewer", u.Role)
	}
	if got := next.get(t, "/users").status; got != http.StatusForbidden {
		t.Errorf("GET /users as demoted user: %d, want 403", got)
	}
	// The demotion ended the admin session the old sign-in had.
	if tc.signedIn(t) {
		t.Error("the session from before the demotion still works")
	}
	if n := ts.auditDetailCount(t, "user.role", "was=admin"); n != 1 {
		t.Errorf("user.role was=admin entries: %d", n)
	}
}

// TestLocalLoginOff: LOCAL_LOGIN=off refuses a normal password user (the
// same answer as a wrong password) and admits a break-glass one; /login
// says so.
func TestLocalLoginOff(t *testing.T) {
	ts, _ := ssoServer(t, true)
	ctx := context.Background()
	if _, err := ts.db.CreateBreakGlassUserAudited(ctx, "breakglass", testPasswordHash(), store.RoleAdmin,
		store.AuditEntry{Username: "cli", Action: "user.create", Target: "user:breakglass", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	tc := ts.anonymous(t)
	if !tc.get(t, "/login").has(`[data-testid="local-login-off"]`) {
		t.Error("/login does not say password sign-in is for break-glass accounts")
	}
	res := tc.login(t, store.RoleAdmin, testPassword)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("normal user with the right password: %d, want 422", res.status)
	}
	wrong := ts.anonymous(t).login(t, store.RoleOperator, "wrong password!")
	if got, want := res.text(`[data-testid="login-error"]`), wrong.text(`[data-testid="login-error"]`); got != want {
		t.Errorf("refusal %q differs from a wrong password's %q", got, want)
	}
	if tc.signedIn(t) {
		t.Error("normal user signed in with LOCAL_LOGIN=off")
	}
	bg := ts.anonymous(t)
	bg.signIn(t, "breakglass", testPassword)
	if !bg.signedIn(t) {
		t.Error("break-glass user not signed in with LOCAL_LOGIN=off")
	}
}

// TestOIDCProviderDown: the console starts and serves password sign-in
// while the provider cannot be reached; starting single sign-on says so
// (502), and works once the provider answers.
func TestOIDCProviderDown(t *testing.T) {
	ts, prov := ssoServer(t, false)
	prov.Close()
	tc := ts.anonymous(t)
	res := tc.get(t, "/login/oidc")
	if res.status != http.StatusBadGateway {
		t.Fatalf("GET /login/oidc with the provider down: %d, want 502", res.status)
	}
	if got, _ := res.doc.Find(`[data-testid="sso-refused"]`).Attr("data-reason"); got != service.SSOReasonProvider {
		t.Errorf("reason %q", got)
	}
	tc.signIn(t, store.RoleAdmin, testPassword)
}

// TestOIDCNotConfigured: without OIDC_ISSUER there is no offer and the
// routes are 404.
func TestOIDCNotConfigured(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	if tc.get(t, "/login").has(`[data-testid="sso"]`) {
		t.Error("/login offers single sign-on without a provider")
	}
	for _, p := range []string{"/login/oidc", "/login/oidc/callback?state=x&code=y"} {
		if got := tc.get(t, p).status; got != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, got)
		}
	}
}

// TestOIDCUsersPage: /users marks SSO and break-glass users, offers no
// password reset for an SSO user and refuses one posted anyway.
func TestOIDCUsersPage(t *testing.T) {
	ts, prov := ssoServer(t, false)
	prov.as(idIdentity{Subject: "sub-frank", Username: "frank", Roles: "payscore-viewer"})
	if res := ts.anonymous(t).ssoSignIn(t, "", nil); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.status)
	}
	if _, err := ts.db.CreateBreakGlassUserAudited(context.Background(), "glass", testPasswordHash(), store.RoleAdmin,
		store.AuditEntry{Username: "cli", Action: "user.create", Target: "user:glass", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	admin := ts.client(t, store.RoleAdmin)
	page := admin.get(t, "/users")
	if !page.has(`[data-testid="user-frank"] [data-testid="user-sso"]`) || !page.has(`[data-testid="user-glass"] [data-testid="user-break-glass"]`) {
		t.Error("/users does not mark the SSO and break-glass users")
	}
	if page.has(`[data-testid="user-frank"] input[name="password"]`) {
		t.Error("/users offers a password for an SSO user")
	}
	frank, _ := ts.db.UserByUsername(context.Background(), "frank")
	res := admin.post(t, "/users/"+strconv.FormatInt(frank.ID, 10), url.Values{"action": {"password"}, "password": {"a brand new password"}})
	if res.status == http.StatusSeeOther {
		t.Fatal("password set for an SSO user")
	}
	if u, _ := ts.db.UserByUsername(context.Background(), "frank"); u.PasswordHash != "" {
		t.Error("SSO user has a password hash")
	}
}

// TestOIDCStepUpAtProvider: an SSO user has no password and no local
// second factor, and is never sent to enrol even in a role that requires
// two-factor; before a dangerous act after 15 minutes they confirm who they
// are at the provider (prompt=login, max_age=0; auth_time checked), which
// renews the session's authentication (audited auth.stepup method=oidc).
func TestOIDCStepUpAtProvider(t *testing.T) {
	ts, prov := ssoServer(t, false, store.RoleAdmin, store.RoleSupport)
	prov.as(idIdentity{Subject: "sub-gina", Username: "gina", Roles: "payscore-admin"})
	tc := ts.anonymous(t)
	if res := tc.ssoSignIn(t, "/users", nil); res.status != http.StatusSeeOther || res.header.Get("Location") != "/users" {
		t.Fatalf("sign-in: %d → %q (an SSO admin must not be sent to enrol)", res.status, res.header.Get("Location"))
	}
	if got := tc.get(t, "/users").status; got != http.StatusOK {
		t.Fatalf("GET /users: %d (an SSO admin must not be held at enrolment)", got)
	}
	newUser := url.Values{"username": {"hank"}, "role": {store.RoleViewer}, "password": {"a long new password"}}
	// Within 15 minutes of the sign-in nothing is asked.
	if res := tc.post(t, "/users", newUser); res.status != http.StatusSeeOther {
		t.Fatalf("create within 15 min: %d", res.status)
	}
	ts.clock.Advance(service.ReauthAfter + time.Minute)
	newUser.Set("username", "ivan")
	res := tc.post(t, "/users", newUser, "Referer", ts.URL+"/users")
	if res.status != http.StatusOK || !res.has(`[data-testid="sso-stepup"]`) || res.has(`[data-testid="stepup-form"] input[name="password"]`) {
		t.Fatalf("create after 15 min: %d, want the step-up page with the provider link and no password field", res.status)
	}
	held := res.doc.Find(`input[name="_form"]`).AttrOr("value", "")
	if got := tc.post(t, "/users", url.Values{"_stepup": {"1"}, "_form": {held}, "password": {""}}).status; got != http.StatusUnprocessableEntity {
		t.Errorf("step-up without the provider: %d, want 422", got)
	}
	href := res.doc.Find(`[data-testid="sso-stepup"]`).AttrOr("href", "")
	if href != "/login/oidc?stepup=1&next=%2Fusers" {
		t.Fatalf("step-up link %q", href)
	}
	stepUp := func(who idIdentity) *response {
		prov.as(who)
		start := tc.get(t, href)
		if start.status != http.StatusFound {
			t.Fatalf("GET %s: %d", href, start.status)
		}
		r, err := tc.http.Get(start.header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if prov.seen.Get("prompt") != "login" || prov.seen.Get("max_age") != "0" {
			t.Errorf("step-up request prompt=%q max_age=%q, want login and 0", prov.seen.Get("prompt"), prov.seen.Get("max_age"))
		}
		back, _ := url.Parse(r.Header.Get("Location"))
		return tc.get(t, back.RequestURI())
	}
	// The provider signed in someone else, or did not authenticate again.
	if r := stepUp(idIdentity{Subject: "sub-other", Username: "other", Roles: "payscore-admin"}); r.status != http.StatusForbidden {
		t.Errorf("step-up as another account: %d, want 403", r.status)
	}
	if r := stepUp(idIdentity{Subject: "sub-gina", Username: "gina", Roles: "payscore-admin", AuthAge: time.Hour}); r.status != http.StatusForbidden {
		t.Errorf("step-up with an old auth_time: %d, want 403", r.status)
	}
	if res := tc.post(t, "/users", newUser); res.status != http.StatusOK || !res.has(`[data-testid="sso-stepup"]`) {
		t.Fatalf("after refused step-ups: %d, want the step-up page again", res.status)
	}
	if r := stepUp(idIdentity{Subject: "sub-gina", Username: "gina", Roles: "payscore-admin"}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/users" {
		t.Fatalf("step-up: %d → %q", r.status, r.header.Get("Location"))
	}
	if n := ts.auditDetailCount(t, service.AuditSSOStepUp, "method=oidc"); n != 1 {
		t.Errorf("auth.stepup method=oidc entries: %d", n)
	}
	if res := tc.post(t, "/users", newUser); res.status != http.StatusSeeOther {
		t.Fatalf("create after the step-up: %d", res.status)
	}
	if _, err := ts.db.UserByUsername(context.Background(), "ivan"); err != nil {
		t.Errorf("ivan not created: %v", err)
	}
}
