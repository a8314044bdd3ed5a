package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// overviewFigures reads the overview's numbers by data-testid.
func overviewFigures(t *testing.T, tc *testClient) map[string]string {
	t.Helper()
	res := tc.get(t, "/")
	if res.status != http.StatusOK {
		t.Fatalf("GET /: status %d", res.status)
	}
	out := map[string]string{}
	for _, id := range []string{"overview-active", "overview-awaiting", "overview-callbacks-24h", "overview-refusals-24h", "overview-terminated-today"} {
		sel := res.doc.Find(`[data-testid="` + id + `"]`)
		if sel.Length() != 1 {
			t.Fatalf("no %s on the overview", id)
		}
		out[id] = strings.TrimSpace(sel.Text())
	}
	return out
}

func TestOverview(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	viewer := ts.client(t, store.RoleViewer)
	want := map[string]string{"overview-active": "0", "overview-awaiting": "0", "overview-callbacks-24h": "0",
		"overview-refusals-24h": "0", "overview-terminated-today": "0"}
	check := func(t *testing.T, step string) {
		t.Helper()
		got := overviewFigures(t, viewer)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %s, want %s", step, k, got[k], v)
			}
		}
	}
	check(t, "empty")

	m, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "门店"})
	if err != nil {
		t.Fatal(err)
	}
	for i, expires := range []time.Duration{time.Hour, time.Hour, -time.Minute} {
		code := fmt.Sprintf("L%d", i)
		if _, err := ts.db.CreateLink(ctx, store.Link{Slug: "slug-" + code, SubMerchantID: m.ID, AuthorizationCode: code, Token: "tok-" + code,
			TokenExpiresAt: ts.clock.Now().Add(expires), NotifyURL: ts.URL + "/notify/payscore"}); err != nil {
			t.Fatal(err)
		}
	}
	want["overview-awaiting"] = "2" // the third link's token has expired
	check(t, "three links")

	ts.record(t, logNotification("N1", store.EventOpen, "L0", m.SubMchID, "oA", "", ts.clock.Now()))
	ts.record(t, logNotification("N1", store.EventOpen, "L0", m.SubMchID, "oA", "", ts.clock.Now())) // a duplicate is one callback
	ts.record(t, logNotification("N2", store.EventOpen, "L2", m.SubMchID, "oB", "", ts.clock.Now()))
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: "bad_signature"})
	want["overview-active"], want["overview-awaiting"], want["overview-callbacks-24h"], want["overview-refusals-24h"] = "2", "1", "2", "1"
	check(t, "two opens and a refusal")

	id, err := ts.db.BeginTermination(ctx, store.Termination{AuthorizationCode: "L0", SubMchID: m.SubMchID, Reason: "用户要求", UserID: ts.users[store.RoleSupport].ID},
		store.AuditEntry{Action: "authorization.terminate", Target: "code:L0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.db.FinishTermination(ctx, id, store.TerminationSucceeded, "REQ-1", "", "", store.AuditEntry{Action: "authorization.terminate", Target: "code:L0", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	want["overview-active"], want["overview-terminated-today"] = "1", "1"
	check(t, "a termination")

	res := viewer.get(t, "/")
	if got, want := res.doc.Find(`[data-testid="latest-callbacks"] [data-testid="callback-row"]`).Length(), 2; got != want {
		t.Errorf("%d latest callbacks, want %d", got, want)
	}
	terms := res.doc.Find(`[data-testid="recent-terminations"] [data-testid="termination-row"]`)
	if terms.Length() != 1 || !strings.Contains(terms.Text(), "L0") || !strings.Contains(terms.Text(), "REQ-1") || !strings.Contains(terms.Text(), "support") {
		t.Errorf("recent terminations: %q", terms.Text())
	}

	// 25 hours on: the day's and the last 24 hours' counts are empty again.
	ts.clock.Advance(25 * time.Hour)
	viewer = ts.client(t, store.RoleViewer) // the session has ended meanwhile
	want["overview-callbacks-24h"], want["overview-refusals-24h"], want["overview-terminated-today"], want["overview-awaiting"] = "0", "0", "0", "0"
	check(t, "a day later")
}

func TestOverviewLatestCallbacksAreTen(t *testing.T) {
	ts := newTestServer(t)
	seedCallbacksFast(t, ts.db, 25, ts.clock.Now().Add(-time.Hour))
	res := ts.client(t, store.RoleViewer).get(t, "/")
	rows := res.doc.Find(`[data-testid="latest-callbacks"] [data-testid="callback-row"]`)
	if got, want := rows.Length(), overviewLatestCallbacks; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	if got, want := rows.First().AttrOr("data-notification-id", ""), "EV-25"; got != want {
		t.Errorf("first row %s, want the newest %s", got, want)
	}
	if got := strings.TrimSpace(res.doc.Find(`[data-testid="overview-callbacks-24h"]`).Text()); got != "25" {
		t.Errorf("callbacks in 24 h = %s, want 25", got)
	}
}

func TestOverviewEmergencySwitch(t *testing.T) {
	ts := newTestServer(t)
	for _, role := range store.Roles {
		t.Run(role, func(t *testing.T) {
			res := ts.client(t, role).get(t, "/")
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			if got, want := res.has(`[data-testid="emergency-switch"]`), role == store.RoleAdmin; got != want {
				t.Errorf("switch shown = %v, want %v", got, want)
			}
		})
	}
	t.Run("ShowsPaused", func(t *testing.T) {
		admin := ts.client(t, store.RoleAdmin)
		admin.get(t, "/")
		if res := admin.post(t, "/emergency", url.Values{"paused": {"1"}, "reason": {"验收演练"}, "next": {"/"}, "confirm": {"1"}}); res.status != http.StatusSeeOther {
			t.Fatalf("POST /emergency: status %d", res.status)
		}
		res := admin.get(t, "/")
		if got := res.doc.Find(`[data-testid="emergency-state"]`).AttrOr("data-paused", ""); got != "1" {
			t.Errorf("data-paused = %q, want 1", got)
		}
	})
}
