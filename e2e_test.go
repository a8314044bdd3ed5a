package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/payscore-console/payscore-console/store/storetest"
	"github.com/payscore-console/payscore-console/views"
)

// TestE2EJourney drives the real console (sandbox mode, a real SQLite
// file, loopback) in a real Chromium, as its people use it: the admin signs
// in, registers a sub-merchant, creates a link; the QR code decodes to the
// landing URL; a phone in WeChat 8 opens it, the sandbox JS-SDK verifies
// wx.config and opens the consent page, the user agrees and comes back; the
// landing page sees it on, the callback log shows the notification without
// a reload; the look-up shows AVAILABLE with the openid, a viewer sees no
// terminate action, the admin terminates with a Chinese reason, the audit
// log says who, when and why. Then: an old WeChat gets the upgrade prompt
// and no invoke, a desktop browser gets "open in WeChat" with a QR code, the
// emergency switch pauses and restores the landing page, the admin sets up
// two-factor (QR code, a code computed in the test, recovery codes) and signs
// in again through the second step, and the English switch works. Every
// screen is saved as a PNG under test-artifacts/e2e; with
// E2E_SCREENSHOTS=docs/screenshots the README's screenshots are written
// too. Any JavaScript exception, console error or CSP violation fails it.
func TestE2EJourney(t *testing.T) { e2eJourney(t, startE2E(t)) }

// TestE2EJourneyPostgres: the same journey with the console on PostgreSQL
// (a database created for it on PAYSCORE_TEST_POSTGRES_URL's server;
// skipped without it unless CI is set).
func TestE2EJourneyPostgres(t *testing.T) {
	url := storetest.NewDatabase(t)
	e2eJourney(t, startE2EOn(t, url))
}

func e2eJourney(t *testing.T, e *e2e) {
	admin := e.newTab(t, "admin", false, desktop())
	start := time.Now()
	t.Cleanup(func() { t.Logf("browser journey took %s", time.Since(start).Round(100*time.Millisecond)) })

	const (
		subMchID = "1900000901"
		subName  = "端到端测试门店"
		reason   = "用户申请解除，端到端测试"
	)
	var (
		code, landingURL, linkPath, openID string
		callbacks                          *tab
		phoneTab                           *tab
	)

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			e.failureShots(t, name)
			t.FailNow() // each step builds on the one before
		}
	}

	step("SignIn", func(t *testing.T) {
		if st := admin.navigate(t, e.base+"/"); st != http.StatusOK {
			t.Fatalf("GET / (redirected to sign-in) = %d", st)
		}
		admin.waitFor(t, "the sign-in form", `location.pathname === '/login' && !!document.querySelector('[data-testid="login-form"]')`)
		e.shot(t, admin, "sign-in", "sign-in")
		admin.fill(t, "#username", "admin")
		admin.fill(t, "#password", e2eAdminPass)
		if st := admin.submit(t, tid("login-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("sign-in landed on status %d", st)
		}
		if got := admin.text(t, tid("me")); !strings.HasPrefix(got, "admin") {
			t.Fatalf("signed-in user = %q, want admin", got)
		}
		if got := admin.text(t, tid("sandbox-banner")); got == "" {
			t.Error("no sandbox banner")
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("emergency-switch"))))
		e.shot(t, admin, "overview", "overview")
		admin.clean(t)
	})

	step("RegisterSubMerchant", func(t *testing.T) {
		admin.navigate(t, e.base+"/sub-merchants")
		admin.fill(t, "#sm-sub_mchid", subMchID)
		admin.fill(t, "#sm-name", subName)
		if st := admin.submit(t, tid("submerchant-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after registering: status %d", st)
		}
		row := tid("submerchant-" + subMchID)
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(row)))
		if got := get(t, admin, chromedp.Value(chromedp.CSS(row+` input[name="name"]`))); got != subName {
			t.Errorf("registered name = %q, want %q", got, subName)
		}
		if admin.count(t, tid("flash")) == 0 {
			t.Error("no flash after registering")
		}
		e.shot(t, admin, "sub-merchants", "sub-merchants")
		admin.clean(t)
	})

	step("CreateLink", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		e.shot(t, admin, "link-new", "")
		if st := admin.submit(t, tid("link-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after creating the link: status %d", st)
		}
		linkPath = eval[string](t, admin, `location.pathname`)
		if !regexp.MustCompile(`^/links/\d+$`).MatchString(linkPath) {
			t.Fatalf("created link redirected to %q, want /links/{id}", linkPath)
		}
		code = admin.text(t, tid("link-code"))
		landingURL = get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		if code == "" || !strings.HasPrefix(landingURL, e.base+"/h5/") {
			t.Fatalf("link page: code %q, landing URL %q", code, landingURL)
		}
		if got := get(t, admin, chromedp.AttributeValue(chromedp.CSS(tid("link-state-badge")), "data-state")); got.Value != "UNBINDUSER" {
			t.Errorf("new link state = %q, want UNBINDUSER", got.Value)
		}
		e.shot(t, admin, "link", "link-qr")
		admin.clean(t)
	})

	step("QRDecodesToLandingURL", func(t *testing.T) {
		png := admin.fetchBytes(t, linkPath+"/qr.png")
		if got := decodeQRPNG(t, png); got != landingURL {
			t.Fatalf("QR decodes to %q, want the landing URL %q", got, landingURL)
		}
		// The image on the page is that very PNG.
		if got := get(t, admin, chromedp.AttributeValue(chromedp.CSS(tid("link-qr")), "src")); got.Value != linkPath+"/qr.png" {
			t.Errorf("QR <img> src = %q", got.Value)
		}
	})

	step("CallbackLogOpen", func(t *testing.T) {
		// A second desktop tab of the admin's, on the callback log, opened
		// before the user agrees and never reloaded.
		callbacks = e.newTab(t, "callbacks", false, desktop())
		callbacks.navigate(t, e.base+"/callbacks")
		callbacks.do(t, chromedp.WaitVisible(chromedp.CSS(tid("callback-poller"))))
		if n := callbacks.count(t, callbackRowSel(code)); n != 0 {
			t.Fatalf("callback rows for %s before the user agreed: %d", code, n)
		}
		eval[bool](t, callbacks, `window.__e2eNotReloaded = true`)
		callbacks.clean(t)
	})

	step("PhoneOpensLanding", func(t *testing.T) {
		phoneTab = e.newTab(t, "phone", true, phone(uaWeChat8))
		if st := phoneTab.navigate(t, landingURL); st != http.StatusOK {
			t.Fatalf("landing page status %d", st)
		}
		if got := get(t, phoneTab, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-mode")); got.Value != views.LandingReady {
			t.Fatalf("landing mode = %q, want ready", got.Value)
		}
		// wx.config → the sandbox verified the signature (no red banner) →
		// checkJsApi → invoke('openBusinessView') → the consent page in a
		// full-screen frame.
		phoneTab.waitFor(t, "the consent frame", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		if n := phoneTab.count(t, tid("wx-sandbox-banner")); n != 0 {
			t.Fatalf("JS-SDK sandbox banner shown: %s", eval[string](t, phoneTab, `document.querySelector('[data-testid="wx-sandbox-banner"]').textContent`))
		}
		if got := eval[string](t, phoneTab, `document.getElementById('landing').dataset.step`); got != "opening" {
			t.Errorf("landing step = %q, want opening", got)
		}
		if len(phoneTab.requested("/sandbox/jssdk/verify")) != 1 {
			t.Errorf("wx.config verifications: %v", phoneTab.requested("/sandbox/jssdk/verify"))
		}
		phoneTab.clean(t)
	})

	step("ConsentAgree", func(t *testing.T) {
		frameWaitFor(t, phoneTab, "the consent form", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		if got := frameEval[string](t, phoneTab, `d.querySelector('[data-testid="sub-mchid"]').textContent.trim()`); got != subMchID {
			t.Errorf("consent page sub_mchid = %q, want %q", got, subMchID)
		}
		e.shot(t, phoneTab, "consent", "consent")
		frameTap(t, phoneTab, tid("agree"))
		frameWaitFor(t, phoneTab, "the agreed page", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'agreed'`)
		e.shot(t, phoneTab, "consent-agreed", "")
		frameTap(t, phoneTab, tid("return"))
		phoneTab.waitFor(t, "the frame to close", `!document.querySelector('[data-testid="wx-sandbox-overlay"]')`)
		phoneTab.clean(t)
	})

	step("LandingShowsEnabled", func(t *testing.T) {
		// The invoke callback cannot tell; the page polls until the
		// notification made the authorization AVAILABLE.
		phoneTab.waitFor(t, "the landing page to say it is on", `document.getElementById('landing').dataset.step === 'done'`)
		if got := phoneTab.text(t, `p.step[data-step="done"]`); got != views.Tr(views.LangZH, "landing.done.title") {
			t.Errorf("landing done text = %q", got)
		}
		e.shot(t, phoneTab, "landing-done", "landing-phone")
		phoneTab.clean(t)
	})

	step("CallbackLogShowsItLive", func(t *testing.T) {
		callbacks.waitFor(t, "the new callback row", `document.querySelectorAll(`+jsString(callbackRowSel(code))+`).length === 1`)
		if !eval[bool](t, callbacks, `window.__e2eNotReloaded === true`) {
			t.Fatal("the callback log was reloaded; the row must arrive by polling")
		}
		row := callbackRowSel(code)
		if got := get(t, callbacks, chromedp.AttributeValue(chromedp.CSS(row+" "+tid("event-badge")), "title")); got.Value != "PAYSCORE.USER_OPEN_SERVICE" {
			t.Errorf("event = %q, want PAYSCORE.USER_OPEN_SERVICE", got.Value)
		}
		if got := callbacks.text(t, row+" "+tid("callback-sub-mchid")); got != subMchID {
			t.Errorf("callback sub_mchid = %q", got)
		}
		openID = callbacks.text(t, row+" "+tid("callback-openid"))
		if openID == "" {
			t.Fatal("callback row has no openid")
		}
		e.shot(t, callbacks, "callbacks", "callbacks")
		callbacks.clean(t)
	})

	step("CallbackDetail", func(t *testing.T) {
		if st := callbacks.submit(t, callbackRowSel(code)+" "+tid("callback-link")); st != http.StatusOK {
			t.Fatalf("callback detail status %d", st)
		}
		if got := callbacks.text(t, tid("notification-id")); got == "" {
			t.Error("no notification id")
		}
		if got := callbacks.text(t, tid("payload")); !strings.Contains(got, code) || !strings.Contains(got, openID) {
			t.Errorf("payload lacks the code or the openid:\n%s", got)
		}
		if n := callbacks.count(t, tid("delivery-row")); n < 1 {
			t.Error("no delivery rows")
		}
		e.shot(t, callbacks, "callback-detail", "callback-detail")
		callbacks.clean(t)
	})

	step("LookupAvailable", func(t *testing.T) {
		admin.navigate(t, e.base+views.LookupURL(code))
		if got := admin.text(t, tid("state-badge")); got != "AVAILABLE" {
			t.Fatalf("look-up state = %q, want AVAILABLE", got)
		}
		if got := admin.text(t, tid("field-openid")); got != openID {
			t.Errorf("look-up openid = %q, want %q (the notification's)", got, openID)
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("terminate-form"))))
		e.shot(t, admin, "lookup-available", "lookup-available")
		admin.clean(t)
	})

	step("ViewerSeesNoTerminate", func(t *testing.T) {
		admin.navigate(t, e.base+"/users")
		admin.fill(t, "#new-username", "viewer1")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#new-role"), "viewer"))
		admin.fill(t, "#new-password", "viewer-password-1")
		if st := admin.submit(t, tid("user-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after creating the viewer: status %d", st)
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("user-viewer1"))))
		e.shot(t, admin, "users", "")
		admin.clean(t)

		viewer := e.newTab(t, "viewer", true, desktop())
		viewer.navigate(t, e.base+"/login")
		viewer.fill(t, "#username", "viewer1")
		viewer.fill(t, "#password", "viewer-password-1")
		viewer.submit(t, tid("login-form")+` button[type="submit"]`)
		if got := viewer.text(t, tid("me")); !strings.HasPrefix(got, "viewer1") {
			t.Fatalf("viewer signed in as %q", got)
		}
		viewer.navigate(t, e.base+views.LookupURL(code))
		if got := viewer.text(t, tid("state-badge")); got != "AVAILABLE" {
			t.Fatalf("viewer's look-up state = %q, want AVAILABLE", got)
		}
		if n := viewer.count(t, tid("terminate-form")+", "+tid("terminate-submit")+`, form[action$="/terminate"]`); n != 0 {
			t.Errorf("viewer sees %d terminate controls, want none", n)
		}
		if n := viewer.count(t, tid("emergency-switch")); n != 0 {
			t.Error("viewer sees the emergency switch")
		}
		e.shot(t, viewer, "lookup-viewer", "")
		viewer.clean(t)
	})

	step("Terminate", func(t *testing.T) {
		admin.navigate(t, e.base+views.LookupURL(code))
		admin.fill(t, "#terminate-reason", reason)
		if st := admin.submit(t, tid("terminate-submit")); st != http.StatusOK {
			t.Fatalf("confirm step status %d", st)
		}
		if got := admin.text(t, tid("confirm-reason")); got != reason {
			t.Errorf("confirm page reason = %q, want %q", got, reason)
		}
		e.shot(t, admin, "terminate-confirm", "terminate-confirm")
		if st := admin.submit(t, tid("confirm-submit")); st != http.StatusOK {
			t.Fatalf("after terminating: status %d", st)
		}
		if got := eval[string](t, admin, `location.pathname`); got != "/authorizations" {
			t.Errorf("after terminating: at %s, want the look-up", got)
		}
		if got := admin.text(t, tid("state-badge")); got != "UNAVAILABLE" {
			t.Errorf("state after terminating = %q, want UNAVAILABLE", got)
		}
		if got := admin.text(t, tid("history-terminations")+" "+tid("termination-row")); !strings.Contains(got, reason) {
			t.Errorf("history termination row %q lacks the reason", got)
		}
		e.shot(t, admin, "lookup-unavailable", "")
		admin.clean(t)
	})

	step("AuditLog", func(t *testing.T) {
		admin.navigate(t, e.base+"/audit")
		type auditRow struct{ At, User, Action, Target, Reason, Result string }
		rows := eval[[]auditRow](t, admin, `[...document.querySelectorAll('[data-testid="audit-row"]')].map(r => ({
			At: r.cells[0].textContent.trim(),
			User: r.querySelector('[data-testid="audit-user"]').textContent.trim(),
			Action: r.querySelector('[data-testid="audit-action"]').textContent.trim(),
			Target: r.querySelector('[data-testid="audit-target"]').textContent.trim(),
			Reason: r.querySelector('[data-testid="audit-reason"]').textContent.trim(),
			Result: r.querySelector('[data-testid="audit-result"]').textContent.trim(),
		}))`)
		var found bool
		when := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)
		for _, r := range rows {
			if !strings.HasPrefix(r.Action, "terminate.") || !strings.Contains(r.Target, code) {
				continue
			}
			found = true
			if r.User != "admin" || r.Reason != reason || !when.MatchString(r.At) {
				t.Errorf("audit row %+v: want user admin, reason %q and a time", r, reason)
			}
		}
		if !found {
			t.Fatalf("no terminate audit row for %s among %d rows: %+v", code, len(rows), rows)
		}
		e.shot(t, admin, "audit", "audit")
		admin.clean(t)
	})

	// A second link for the landing page's other branches: it is not
	// agreed to, so its page would open the consent page in WeChat 8.
	var landing2 string
	step("SecondLink", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		admin.submit(t, tid("link-form")+` button[type="submit"]`)
		landing2 = get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		if !strings.HasPrefix(landing2, e.base+"/h5/") || landing2 == landingURL {
			t.Fatalf("second landing URL %q", landing2)
		}
		admin.clean(t)
	})

	step("OldWeChatGetsUpgradePrompt", func(t *testing.T) {
		old := e.newTab(t, "wechat-7.0.4", true, phone(uaWeChat704))
		if st := old.navigate(t, landing2); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		if got := get(t, old, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-mode")); got.Value != views.LandingUpgrade {
			t.Fatalf("landing mode = %q, want upgrade", got.Value)
		}
		old.do(t, chromedp.WaitVisible(chromedp.CSS(tid("landing-upgrade"))))
		if got := old.text(t, "h1"); got != views.Tr(views.LangZH, "landing.upgrade.title") {
			t.Errorf("title = %q", got)
		}
		// No invoke can happen: the page has no script at all, the JS-SDK
		// was never requested, wx does not exist, no consent frame.
		if n := old.count(t, "script"); n != 0 {
			t.Errorf("upgrade page has %d scripts", n)
		}
		if eval[bool](t, old, `typeof window.wx !== 'undefined' || !!document.querySelector('iframe, [data-testid="wx-sandbox-overlay"]')`) {
			t.Error("the JS-SDK or the consent frame is on the upgrade page")
		}
		for _, p := range []string{"jweixin", "/sandbox/jssdk/verify", "/sandbox/payscore"} {
			if r := old.requested(p); len(r) != 0 {
				t.Errorf("upgrade page requested %v", r)
			}
		}
		e.shot(t, old, "landing-upgrade", "landing-upgrade")
		old.clean(t)
	})

	var outside *tab
	step("DesktopGetsOpenInWeChat", func(t *testing.T) {
		outside = e.newTab(t, "desktop-visitor", true, desktop())
		if st := outside.navigate(t, landing2); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		if got := get(t, outside, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-mode")); got.Value != views.LandingOutside {
			t.Fatalf("landing mode = %q, want outside", got.Value)
		}
		if got := outside.text(t, "h1"); got != views.Tr(views.LangZH, "landing.outside.title") {
			t.Errorf("title = %q", got)
		}
		src := get(t, outside, chromedp.AttributeValue(chromedp.CSS(tid("landing-qr")), "src"))
		if got := decodeQRPNG(t, outside.fetchBytes(t, src.Value)); got != landing2 {
			t.Errorf("the page's QR decodes to %q, want %q", got, landing2)
		}
		if n := outside.count(t, "script"); n != 0 {
			t.Errorf("outside page has %d scripts", n)
		}
		e.shot(t, outside, "landing-outside", "")
		outside.clean(t)
	})

	step("EmergencySwitch", func(t *testing.T) {
		admin.navigate(t, e.base+"/")
		admin.fill(t, "#emergency-reason", "验收演练：暂停支付分入口")
		admin.submit(t, tid("emergency-form")+` button[type="submit"]`)
		// Issue 13: the confirm step (the same POST with confirm=1).
		admin.submit(t, tid("confirm-submit"))
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("emergency-state")+`[data-paused="1"]`)))
		e.shot(t, admin, "overview-paused", "")

		outside.expect("/h5/") // the paused page answers 503 on purpose
		if st := outside.navigate(t, landing2); st != http.StatusServiceUnavailable {
			t.Errorf("paused landing status %d, want 503", st)
		}
		if got := get(t, outside, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-mode")); got.Value != views.LandingPaused {
			t.Fatalf("landing mode = %q, want paused", got.Value)
		}
		if got := outside.text(t, "h1"); got != views.Tr(views.LangZH, "landing.paused.title") {
			t.Errorf("title = %q", got)
		}
		e.shot(t, outside, "landing-paused", "")

		admin.navigate(t, e.base+"/")
		admin.fill(t, "#emergency-reason", "演练结束")
		admin.submit(t, tid("emergency-form")+` button[type="submit"]`)
		admin.submit(t, tid("confirm-submit"))
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("emergency-state")+`[data-paused="0"]`)))
		if st := outside.navigate(t, landing2); st != http.StatusOK {
			t.Errorf("resumed landing status %d, want 200", st)
		}
		if got := get(t, outside, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-mode")); got.Value != views.LandingOutside {
			t.Errorf("landing mode after resuming = %q, want outside", got.Value)
		}
		admin.clean(t)
		outside.clean(t)
	})

	step("TwoFactor", func(t *testing.T) {
		// Enrolment on /account: the URI as text and as a QR code, a code
		// computed here from the secret, the recovery codes shown once.
		admin.navigate(t, e.base+"/account")
		if st := admin.submit(t, tid("mfa-start")); st != http.StatusOK {
			t.Fatalf("after starting enrolment: status %d", st)
		}
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("mfa-qr"))))
		uri, secret := admin.text(t, tid("mfa-uri")), admin.text(t, tid("mfa-secret"))
		if !strings.HasPrefix(uri, "otpauth://totp/payscore-console:admin?") {
			t.Fatalf("URI = %q", uri)
		}
		src := get(t, admin, chromedp.AttributeValue(chromedp.CSS(tid("mfa-qr")), "src"))
		png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src.Value, "data:image/png;base64,"))
		if err != nil {
			t.Fatalf("QR src: %v", err)
		}
		if got := decodeQRPNG(t, png); got != uri {
			t.Errorf("QR decodes to %q, want the URI %q", got, uri)
		}
		e.shot(t, admin, "mfa-enrol", "mfa-enrol")
		code, err := totp.GenerateCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		admin.fill(t, "#mfa-code", code)
		if st := admin.submit(t, tid("mfa-confirm")); st != http.StatusOK {
			t.Fatalf("after confirming: status %d", st)
		}
		if n := admin.count(t, tid("recovery-code")); n != 10 {
			t.Errorf("%d recovery codes shown, want 10", n)
		}
		e.shot(t, admin, "mfa-recovery", "")

		// Sign out, sign in again: the password, then the second step.
		admin.submit(t, tid("logout"))
		admin.waitFor(t, "the sign-in form", `location.pathname === '/login' && !!document.querySelector('[data-testid="login-form"]')`)
		admin.fill(t, "#username", "admin")
		admin.fill(t, "#password", e2eAdminPass)
		if st := admin.submit(t, tid("login-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("password step landed on status %d", st)
		}
		if got := eval[string](t, admin, `location.pathname`); got != "/login/code" {
			t.Fatalf("after the password: at %s, want /login/code", got)
		}
		if admin.count(t, tid("me")) != 0 {
			t.Fatal("signed in after the password alone")
		}
		e.shot(t, admin, "mfa-code", "mfa-code")
		// The enrolment spent this step's code: the next step's is within
		// the accepted drift.
		code, err = totp.GenerateCode(secret, time.Now().Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		admin.fill(t, "#code", code)
		if st := admin.submit(t, tid("login-code-submit")); st != http.StatusOK {
			t.Fatalf("second step landed on status %d", st)
		}
		if got := admin.text(t, tid("me")); !strings.HasPrefix(got, "admin") {
			t.Fatalf("signed-in user = %q, want admin", got)
		}
		admin.clean(t)
	})

	step("EnglishSwitch", func(t *testing.T) {
		admin.navigate(t, e.base+"/")
		check := func(lang, htmlLang string) {
			t.Helper()
			if got := eval[string](t, admin, `document.documentElement.lang`); got != htmlLang {
				t.Errorf("html lang = %q, want %q", got, htmlLang)
			}
			if got := admin.text(t, "main h1"); got != views.Tr(lang, "overview.title") {
				t.Errorf("title = %q, want %q", got, views.Tr(lang, "overview.title"))
			}
			if got := admin.text(t, tid("lang-switch")); got != views.Tr(lang, "lang.switch") {
				t.Errorf("switch = %q", got)
			}
		}
		check(views.LangZH, "zh-CN")
		admin.submit(t, tid("lang-switch"))
		if got := eval[string](t, admin, `location.pathname`); got != "/" {
			t.Errorf("after switching: at %s, want /", got)
		}
		check(views.LangEN, "en")
		e.shot(t, admin, "overview-en", "")
		admin.submit(t, tid("lang-switch"))
		check(views.LangZH, "zh-CN")
		admin.clean(t)
	})

	// Issue 9 item 2: the first terminate attempt ends the authorization
	// but its answer comes after the client's 5 s attempt time-out; the
	// client's retry gets INVALID_ORDER_STATE. A query settles it: the
	// record and the screen say it succeeded.
	step("TerminateAnswerLate", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		if st := admin.submit(t, tid("link-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after creating the link: status %d", st)
		}
		code3 := admin.text(t, tid("link-code"))
		landing3 := get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		ph := e.newTab(t, "phone-late", true, phone(uaWeChat8))
		if st := ph.navigate(t, landing3); st != http.StatusOK {
			t.Fatalf("landing page status %d", st)
		}
		ph.waitFor(t, "the consent frame", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		frameWaitFor(t, ph, "the consent form", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		frameTap(t, ph, tid("agree"))
		frameWaitFor(t, ph, "the agreed page", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'agreed'`)
		frameTap(t, ph, tid("return"))
		ph.waitFor(t, "the landing page to say it is on", `document.getElementById('landing').dataset.step === 'done'`)
		ph.clean(t)

		// The confirm step calls nothing; the look-up before it queries.
		admin.navigate(t, e.base+views.LookupURL(code3))
		if got := admin.text(t, tid("state-badge")); got != "AVAILABLE" {
			t.Fatalf("look-up state = %q, want AVAILABLE", got)
		}
		admin.fill(t, "#terminate-reason", reason)
		if st := admin.submit(t, tid("terminate-submit")); st != http.StatusOK {
			t.Fatalf("confirm step status %d", st)
		}

		// The sandbox's control page (another tab of the admin's): the next
		// API call answers late, 6 s.
		callbacks.navigate(t, e.base+"/sandbox")
		callbacks.do(t,
			chromedp.SetValue(chromedp.CSS(tid("faults")+` select[name="kind"]`), "late", chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS(tid("faults")+` input[name="seconds"]`), "6"),
			chromedp.SetValue(chromedp.CSS(tid("faults")+` input[name="n"]`), "1"))
		callbacks.submit(t, tid("faults")+` button[type="submit"]`)
		if got := callbacks.text(t, tid("pending-faults")); !strings.Contains(got, "late answer") {
			t.Fatalf("queued faults = %q, want the late answer", got)
		}
		callbacks.clean(t)

		start := time.Now()
		if st := admin.submit(t, tid("confirm-submit")); st != http.StatusOK {
			t.Fatalf("after terminating: status %d", st)
		}
		if d := time.Since(start); d < 5*time.Second {
			t.Errorf("terminated in %v: the late answer was not waited for", d)
		}
		if got := eval[string](t, admin, `location.pathname`); got != "/authorizations" {
			t.Errorf("after terminating: at %s, want the look-up", got)
		}
		confirmed := views.Tr(views.LangZH, "support.terminate.done.confirmed")
		if got := admin.text(t, tid("flash")); !strings.HasPrefix(got, confirmed[:strings.Index(confirmed, "%s")]) || !strings.Contains(got, code3) {
			t.Errorf("flash = %q, want it to say a query confirmed the termination", got)
		}
		if got := admin.text(t, tid("termination-status")); got != "成功" {
			t.Errorf("termination status = %q, want 成功", got)
		}
		if got := admin.text(t, tid("state-badge")); got != "UNAVAILABLE" {
			t.Errorf("state = %q, want UNAVAILABLE", got)
		}
		e.shot(t, admin, "terminate-answer-late", "")
		admin.clean(t)
	})
}

// callbackRowSel selects the callback log's rows of an authorization code.
func callbackRowSel(code string) string {
	return fmt.Sprintf(`tr[data-testid="callback-row"]:has([data-testid="callback-code"][href$="authorization_code=%s"])`, code)
}
