package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

func TestEmergencyAccess(t *testing.T) {
	ts := newTestServer(t)
	want := map[string]int{"": http.StatusUnauthorized, store.RoleAdmin: http.StatusUnprocessableEntity,
		store.RoleOperator: http.StatusForbidden, store.RoleSupport: http.StatusForbidden, store.RoleViewer: http.StatusForbidden}
	for _, role := range allRoles {
		t.Run("POST /emergency as "+roleName(role), func(t *testing.T) {
			// An empty form: refused after the role check, nothing switched.
			res := ts.client(t, role).post(t, "/emergency", url.Values{})
			if got, want := res.status, want[role]; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
		})
	}
	if p, _ := ts.db.LandingPause(context.Background()); p.Paused || !p.At.IsZero() {
		t.Errorf("switch = %+v, want never switched", p)
	}
	if got, want := ts.client(t, store.RoleAdmin).get(t, "/emergency").status, http.StatusMethodNotAllowed; got != want {
		t.Errorf("GET: status = %d, want %d", got, want)
	}
}

func TestEmergencyValidation(t *testing.T) {
	tests := []struct {
		name      string
		form      url.Values
		wantField string
	}{
		{"ErrPausedValue", url.Values{"paused": {"yes"}, "reason": {"x"}}, "paused"},
		{"ErrNoReason", url.Values{"paused": {"1"}, "reason": {"  "}}, "reason"},
		{"ErrReasonTooLong", url.Values{"paused": {"1"}, "reason": {strings.Repeat("因", 201)}}, "reason"},
		{"ErrReasonControl", url.Values{"paused": {"1"}, "reason": {"a\x07b"}}, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			res := ts.client(t, store.RoleAdmin).post(t, "/emergency", tt.form)
			if got, want := res.status, http.StatusUnprocessableEntity; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if !res.has(`[data-testid="emergency-switch"] [data-testid="error-` + tt.wantField + `"]`) {
				t.Errorf("no error for %s on the switch", tt.wantField)
			}
			if got, want := res.doc.Find(`#emergency-reason`).AttrOr("value", ""), strings.TrimSpace(tt.form.Get("reason")); got != want {
				t.Errorf("reason kept = %q, want %q", got, want)
			}
			if p, _ := ts.db.LandingPause(context.Background()); p.Paused {
				t.Error("paused after a refused switch")
			}
		})
	}
}

func TestEmergencySwitchFlow(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "EM-1", 0)
	admin := ts.client(t, store.RoleAdmin)
	phone := ts.anonymous(t)
	page := "/h5/" + l.Slug

	res := admin.post(t, "/emergency", url.Values{"paused": {"1"}, "reason": {"微信审核要求关闭入口"}, "next": {"/links"}, "confirm": {"1"}})
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("pause: status = %d, want %d", got, want)
	}
	if got, want := res.header.Get("Location"), "/links"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := admin.get(t, "/links").text(`[data-testid="flash"]`), catalogZH("emergency.paused.ok"); got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
	// Every landing page, in every branch, says the service is paused.
	for _, ua := range []string{uaWeChat801, uaWeChat704, uaDesktop} {
		r := landingGet(t, phone, page, ua)
		if got, want := r.status, http.StatusServiceUnavailable; got != want {
			t.Errorf("paused landing: status = %d, want %d", got, want)
		}
		if got, want := r.text("h1"), "服务暂停"; got != want {
			t.Errorf("paused landing: h1 = %q, want %q", got, want)
		}
	}
	v, err := ts.h.emergencyView(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Paused || v.Reason != "微信审核要求关闭入口" || v.By != "admin" || !v.At.Equal(ts.clock.Now()) {
		t.Errorf("view = %+v", v)
	}

	if got, want := admin.post(t, "/emergency", url.Values{"paused": {"0"}, "reason": {""}, "confirm": {"1"}}).header.Get("Location"), "/"; got != want {
		t.Errorf("resume: Location = %q, want %q", got, want)
	}
	if got, want := landingGet(t, phone, page, uaWeChat801).doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""), views.LandingReady; got != want {
		t.Errorf("after resuming: mode = %q, want %q", got, want)
	}
	audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Target: "landing"})
	if len(audit) != 2 || audit[0].Action != "landing.resume" || audit[1].Action != "landing.pause" ||
		audit[1].Reason != "微信审核要求关闭入口" || audit[1].Username != "admin" {
		t.Errorf("audit = %+v, want pause (with its reason) then resume", audit)
	}
}
