package main

// Browser test of one authorization's page (issue 13, "one page per
// authorization"): a link created, a user agreeing in the sandbox, the
// notification, a termination by support — and the authorization's page
// telling each step in order, with who, when and why; the link page
// "finished" once the user agreed; lists telling a termination by support
// from a close by the user.

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/payscore-console/payscore-console/views"
)

func TestE2EAuthorizationTimeline(t *testing.T) {
	e := startE2E(t)
	admin := e.newTab(t, "admin", false, desktop())
	const (
		subMchID = "1900000911"
		subName  = "时间线测试门店"
		reason   = "用户来电要求解除，时间线测试"
	)
	var code, landingURL, linkPath, openID string
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			e.failureShots(t, name)
			t.FailNow()
		}
	}

	step("SignInAndRegister", func(t *testing.T) {
		admin.navigate(t, e.base+"/login")
		admin.fill(t, "#username", "admin")
		admin.fill(t, "#password", e2eAdminPass)
		if st := admin.submit(t, tid("login-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("sign-in landed on status %d", st)
		}
		admin.navigate(t, e.base+"/sub-merchants")
		admin.fill(t, "#sm-sub_mchid", subMchID)
		admin.fill(t, "#sm-name", subName)
		if st := admin.submit(t, tid("submerchant-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after registering: status %d", st)
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("submerchant-"+subMchID))))
		admin.clean(t)
	})

	step("CreateLink", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		if st := admin.submit(t, tid("link-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after creating the link: status %d", st)
		}
		linkPath = eval[string](t, admin, `location.pathname`)
		if !regexp.MustCompile(`^/links/\d+$`).MatchString(linkPath) {
			t.Fatalf("created link at %q", linkPath)
		}
		code = admin.text(t, tid("link-code"))
		landingURL = get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		if admin.count(t, tid("link-finished")) != 0 || admin.count(t, tid("link-handout")) != 0 {
			t.Error("a new link's page is finished")
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("link-qr"))))
		admin.clean(t)
	})

	step("UserAgrees", func(t *testing.T) {
		phoneTab := e.newTab(t, "phone", true, phone(uaWeChat8))
		if st := phoneTab.navigate(t, landingURL); st != http.StatusOK {
			t.Fatalf("landing page status %d", st)
		}
		phoneTab.waitFor(t, "the consent frame", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		frameWaitFor(t, phoneTab, "the consent form", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		frameTap(t, phoneTab, tid("agree"))
		frameWaitFor(t, phoneTab, "the agreed page", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'agreed'`)
		frameTap(t, phoneTab, tid("return"))
		// The landing page says it is on once the notification arrived.
		phoneTab.waitFor(t, "the landing page to say it is on", `document.getElementById('landing').dataset.step === 'done'`)
		phoneTab.clean(t)
	})

	step("LinkPageFinished", func(t *testing.T) {
		// The open link page's polling shows the outcome without a reload.
		admin.waitFor(t, "the finished lead", `!!document.querySelector('[data-testid="link-finished"]')`)
		admin.navigate(t, e.base+linkPath)
		if got, want := admin.text(t, tid("link-finished-state")), views.Tr(views.LangZH, "ux1.link.finished"); got != want {
			t.Errorf("lead = %q, want %q", got, want)
		}
		openID = admin.text(t, tid("link-finished-openid"))
		if openID == "" || admin.text(t, tid("link-finished-at")) == "" {
			t.Fatalf("lead lacks the openid (%q) or the time", openID)
		}
		// The QR code and the snippets are folded away, one click from view.
		if eval[bool](t, admin, `document.querySelector('[data-testid="link-handout"]').open`) {
			t.Error("the hand-out is open")
		}
		if eval[bool](t, admin, `!!document.querySelector('[data-testid="link-qr"]').checkVisibility()`) {
			t.Error("the QR code is visible on a finished link page")
		}
		e.shot(t, admin, "ux1-link-finished", "")
		if st := admin.submit(t, tid("link-authorization")); st != http.StatusOK {
			t.Fatalf("authorization page status %d", st)
		}
		if got, want := eval[string](t, admin, `location.pathname`), views.AuthorizationURL(code); got != want {
			t.Errorf("the lead leads to %q, want %q", got, want)
		}
		admin.clean(t)
	})

	step("Terminate", func(t *testing.T) {
		admin.navigate(t, e.base+views.AuthorizationURL(code))
		admin.fill(t, "#terminate-reason", reason)
		if st := admin.submit(t, tid("terminate-submit")); st != http.StatusOK {
			t.Fatalf("confirm step status %d", st)
		}
		if st := admin.submit(t, tid("confirm-submit")); st != http.StatusOK {
			t.Fatalf("after terminating: status %d", st)
		}
		admin.clean(t)
	})

	step("Timeline", func(t *testing.T) {
		admin.navigate(t, e.base+views.AuthorizationURL(code))
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("timeline"))))
		type stepRow struct{ Kind, At, What string }
		rows := eval[[]stepRow](t, admin, `[...document.querySelectorAll('[data-testid="timeline-step"]')].map(li => ({
			Kind: li.dataset.kind,
			At: li.querySelector('[data-testid="timeline-at"]')?.textContent.trim() ?? '',
			What: li.querySelector('[data-testid="timeline-what"]').textContent.replace(/\s+/g, ' ').trim()}))`)
		var kinds []string
		for _, r := range rows {
			kinds = append(kinds, r.Kind)
		}
		t.Logf("timeline: %q", rows)
		// Each step in order: created → opened → agreed → the open
		// notification → terminated.
		want := []string{views.TimelineCreated, views.TimelineOpened, views.TimelineAgreed, views.TimelineNotification, views.TimelineTerminated}
		i := 0
		for _, k := range kinds {
			if i < len(want) && k == want[i] {
				i++
			}
		}
		if i != len(want) {
			t.Fatalf("timeline kinds %v, want %v in this order", kinds, want)
		}
		if kinds[0] != views.TimelineCreated {
			t.Errorf("timeline %v: want it to start with the link", kinds)
		}
		for _, k := range kinds {
			if k == views.TimelineClosed {
				t.Errorf("timeline %v: a termination by support shown as closed by the user", kinds)
			}
		}
		var last time.Time
		for _, r := range rows {
			if r.At == "" {
				continue
			}
			at, err := time.ParseInLocation("2006-01-02 15:04:05", r.At, views.Shanghai)
			if err != nil {
				t.Fatalf("step %s time %q: %v", r.Kind, r.At, err)
			}
			if at.Before(last) {
				t.Errorf("step %s at %s is before the one above it", r.Kind, r.At)
			}
			last = at
		}
		byKind := map[string]stepRow{}
		for _, r := range rows {
			if _, seen := byKind[r.Kind]; !seen {
				byKind[r.Kind] = r
			}
		}
		if r := byKind[views.TimelineCreated]; !strings.Contains(r.What, "admin") || r.At == "" {
			t.Errorf("created step %+v: want who (admin) and when", r)
		}
		if r := byKind[views.TimelineAgreed]; !strings.Contains(r.What, openID) || r.At == "" {
			t.Errorf("agreed step %+v: want the openid %s and when", r, openID)
		}
		if r := byKind[views.TimelineNotification]; !strings.Contains(r.What, "PAYSCORE.USER_OPEN_SERVICE") {
			t.Errorf("notification step %+v", r)
		}
		if r := byKind[views.TimelineTerminated]; !strings.Contains(r.What, "admin") || !strings.Contains(r.What, reason) || r.At == "" {
			t.Errorf("terminated step %+v: want who (admin), why and when", r)
		}
		if got := eval[string](t, admin, `document.querySelector('[data-testid="authz-summary"]').dataset.state`); got != views.StateTerminated {
			t.Errorf("summary state = %q, want TERMINATED", got)
		}
		// WeChat Pay's live answer beside it.
		if got := admin.text(t, tid("live")+" "+tid("state-badge")); got != "UNAVAILABLE" {
			t.Errorf("live state = %q, want UNAVAILABLE", got)
		}
		e.shot(t, admin, "ux1-timeline", "")
		admin.clean(t)
	})

	step("SearchAndLists", func(t *testing.T) {
		// By openid (one authorization: its page), by a code that differs
		// only in case (a hint), by the sub-merchant (a list that says
		// terminated by support).
		admin.navigate(t, e.base+"/authorizations")
		admin.fill(t, "#lookup-code", openID)
		admin.do(t, chromedp.Click(chromedp.CSS(tid("lookup-submit")), chromedp.NodeVisible))
		admin.waitFor(t, "the authorization found by openid", `document.querySelector('[data-testid="authz-permalink"]')?.textContent.trim() === `+jsString(code))
		admin.fill(t, "#lookup-code", strings.ToLower(code))
		admin.do(t, chromedp.Click(chromedp.CSS(tid("lookup-submit")), chromedp.NodeVisible))
		admin.waitFor(t, "the did-you-mean hint", `document.querySelector('[data-testid="did-you-mean-code"]')?.textContent.trim() === `+jsString(code))
		admin.fill(t, "#lookup-code", subMchID)
		admin.do(t, chromedp.Click(chromedp.CSS(tid("lookup-submit")), chromedp.NodeVisible))
		admin.waitFor(t, "the sub-merchant's list", `document.querySelector('[data-code=`+jsString(code)+`] [data-testid="authz-row-state"]')?.dataset.state === 'TERMINATED'`)
		e.shot(t, admin, "ux1-search-list", "")
		admin.navigate(t, e.base+"/links?sub_mchid="+subMchID)
		if got := admin.text(t, tid("link-row-state")); got != views.Tr(views.LangZH, "ux1.state.TERMINATED") {
			t.Errorf("links list state = %q, want terminated by support", got)
		}
		admin.clean(t)
	})
}
