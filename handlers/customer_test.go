package handlers

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestLinkPoster: the poster is a PNG at 300 dpi, A6 or A5, whose QR code
// is the landing URL and whose text chunks name the merchant.
func TestLinkPoster(t *testing.T) {
	ts := newTestServer(t)
	m := ts.addSubMerchant(t, "1900000001", "海报测试商户", false)
	l := ts.seedLink(t, m, "POSTER-1", 0)
	op := ts.client(t, store.RoleOperator)
	path := "/links/" + strconv.FormatInt(l.ID, 10) + "/poster.png"
	for _, tt := range []struct {
		name, query string
		width       int
	}{{"OKA6", "", 1240}, {"OKA5", "?size=a5", 1748}} {
		t.Run(tt.name, func(t *testing.T) {
			res := op.get(t, path+tt.query)
			if res.status != http.StatusOK || res.header.Get("Content-Type") != "image/png" {
				t.Fatalf("status %d, Content-Type %q; want 200 image/png", res.status, res.header.Get("Content-Type"))
			}
			img, err := png.Decode(bytes.NewReader([]byte(res.body)))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Dx(); got != tt.width {
				t.Errorf("width = %d, want %d", got, tt.width)
			}
			bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
			qr, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
			if err != nil {
				t.Fatalf("QR: %v", err)
			}
			if got, want := qr.GetText(), ts.URL+"/h5/"+l.Slug; got != want {
				t.Errorf("QR = %q, want %q", got, want)
			}
			text, err := views.PNGText([]byte(res.body))
			if err != nil {
				t.Fatal(err)
			}
			if text["Title"] != "海报测试商户" || text["Description"] != views.PosterCaption || text["Short ID"] != "#"+strconv.FormatInt(l.ID, 10) {
				t.Errorf("text = %v", text)
			}
		})
	}
	t.Run("ErrSize", func(t *testing.T) {
		if got, want := op.get(t, path+"?size=a4").status, http.StatusBadRequest; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
}

// uaAndroidChrome is a phone's browser outside WeChat.
const uaAndroidChrome = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"

// TestLandingAutoRenew: opening an expired link in WeChat renews its token
// on the spot (WeChat Pay sees a second pre-authorization of the same
// code), audited as the system; the page is ready with the new token.
func TestLandingAutoRenew(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "续期测试商户", false)
	op := service.Actor{UserID: ts.users[store.RoleOperator].ID, Username: store.RoleOperator}
	att, err := ts.svc.Links.Create(ctx, op, "1900000001", "")
	if err != nil {
		t.Fatal(err)
	}
	l := att.Link
	phone := ts.anonymous(t)
	ts.clock.Advance(service.TokenLifetime + time.Minute)

	t.Run("OKRenewedOnOpen", func(t *testing.T) {
		res := landingGet(t, phone, "/h5/"+l.Slug, uaWeChat801)
		if res.status != http.StatusOK {
			t.Fatalf("status = %d, want 200", res.status)
		}
		main := res.doc.Find(`[data-testid="landing"]`)
		if got, want := main.AttrOr("data-mode", ""), views.LandingReady; got != want {
			t.Fatalf("mode = %q, want %q", got, want)
		}
		fresh, err := ts.db.LinkByID(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := main.AttrOr("data-token", ""); got == l.Token || got != fresh.Token {
			t.Errorf("token = %q, want the renewed one %q (old %q)", got, fresh.Token, l.Token)
		}
		if !fresh.TokenExpiresAt.After(ts.clock.Now()) || fresh.AuthorizationCode != l.AuthorizationCode {
			t.Errorf("link after opening: expires %v, code %q", fresh.TokenExpiresAt, fresh.AuthorizationCode)
		}
		calls, err := wp.sb.Calls(ctx, l.AuthorizationCode)
		if err != nil {
			t.Fatal(err)
		}
		pre := 0
		for _, c := range calls {
			if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/permissions") {
				pre++
			}
		}
		if pre != 2 {
			t.Errorf("WeChat Pay saw %d pre-authorizations of %s, want 2 (create, renewal)", pre, l.AuthorizationCode)
		}
		a, err := ts.db.AuditLog(ctx, store.AuditFilter{Target: l.AuthorizationCode, Action: "link.renew"})
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 1 || a[0].Username != service.SystemUsername || a[0].Result != "ok" {
			t.Errorf("audit = %+v, want one ok link.renew by system", a)
		}
	})
	t.Run("OKDesktopDoesNotRenew", func(t *testing.T) {
		ts.clock.Advance(2 * service.TokenLifetime)
		before, _ := wp.sb.Calls(ctx, l.AuthorizationCode)
		res := landingGet(t, ts.anonymous(t), "/h5/"+l.Slug, uaDesktop)
		if got := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""); got != views.LandingOutside {
			t.Errorf("mode = %q, want outside", got)
		}
		after, _ := wp.sb.Calls(ctx, l.AuthorizationCode)
		if len(after) != len(before) {
			t.Error("a desktop visit renewed the token: only a visitor who can use it does")
		}
	})
}

// TestLandingStates: every state names the merchant and says what to do
// next; already on is a clean 已开启, a closed authorization a clear end;
// outside WeChat a phone gets a link to copy, a desktop the QR code.
func TestLandingStates(t *testing.T) {
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	ctx := context.Background()
	m := ts.addSubMerchant(t, "1900000001", "状态测试商户", false)
	seeded := func(code, state string) *store.Link {
		l := ts.seedLink(t, m, code, 0)
		if state != "" {
			if _, err := ts.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: m.SubMchID, State: state,
				StateTime: ts.clock.Now().Add(time.Second), Source: "notification"}); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	on, ended, ready := seeded("ST-ON", store.StateAvailable), seeded("ST-END", store.StateUnavailable), seeded("ST-READY", "")
	phone := ts.anonymous(t)
	tests := []struct {
		name, path, ua, mode string
		status               int
		next                 string // the "what next" text, or "" to skip
	}{
		{"OKAlreadyOn", "/h5/" + on.Slug, uaWeChat801, views.LandingDone, http.StatusOK, fmt.Sprintf(views.Tr(views.LangZH, "landing.done.next"), "状态测试商户")},
		{"OKEnded", "/h5/" + ended.Slug, uaWeChat801, views.LandingEnded, http.StatusGone, fmt.Sprintf(views.Tr(views.LangZH, "landing.ended.text"), "状态测试商户", "状态测试商户")},
		{"OKPhoneOutside", "/h5/" + ready.Slug, uaAndroidChrome, views.LandingOutside, http.StatusOK, ""},
		{"OKDesktopOutside", "/h5/" + ready.Slug, uaDesktop, views.LandingOutside, http.StatusOK, ""},
		{"ErrNotFound", "/h5/AAAAAAAAAAAAAAAAAAAAAAAA", uaWeChat801, views.LandingNotFound, http.StatusNotFound, views.Tr(views.LangZH, "landing.notfound.next")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := landingGet(t, phone, tt.path, tt.ua)
			if res.status != tt.status {
				t.Fatalf("status = %d, want %d", res.status, tt.status)
			}
			if got := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""); got != tt.mode {
				t.Fatalf("mode = %q, want %q", got, tt.mode)
			}
			if tt.mode != views.LandingNotFound && !strings.Contains(res.text(`[data-testid="landing"]`), "状态测试商户") {
				t.Error("the page does not name the merchant")
			}
			if tt.next != "" {
				if got := res.text(`[data-testid="landing-next"]`); got != tt.next {
					t.Errorf("next = %q, want %q", got, tt.next)
				}
			}
			if strings.Contains(res.body, views.Tr(views.LangZH, "landing.ready.intro")) {
				t.Error("the intro shows outside the ready state")
			}
			switch tt.name {
			case "OKPhoneOutside":
				if got, want := res.doc.Find(`[data-testid="landing-url"]`).AttrOr("value", ""), ts.URL+tt.path; got != want {
					t.Errorf("link to copy = %q, want %q", got, want)
				}
				if !res.has(`[data-testid="landing-copy"]`) || res.has(`[data-testid="landing-qr"]`) {
					t.Error("a phone outside WeChat gets no copy button, or a QR of its own screen")
				}
			case "OKDesktopOutside":
				if !res.has(`[data-testid="landing-qr"]`) || res.has(`[data-testid="landing-copy"]`) {
					t.Error("a desktop gets no QR code")
				}
			}
		})
	}
	t.Run("OKPausedNamesMerchant", func(t *testing.T) {
		if err := ts.db.SetLandingPause(ctx, true, "审核", "admin"); err != nil {
			t.Fatal(err)
		}
		defer ts.db.SetLandingPause(ctx, false, "", "admin")
		res := landingGet(t, phone, "/h5/"+ready.Slug, uaWeChat801)
		if got, want := res.text(`[data-testid="landing-next"]`), fmt.Sprintf(views.Tr(views.LangZH, "landing.paused.merchant"), "状态测试商户"); got != want {
			t.Errorf("next = %q, want %q", got, want)
		}
	})
	t.Run("OKReadyWaitsTenSeconds", func(t *testing.T) {
		res := landingGet(t, phone, "/h5/"+ready.Slug, uaWeChat801)
		main := res.doc.Find(`[data-testid="landing"]`)
		if got := main.AttrOr("data-wait", ""); got != "10" {
			t.Errorf("data-wait = %q, want 10", got)
		}
		for _, sel := range []string{`[data-testid="landing-reopen"]`, `[data-testid="landing-waiting"]`, `[data-testid="landing-progress"]`, `[data-step="ended"]`} {
			if !res.has(sel) {
				t.Errorf("ready page lacks %s", sel)
			}
		}
		if got := res.text(`[data-testid="landing-reopen"]`); got != "再次开启" {
			t.Errorf("re-open button = %q, want 再次开启", got)
		}
	})
}

// TestLandingFunnel: the server counts opens and the version check, the
// page's beacons (same origin, with the page's CSRF token) count the rest;
// repeats within a minute and bots count once or not at all; the link page
// shows the counts.
func TestLandingFunnel(t *testing.T) {
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	m := ts.addSubMerchant(t, "1900000001", "漏斗测试商户", false)
	l := ts.seedLink(t, m, "FUNNEL-1", 0)
	page := "/h5/" + l.Slug
	phone := ts.anonymous(t)
	res := landingGet(t, phone, page, uaWeChat801)
	landingGet(t, phone, page, uaWeChat801) // the same visitor within a minute
	landingGet(t, ts.anonymous(t), page, "Mozilla/5.0 (compatible; bingbot/2.0)")
	landingGet(t, ts.anonymous(t), page, uaWeChat704)
	token := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-beacon", "")
	if token == "" {
		t.Fatal("the ready page carries no token for its beacons")
	}
	event := page + "/event"
	beacon := func(tc *testClient, form url.Values, tok string) int {
		return tc.postRaw(t, event, form, "X-Beacon-Token", tok, "User-Agent", uaWeChat801).status
	}
	if got, want := beacon(phone, url.Values{"step": {"invoked"}}, token), http.StatusNoContent; got != want {
		t.Errorf("invoked: status %d, want %d", got, want)
	}
	if got, want := beacon(phone, url.Values{"step": {"answer"}, "err_code": {"0"}, "err_msg": {"openBusinessView:ok"}}, token), http.StatusNoContent; got != want {
		t.Errorf("answer: status %d, want %d", got, want)
	}
	if got, want := beacon(phone, url.Values{"step": {"opened"}}, token), http.StatusBadRequest; got != want {
		t.Errorf("a beacon claiming a server step: status %d, want %d", got, want)
	}
	if got, want := beacon(phone, url.Values{"step": {"invoked"}}, "forged"), http.StatusForbidden; got != want {
		t.Errorf("a beacon without the page's token: status %d, want %d", got, want)
	}
	cross := phone.postRaw(t, event, url.Values{"step": {"invoked"}}, "X-Beacon-Token", token, "Sec-Fetch-Site", "cross-site")
	if got, want := cross.status, http.StatusForbidden; got != want {
		t.Errorf("a cross-site beacon: status %d, want %d", got, want)
	}
	op := ts.client(t, store.RoleOperator)
	lp := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10))
	for step, want := range map[string]string{"opened": "2", "check_ok": "1", "check_old": "1", "invoked": "1", "answer_ok": "1", "answer_cancel": "0", "notified": "0"} {
		if got := lp.text(`[data-testid="funnel-` + step + `"]`); got != want {
			t.Errorf("link page funnel %s = %q, want %q", step, got, want)
		}
	}
}

// TestAutoRenewSwitch: operators switch a link's auto-renewal, audited; the
// link page shows it, the time left, and a faded QR code once expired.
func TestAutoRenewSwitch(t *testing.T) {
	ts := newTestServer(t)
	m := ts.addSubMerchant(t, "1900000001", "开关测试商户", false)
	l := ts.seedLink(t, m, "SWITCH-1", 0)
	op := ts.client(t, store.RoleOperator)
	path := "/links/" + strconv.FormatInt(l.ID, 10)
	page := op.get(t, path)
	if got := page.doc.Find(`[data-testid="link-autorenew"]`).AttrOr("data-on", ""); got != "1" {
		t.Errorf("auto-renew = %q, want on by default", got)
	}
	if got, want := page.text(`[data-testid="link-left"]`), "剩余 60 分钟"; got != want {
		t.Errorf("time left = %q, want %q", got, want)
	}
	if page.has(`[data-testid="link-qr-faded"]`) {
		t.Error("a live token's QR is faded")
	}
	// A link whose token expired two hours ago.
	old, err := ts.db.CreateLink(context.Background(), store.Link{Slug: "expiredexpiredexpired1", SubMerchantID: m.ID, AuthorizationCode: "SWITCH-2",
		Token: "tok-old", TokenExpiresAt: ts.clock.Now().Add(-2 * time.Hour), NotifyURL: ts.URL + "/notify/payscore"})
	if err != nil {
		t.Fatal(err)
	}
	path = "/links/" + strconv.FormatInt(old.ID, 10)
	if got, want := op.get(t, path).doc.Find(`[data-testid="link-qr-faded"]`).AttrOr("data-reason", ""), "links.qr.faded.renews"; got != want {
		t.Errorf("faded QR reason = %q, want %q", got, want)
	}
	res := op.post(t, path+"/auto-renew", url.Values{"auto_renew": {"0"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("switch off: status %d, want 303", res.status)
	}
	if got, want := op.post(t, path+"/auto-renew", url.Values{"auto_renew": {"maybe"}}).status, http.StatusBadRequest; got != want {
		t.Errorf("bad value: status %d, want %d", got, want)
	}
	page = op.get(t, path)
	if got := page.doc.Find(`[data-testid="link-autorenew"]`).AttrOr("data-on", ""); got != "0" {
		t.Errorf("auto-renew = %q, want off", got)
	}
	if got, want := page.text(`[data-testid="link-left"]`), "已过期 2 小时"; got != want {
		t.Errorf("time left = %q, want %q", got, want)
	}
	if got, want := page.doc.Find(`[data-testid="link-qr-faded"]`).AttrOr("data-reason", ""), "links.qr.faded.off"; got != want {
		t.Errorf("faded QR reason = %q, want %q", got, want)
	}
	list := op.get(t, "/links")
	if got := list.text(`[data-testid="link-row-` + strconv.FormatInt(old.ID, 10) + `"] [data-testid="link-row-left"]`); got != "已过期 2 小时" {
		t.Errorf("list time left = %q", got)
	}
	a, err := ts.db.AuditLog(context.Background(), store.AuditFilter{Target: "SWITCH-2", Action: "link.auto_renew"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || a[0].Result != "off" || a[0].Username != store.RoleOperator {
		t.Errorf("audit = %+v, want the operator's link.auto_renew off", a)
	}
}

// TestOverviewCharts: the overview's charts and their tables carry the day
// counts of 30 days of seeded history; a sub-merchant's page its own; the
// CSV the same numbers.
func TestOverviewCharts(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "图表商户甲", false)
	m2 := ts.addSubMerchant(t, "1900000002", "图表商户乙", false)
	if err := ts.db.SeedHistory(ctx, []string{"1900000001", "1900000002"}, ts.clock.Now(), 30, 1); err != nil {
		t.Fatal(err)
	}
	now := ts.clock.Now()
	days, err := ts.db.DailyCounts(ctx, store.Day(now.AddDate(0, 0, -29)), store.Day(now), "")
	if err != nil {
		t.Fatal(err)
	}
	byDay := map[string]map[string]int{}
	for _, d := range days {
		byDay[d.Day] = d.Counts
	}
	admin := ts.client(t, store.RoleAdmin)
	res := admin.get(t, "/")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	check := func(res *response, chart, series string, value func(day string) int) {
		t.Helper()
		cells := res.doc.Find(`[data-testid="chart-` + chart + `-table"] tr[data-series="` + series + `"] td`)
		if cells.Length() != service.ChartDays {
			t.Fatalf("%s/%s: %d cells, want %d", chart, series, cells.Length(), service.ChartDays)
		}
		nonzero := 0
		cells.Each(func(_ int, td *goquery.Selection) {
			day := td.AttrOr("data-day", "")
			if got, want := strings.TrimSpace(td.Text()), strconv.Itoa(value(day)); got != want {
				t.Errorf("%s/%s on %s = %s, want %s", chart, series, day, got, want)
			}
			if value(day) > 0 {
				nonzero++
			}
		})
		if nonzero < 20 {
			t.Errorf("%s/%s: %d days with counts, want most of 30", chart, series, nonzero)
		}
	}
	metric := func(m string) func(string) int { return func(day string) int { return byDay[day][m] } }
	check(res, "authorizations", "s-opened", metric(store.MetricOpened))
	check(res, "notifications", "s-received", func(day string) int { return byDay[day][store.MetricOpened] + byDay[day][store.MetricClosed] })
	check(res, "notifications", "s-refused", metric(store.MetricRefused))
	check(res, "funnel", "s-created", metric(store.MetricLinksCreated))
	check(res, "funnel", "s-fopened", metric(store.FunnelMetric(store.FunnelOpened)))
	if !res.has(`[data-testid="chart-terminations"] svg rect.bar`) || !res.has(`[data-testid="chart-authorizations"] svg rect.s-closed`) {
		t.Error("charts without bars")
	}
	if got := res.doc.Find(`[data-testid="funnel-submerchants"] tbody tr`).Length(); got != 2 {
		t.Errorf("funnel rows per sub-merchant = %d, want 2", got)
	}
	// One sub-merchant's page: its own counts, no refusals (they belong to none).
	sp := admin.get(t, "/sub-merchants/"+strconv.FormatInt(m2.ID, 10))
	if sp.status != http.StatusOK {
		t.Fatalf("sub-merchant page: status %d", sp.status)
	}
	one, err := ts.db.DailyCounts(ctx, store.Day(now.AddDate(0, 0, -29)), store.Day(now), "1900000002")
	if err != nil {
		t.Fatal(err)
	}
	oneByDay := map[string]map[string]int{}
	for _, d := range one {
		oneByDay[d.Day] = d.Counts
	}
	check(sp, "authorizations", "s-opened", func(day string) int { return oneByDay[day][store.MetricOpened] })
	if sp.has(`tr[data-series="s-refused"]`) {
		t.Error("a sub-merchant's page charts refusals")
	}
	// The CSV: a header and 30 days.
	csvRes := admin.get(t, "/stats.csv?sub_mchid=1900000002")
	records := csvRecords(t, csvRes)
	if len(records) != service.ChartDays+1 || records[0][0] != "day" {
		t.Fatalf("CSV: %d records, header %v", len(records), records[0])
	}
	if got := admin.get(t, "/stats.csv?sub_mchid=42").status; got != http.StatusNotFound {
		t.Errorf("CSV of an unknown sub-merchant: status %d, want 404", got)
	}
}

// TestLandingEndedReplaced: a closed authorization whose link was replaced
// (a new code, one code one user) shows the end and the way to the new page.
func TestLandingEndedReplaced(t *testing.T) {
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "替换测试商户", false)
	op := service.Actor{UserID: ts.users[store.RoleOperator].ID, Username: store.RoleOperator}
	att, err := ts.svc.Links.Create(ctx, op, "1900000001", "ENDED-1")
	if err != nil {
		t.Fatal(err)
	}
	now := ts.clock.Now()
	for _, st := range []string{store.StateAvailable, store.StateUnavailable} {
		now = now.Add(time.Minute)
		if _, err := ts.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "ENDED-1", SubMchID: "1900000001", State: st,
			StateTime: now, SuccessTime: &now, Source: "notification"}); err != nil {
			t.Fatal(err)
		}
	}
	page := "/h5/" + att.Link.Slug
	phone := ts.anonymous(t)
	res := landingGet(t, phone, page, uaWeChat801)
	if res.status != http.StatusGone || res.has(`[data-testid="landing-replacement"]`) {
		t.Fatalf("ended, not replaced: status %d, replacement button %v; want 410 without", res.status, res.has(`[data-testid="landing-replacement"]`))
	}
	r, err := ts.svc.Links.Renew(ctx, op, att.Link.ID)
	if err != nil || r.New == nil {
		t.Fatalf("renew: %v, new %v", err, r.New)
	}
	res = landingGet(t, phone, page, uaWeChat801)
	if got, want := res.doc.Find(`[data-testid="landing-replacement"]`).AttrOr("href", ""), "/h5/"+r.New.Slug; got != want {
		t.Errorf("replacement = %q, want %q", got, want)
	}
	if got := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""); got != views.LandingEnded {
		t.Errorf("mode = %q, want ended", got)
	}
}
