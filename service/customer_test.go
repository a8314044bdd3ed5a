package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TestAutoRenewOnOpen: an expired token is renewed with the same code, by
// the system, at most once a minute; never when switched off.
func TestAutoRenewOnOpen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "AUTO-1")
	if err != nil {
		t.Fatal(err)
	}
	l := att.Link
	t.Run("OKValidTokenUntouched", func(t *testing.T) {
		got, err := e.svc.AutoRenew.OnOpen(ctx, l)
		if err != nil || got.Token != l.Token || e.ps.preauths != 1 {
			t.Errorf("OnOpen = %v, %v; %d pre-authorizations, want the link as it is and 1", got, err, e.ps.preauths)
		}
	})
	t.Run("OKExpiredRenewedSameCode", func(t *testing.T) {
		e.now = e.now.Add(2 * time.Hour)
		var codes []string
		e.ps.preauth = func(r payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
			codes = append(codes, r.AuthorizationCode)
			return payscore.PreAuthorizeResult{Token: "tok-renewed", RequestID: "REQ-R"}, nil
		}
		got, err := e.svc.AutoRenew.OnOpen(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if got.Token != "tok-renewed" || !got.TokenExpiresAt.After(e.now) || got.AuthorizationCode != "AUTO-1" {
			t.Errorf("link = token %q expires %v code %q, want a fresh token for AUTO-1", got.Token, got.TokenExpiresAt, got.AuthorizationCode)
		}
		if len(codes) != 1 || codes[0] != "AUTO-1" {
			t.Errorf("pre-authorized %v, want [AUTO-1]", codes)
		}
		a := e.audit(t, store.AuditFilter{Target: "AUTO-1", Action: "link.renew"})
		if len(a) != 1 || a[0].Username != SystemUsername || a[0].Result != "ok" {
			t.Errorf("audit = %+v, want one ok link.renew by system", a)
		}
	})
	t.Run("ErrLimitedWithinAMinute", func(t *testing.T) {
		// The renewal worked, but its token is gone an hour later; a second
		// renewal at once is refused, a minute later allowed.
		e.now = e.now.Add(TokenLifetime + time.Second)
		e.ps.preauth = func(payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
			return payscore.PreAuthorizeResult{}, &payscore.TransportError{Call: "preauthorize", Attempts: 1, Timeout: true, Err: errors.New("timeout")}
		}
		fresh, _ := e.db.LinkByID(ctx, l.ID)
		if _, err := e.svc.AutoRenew.OnOpen(ctx, fresh); KindOf(err) != Upstream {
			t.Fatalf("err = %v, want Upstream", err)
		}
		before := e.ps.preauths
		if _, err := e.svc.AutoRenew.OnOpen(ctx, fresh); !errors.Is(err, ErrAutoRenewLimited) {
			t.Errorf("err = %v, want ErrAutoRenewLimited", err)
		}
		if e.ps.preauths != before {
			t.Errorf("a limited open called WeChat Pay")
		}
		e.now = e.now.Add(AutoRenewGap)
		e.ps.preauth = nil
		if got, err := e.svc.AutoRenew.OnOpen(ctx, fresh); err != nil || !got.TokenExpiresAt.After(e.now) {
			t.Errorf("after a minute: %v, %v; want renewed", got, err)
		}
	})
	t.Run("ErrOff", func(t *testing.T) {
		if err := e.svc.AutoRenew.Set(ctx, alice, l.ID, false); err != nil {
			t.Fatal(err)
		}
		a := e.audit(t, store.AuditFilter{Target: "AUTO-1", Action: "link.auto_renew"})
		if len(a) != 1 || a[0].Result != "off" || a[0].Username != "alice" {
			t.Errorf("audit = %+v, want alice's link.auto_renew off", a)
		}
		e.now = e.now.Add(3 * time.Hour)
		fresh, _ := e.db.LinkByID(ctx, l.ID)
		before := e.ps.preauths
		if _, err := e.svc.AutoRenew.OnOpen(ctx, fresh); !errors.Is(err, ErrAutoRenewOff) || KindOf(err) != Conflict {
			t.Errorf("err = %v, want ErrAutoRenewOff (Conflict)", err)
		}
		if e.ps.preauths != before {
			t.Errorf("auto-renewal off called WeChat Pay")
		}
	})
}

// TestFunnelRecord: bots are not counted, a visitor once a minute, the
// page's answer classified, and the page may not claim the server's steps.
func TestFunnelRecord(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "FUN-1")
	if err != nil {
		t.Fatal(err)
	}
	id := att.Link.ID
	phone := Visitor{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone) MicroMessenger/8.0.49"}
	record := func(step string, v Visitor) bool {
		ok, err := e.svc.Funnel.Record(ctx, id, step, v)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !record(store.FunnelOpened, phone) {
		t.Error("first open not counted")
	}
	if record(store.FunnelOpened, phone) {
		t.Error("repeated open within a minute counted")
	}
	for _, bot := range []string{"", "Mozilla/5.0 (compatible; Googlebot/2.1)", "curl/8.5.0", "Mozilla/5.0 (X11) HeadlessChrome/126.0"} {
		if record(store.FunnelOpened, Visitor{IP: "192.0.2.9", UserAgent: bot}) {
			t.Errorf("bot %q counted", bot)
		}
	}
	e.now = e.now.Add(FunnelWindow)
	if !record(store.FunnelOpened, phone) {
		t.Error("open a minute later not counted")
	}
	for _, tt := range []struct{ code, msg, want string }{
		{"0", "openBusinessView:ok", store.FunnelAnswerOK},
		{"-1", "openBusinessView:cancel", store.FunnelAnswerCancel},
		{"-1", "openBusinessView:fail", store.FunnelAnswerError},
		{"", "", store.FunnelAnswerError},
	} {
		if got := AnswerStep(tt.code, tt.msg); got != tt.want {
			t.Errorf("AnswerStep(%q, %q) = %q, want %q", tt.code, tt.msg, got, tt.want)
		}
	}
	if _, err := e.svc.Funnel.RecordBeacon(ctx, id, "answer", "0", "openBusinessView:ok", phone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Funnel.RecordBeacon(ctx, id, store.FunnelOpened, "", "", phone); KindOf(err) != Invalid {
		t.Errorf("beacon claiming %q: err = %v, want Invalid", store.FunnelOpened, err)
	}
	c, err := e.svc.Funnel.ForLink(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c[store.FunnelOpened] != 2 || c[store.FunnelAnswerOK] != 1 {
		t.Errorf("funnel = %v, want opened 2, answer_ok 1", c)
	}
}

// TestStatsReport: 30 days, oldest first, today last, zero-filled.
func TestStatsReport(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "STAT-1"); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Stats.Report(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Daily.Days) != ChartDays || r.Daily.Days[ChartDays-1] != store.Day(e.now) {
		t.Fatalf("days = %v, want %d ending today", r.Daily.Days, ChartDays)
	}
	v := r.Daily.Values(store.MetricLinksCreated)
	if v[ChartDays-1] != 1 || r.Daily.Total(store.MetricLinksCreated) != 1 {
		t.Errorf("links created = %v, want 1 today", v)
	}
	if len(r.BySubMerchant) != 1 || r.BySubMerchant[0].Counts[store.MetricLinksCreated] != 1 {
		t.Errorf("by sub-merchant = %+v", r.BySubMerchant)
	}
}

// TestAutoRenewAgreedCodeGetsNewLink: one code, one user — opening an
// expired link whose code a user once agreed to serves a NEW link with a new
// code (Links.Renew's rule), never a second pre-authorization of the code.
func TestAutoRenewAgreedCodeGetsNewLink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "AGREED-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{store.StateAvailable, store.StateUnavailable} {
		e.now = e.now.Add(time.Minute)
		if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "AGREED-1", SubMchID: "1900000101", State: st,
			StateTime: e.now, SuccessTime: &e.now, Source: "notification"}); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(2 * time.Hour)
	var codes []string
	e.ps.preauth = func(r payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
		codes = append(codes, r.AuthorizationCode)
		return payscore.PreAuthorizeResult{Token: "tok-new", RequestID: "REQ-N"}, nil
	}
	l, _ := e.db.LinkByID(ctx, att.Link.ID)
	got, err := e.svc.AutoRenew.OnOpen(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == l.ID || got.AuthorizationCode == "AGREED-1" || got.RenewedFrom != l.ID {
		t.Errorf("served link %d code %q (from %d), want a new link with a new code replacing %d", got.ID, got.AuthorizationCode, got.RenewedFrom, l.ID)
	}
	for _, c := range codes {
		if c == "AGREED-1" {
			t.Error("the agreed code was pre-authorized again")
		}
	}
}
