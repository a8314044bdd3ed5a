package handlers

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// zh renders catalog strings in the default language.
func catalogZH(key string, args ...any) string {
	return views.Tf(views.WithLang(context.Background(), views.LangZH), key, args...)
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.db.CreateUser(context.Background(), "gone", testPasswordHash(), store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	yes := true
	gone, _ := ts.db.UserByUsername(context.Background(), "gone")
	if _, err := ts.db.UpdateUser(context.Background(), gone.ID, store.UserChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		form         url.Values
		wantStatus   int
		wantLocation string
		wantError    string // text of data-testid=login-error
	}{
		{"OK", url.Values{"username": {"operator"}, "password": {testPassword}}, http.StatusSeeOther, "/", ""},
		{"OKTrimsUsername", url.Values{"username": {"  operator "}, "password": {testPassword}}, http.StatusSeeOther, "/", ""},
		{"OKNext", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"/users?x=1"}}, http.StatusSeeOther, "/users?x=1", ""},
		{"OKNextOffsiteIgnored", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"//evil.example/"}}, http.StatusSeeOther, "/", ""},
		{"ErrWrongPassword", url.Values{"username": {"operator"}, "password": {"wrong password!"}}, http.StatusUnprocessableEntity, "", catalogZH("login.failed")},
		{"ErrUnknownUser", url.Values{"username": {"nobody"}, "password": {"wrong password!"}}, http.StatusUnprocessableEntity, "", catalogZH("login.failed")},
		{"ErrDisabledUser", url.Values{"username": {"gone"}, "password": {testPassword}}, http.StatusUnprocessableEntity, "", catalogZH("login.failed")},
		{"ErrPasswordCase", url.Values{"username": {"operator"}, "password": {strings.ToUpper(testPassword)}}, http.StatusUnprocessableEntity, "", catalogZH("login.failed")},
		{"ErrEmpty", url.Values{"username": {""}, "password": {""}}, http.StatusUnprocessableEntity, "", catalogZH("login.required")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := ts.anonymous(t)
			res := tc.post(t, "/login", tt.form)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; error %q", got, want, res.text(`[data-testid="login-error"]`))
			}
			if got, want := res.header.Get("Location"), tt.wantLocation; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			if got, want := res.text(`[data-testid="login-error"]`), tt.wantError; got != want {
				t.Errorf("login-error = %q, want %q", got, want)
			}
			gotCookie := res.cookie(ts.h.Sessions.Name()) != nil
			if want := tt.wantStatus == http.StatusSeeOther; gotCookie != want {
				t.Errorf("session cookie set = %v, want %v", gotCookie, want)
			}
			if tt.wantStatus == http.StatusUnprocessableEntity {
				// The form keeps what was typed, never the password.
				if got, want := res.doc.Find(`input[name="username"]`).AttrOr("value", ""), strings.TrimSpace(tt.form.Get("username")); got != want {
					t.Errorf("username value = %q, want %q", got, want)
				}
				if got := res.doc.Find(`input[name="password"]`).AttrOr("value", ""); got != "" {
					t.Errorf("password echoed back: %q", got)
				}
				if got, want := tc.signedIn(t), false; got != want {
					t.Errorf("signed in = %v, want %v", got, want)
				}
			} else if got, want := tc.signedIn(t), true; got != want {
				t.Errorf("signed in = %v, want %v", got, want)
			}
		})
	}
	logs := ts.logs.String()
	for _, want := range []string{`"msg":"signed in","username":"operator"`, `"msg":"sign-in failed","username":"nobody"`, `"msg":"sign-in failed","username":"gone"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestLoginUnknownUserAnswersLikeWrongPassword compares the two answers whole:
// same status, same message, same page apart from the typed name.
func TestLoginUnknownUserAnswersLikeWrongPassword(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	wrong := tc.login(t, "viewer", "not the password")
	unknown := tc.login(t, "viewes", "not the password")
	if got, want := unknown.status, wrong.status; got != want {
		t.Errorf("unknown user status = %d, wrong password status = %d", got, want)
	}
	if got, want := unknown.text(`[data-testid="login-error"]`), wrong.text(`[data-testid="login-error"]`); got != want {
		t.Errorf("unknown user message = %q, wrong password message = %q", got, want)
	}
	if got, want := strings.ReplaceAll(unknown.body, "viewes", "viewer"), wrong.body; got != want {
		t.Errorf("pages differ beyond the username:\nunknown: %s\nwrong:   %s", got, want)
	}
}

func TestLoginLockout(t *testing.T) {
	locked := func(until time.Time) string { return catalogZH("login.locked", views.FormatTime(until)) }

	t.Run("ErrLocked", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.anonymous(t)
		for i := 1; i < service.MaxLoginFailures; i++ {
			res := tc.login(t, "operator", "wrong password "+strconv.Itoa(i))
			if got, want := res.status, http.StatusUnprocessableEntity; got != want {
				t.Fatalf("failure %d: status = %d, want %d", i, got, want)
			}
			if got, want := res.text(`[data-testid="login-error"]`), catalogZH("login.failed"); got != want {
				t.Fatalf("failure %d: message = %q, want %q", i, got, want)
			}
			ts.clock.Advance(time.Minute)
		}
		until := ts.clock.Now().Add(service.LockDuration)
		res := tc.login(t, "operator", "wrong password 5")
		if got, want := res.text(`[data-testid="login-error"]`), locked(until); got != want {
			t.Fatalf("5th failure: message = %q, want %q", got, want)
		}
		// The 6th attempt, with the right password, is still refused.
		res = tc.login(t, "operator", testPassword)
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("right password while locked: status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="login-error"]`), locked(until); got != want {
			t.Errorf("right password while locked: message = %q, want %q", got, want)
		}
		if res.cookie(ts.h.Sessions.Name()) != nil {
			t.Error("a session cookie was set while locked")
		}
		// Not from another address: failures from one address never lock
		// the account for the others (issue 10; the count is per username
		// AND address).
		ts.anonymous(t).signIn(t, "operator", testPassword)
		// Another account is not affected.
		ts.anonymous(t).signIn(t, "viewer", testPassword)

		// One second before the end of the lock: still locked.
		ts.clock.Advance(service.LockDuration - time.Second)
		res = tc.login(t, "operator", testPassword)
		if got, want := res.text(`[data-testid="login-error"]`), locked(until); got != want {
			t.Errorf("1s before unlock: message = %q, want %q", got, want)
		}
		if !strings.Contains(ts.logs.String(), `"msg":"sign-in refused: locked","username":"operator"`) {
			t.Error("refusal while locked was not logged")
		}
	})

	t.Run("OKUnlockAfter15Minutes", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.anonymous(t)
		for i := 0; i < service.MaxLoginFailures; i++ {
			tc.login(t, "operator", "wrong password")
		}
		if got, want := tc.login(t, "operator", testPassword).status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("locked: status = %d, want %d", got, want)
		}
		ts.clock.Advance(15 * time.Minute)
		tc.signIn(t, "operator", testPassword)
		if got, want := tc.signedIn(t), true; got != want {
			t.Errorf("signed in = %v, want %v", got, want)
		}
		// The slate is clean: four new failures do not lock again.
		other := ts.anonymous(t)
		for i := 1; i < service.MaxLoginFailures; i++ {
			if got, want := other.login(t, "operator", "wrong password").text(`[data-testid="login-error"]`), catalogZH("login.failed"); got != want {
				t.Fatalf("failure %d after unlock: %q, want %q", i, got, want)
			}
		}
	})

	t.Run("ErrUnknownUserLocksAlike", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.anonymous(t)
		var last *response
		for i := 0; i < service.MaxLoginFailures; i++ {
			last = tc.login(t, "nobody", "wrong password")
		}
		if got, want := last.text(`[data-testid="login-error"]`), locked(ts.clock.Now().Add(service.LockDuration)); got != want {
			t.Errorf("unknown user 5th failure: %q, want %q", got, want)
		}
	})

	t.Run("OKFailuresOutsideWindowDoNotCount", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.anonymous(t)
		for i := 1; i < service.MaxLoginFailures; i++ {
			tc.login(t, "operator", "wrong password")
		}
		ts.clock.Advance(service.LoginWindow)
		if got, want := tc.login(t, "operator", "wrong password").text(`[data-testid="login-error"]`), catalogZH("login.failed"); got != want {
			t.Fatalf("failure in a new window: %q, want %q", got, want)
		}
		tc.signIn(t, "operator", testPassword)
	})

	t.Run("OKSuccessResetsCount", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.anonymous(t)
		for i := 1; i < service.MaxLoginFailures; i++ {
			tc.login(t, "operator", "wrong password")
		}
		tc.signIn(t, "operator", testPassword)
		other := ts.anonymous(t)
		for i := 1; i < service.MaxLoginFailures; i++ {
			other.login(t, "operator", "wrong password")
		}
		other.signIn(t, "operator", testPassword)
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	t.Run("OKActivityKeepsItAlive", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.client(t, store.RoleOperator)
		for i := 0; i < 4; i++ { // 4 × 29 min: longer than the idle timeout in total
			ts.clock.Advance(IdleTimeout - time.Minute)
			if got, want := tc.signedIn(t), true; got != want {
				t.Fatalf("after %d × 29 min of activity: signed in = %v, want %v", i+1, got, want)
			}
		}
	})
	t.Run("OKJustBeforeTimeout", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.client(t, store.RoleOperator)
		ts.clock.Advance(IdleTimeout - time.Second)
		if got, want := tc.signedIn(t), true; got != want {
			t.Fatalf("signed in = %v, want %v", got, want)
		}
	})
	t.Run("ErrIdle", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.client(t, store.RoleOperator)
		stolen := tc.copyOf(t)
		ts.clock.Advance(IdleTimeout)
		res := tc.get(t, "/")
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if ck := res.cookie(ts.h.Sessions.Name()); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("the ended session's cookie was not cleared: %v", ck)
		}
		if got, want := ts.sessionCount(t, ts.users[store.RoleOperator].ID), 0; got != want {
			t.Errorf("session rows = %d, want %d", got, want)
		}
		// Going back in time does not revive it: the row is gone.
		if got, want := stolen.signedIn(t), false; got != want {
			t.Errorf("copied cookie: signed in = %v, want %v", got, want)
		}
	})
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleSupport)
	step := 20 * time.Minute
	elapsed := time.Duration(0)
	for elapsed+step < AbsoluteTimeout {
		ts.clock.Advance(step)
		elapsed += step
		if got, want := tc.signedIn(t), true; got != want {
			t.Fatalf("after %v of steady activity: signed in = %v, want %v", elapsed, got, want)
		}
	}
	ts.clock.Advance(AbsoluteTimeout - elapsed)
	if got, want := tc.signedIn(t), false; got != want {
		t.Fatalf("after %v: signed in = %v, want %v", AbsoluteTimeout, got, want)
	}
	if got, want := ts.sessionCount(t, ts.users[store.RoleSupport].ID), 0; got != want {
		t.Errorf("session rows = %d, want %d", got, want)
	}
}

// TestCopiedCookie proves a copied session cookie dies with the session:
// logout, disabling the user, changing their role or password end it on the
// server.
func TestCopiedCookie(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, ts *testServer, victim *testClient)
	}{
		{"ErrAfterLogout", func(t *testing.T, ts *testServer, victim *testClient) {
			res := victim.post(t, "/logout", nil)
			if got, want := res.status, http.StatusSeeOther; got != want {
				t.Fatalf("logout: status = %d, want %d", got, want)
			}
			if got, want := res.header.Get("Location"), "/login?bye=1"; got != want {
				t.Errorf("logout: Location = %q, want %q", got, want)
			}
			if ck := res.cookie(ts.h.Sessions.Name()); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("logout did not clear the cookie: %v", ck)
			}
			page := victim.get(t, "/login?bye=1")
			if got, want := page.text(`[data-testid="flash"]`), catalogZH("logout.done"); got != want {
				t.Errorf("flash = %q, want %q", got, want)
			}
		}},
		{"ErrAfterDisable", func(t *testing.T, ts *testServer, victim *testClient) {
			adminUpdate(t, ts, victim, url.Values{"action": {"disable"}, "confirm": {"1"}})
		}},
		{"ErrAfterRoleChange", func(t *testing.T, ts *testServer, victim *testClient) {
			adminUpdate(t, ts, victim, url.Values{"action": {"role"}, "role": {store.RoleViewer}})
		}},
		{"ErrAfterPasswordReset", func(t *testing.T, ts *testServer, victim *testClient) {
			adminUpdate(t, ts, victim, url.Values{"action": {"password"}, "password": {"a brand new password"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			victim := ts.client(t, store.RoleOperator)
			thief := victim.copyOf(t)
			if got, want := thief.signedIn(t), true; got != want {
				t.Fatalf("before: copied cookie signed in = %v, want %v", got, want)
			}
			tt.end(t, ts, victim)
			if got, want := thief.signedIn(t), false; got != want {
				t.Errorf("after: copied cookie signed in = %v, want %v", got, want)
			}
			if got, want := victim.signedIn(t), false; got != want {
				t.Errorf("after: victim signed in = %v, want %v", got, want)
			}
			if got, want := ts.sessionCount(t, ts.users[store.RoleOperator].ID), 0; got != want {
				t.Errorf("session rows = %d, want %d", got, want)
			}
		})
	}
}

// adminUpdate has the admin change the victim's user.
func adminUpdate(t *testing.T, ts *testServer, victim *testClient, form url.Values) {
	t.Helper()
	admin := ts.client(t, store.RoleAdmin)
	res := admin.post(t, "/users/"+strconv.FormatInt(ts.users[store.RoleOperator].ID, 10), form)
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("admin update %v: status = %d, want %d", form, got, want)
	}
	// The admin's own session is untouched.
	if got, want := admin.signedIn(t), true; got != want {
		t.Errorf("admin signed in = %v, want %v", got, want)
	}
}

// sessionID decodes the random id inside a session cookie.
func sessionID(t *testing.T, ts *testServer, ck *http.Cookie) string {
	t.Helper()
	var id string
	if err := ts.h.Sessions.codec.Decode(ts.h.Sessions.Name(), ck.Value, &id); err != nil {
		t.Fatalf("decode session cookie: %v", err)
	}
	return id
}

func TestSessionID(t *testing.T) {
	ts := newTestServer(t)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		tc := ts.anonymous(t)
		res := tc.signIn(t, store.RoleViewer, testPassword)
		id := sessionID(t, ts, res.cookie(ts.h.Sessions.Name()))
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			t.Fatalf("session id %q is not base64url: %v", id, err)
		}
		if got, want := len(raw)*8, 256; got < want {
			t.Errorf("session id has %d bits, want ≥ %d", got, want)
		}
		if seen[id] {
			t.Errorf("session id %q issued twice", id)
		}
		seen[id] = true
		// The database keeps only the hash of the id.
		if _, err := ts.db.SessionByHash(context.Background(), id); err == nil {
			t.Error("the raw session id is stored in the database")
		}
		if _, err := ts.db.SessionByHash(context.Background(), hashID(id)); err != nil {
			t.Errorf("no row for the id's hash: %v", err)
		}
	}
}

// TestSessionFixation: each sign-in issues a new id, and the id the browser
// held before stops working.
func TestSessionFixation(t *testing.T) {
	t.Run("OKNewIDAtEachSignIn", func(t *testing.T) {
		ts := newTestServer(t)
		tc := ts.client(t, store.RoleViewer)
		before := tc.sessionCookie()
		old := tc.copyOf(t)
		res := tc.signIn(t, store.RoleViewer, testPassword)
		after := res.cookie(ts.h.Sessions.Name())
		if after == nil {
			t.Fatal("second sign-in set no session cookie")
		}
		if sessionID(t, ts, before) == sessionID(t, ts, after) {
			t.Fatal("second sign-in kept the session id")
		}
		if got, want := old.signedIn(t), false; got != want {
			t.Errorf("the previous session: signed in = %v, want %v", got, want)
		}
		if got, want := tc.signedIn(t), true; got != want {
			t.Errorf("the new session: signed in = %v, want %v", got, want)
		}
		if got, want := ts.sessionCount(t, ts.users[store.RoleViewer].ID), 1; got != want {
			t.Errorf("session rows = %d, want %d", got, want)
		}
	})
	t.Run("OKPlantedCookieIgnored", func(t *testing.T) {
		ts := newTestServer(t)
		// An attacker signs in and plants their cookie in the victim's browser.
		attacker := ts.client(t, store.RoleViewer)
		victim := attacker.copyOf(t)
		planted := attacker.sessionCookie()
		res := victim.signIn(t, store.RoleAdmin, testPassword)
		got := res.cookie(ts.h.Sessions.Name())
		if sessionID(t, ts, got) == sessionID(t, ts, planted) {
			t.Fatal("sign-in reused the planted session id")
		}
		// The attacker's copy does not become the admin.
		if page := attacker.get(t, "/users"); page.status == http.StatusOK {
			t.Error("the planted cookie gained the victim's rights")
		}
	})
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		opts       []serverOption
		wantName   string
		wantCSRF   string
		wantSecure bool
	}{
		{"OKHTTP", nil, "session", "_csrf", false},
		{"OKHTTPS", []serverOption{withHTTPS()}, "__Host-session", "__Host-csrf", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts...)
			tc := ts.anonymous(t)
			res := tc.signIn(t, store.RoleAdmin, testPassword)
			ck := res.cookie(tt.wantName)
			if ck == nil {
				t.Fatalf("no %s cookie in %v", tt.wantName, res.header.Values("Set-Cookie"))
			}
			if got, want := ck.HttpOnly, true; got != want {
				t.Errorf("HttpOnly = %v, want %v", got, want)
			}
			if got, want := ck.SameSite, http.SameSiteLaxMode; got != want {
				t.Errorf("SameSite = %v, want %v", got, want)
			}
			if got, want := ck.Path, "/"; got != want {
				t.Errorf("Path = %q, want %q", got, want)
			}
			if got, want := ck.Secure, tt.wantSecure; got != want {
				t.Errorf("Secure = %v, want %v", got, want)
			}
			if got, want := ck.Domain, ""; got != want {
				t.Errorf("Domain = %q, want %q", got, want)
			}
			// A browser-session cookie: the server enforces the lifetimes,
			// not a 30-day gorilla default.
			if ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("MaxAge = %d, Expires = %v; want neither", ck.MaxAge, ck.Expires)
			}
			if got, want := tc.signedIn(t), true; got != want {
				t.Errorf("signed in = %v, want %v", got, want)
			}
			// The CSRF cookie, set with every page.
			csrf := ts.anonymous(t).get(t, "/login").cookie(tt.wantCSRF)
			if csrf == nil {
				t.Fatalf("no %s cookie", tt.wantCSRF)
			}
			if csrf.HttpOnly != true || csrf.SameSite != http.SameSiteLaxMode || csrf.Path != "/" || csrf.Secure != tt.wantSecure || csrf.Domain != "" {
				t.Errorf("CSRF cookie = %+v; want HttpOnly, SameSite=Lax, Path=/, Secure=%v, no Domain", csrf, tt.wantSecure)
			}
		})
	}
}

// TestLoginLockoutConcurrent: guesses sent at once get no more password
// checks than guesses sent one by one would: an attacker who fires them in
// parallel must not slip past the limit while the first ones are still
// being checked. (Lockouts are per username and address: the guesses come
// from one address, as many clients.)
func TestLoginLockoutConcurrent(t *testing.T) {
	ts := newTestServer(t)
	// 2 × the limit: the per-address rate limit lets 10 through at once.
	const n = 2 * service.MaxLoginFailures
	clients := make([]*testClient, n)
	first := ts.anonymous(t)
	for i := range clients {
		clients[i] = ts.anonymous(t)
		clients[i].setIP(first.ip)
	}
	statuses := make(chan int, n)
	start := make(chan struct{})
	for _, tc := range clients {
		go func() {
			<-start
			statuses <- tc.post(t, "/login", url.Values{"username": {"operator"}, "password": {"a wrong guess"}}).status
		}()
	}
	close(start)
	for range n {
		if got, want := <-statuses, http.StatusUnprocessableEntity; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	}
	checked := strings.Count(ts.logs.String(), `"msg":"sign-in failed"`)
	if got, want := checked, service.MaxLoginFailures; got > want {
		t.Errorf("%d of %d concurrent guesses had their password checked, want at most %d", got, n, want)
	}
	// And the account is locked now, from that address.
	if until, err := ts.db.LockedUntil(context.Background(), "operator", first.ip); err != nil || until.IsZero() {
		t.Errorf("after the burst: LockedUntil = %v, %v; want locked", until, err)
	}
}

// TestPollingDoesNotKeepSessionAlive: a page polling by itself (htmx, poll=1)
// is not the person being active; the idle timeout still ends the session.
func TestPollingDoesNotKeepSessionAlive(t *testing.T) {
	ts := newTestServer(t)
	viewer := ts.client(t, store.RoleViewer)
	for range 7 {
		ts.clock.Advance(5 * time.Minute)
		res := viewer.get(t, "/callbacks?after=1&poll=1", "HX-Request", "true")
		if res.status >= 400 && res.status != http.StatusUnauthorized {
			t.Fatalf("poll: status %d", res.status)
		}
	}
	res := viewer.get(t, "/callbacks")
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("after 35 min of polling alone: status %d, want %d (signed out)", got, want)
	}

	t.Run("ActivityKeepsItAlive", func(t *testing.T) {
		active := ts.client(t, store.RoleViewer)
		for range 7 {
			ts.clock.Advance(5 * time.Minute)
			if res := active.get(t, "/callbacks"); res.status != http.StatusOK {
				t.Fatalf("page load: status %d", res.status)
			}
		}
	})
}
