package handlers

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// withMFARequired sets MFA_REQUIRED_ROLES.
func withMFARequired(roles ...string) serverOption {
	return withDeps(func(d *testWiring) { d.MFARequiredRoles = roles })
}

// totpCode is the code an authenticator app shows for secret at t.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolment is what a person got from setting up two-factor.
type enrolment struct {
	secret   string
	uri      string
	recovery []string
}

// enrol sets up two-factor for the client's signed-in person through
// /account, as they would, and moves the clock past the step of the code
// used (which is spent).
func (tc *testClient) enrol(t testing.TB) enrolment {
	t.Helper()
	if res := tc.post(t, "/account/mfa/start", nil); res.status != http.StatusSeeOther {
		t.Fatalf("POST /account/mfa/start: status %d", res.status)
	}
	page := tc.get(t, "/account")
	e := enrolment{secret: page.text(`[data-testid="mfa-secret"]`), uri: page.text(`[data-testid="mfa-uri"]`)}
	if e.secret == "" {
		t.Fatalf("no secret shown on /account: %s", page.text(`[data-testid="mfa"]`))
	}
	res := tc.post(t, "/account/mfa", url.Values{"code": {totpCode(t, e.secret, tc.ts.clock.Now())}})
	if res.status != http.StatusOK {
		t.Fatalf("POST /account/mfa: status %d; %s", res.status, res.text(`[data-testid="error-code"]`))
	}
	res.doc.Find(`[data-testid="recovery-code"]`).Each(func(_ int, s *goquery.Selection) {
		e.recovery = append(e.recovery, strings.TrimSpace(s.Text()))
	})
	tc.ts.clock.Advance(service.TOTPPeriod * time.Second)
	return e
}

// auditCount counts audit entries of an action (and target, when given).
func (ts *testServer) auditCount(t testing.TB, action, target string) int {
	t.Helper()
	entries, err := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: action, Target: target, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// secondStep posts the second sign-in step.
func (tc *testClient) secondStep(t testing.TB, code string) *response {
	t.Helper()
	return tc.post(t, "/login/code", url.Values{"code": {code}})
}

func TestMFAEnrolment(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleOperator)

	page := tc.get(t, "/account")
	if got, want := page.status, http.StatusOK; got != want {
		t.Fatalf("GET /account: status = %d, want %d", got, want)
	}
	if got, want := page.text(`[data-testid="mfa-status"]`), catalogZH("mfa.off"); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if !page.has(`form[action="/account/password"] input[name="current_password"]`) || !page.has(`form[action="/account/password"] input[name="password"]`) {
		t.Error("no password form with current_password and password")
	}
	tc.post(t, "/account/mfa/start", nil)
	page = tc.get(t, "/account")
	uri, secret := page.text(`[data-testid="mfa-uri"]`), page.text(`[data-testid="mfa-secret"]`)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/payscore-console:operator" {
		t.Fatalf("URI = %q, want otpauth://totp/payscore-console:operator?…", uri)
	}
	if got, want := u.Query().Get("secret"), secret; got != want || want == "" {
		t.Errorf("URI secret = %q, shown secret %q", got, want)
	}
	if got, want := u.Query().Get("issuer"), "payscore-console"; got != want {
		t.Errorf("issuer = %q, want %q", got, want)
	}
	src := page.doc.Find(`[data-testid="mfa-qr"]`).AttrOr("src", "")
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if !strings.HasPrefix(src, "data:image/png;base64,") || err != nil {
		t.Fatalf("QR src = %.40q…", src)
	}
	if got, _ := decodeQR(t, png); got != uri {
		t.Errorf("QR code = %q, want the URI %q", got, uri)
	}
	// The database alone does not give the secret away.
	raw := openSQL(t, ts.db)
	var stored string
	if err := raw.QueryRow(`SELECT secret FROM user_mfa WHERE user_id = ?`, ts.users[store.RoleOperator].ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "v1:") || strings.Contains(stored, secret) {
		t.Errorf("stored secret %q is not sealed", stored)
	}

	t.Run("ErrWrongCode", func(t *testing.T) {
		wrong := totpCode(t, secret, ts.clock.Now().Add(-10*time.Minute))
		res := tc.post(t, "/account/mfa", url.Values{"code": {wrong}})
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="error-code"]`), catalogZH("mfa.err.code"); got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="mfa-uri"]`), uri; got != want {
			t.Errorf("URI after a wrong code = %q, want the same %q", got, want)
		}
	})
	t.Run("OK", func(t *testing.T) {
		res := tc.post(t, "/account/mfa", url.Values{"code": {totpCode(t, secret, ts.clock.Now())}})
		if got, want := res.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		codes := res.doc.Find(`[data-testid="recovery-code"]`)
		if got, want := codes.Length(), service.RecoveryCodeCount; got != want {
			t.Errorf("%d recovery codes, want %d", got, want)
		}
		// Stored hashed: no code in the clear in the database.
		first := strings.TrimSpace(codes.First().Text())
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM recovery_codes WHERE code_hash LIKE '%' || ? || '%'`, first).Scan(&n); err != nil || n != 0 {
			t.Errorf("recovery code stored in the clear (%d, %v)", n, err)
		}
		if got, want := ts.auditCount(t, service.AuditMFAEnrolled, "user:operator"), 1; got != want {
			t.Errorf("%s entries = %d, want %d", service.AuditMFAEnrolled, got, want)
		}
		page := tc.get(t, "/account")
		if got, want := page.text(`[data-testid="mfa-status"]`), catalogZH("mfa.on"); got != want {
			t.Errorf("status = %q, want %q", got, want)
		}
		if page.has(`[data-testid="mfa-secret"]`) || page.has(`[data-testid="recovery-code"]`) {
			t.Error("secret or recovery codes shown again")
		}
	})
}

func TestLoginSecondStep(t *testing.T) {
	ts := newTestServer(t)
	e := ts.client(t, store.RoleOperator).enrol(t)
	op := ts.users[store.RoleOperator]
	before := ts.sessionCount(t, op.ID)

	tc := ts.anonymous(t)
	res := tc.post(t, "/login", url.Values{"username": {"operator"}, "password": {testPassword}, "next": {"/links"}})
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("password: status = %d, want %d", got, want)
	}
	if got, want := res.header.Get("Location"), "/login/code"; got != want {
		t.Fatalf("password: Location = %q, want %q", got, want)
	}
	// No session before the second step: no cookie, no row, no page.
	if res.cookie(ts.h.Sessions.Name()) != nil {
		t.Error("a session cookie was set after the password alone")
	}
	if got, want := ts.sessionCount(t, op.ID), before; got != want {
		t.Errorf("sessions after the password = %d, want %d", got, want)
	}
	if tc.signedIn(t) {
		t.Fatal("signed in after the password alone")
	}
	page := tc.get(t, "/login/code")
	if got, want := page.status, http.StatusOK; got != want {
		t.Fatalf("GET /login/code: status = %d, want %d", got, want)
	}
	if !page.has(`form[action="/login/code"] input[name="code"]`) {
		t.Fatal("no code field")
	}

	t.Run("ErrWrongCode", func(t *testing.T) {
		res := tc.secondStep(t, totpCode(t, e.secret, ts.clock.Now().Add(-5*time.Minute)))
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="login-error"]`), catalogZH("mfa.err.code"); got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if tc.signedIn(t) {
			t.Error("signed in with a wrong code")
		}
		if got, want := ts.auditCount(t, service.AuditMFAFailed, "user:operator"), 1; got != want {
			t.Errorf("%s entries = %d, want %d", service.AuditMFAFailed, got, want)
		}
	})
	t.Run("OK", func(t *testing.T) {
		res := tc.secondStep(t, totpCode(t, e.secret, ts.clock.Now()))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d; %s", got, want, res.text(`[data-testid="login-error"]`))
		}
		if got, want := res.header.Get("Location"), "/links"; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		if !tc.signedIn(t) {
			t.Error("not signed in after the right code")
		}
		// The pending first factor is spent.
		if got, want := tc.get(t, "/login/code").status, http.StatusSeeOther; got != want {
			t.Errorf("GET /login/code after: status = %d, want %d", got, want)
		}
	})
	t.Run("ErrPendingExpired", func(t *testing.T) {
		late := ts.anonymous(t)
		late.login(t, "operator", testPassword)
		ts.clock.Advance(PendingLoginTTL + time.Second)
		res := late.secondStep(t, totpCode(t, e.secret, ts.clock.Now()))
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="login-error"]`), catalogZH("mfa.pending.expired"); got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if late.signedIn(t) {
			t.Error("signed in on an expired first step")
		}
	})
	t.Run("ErrCodeWithoutPassword", func(t *testing.T) {
		res := ts.anonymous(t).secondStep(t, totpCode(t, e.secret, ts.clock.Now()))
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
}

func TestLoginSecondStepReplay(t *testing.T) {
	ts := newTestServer(t)
	e := ts.client(t, store.RoleOperator).enrol(t)
	code := totpCode(t, e.secret, ts.clock.Now())

	first := ts.anonymous(t)
	first.signIn(t, "operator", testPassword)
	if res := first.secondStep(t, code); res.status != http.StatusSeeOther {
		t.Fatalf("first use: status %d", res.status)
	}
	// The same code again, within its window, from another browser that
	// knows the password: refused.
	second := ts.anonymous(t)
	second.signIn(t, "operator", testPassword)
	ts.clock.Advance(10 * time.Second)
	res := second.secondStep(t, code)
	if got, want := res.status, http.StatusUnprocessableEntity; got != want {
		t.Fatalf("replay: status = %d, want %d", got, want)
	}
	if second.signedIn(t) {
		t.Fatal("signed in with a replayed code")
	}
	// A code of an earlier step is refused too, even within the skew.
	if got, want := second.secondStep(t, totpCode(t, e.secret, ts.clock.Now().Add(-service.TOTPPeriod*time.Second))).status, http.StatusUnprocessableEntity; got != want {
		t.Errorf("earlier step: status = %d, want %d", got, want)
	}
	// The next step's code is accepted.
	ts.clock.Advance(service.TOTPPeriod * time.Second)
	if got, want := second.secondStep(t, totpCode(t, e.secret, ts.clock.Now())).status, http.StatusSeeOther; got != want {
		t.Errorf("next code: status = %d, want %d", got, want)
	}
}

func TestLoginSecondStepLockout(t *testing.T) {
	ts := newTestServer(t)
	e := ts.client(t, store.RoleOperator).enrol(t)
	tc := ts.anonymous(t)
	tc.signIn(t, "operator", testPassword) // counts as attempt 1 until a right code
	until := ts.clock.Now().Add(service.LockDuration)
	var last *response
	for i := 2; i <= service.MaxLoginFailures; i++ {
		last = tc.secondStep(t, "000000")
		if i < service.MaxLoginFailures {
			if got, want := last.text(`[data-testid="login-error"]`), catalogZH("mfa.err.code"); got != want {
				t.Fatalf("attempt %d: %q, want %q", i, got, want)
			}
		}
	}
	locked := catalogZH("login.locked", views.FormatTime(until))
	if got, want := last.text(`[data-testid="login-error"]`), locked; got != want {
		t.Fatalf("attempt %d: %q, want %q", service.MaxLoginFailures, got, want)
	}
	// Locked: the right code is refused, and so is the password.
	if got, want := tc.secondStep(t, totpCode(t, e.secret, ts.clock.Now())).text(`[data-testid="login-error"]`), locked; got != want {
		t.Errorf("right code while locked: %q, want %q", got, want)
	}
	// (From the same address: lockouts are per username and address.)
	if got, want := tc.login(t, "operator", testPassword).text(`[data-testid="login-error"]`), locked; got != want {
		t.Errorf("password while locked: %q, want %q", got, want)
	}
	if tc.signedIn(t) {
		t.Error("signed in while locked")
	}
	if got, want := ts.auditCount(t, service.AuditMFAFailed, "user:operator"), service.MaxLoginFailures-1; got != want {
		t.Errorf("%s entries = %d, want %d", service.AuditMFAFailed, got, want)
	}
	// Password then code, alternating, cannot go on guessing: the password
	// step does not clear the count (checked above: the lock came at the
	// fifth try of either).
}

func TestLoginRecoveryCode(t *testing.T) {
	ts := newTestServer(t)
	e := ts.client(t, store.RoleOperator).enrol(t)
	if len(e.recovery) != service.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(e.recovery))
	}
	tc := ts.anonymous(t)
	tc.signIn(t, "operator", testPassword)
	// Typed loosely: upper case, spaces instead of hyphens.
	typed := strings.ToUpper(strings.ReplaceAll(e.recovery[3], "-", " "))
	if got, want := tc.secondStep(t, typed).status, http.StatusSeeOther; got != want {
		t.Fatalf("recovery code: status = %d, want %d", got, want)
	}
	if got, want := ts.auditCount(t, service.AuditRecoveryCodeUsed, "user:operator"), 1; got != want {
		t.Errorf("%s entries = %d, want %d", service.AuditRecoveryCodeUsed, got, want)
	}
	if got, want := tc.get(t, "/account").text(`[data-testid="mfa-recovery-left"]`), views.Tn(views.WithLang(context.Background(), views.LangZH), "mfa.recovery.left", service.RecoveryCodeCount-1); got != want {
		t.Errorf("left = %q, want %q", got, want)
	}
	again := ts.anonymous(t)
	again.signIn(t, "operator", testPassword)
	if got, want := again.secondStep(t, e.recovery[3]).status, http.StatusUnprocessableEntity; got != want {
		t.Errorf("spent recovery code: status = %d, want %d", got, want)
	}
}

func TestMFARequiredRoles(t *testing.T) {
	ts := newTestServer(t, withMFARequired(store.RoleAdmin))
	admin := ts.anonymous(t)
	res := admin.signIn(t, "admin", testPassword)
	if got, want := res.header.Get("Location"), "/account"; got != want {
		t.Fatalf("after the password: Location = %q, want %q", got, want)
	}
	for _, path := range []string{"/", "/users", "/audit", "/callbacks?x=1"} {
		res := admin.get(t, path)
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Errorf("GET %s: status = %d, want %d", path, got, want)
		}
		if got, want := res.header.Get("Location"), "/account"; got != want {
			t.Errorf("GET %s: Location = %q, want %q", path, got, want)
		}
	}
	if got, want := admin.post(t, "/users", url.Values{"username": {"sneaky"}, "role": {"admin"}, "password": {"long enough password"}}).header.Get("Location"), "/account"; got != want {
		t.Errorf("POST /users: Location = %q, want %q", got, want)
	}
	if got, want := admin.get(t, "/", "HX-Request", "true").header.Get("HX-Redirect"), "/account"; got != want {
		t.Errorf("htmx: HX-Redirect = %q, want %q", got, want)
	}
	page := admin.get(t, "/account")
	if got, want := page.status, http.StatusOK; got != want {
		t.Fatalf("GET /account: status = %d, want %d", got, want)
	}
	if !page.has(`[data-testid="mfa-required"]`) {
		t.Error("the page does not say two-factor is required")
	}
	// Other roles are not held.
	if got, want := ts.client(t, store.RoleOperator).get(t, "/").status, http.StatusOK; got != want {
		t.Errorf("operator GET /: status = %d, want %d", got, want)
	}
	admin.enrol(t)
	if got, want := admin.get(t, "/users").status, http.StatusOK; got != want {
		t.Errorf("after enrolment: GET /users = %d, want %d", got, want)
	}
	if _, err := ts.db.UserByUsername(context.Background(), "sneaky"); err == nil {
		t.Error("a user was created before enrolment")
	}
}

func TestStepUp(t *testing.T) {
	newUser := func(name string) url.Values {
		return url.Values{"username": {name}, "role": {store.RoleViewer}, "password": {"initial password 1"}}
	}
	created := func(t *testing.T, ts *testServer, name string) bool {
		t.Helper()
		_, err := ts.db.UserByUsername(context.Background(), name)
		return err == nil
	}

	t.Run("OKWithin15Minutes", func(t *testing.T) {
		ts := newTestServer(t)
		admin := ts.client(t, store.RoleAdmin)
		ts.clock.Advance(service.ReauthAfter - time.Second)
		if got, want := admin.post(t, "/users", newUser("fresh1")).status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if !created(t, ts, "fresh1") {
			t.Error("not created")
		}
	})

	t.Run("Password", func(t *testing.T) {
		ts := newTestServer(t)
		admin := ts.client(t, store.RoleAdmin)
		ts.clock.Advance(service.ReauthAfter + time.Minute)
		res := admin.post(t, "/users", newUser("later1"))
		if got, want := res.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if !res.has(`[data-testid="stepup-form"] input[name="password"][type="password"]`) || res.has(`[data-testid="stepup-form"] input[name="code"]`) {
			t.Fatal("step-up does not ask for the password")
		}
		if created(t, ts, "later1") {
			t.Fatal("created before the step-up")
		}
		// What was typed is held sealed, not shown.
		if strings.Contains(res.body, "initial password 1") || strings.Contains(res.body, "later1") {
			t.Error("the held form shows what was typed")
		}
		held := res.doc.Find(`input[name="_form"]`).AttrOr("value", "")
		post := func(extra url.Values) *response {
			f := url.Values{"_stepup": {"1"}, "_form": {held}}
			for k, v := range extra {
				f[k] = v
			}
			return admin.post(t, "/users", f)
		}
		if got, want := post(url.Values{"password": {"wrong password!"}}).status, http.StatusUnprocessableEntity; got != want {
			t.Errorf("wrong password: status = %d, want %d", got, want)
		}
		if got, want := ts.auditCount(t, service.AuditStepUpFailed, "/users"), 1; got != want {
			t.Errorf("%s entries = %d, want %d", service.AuditStepUpFailed, got, want)
		}
		tampered := held[:len(held)-4] + "AAAA"
		if got, want := admin.post(t, "/users", url.Values{"_stepup": {"1"}, "_form": {tampered}, "password": {testPassword}}).status, http.StatusBadRequest; got != want {
			t.Errorf("tampered form: status = %d, want %d", got, want)
		}
		if got, want := post(url.Values{"password": {testPassword}}).status, http.StatusSeeOther; got != want {
			t.Fatalf("right password: status = %d, want %d", got, want)
		}
		if !created(t, ts, "later1") {
			t.Fatal("not created after the step-up")
		}
		// The held password went through: the new user signs in with it.
		ts.anonymous(t).signIn(t, "later1", "initial password 1")
		// Fresh again: the next dangerous act within 15 minutes asks nothing.
		ts.clock.Advance(10 * time.Minute)
		if got, want := admin.post(t, "/users", newUser("later2")).status, http.StatusSeeOther; got != want {
			t.Errorf("within 15 minutes of the step-up: status = %d, want %d", got, want)
		}
		// Another user's held form is not this admin's.
		other := ts.anonymous(t)
		if _, err := ts.db.CreateUser(context.Background(), "admin2", testPasswordHash(), store.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		other.signIn(t, "admin2", testPassword)
		if got, want := other.post(t, "/users", url.Values{"_stepup": {"1"}, "_form": {held}, "password": {testPassword}}).status, http.StatusBadRequest; got != want {
			t.Errorf("someone else's held form: status = %d, want %d", got, want)
		}
	})

	t.Run("TOTP", func(t *testing.T) {
		ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
		admin := ts.client(t, store.RoleAdmin)
		e := admin.enrol(t)
		ts.clock.Advance(service.ReauthAfter + time.Minute)
		for _, req := range []struct {
			path string
			form url.Values
		}{
			{"/emergency", url.Values{"paused": {"1"}, "reason": {"演练"}}},
			{"/sub-merchants", url.Values{"sub_mchid": {"1900000009"}, "name": {"门店"}}},
			{"/users/" + itoa64(ts.users[store.RoleViewer].ID), url.Values{"action": {"disable"}}},
			{"/users/" + itoa64(ts.users[store.RoleViewer].ID) + "/sessions/revoke-all", nil},
		} {
			res := admin.post(t, req.path, req.form)
			if got, want := res.status, http.StatusOK; got != want {
				t.Fatalf("POST %s: status = %d, want %d (step-up)", req.path, got, want)
			}
			if !res.has(`[data-testid="stepup-form"] input[name="code"]`) || res.has(`[data-testid="stepup-form"] input[name="password"]`) {
				t.Fatalf("POST %s: step-up does not ask for a code", req.path)
			}
		}
		res := admin.post(t, "/emergency", url.Values{"paused": {"1"}, "reason": {"演练"}, "next": {"/links"}, "confirm": {"1"}})
		held := res.doc.Find(`input[name="_form"]`).AttrOr("value", "")
		// The password is no second factor here.
		if got, want := admin.post(t, "/emergency", url.Values{"_stepup": {"1"}, "_form": {held}, "password": {testPassword}}).status, http.StatusUnprocessableEntity; got != want {
			t.Errorf("password instead of a code: status = %d, want %d", got, want)
		}
		res = admin.post(t, "/emergency", url.Values{"_stepup": {"1"}, "_form": {held}, "code": {totpCode(t, e.secret, ts.clock.Now())}})
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("right code: status = %d, want %d", got, want)
		}
		if got, want := res.header.Get("Location"), "/links"; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		p, err := ts.db.LandingPause(context.Background())
		if err != nil || !p.Paused {
			t.Errorf("not paused after the step-up: %+v, %v", p, err)
		}
	})

	t.Run("TerminateAsksCode", func(t *testing.T) {
		s := newSupportServer(t)
		s.active(t, "STEP-1")
		tc := s.client(t, store.RoleSupport)
		e := tc.enrol(t)
		s.clock.Advance(service.ReauthAfter + time.Minute)
		res := tc.post(t, terminatePath("STEP-1"), url.Values{"reason": {"商户停止服务"}})
		if !res.has(`[data-testid="confirm-form"] input[name="code"]`) || res.has(`[data-testid="confirm-form"] input[name="password"]`) {
			t.Fatal("terminate does not ask for a code")
		}
		if got, want := tc.post(t, terminatePath("STEP-1"), confirmForm("商户停止服务", "code", "000000")).status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("wrong code: status = %d, want %d", got, want)
		}
		res = tc.post(t, terminatePath("STEP-1"), confirmForm("商户停止服务", "code", totpCode(t, e.secret, s.clock.Now())))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("right code: status = %d, want %d", got, want)
		}
	})
}

func TestSessionsRevoke(t *testing.T) {
	ts := newTestServer(t)
	op := ts.users[store.RoleOperator]
	laptop := ts.client(t, store.RoleOperator)
	phone := ts.client(t, store.RoleOperator)
	third := ts.client(t, store.RoleOperator)

	page := laptop.get(t, "/account")
	rows := page.doc.Find(`[data-testid="session-row"]`)
	if got, want := rows.Length(), 3; got != want {
		t.Fatalf("%d sessions listed, want %d", got, want)
	}
	if got, want := page.doc.Find(`[data-testid="session-current"]`).Length(), 1; got != want {
		t.Errorf("%d marked current, want %d", got, want)
	}
	if !strings.Contains(rows.First().Text(), phone.ip) && !strings.Contains(rows.Text(), phone.ip) {
		t.Errorf("the phone's address %s is not listed: %s", phone.ip, rows.Text())
	}
	// Revoke the phone's: the one whose row shows its address.
	var phoneSession string
	rows.Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), phone.ip) {
			phoneSession = s.AttrOr("data-session", "")
		}
	})
	res := laptop.post(t, "/account/sessions/"+phoneSession+"/revoke", nil)
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("revoke: status = %d, want %d", got, want)
	}
	if phone.signedIn(t) {
		t.Error("the revoked session still works")
	}
	if !laptop.signedIn(t) || !third.signedIn(t) {
		t.Error("other sessions ended too")
	}
	if got, want := ts.auditCount(t, service.AuditSessionRevoked, "user:operator"), 1; got != want {
		t.Errorf("%s entries = %d, want %d", service.AuditSessionRevoked, got, want)
	}
	// Another person's session number is not found.
	viewer := ts.client(t, store.RoleViewer)
	if got, want := viewer.post(t, "/account/sessions/"+sessionNumber(t, ts, laptop)+"/revoke", nil).status, http.StatusNotFound; got != want {
		t.Errorf("someone else's session: status = %d, want %d", got, want)
	}
	if !laptop.signedIn(t) {
		t.Error("someone else ended the laptop's session")
	}

	t.Run("Others", func(t *testing.T) {
		if got, want := laptop.post(t, "/account/sessions/revoke-others", nil).status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if third.signedIn(t) {
			t.Error("the other session still works")
		}
		if !laptop.signedIn(t) {
			t.Error("this session ended too")
		}
		if got, want := ts.sessionCount(t, op.ID), 1; got != want {
			t.Errorf("sessions = %d, want %d", got, want)
		}
	})
	t.Run("Admin", func(t *testing.T) {
		admin := ts.client(t, store.RoleAdmin)
		page := admin.get(t, "/users")
		if got, want := page.doc.Find(`[data-testid="user-operator"] [data-testid="session-row"]`).Length(), 1; got != want {
			t.Errorf("/users lists %d sessions of operator, want %d", got, want)
		}
		res := admin.post(t, "/users/"+itoa64(op.ID)+"/sessions/revoke-all", nil)
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if laptop.signedIn(t) {
			t.Error("the operator is still signed in")
		}
		if got, want := ts.auditCount(t, service.AuditSessionRevoked, "user:operator"), 3; got != want {
			t.Errorf("%s entries = %d, want %d", service.AuditSessionRevoked, got, want)
		}
		// One session of a user, by number.
		again := ts.client(t, store.RoleOperator)
		if got, want := admin.post(t, "/users/"+itoa64(op.ID)+"/sessions/"+sessionNumber(t, ts, again)+"/revoke", nil).status, http.StatusSeeOther; got != want {
			t.Errorf("one session: status = %d, want %d", got, want)
		}
		if again.signedIn(t) {
			t.Error("the revoked session still works")
		}
	})
}

// sessionNumber is the number the session list shows for the client's
// session.
func sessionNumber(t *testing.T, ts *testServer, tc *testClient) string {
	t.Helper()
	n, err := queryInt(t, ts.db, `SELECT rowid FROM sessions WHERE id_hash = ?`, hashID(sessionID(t, ts, tc.sessionCookie())))
	if err != nil {
		t.Fatal(err)
	}
	return itoa(n)
}

func TestMFAReset(t *testing.T) {
	ts := newTestServer(t)
	op := ts.client(t, store.RoleOperator)
	op.enrol(t)
	admin := ts.client(t, store.RoleAdmin)
	if !admin.get(t, "/users").has(`[data-testid="user-operator"] [data-testid="mfa-reset"]`) {
		t.Error("no reset button for the operator")
	}
	res := admin.post(t, "/users/"+itoa64(ts.users[store.RoleOperator].ID)+"/mfa-reset", nil)
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := ts.auditCount(t, service.AuditMFAReset, "user:operator"), 1; got != want {
		t.Errorf("%s entries = %d, want %d", service.AuditMFAReset, got, want)
	}
	if op.signedIn(t) {
		t.Error("the operator's sessions did not end")
	}
	// The password alone signs in again.
	if got, want := ts.anonymous(t).signIn(t, "operator", testPassword).header.Get("Location"), "/"; got != want {
		t.Errorf("after reset: Location = %q, want %q", got, want)
	}
	// Nobody resets their own.
	admin.enrol(t)
	if got := admin.post(t, "/users/"+itoa64(ts.users[store.RoleAdmin].ID)+"/mfa-reset", nil).status; got == http.StatusSeeOther {
		t.Errorf("own reset: status = %d", got)
	}
	if u, _ := ts.db.UserByUsername(context.Background(), "admin"); !u.MFA {
		t.Error("the admin reset their own two-factor")
	}
}

func TestChangeOwnPassword(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleViewer)
	for _, tt := range []struct {
		name, current, field string
	}{
		{"ErrCurrentMissing", "", "current_password"},
		{"ErrCurrentWrong", "not my password", "current_password"},
		{"ErrNewTooShort", testPassword, "password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.post(t, "/account/password", url.Values{"current_password": {tt.current}, "password": {"short"}})
			if got, want := res.status, http.StatusUnprocessableEntity; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if !res.has(`[data-testid="error-` + tt.field + `"]`) {
				t.Errorf("no error on %s", tt.field)
			}
		})
	}
	res := tc.post(t, "/account/password", url.Values{"current_password": {testPassword}, "password": {"a brand new passphrase"}})
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := res.header.Get("Location"), "/login?changed=1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if tc.signedIn(t) {
		t.Error("still signed in after changing the password")
	}
	ts.anonymous(t).signIn(t, "viewer", "a brand new passphrase")
}

func itoa64(n int64) string { return itoa(int(n)) }
