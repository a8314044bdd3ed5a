package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// setIP makes the client send its requests from ip (through the trusted
// proxy's X-Forwarded-For).
func (tc *testClient) setIP(ip string) {
	tc.ip = ip
	tc.http.Transport = xffTransport{base: tc.ts.Server.Client().Transport, ip: ip}
}

// auditActions lists the actions of the audit log, oldest first.
func (ts *testServer) auditActions(t testing.TB, f store.AuditFilter) []string {
	t.Helper()
	f.Limit = 1000
	entries, err := ts.db.AuditLog(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Action)
	}
	return out
}

// TestLoginLongUsername: a username longer than 64 bytes is refused before
// anything is written (no count, no lockout, no audit entry), answers like
// any failure, and is logged cut short.
func TestLoginLongUsername(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	long := strings.Repeat("x", 65) + "TAIL-NEVER-LOGGED"
	for i := 0; i < service.MaxLoginFailures+2; i++ {
		res := tc.login(t, long, "wrong password")
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("attempt %d: status = %d, want %d", i+1, got, want)
		}
		if got, want := res.text(`[data-testid="login-error"]`), catalogZH("login.failed"); got != want {
			t.Fatalf("attempt %d: message = %q, want %q (never locked: nothing is counted)", i+1, got, want)
		}
	}
	if until, err := ts.db.LockedUntil(context.Background(), long, tc.ip); err != nil || !until.IsZero() {
		t.Errorf("LockedUntil = %v, %v; want nothing stored", until, err)
	}
	if got := ts.auditActions(t, store.AuditFilter{Action: service.AuditLoginFailed}); len(got) != 0 {
		t.Errorf("audit entries %v for a refused long username", got)
	}
	logs := ts.logs.String()
	if strings.Contains(logs, "TAIL-NEVER-LOGGED") {
		t.Error("the whole long username was logged")
	}
	if !strings.Contains(logs, strings.Repeat("x", 32)+"…") {
		t.Error("the long username was not logged cut short")
	}
	// 64 bytes is still a username one may try (and it is counted).
	tc.login(t, strings.Repeat("y", 64), "wrong password")
	if got := ts.auditActions(t, store.AuditFilter{Action: service.AuditLoginFailed}); len(got) != 1 {
		t.Errorf("audit entries for a 64-byte username: %v, want one", got)
	}
}

// TestSignInAudit: sign-in events are audited as auth.login,
// auth.login_failed, auth.lockout, auth.logout and auth.unlock, each with
// the address it came from.
func TestSignInAudit(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	tc.signIn(t, "operator", testPassword)
	if res := tc.post(t, "/logout", nil); res.status != http.StatusSeeOther {
		t.Fatalf("logout: status %d", res.status)
	}
	for range service.MaxLoginFailures {
		tc.login(t, "operator", "wrong password")
	}
	got := ts.auditActions(t, store.AuditFilter{Target: "user:operator"})
	want := []string{service.AuditLogin, service.AuditLogout}
	for range service.MaxLoginFailures {
		want = append(want, service.AuditLoginFailed)
	}
	want = append(want, service.AuditLockout)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	entries, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: service.AuditLockout})
	if len(entries) != 1 || entries[0].IP != tc.ip || entries[0].Username != "operator" || !strings.HasPrefix(entries[0].Detail, "until=") {
		t.Errorf("lockout entry = %+v; want operator from %s with until=", entries, tc.ip)
	}

	// The admin sees the lock on /users and ends it: audited, and the
	// address may sign in again at once.
	admin := ts.client(t, store.RoleAdmin)
	page := admin.get(t, "/users")
	row := page.doc.Find(`[data-testid="user-operator"]`)
	if row.Find(`[data-testid="user-locked"]`).Length() != 1 || row.Find(`[data-testid="unlock-form"]`).Length() != 1 {
		t.Fatalf("/users shows no lock and no unlock button for operator")
	}
	id := ts.users[store.RoleOperator].ID
	if res := admin.post(t, "/users/"+strconv.FormatInt(id, 10), url.Values{"action": {"unlock"}}); res.status != http.StatusSeeOther {
		t.Fatalf("unlock: status %d", res.status)
	}
	unlocks, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: service.AuditUnlock})
	if len(unlocks) != 1 || unlocks[0].Username != "admin" || unlocks[0].Target != "user:operator" {
		t.Errorf("unlock entry = %+v", unlocks)
	}
	tc.signIn(t, "operator", testPassword)

	t.Run("ErrUnlockNotAdmin", func(t *testing.T) {
		op := ts.client(t, store.RoleOperator)
		if got := op.post(t, "/users/"+strconv.FormatInt(id, 10), url.Values{"action": {"unlock"}}).status; got != http.StatusForbidden {
			t.Errorf("operator unlocking: status %d, want 403", got)
		}
	})
}

// TestLockoutPerAddress: failures from one address lock that address out,
// with growing lockouts, and never the account for other addresses.
func TestLockoutPerAddress(t *testing.T) {
	ts := newTestServer(t)
	attacker := ts.anonymous(t)
	for range service.MaxLoginFailures {
		attacker.login(t, "admin", "wrong password")
	}
	if until, _ := ts.db.LockedUntil(context.Background(), "admin", attacker.ip); until.IsZero() {
		t.Fatal("the attacker's address is not locked")
	}
	ts.anonymous(t).signIn(t, "admin", testPassword)
	// The second lockout of the same address lasts twice as long. (The
	// per-address rate limit allows 10 sign-in posts at once: the lock is
	// read from the store from here on.)
	ts.clock.Advance(service.LockDuration)
	for range service.MaxLoginFailures {
		attacker.login(t, "admin", "wrong password")
	}
	until, err := ts.db.LockedUntil(context.Background(), "admin", attacker.ip)
	if err != nil || !until.Equal(ts.clock.Now().Add(2*service.LockDuration)) {
		t.Errorf("second lockout until %v, %v; want %v", until, err, ts.clock.Now().Add(2*service.LockDuration))
	}
}

// TestInvisibleCharactersForms: a sub-merchant name, the emergency reason and
// a username with a format character (U+202E, U+200B) are refused with a
// clear message, the typed value kept in the form.
func TestInvisibleCharactersForms(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, store.RoleAdmin)
	want := catalogZH(service.KeyInvisible)
	tests := []struct {
		name, path string
		form       url.Values
		field      string // name of the input keeping the value
	}{
		{"SubMerchantName", "/sub-merchants", url.Values{"sub_mchid": {"1900000555"}, "name": {"Shop\u202Egnp.exe"}}, "name"},
		{"EmergencyReason", "/emergency", url.Values{"paused": {"1"}, "reason": {"maintenance\u200B"}, "next": {"/"}}, "reason"},
		{"Username", "/users", url.Values{"username": {"bob\u200B"}, "role": {store.RoleViewer}, "password": {testPassword}}, "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := admin.post(t, tt.path, tt.form)
			if got, wantStatus := res.status, http.StatusUnprocessableEntity; got != wantStatus {
				t.Fatalf("status = %d, want %d", got, wantStatus)
			}
			if got := res.text(`[data-testid="error-` + tt.field + `"]`); got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
			if got := res.doc.Find(`form input[name="`+tt.field+`"]`).First().AttrOr("value", ""); got != tt.form.Get(tt.field) {
				t.Errorf("input kept %q, want %q", got, tt.form.Get(tt.field))
			}
		})
	}
	if got := ts.auditActions(t, store.AuditFilter{Username: "admin"}); len(got) != 1 || got[0] != service.AuditLogin {
		t.Errorf("audit %v: a refused input changed something", got)
	}
}
