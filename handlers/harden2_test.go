package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/payscore"
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

// TestExportsAudited: downloading the callback log or the audit log is
// audited (export.callbacks, export.audit) with who and which filter.
func TestExportsAudited(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, store.RoleAdmin)
	viewer := ts.client(t, store.RoleViewer)
	if res := viewer.get(t, "/callbacks.csv?sub_mchid=1900000001"); res.status != http.StatusOK {
		t.Fatalf("callbacks.csv: status %d", res.status)
	}
	if res := viewer.get(t, "/callbacks.csv?outcome=refused"); res.status != http.StatusOK {
		t.Fatalf("refusals csv: status %d", res.status)
	}
	if res := admin.get(t, "/audit.csv"); res.status != http.StatusOK {
		t.Fatalf("audit.csv: status %d", res.status)
	}
	got, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: service.AuditExportCallbacks})
	if len(got) != 2 || got[1].Username != "viewer" || got[1].Detail != "filter=sub_mchid=1900000001" || got[0].Detail != "filter=outcome=refused" {
		t.Errorf("export.callbacks entries = %+v", got)
	}
	got, _ = ts.db.AuditLog(context.Background(), store.AuditFilter{Action: service.AuditExportAudit})
	if len(got) != 1 || got[0].Username != "admin" || got[0].IP != admin.ip {
		t.Errorf("export.audit entries = %+v", got)
	}
}

// TestSandboxControlsAudited: each sandbox control an admin uses is audited
// (sandbox.<control>) with its values; an anonymous post is refused and
// leaves no entry.
func TestSandboxControlsAudited(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	admin := ts.client(t, store.RoleAdmin)
	if res := admin.post(t, "/sandbox/control/faults", url.Values{"kind": {"timeout"}, "n": {"2"}}); res.status != http.StatusSeeOther {
		t.Fatalf("faults: status %d", res.status)
	}
	if res := admin.post(t, "/sandbox/control/close", url.Values{"authorization_code": {"NOSUCHCODE"}}); res.status != http.StatusSeeOther {
		t.Fatalf("close: status %d", res.status)
	}
	if res := ts.anonymous(t).post(t, "/sandbox/control/faults/clear", nil); res.status < 300 || res.status == http.StatusOK {
		t.Fatalf("anonymous clear: status %d", res.status)
	}
	entries, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Limit: 100})
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; strings.HasPrefix(e.Action, service.AuditSandboxPrefix) {
			got = append(got, e.Username+" "+e.Action+" "+e.Target+" "+e.Detail)
		}
	}
	want := []string{"admin sandbox.faults sandbox kind=timeout n=2", "admin sandbox.close NOSUCHCODE authorization_code=NOSUCHCODE"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sandbox audit = %q, want %q", got, want)
	}
}

// TestLinksCreatorFilter: the created_by filter offers only the users who
// created links, not every account.
func TestLinksCreatorFilter(t *testing.T) {
	ts := newTestServer(t)
	m := ts.addSubMerchant(t, "1900000001", "甲商户", false)
	ts.seedLink(t, m, "C-1", ts.users[store.RoleOperator].ID)
	ts.seedLink(t, m, "C-2", ts.users[store.RoleOperator].ID)
	ts.seedLink(t, m, "C-3", ts.users[store.RoleAdmin].ID)
	res := ts.client(t, store.RoleOperator).get(t, "/links")
	var got []string
	res.doc.Find(`select[name="created_by"] option`).Each(func(_ int, s *goquery.Selection) {
		if v := s.AttrOr("value", ""); v != "" {
			got = append(got, v)
		}
	})
	if want := []string{"admin", "operator"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("created_by options = %v, want %v (support and viewer created none)", got, want)
	}
}

// countingQueries counts the live queries that reach WeChat Pay.
type countingQueries struct {
	service.PayScore
	n atomic.Int32
}

func (q *countingQueries) Query(ctx context.Context, req payscore.QueryRequest) (*payscore.Authorization, error) {
	q.n.Add(1)
	return q.PayScore.Query(ctx, req)
}

// TestLookupCrossSite: GET /authorizations opened from another site
// (Sec-Fetch-Site: cross-site) shows the last state known here and a button
// to query live; it never queries WeChat Pay. The button, clicked on our
// page (same-origin), does.
func TestLookupCrossSite(t *testing.T) {
	q := &countingQueries{}
	s := newSupportServer(t, withPayScore(func(p service.PayScore) service.PayScore { q.PayScore = p; return q }))
	s.active(t, "XSITE-1")
	tc := s.client(t, store.RoleSupport)
	before := q.n.Load()
	res := tc.get(t, lookupPath("XSITE-1"), "Sec-Fetch-Site", "cross-site")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if got := q.n.Load() - before; got != 0 {
		t.Errorf("%d live queries from a cross-site navigation, want 0", got)
	}
	if !res.has(`[data-testid="cross-site"]`) || !res.has(`[data-testid="local-state"]`) || res.has(`[data-testid="live"]`) {
		t.Errorf("cross-site page: notice %v, local state %v, live answer %v; want the notice and the local state only",
			res.has(`[data-testid="cross-site"]`), res.has(`[data-testid="local-state"]`), res.has(`[data-testid="live"]`))
	}
	if res.has(`[data-testid="terminate-form"]`) {
		t.Error("terminate form offered without a live state")
	}
	live := res.doc.Find(`[data-testid="query-live"]`).AttrOr("href", "")
	if !strings.HasPrefix(live, "/authorizations?") {
		t.Fatalf("query-live href = %q", live)
	}
	res = tc.get(t, live, "Sec-Fetch-Site", "same-origin")
	if got := q.n.Load() - before; got != 1 {
		t.Errorf("%d live queries after the button, want 1", got)
	}
	if !res.has(`[data-testid="live"]`) || res.has(`[data-testid="cross-site"]`) {
		t.Error("the same-origin look-up does not show the live answer")
	}
}

// TestNotifyRefusalBudget: an address past its refused-attempt budget is
// answered 429 before its body is read or checked (counted as
// rate_limited); other addresses, WeChat Pay's real notifications among
// them, are not affected.
func TestNotifyRefusalBudget(t *testing.T) {
	ts, n := newReceiverServer(t)
	ts.h.refusalBudget.rate = 1e-6 // the burst's edge, whatever the machine's speed
	_, other := testKeys(t)
	junk, _ := n.valid(t, "EV-JUNK", payscore.EventUserOpenService, "JUNK", time.Now())
	h := n.headers(t, junk, other, n.keyID, time.Now())
	h.Set("X-Forwarded-For", "198.51.100.7")
	var statuses []int
	for range refusalBurst + 5 {
		status, _ := n.send(t, junk, h)
		statuses = append(statuses, status)
	}
	for i, s := range statuses {
		want := http.StatusUnauthorized
		if i >= refusalBurst {
			want = http.StatusTooManyRequests
		}
		if s != want {
			t.Fatalf("junk %d: status %d, want %d (all: %v)", i+1, s, want, statuses)
		}
	}
	if got, want := refusedAttempts(t, ts.db, reasonRateLimited), 5; got != want {
		t.Errorf("rate_limited refusals = %d, want %d", got, want)
	}
	body, rh := n.valid(t, "EV-REAL-1", payscore.EventUserOpenService, "REAL-1", time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	if status, resp := n.send(t, body, rh); status != http.StatusNoContent {
		t.Errorf("real notification from another address: status %d (%s)", status, resp)
	}
}

// TestNotifyStrangersLane: while the strangers' lane is full, a
// notification from an address that never delivered a signed one is
// answered 503 unchecked (counted as busy), and one from an address that
// did goes straight through.
func TestNotifyStrangersLane(t *testing.T) {
	ts, n := newReceiverServer(t)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	body, h := n.valid(t, "EV-KNOWN-1", payscore.EventUserOpenService, "KNOWN-1", at)
	if status, resp := n.send(t, body, h); status != http.StatusNoContent { // 127.0.0.1 is known from now
		t.Fatalf("first notification: status %d (%s)", status, resp)
	}
	lanes := &ts.h.senders
	for range cap(lanes.strangers) {
		lanes.strangers <- struct{}{}
	}
	lanes.waiting.Add(maxStrangersWaiting)
	defer func() {
		lanes.waiting.Add(-maxStrangersWaiting)
		for range cap(lanes.strangers) {
			<-lanes.strangers
		}
	}()
	body, h = n.valid(t, "EV-STRANGER-1", payscore.EventUserOpenService, "STRANGER-1", at)
	h.Set("X-Forwarded-For", "203.0.113.77")
	if status, _ := n.send(t, body, h); status != http.StatusServiceUnavailable {
		t.Errorf("stranger while the lane is full: status %d, want 503", status)
	}
	if got := refusedAttempts(t, ts.db, reasonBusy); got != 1 {
		t.Errorf("busy refusals = %d, want 1", got)
	}
	body, h = n.valid(t, "EV-KNOWN-2", payscore.EventUserOpenService, "KNOWN-2", at)
	if status, resp := n.send(t, body, h); status != http.StatusNoContent {
		t.Errorf("known sender while the lane is full: status %d (%s), want 204", status, resp)
	}
}
