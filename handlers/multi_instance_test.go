package handlers

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestTwoInstancesOneDatabase: two console instances on one database file,
// a browser's requests answered by either (as a load balancer without
// sticky sessions would): the session and its CSRF token, sign-out, the
// emergency switch, a sub-merchant registered on one and the sign-in
// lockout behave the same whichever instance answers.
func TestTwoInstancesOneDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a := newTestServer(t, withDBPath(path), withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	b := newTestServer(t, withDBPath(path), withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	on := func(tc *testClient, ts *testServer) *testClient { tc.ts = ts; return tc }

	t.Run("SessionAndCSRF", func(t *testing.T) {
		admin := a.client(t, store.RoleAdmin)
		on(admin, b)
		if !admin.signedIn(t) {
			t.Fatal("a session made on a is not known to b")
		}
		// A form loaded from a, posted to b: the CSRF token holds.
		on(admin, a)
		admin.get(t, "/sub-merchants")
		on(admin, b)
		res := admin.post(t, "/sub-merchants", url.Values{"sub_mchid": {"1900000555"}, "name": {"两台实例"}})
		if res.status != http.StatusSeeOther {
			t.Fatalf("register on b with a's form: status %d", res.status)
		}
		// Registered on b, offered on a at once.
		on(admin, a)
		if !strings.Contains(admin.get(t, "/links/new").body, "1900000555") {
			t.Error("a sub-merchant registered on b is not offered on a")
		}
		// Signing out on a ends the session on b.
		if res := admin.post(t, "/logout", nil); res.status != http.StatusSeeOther {
			t.Fatalf("logout on a: status %d", res.status)
		}
		on(admin, b)
		if admin.signedIn(t) {
			t.Error("signed out on a, still signed in on b")
		}
	})

	t.Run("EmergencySwitch", func(t *testing.T) {
		m := a.addSubMerchant(t, "1900000666", "急停", false)
		l := a.seedLink(t, m, "MULTI-EM-1", 0)
		admin := a.client(t, store.RoleAdmin)
		if res := admin.post(t, "/emergency", url.Values{"paused": {"1"}, "reason": {"两台实例都要暂停"}, "confirm": {"1"}}); res.status != http.StatusSeeOther {
			t.Fatalf("pause on a: status %d", res.status)
		}
		phone := b.anonymous(t)
		if r := landingGet(t, phone, "/h5/"+l.Slug, uaWeChat801); r.status != http.StatusServiceUnavailable {
			t.Errorf("paused on a, b's landing page: status %d, want 503", r.status)
		}
		on(admin, b)
		admin.get(t, "/")
		if res := admin.post(t, "/emergency", url.Values{"paused": {"0"}, "reason": {""}, "confirm": {"1"}}); res.status != http.StatusSeeOther {
			t.Fatalf("resume on b: status %d", res.status)
		}
		phone = a.anonymous(t)
		if got := landingGet(t, phone, "/h5/"+l.Slug, uaWeChat801).doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""); got != views.LandingReady {
			t.Errorf("resumed on b, a's landing page: mode %q", got)
		}
	})

	t.Run("HealthzNamesTheInstance", func(t *testing.T) {
		ra, rb := a.anonymous(t).get(t, "/healthz"), b.anonymous(t).get(t, "/healthz")
		ia, ib := a.svc.Coordinator.Instance, b.svc.Coordinator.Instance
		if ia == ib || !strings.Contains(ra.body, `"instance":"`+ia+`"`) || !strings.Contains(rb.body, `"instance":"`+ib+`"`) || !strings.Contains(ra.body, `"worker":false`) {
			t.Errorf("/healthz: a %s, b %s; want each its own instance id (%s, %s) and worker false (no coordinator runs here)", ra.body, rb.body, ia, ib)
		}
	})

	t.Run("LockoutAcrossInstances", func(t *testing.T) {
		tc := a.anonymous(t)
		b.anonymous(t) // b's own client counter moves; the address is tc's
		for i := 1; i <= service.MaxLoginFailures; i++ {
			ts := a
			if i%2 == 0 {
				ts = b
			}
			on(tc, ts)
			tc.get(t, "/login")
			if res := tc.login(t, "operator", "wrong password "+strconv.Itoa(i)); res.status != http.StatusUnprocessableEntity {
				t.Fatalf("failure %d on %s: status %d", i, map[bool]string{true: "a", false: "b"}[ts == a], res.status)
			}
			a.clock.Advance(time.Minute)
			b.clock.Advance(time.Minute)
		}
		// Failures counted on both instances lock the account on both.
		for _, ts := range []*testServer{a, b} {
			on(tc, ts)
			tc.get(t, "/login")
			res := tc.login(t, "operator", testPassword)
			if res.status != http.StatusUnprocessableEntity || res.cookie(ts.h.Sessions.Name()) != nil {
				t.Errorf("right password after %d failures split over two instances: status %d, want refused", service.MaxLoginFailures, res.status)
			}
		}
	})
}
