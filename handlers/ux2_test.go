package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestConfirmSteps (issue 13): disabling a user or a sub-merchant and the
// emergency pause and resume confirm with the object named, through the
// same POST again with confirm=1. The first POST changes nothing; the
// confirm step's form carries the fields back with confirm=1 and a CSRF
// token; without a token the confirmed POST is refused; with confirm=1 it
// acts.
func TestConfirmSteps(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	m, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000777", Name: "确认门店"})
	if err != nil {
		t.Fatal(err)
	}
	viewer := ts.users[store.RoleViewer]
	paused := func() bool {
		p, err := ts.db.LandingPause(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p.Paused
	}
	tests := []struct {
		name      string
		path      string
		form      url.Values
		kind      string
		named     []string // in the question or the facts
		cancel    string
		changed   func() bool
		wantFacts map[string]string
	}{
		{"UserDisable", "/users/" + strconv.FormatInt(viewer.ID, 10), url.Values{"action": {"disable"}}, "user-disable",
			[]string{viewer.Username}, "/users",
			func() bool { u, _ := ts.db.UserByID(ctx, viewer.ID); return u.Disabled },
			map[string]string{"username": viewer.Username, "role": catalogZH("role.viewer")}},
		{"SubMerchantDisable", "/sub-merchants/" + strconv.FormatInt(m.ID, 10), url.Values{"action": {"disable"}}, "submerchant-disable",
			[]string{"确认门店", "1900000777"}, "/sub-merchants",
			func() bool { s, _ := ts.db.SubMerchantByID(ctx, m.ID); return s.Disabled },
			map[string]string{"name": "确认门店", "sub_mchid": "1900000777"}},
		{"EmergencyPause", "/emergency", url.Values{"paused": {"1"}, "reason": {"微信审核要求"}, "next": {"/links"}}, "emergency-pause",
			[]string{"微信审核要求"}, "/links", paused,
			map[string]string{"reason": "微信审核要求"}},
		{"EmergencyResume", "/emergency", url.Values{"paused": {"0"}, "reason": {"审核通过"}, "next": {"/"}}, "emergency-resume",
			[]string{"审核通过", "微信审核要求"}, "/", func() bool { return !paused() },
			map[string]string{"reason": "审核通过"}},
	}
	admin := ts.client(t, store.RoleAdmin)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := admin.post(t, tt.path, tt.form)
			if res.status != http.StatusOK {
				t.Fatalf("first POST: status %d, want 200 (the confirm step)", res.status)
			}
			if tt.changed() {
				t.Fatal("the first POST, without confirm=1, changed the state")
			}
			if got := res.doc.Find(`[data-testid="confirm"]`).AttrOr("data-kind", ""); got != tt.kind {
				t.Errorf("confirm kind = %q, want %q", got, tt.kind)
			}
			page := res.text(`[data-testid="confirm"]`)
			for _, name := range tt.named {
				if !strings.Contains(page, name) {
					t.Errorf("confirm step does not name %q: %q", name, page)
				}
			}
			for id, want := range tt.wantFacts {
				if got := res.text(`[data-testid="confirm-fact-` + id + `"]`); got != want {
					t.Errorf("fact %s = %q, want %q", id, got, want)
				}
			}
			form := res.doc.Find(`form[data-testid="confirm-form"]`)
			if got := form.AttrOr("action", ""); got != tt.path {
				t.Errorf("confirm form posts to %q, want the same URL %q", got, tt.path)
			}
			if form.Find(`input[name="confirm"][value="1"]`).Length() != 1 || form.Find(`input[name="_csrf"]`).AttrOr("value", "") == "" {
				t.Error("confirm form lacks confirm=1 or the CSRF token")
			}
			resent := url.Values{}
			form.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
				resent.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
			})
			for k, v := range tt.form {
				if resent.Get(k) != v[0] {
					t.Errorf("confirm form resends %s = %q, want %q", k, resent.Get(k), v[0])
				}
			}
			if got := res.doc.Find(`[data-testid="confirm-cancel"]`).AttrOr("href", ""); got != tt.cancel {
				t.Errorf("cancel = %q, want %q", got, tt.cancel)
			}
			// The confirmed POST without a CSRF token: refused, nothing changes.
			resent.Del("_csrf")
			if got := admin.postRaw(t, tt.path, resent); got.status != http.StatusForbidden {
				t.Errorf("confirmed POST without CSRF token: status %d, want 403", got.status)
			}
			if tt.changed() {
				t.Fatal("a confirmed POST without CSRF token changed the state")
			}
			if got := admin.post(t, tt.path, resent); got.status != http.StatusSeeOther {
				t.Fatalf("confirmed POST: status %d, want 303", got.status)
			}
			if !tt.changed() {
				t.Error("the confirmed POST did not act")
			}
		})
	}
	t.Run("PauseAndResumeAreNotSuccessGreen", func(t *testing.T) {
		for _, p := range []string{"1", "0"} {
			admin.post(t, "/emergency", url.Values{"paused": {p}, "reason": {"演练"}, "next": {"/"}, "confirm": {"1"}})
			res := admin.get(t, "/")
			if res.has(`[data-testid="flash"].success`) || !res.has(`[data-testid="flash"]`) {
				t.Errorf("paused=%s: flash classes %q, want a neutral or warning flash", p, res.doc.Find(`[data-testid="flash"]`).AttrOr("class", ""))
			}
			if res.has(`[data-testid="emergency-form"] button.primary`) {
				t.Errorf("paused=%s: the switch's button is success-green", p)
			}
		}
	})
}

// TestPauseBannerEveryPage (issue 13): while the emergency pause is on,
// every page of every role shows it with its reason, who and since when;
// once resumed, none does.
func TestPauseBannerEveryPage(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	pages := map[string][]string{
		store.RoleAdmin:    {"/", "/sub-merchants", "/users", "/audit", "/callbacks"},
		store.RoleOperator: {"/", "/links", "/links/new", "/callbacks", "/account"},
		store.RoleSupport:  {"/", "/authorizations", "/bulk"},
		store.RoleViewer:   {"/", "/callbacks", "/account"},
	}
	admin := service.Actor{UserID: ts.users[store.RoleAdmin].ID, Username: "admin"}
	if err := ts.svc.Emergency.Set(ctx, admin, true, "微信审核要求关闭入口"); err != nil {
		t.Fatal(err)
	}
	since := views.FormatTime(ts.clock.Now())
	for role, paths := range pages {
		tc := ts.client(t, role)
		for _, p := range paths {
			res := tc.get(t, p)
			if res.status != http.StatusOK {
				t.Errorf("%s GET %s: status %d", role, p, res.status)
				continue
			}
			if got := res.text(`[data-testid="pause-reason"]`); got != "微信审核要求关闭入口" {
				t.Errorf("%s GET %s: pause reason = %q", role, p, got)
			}
			if got := res.text(`[data-testid="pause-by"]`); got != "admin" {
				t.Errorf("%s GET %s: pause by = %q", role, p, got)
			}
			if got := res.text(`[data-testid="pause-since"]`); got != since {
				t.Errorf("%s GET %s: pause since = %q, want %q", role, p, got, since)
			}
		}
	}
	if err := ts.svc.Emergency.Set(ctx, admin, false, ""); err != nil {
		t.Fatal(err)
	}
	for role, paths := range pages {
		if res := ts.client(t, role).get(t, paths[0]); res.has(`[data-testid="pause-banner"]`) {
			t.Errorf("%s: banner after resuming", role)
		}
	}
}

// TestLinkRefusedWhilePaused (issue 13): creating or renewing a link while
// the emergency pause is on is refused with the pause's reason, who and
// since when; nothing is stored.
func TestLinkRefusedWhilePaused(t *testing.T) {
	ctx := context.Background()
	s := newSupportServer(t)
	op := s.client(t, store.RoleOperator)
	old := s.seedLink(t, s.sub, "PAUSED-OLD", s.users[store.RoleOperator].ID)
	if err := s.svc.Emergency.Set(ctx, service.Actor{Username: "admin"}, true, "微信审核"); err != nil {
		t.Fatal(err)
	}
	res := op.post(t, "/links", url.Values{"sub_mchid": {testSubMchID}, "authorization_code": {"PAUSED-NEW"}})
	if res.status != http.StatusConflict {
		t.Fatalf("POST /links while paused: status %d, want 409", res.status)
	}
	want := catalogZH("links.err.paused", "微信审核", "admin", views.FormatTime(s.clock.Now()))
	if got := res.text(`[data-testid="flash"].warn`); got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
	if _, err := s.db.LinkByCode(ctx, "PAUSED-NEW"); err == nil {
		t.Error("a link was stored while paused")
	}
	res = op.post(t, "/links/"+strconv.FormatInt(old.ID, 10)+"/renew", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("renew while paused: status %d, want 303", res.status)
	}
	page := op.get(t, res.header.Get("Location"))
	if got := page.text(`[data-testid="flash"].warn`); !strings.Contains(got, "微信审核") {
		t.Errorf("renew refusal = %q, want the pause's reason", got)
	}
}

// TestTerminateConfirmStep (issue 13): the terminate confirm step names the
// merchant, the user's openid, the current state and when the user agreed;
// common reasons are visible choices; cancel returns to the form with the
// reason kept; nothing is called or recorded before confirm=1, and the
// confirmed POST needs the CSRF token.
func TestTerminateConfirmStep(t *testing.T) {
	ctx := context.Background()
	s := newSupportServer(t)
	const code = "UX2-CONFIRM"
	s.active(t, code)
	local, err := s.db.AuthorizationByCode(ctx, code)
	if err != nil || local.OpenID == "" || local.SuccessTime == nil {
		t.Fatalf("local authorization %+v, %v: want an openid and a success time", local, err)
	}
	tc := s.client(t, store.RoleSupport)
	lookup := tc.get(t, views.LookupURL(code))
	if got := lookup.doc.Find(`[data-testid="reason-choices"] input[type="radio"][name="reason_choice"]`).Length(); got != len(commonReasons) {
		t.Errorf("common reasons as choices = %d, want %d", got, len(commonReasons))
	}

	t.Run("OKNamesTheAuthorization", func(t *testing.T) {
		res := tc.post(t, terminatePath(code), url.Values{"reason": {"门店关闭"}})
		if res.status != http.StatusOK || !res.has(`[data-testid="confirm-form"]`) {
			t.Fatalf("status %d, want the confirm step", res.status)
		}
		for id, want := range map[string]string{
			"confirm-fact-merchant":   "测试商户",
			"confirm-fact-openid":     local.OpenID,
			"confirm-fact-authorized": views.FormatTime(*local.SuccessTime),
			"confirm-reason":          "门店关闭",
		} {
			if got := res.text(`[data-testid="` + id + `"]`); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		if got := res.text(`[data-testid="confirm-fact-state"]`); !strings.Contains(got, "AVAILABLE") {
			t.Errorf("state = %q, want AVAILABLE", got)
		}
		if !res.has(`form[data-testid="confirm-form"] [data-testid="wait-note"]`) {
			t.Error("the confirm button has no wait note")
		}
	})
	t.Run("OKChoiceWithoutText", func(t *testing.T) {
		res := tc.post(t, terminatePath(code), url.Values{"reason_choice": {"重复授权"}})
		if got := res.text(`[data-testid="confirm-reason"]`); res.status != http.StatusOK || got != "重复授权" {
			t.Errorf("status %d, reason %q: want the confirm step with the chosen reason", res.status, got)
		}
		res = tc.post(t, terminatePath(code), url.Values{"reason_choice": {"重复授权"}, "reason": {"门店关闭"}})
		if got := res.text(`[data-testid="confirm-reason"]`); got != "门店关闭" {
			t.Errorf("typed and chosen: reason %q, want the typed one", got)
		}
	})
	t.Run("OKCancelKeepsReason", func(t *testing.T) {
		res := tc.post(t, terminatePath(code), url.Values{"reason": {"门店关闭"}})
		cancel := res.doc.Find(`form[data-testid="confirm-cancel-form"]`)
		if got := cancel.AttrOr("action", ""); got != terminatePath(code) {
			t.Fatalf("cancel posts to %q", got)
		}
		form := url.Values{}
		cancel.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) { form.Set(s.AttrOr("name", ""), s.AttrOr("value", "")) })
		if form.Get("confirm") != "" {
			t.Error("cancel sends confirm")
		}
		back := tc.post(t, terminatePath(code), form)
		if back.status != http.StatusOK || !back.has(`[data-testid="terminate-form"]`) || back.has(`[data-testid="confirm-form"]`) {
			t.Fatalf("cancel: status %d, want the reason form", back.status)
		}
		if got := back.doc.Find(`#terminate-reason`).AttrOr("value", ""); got != "门店关闭" {
			t.Errorf("reason after cancel = %q, want it kept", got)
		}
	})
	t.Run("ErrNoCSRF", func(t *testing.T) {
		if res := tc.postRaw(t, terminatePath(code), confirmForm("门店关闭")); res.status != http.StatusForbidden {
			t.Errorf("confirmed POST without token: status %d, want 403", res.status)
		}
	})
	// Nothing was called or recorded by any of the above.
	if terms, _ := s.db.TerminationsByCode(ctx, code); len(terms) != 0 {
		t.Errorf("terminations = %+v, want none before confirm=1", terms)
	}
	if got := s.sandboxState(t, code).State; got != sandbox.StateAvailable {
		t.Errorf("sandbox state = %s, want AVAILABLE", got)
	}
	if got := s.auditActions(t, code)[service.AuditTerminateRequest]; got != 0 {
		t.Errorf("terminate.request entries = %d, want none", got)
	}
}

// TestTerminateNotDoneSaysOneThing (issue 13): WeChat Pay's answer lost
// (5xx every attempt), the query at once shows it still on: the result page
// says one thing — not terminated, still AVAILABLE — and keeps WeChat Pay's
// answer folded away for escalation; no "处理中".
func TestTerminateNotDoneSaysOneThing(t *testing.T) {
	s := newSupportServer(t)
	const code = "UX2-NOTDONE"
	s.active(t, code)
	tc := s.client(t, store.RoleSupport)
	s.wp.sb.InjectFault(sandbox.FaultSystemError, 3)
	defer s.wp.sb.ClearFaults()
	res := tc.post(t, terminatePath(code), confirmForm("风险控制"))
	if res.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.status)
	}
	if got, want := res.text(`[data-testid="outcome-detail"]`), catalogZH("support.outcome.notdone", "AVAILABLE"); got != want {
		t.Errorf("detail = %q, want %q", got, want)
	}
	if !res.has(`details[data-testid="upstream-details"] [data-testid="upstream-explanation"]`) {
		t.Error("WeChat Pay's answer is not folded away")
	}
	if strings.Contains(res.text("main"), catalogZH("support.status.pending")) || res.has(`[data-testid="state-badge"]`) {
		t.Error("the page says more than one thing")
	}
}
