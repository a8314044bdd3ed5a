package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// User-Agents of the landing page's branches.
const (
	uaWeChat801  = "Mozilla/5.0 (Linux; Android 10; V1916A Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.62 XWEB/2691 MMWEBSDK/200801 Mobile Safari/537.36 MMWEBID/1234 MicroMessenger/8.0.1.1841(0x28000151) Process/tools WeChat/arm64 NetType/WIFI Language/zh_CN ABI/arm64"
	uaWeChat7010 = "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/7.0.10(0x17000a21) NetType/WIFI Language/zh_CN"
	uaWeChat704  = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/7.0.4(0x17000428) NetType/WIFI Language/zh_CN"
	uaDesktop    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)

// fakeJSSDK signs nothing and records the URLs it was asked to sign.
type fakeJSSDK struct {
	mu   sync.Mutex
	urls []string
	err  error
}

func (f *fakeJSSDK) Config(_ context.Context, u string) (payscore.JSConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urls = append(f.urls, u)
	if f.err != nil {
		return payscore.JSConfig{}, f.err
	}
	return payscore.JSConfig{AppID: "wxfake", Timestamp: 1700000000, NonceStr: "nonce", Signature: "sig"}, nil
}

func (f *fakeJSSDK) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.urls...)
}

const realJSSDK = "https://res.wx.qq.com/open/js/jweixin-1.5.0.js"

// withFakeWeChat points the handlers at fakes, with the real JS-SDK URL.
func withFakeWeChat(p *fakePayScore, j *fakeJSSDK) serverOption {
	return withDeps(func(d *testWiring) { d.PayScore, d.JSSDK, d.JSSDKURL, d.CodePrefix = p, j, realJSSDK, "T" })
}

// landingGet loads a landing URL as a phone with that User-Agent.
func landingGet(t *testing.T, tc *testClient, path, ua string) *response {
	t.Helper()
	return tc.get(t, path, "User-Agent", ua)
}

// checkLandingHeaders: the landing page's own CSP, and no caching.
func checkLandingHeaders(t *testing.T, res *response, sdkOrigin string) {
	t.Helper()
	csp := res.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self' " + sdkOrigin + ";", "connect-src 'self'", "frame-src 'self'",
		"img-src 'self' data:", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows unsafe script", csp)
	}
	if got, want := res.header.Get("Cache-Control"), "no-store"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	res.doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Text()) != "" {
			t.Errorf("inline script: %q", s.Text())
		}
	})
}

// TestLandingSandbox: the landing page's branches over the sandbox, whose
// JS-SDK shim and /jssdk/verify behave as WeChat's.
func TestLandingSandbox(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := service.Actor{UserID: ts.users[store.RoleOperator].ID, Username: store.RoleOperator}
	att, err := ts.svc.Links.Create(ctx, op, "1900000001", "")
	if err != nil {
		t.Fatal(err)
	}
	l := att.Link
	att, err = ts.svc.Links.Create(ctx, op, "1900000001", "")
	if err != nil {
		t.Fatal(err)
	}
	stale := att.Link
	phone := ts.anonymous(t)
	page := "/h5/" + l.Slug
	origin := ts.URL // the sandbox's shim is served by the console itself

	tests := []struct {
		name       string
		path       string
		ua         string
		wantStatus int
		wantMode   string
	}{
		{"OKWeChat801", page + "?from=singlemessage&isappinstalled=0", uaWeChat801, http.StatusOK, views.LandingReady},
		{"OKWeChat7010", page, uaWeChat7010, http.StatusOK, views.LandingReady},
		{"OKUpgrade704", page, uaWeChat704, http.StatusOK, views.LandingUpgrade},
		{"OKOutsideWeChat", page, uaDesktop, http.StatusOK, views.LandingOutside},
		{"ErrUnknownSlug", "/h5/AAAAAAAAAAAAAAAAAAAAAAAA", uaWeChat801, http.StatusNotFound, views.LandingNotFound},
		{"ErrMalformedSlug", "/h5/x", uaWeChat801, http.StatusNotFound, views.LandingNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := landingGet(t, phone, tt.path, tt.ua)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			checkLandingHeaders(t, res, origin)
			main := res.doc.Find(`[data-testid="landing"]`)
			if got, want := main.AttrOr("data-mode", ""), tt.wantMode; got != want {
				t.Fatalf("mode = %q, want %q", got, want)
			}
			_, hasConfig := main.Attr("data-signature")
			if got, want := hasConfig, tt.wantMode == views.LandingReady; got != want {
				t.Errorf("wx.config data = %v, want %v", got, want)
			}
			switch tt.wantMode {
			case views.LandingReady:
				// Only the JS-SDK and landing.js; the signature verifies for
				// this exact URL, query included, at WeChat (the sandbox).
				var srcs []string
				res.doc.Find("script").Each(func(_ int, s *goquery.Selection) { srcs = append(srcs, s.AttrOr("src", "")) })
				if len(srcs) != 2 || srcs[0] != ts.URL+"/sandbox/jweixin.js" || !strings.HasPrefix(srcs[1], "/static/landing.js?v=") {
					t.Errorf("scripts = %q, want the JS-SDK then landing.js", srcs)
				}
				if got, want := main.AttrOr("data-token", ""), l.Token; got != want {
					t.Errorf("token = %q, want %q", got, want)
				}
				if got, want := main.AttrOr("data-js-api-list", ""), "checkJsApi,openBusinessView"; got != want {
					t.Errorf("jsApiList = %q, want %q", got, want)
				}
				if got, want := main.AttrOr("data-status-url", ""), page+"/status"; got != want {
					t.Errorf("status URL = %q, want %q", got, want)
				}
				ok, err := wp.sb.VerifyJSSDK(ctx, main.AttrOr("data-app-id", ""), main.AttrOr("data-timestamp", ""),
					main.AttrOr("data-nonce-str", ""), ts.URL+tt.path, main.AttrOr("data-signature", ""))
				if err != nil {
					t.Fatal(err)
				}
				if !ok.OK {
					t.Errorf("signature does not verify: %s %s", ok.ErrMsg, ok.Reason)
				}
				// Signed for this URL only: another URL does not verify.
				other, _ := wp.sb.VerifyJSSDK(ctx, main.AttrOr("data-app-id", ""), main.AttrOr("data-timestamp", ""),
					main.AttrOr("data-nonce-str", ""), ts.URL+page+"?other=1", main.AttrOr("data-signature", ""))
				if other.OK {
					t.Error("the signature verifies for another URL")
				}
			case views.LandingUpgrade:
				if got, want := res.doc.Find(`[data-testid="landing-upgrade"]`).AttrOr("href", ""), views.UpgradeURL; got != want {
					t.Errorf("upgrade link = %q, want %q", got, want)
				}
				if res.has("script") {
					t.Error("the upgrade page loads a script")
				}
			case views.LandingOutside:
				if got, want := res.text("h1"), "请在微信中打开"; got != want {
					t.Errorf("h1 = %q, want %q", got, want)
				}
				src := res.doc.Find(`[data-testid="landing-qr"]`).AttrOr("src", "")
				if want := page + "/qr.png"; src != want {
					t.Fatalf("QR src = %q, want %q", src, want)
				}
				qr := ts.anonymous(t).get(t, src)
				if got, want := qr.status, http.StatusOK; got != want {
					t.Fatalf("QR status = %d, want %d", got, want)
				}
				if text, _ := decodeQR(t, []byte(qr.body)); text != ts.URL+page {
					t.Errorf("QR = %q, want %q", text, ts.URL+page)
				}
				if res.has("script") {
					t.Error("the open-in-WeChat page loads a script")
				}
			case views.LandingNotFound:
				if got, want := res.text("h1"), views.Tr(views.LangZH, "landing.notfound.title"); got != want {
					t.Errorf("h1 = %q, want %q", got, want)
				}
			}
		})
	}

	t.Run("OKOpensCounted", func(t *testing.T) {
		got, err := ts.db.LinkByID(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Opens != 4 || got.LastOpenedAt == nil {
			t.Errorf("opens = %d (last %v), want 4", got.Opens, got.LastOpenedAt)
		}
	})

	t.Run("OKStatusThenDone", func(t *testing.T) {
		status := func() (int, string) {
			res := phone.get(t, page+"/status")
			var body struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("status body %q: %v", res.body, err)
			}
			if got, want := res.header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			return res.status, body.State
		}
		if code, state := status(); code != http.StatusOK || state != store.StateUnbindUser {
			t.Errorf("status = %d %q, want 200 UNBINDUSER", code, state)
		}
		if _, err := wp.sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		wp.deliver(t)
		if code, state := status(); code != http.StatusOK || state != store.StateAvailable {
			t.Errorf("status = %d %q, want 200 AVAILABLE", code, state)
		}
		res := landingGet(t, phone, page, uaWeChat801)
		if got, want := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""), views.LandingDone; got != want {
			t.Errorf("mode = %q, want %q", got, want)
		}
		if got, want := res.text("h1"), "已开启"; got != want {
			t.Errorf("h1 = %q, want %q", got, want)
		}
		unknown := phone.get(t, "/h5/AAAAAAAAAAAAAAAAAAAAAAAA/status")
		if got, want := unknown.status, http.StatusNotFound; got != want {
			t.Errorf("unknown status = %d, want %d", got, want)
		}
	})

	t.Run("ErrPaused", func(t *testing.T) {
		if err := ts.db.SetLandingPause(ctx, true, "审核", "admin"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ts.db.SetLandingPause(ctx, false, "", "admin") })
		res := landingGet(t, phone, "/h5/"+stale.Slug, uaWeChat801)
		if got, want := res.status, http.StatusServiceUnavailable; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		checkLandingHeaders(t, res, origin)
		if got, want := res.text("h1"), "服务暂停"; got != want {
			t.Errorf("h1 = %q, want %q", got, want)
		}
		if res.has("[data-signature]") || res.has("script") {
			t.Error("a paused page configures the JS-SDK")
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		// Renewed on opening unless switched off (TestLandingAutoRenew):
		// switched off, an expired link asks for a new one.
		if err := ts.svc.AutoRenew.Set(ctx, op, stale.ID, false); err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(service.TokenLifetime)
		res := landingGet(t, phone, "/h5/"+stale.Slug, uaWeChat801)
		if got, want := res.status, http.StatusGone; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		checkLandingHeaders(t, res, origin)
		if got, want := res.text("h1"), views.Tr(views.LangZH, "landing.expired.title"); got != want {
			t.Errorf("h1 = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="landing-next"]`), fmt.Sprintf(views.Tr(views.LangZH, "landing.expired.merchant"), "测试商户"); got != want {
			t.Errorf("text = %q, want it to ask the merchant for a new link: %q", got, want)
		}
		if res.has("[data-signature]") || res.has("script") {
			t.Error("an expired page configures the JS-SDK")
		}
	})
}

// TestLandingNoWeChatCalls: only the WeChat ≥ 7.0.5 branch asks for a
// signature; with the real JS-SDK URL its origin is in the landing CSP and
// nowhere else.
func TestLandingNoWeChatCalls(t *testing.T) {
	p, j := &fakePayScore{}, &fakeJSSDK{}
	ts := newTestServer(t, withFakeWeChat(p, j))
	ctx := context.Background()
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "NC-1", 0)
	phone := ts.anonymous(t)
	page := "/h5/" + l.Slug

	for _, ua := range []string{uaWeChat704, uaDesktop} {
		landingGet(t, phone, page, ua)
	}
	if got := j.calls(); len(got) != 0 {
		t.Fatalf("signatures asked for by old WeChat / desktop: %q", got)
	}
	res := landingGet(t, phone, page+"?a=1&b=%E4%B8%AD", uaWeChat801)
	if got, want := res.status, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	checkLandingHeaders(t, res, "https://res.wx.qq.com")
	if got, want := j.calls(), []string{ts.URL + page + "?a=1&b=%E4%B8%AD"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("signed URLs = %q, want %q", got, want)
	}
	if got, want := res.doc.Find("script").First().AttrOr("src", ""), realJSSDK; got != want {
		t.Errorf("JS-SDK = %q, want %q", got, want)
	}
	for _, console := range []string{"/login", "/healthz"} {
		if csp := phone.get(t, console).header.Get("Content-Security-Policy"); strings.Contains(csp, "res.wx.qq.com") {
			t.Errorf("%s CSP %q allows the JS-SDK", console, csp)
		}
	}

	if err := ts.db.SetLandingPause(ctx, true, "审核", "admin"); err != nil {
		t.Fatal(err)
	}
	if got, want := landingGet(t, phone, page, uaWeChat801).status, http.StatusServiceUnavailable; got != want {
		t.Errorf("paused: status = %d, want %d", got, want)
	}
	if err := ts.db.SetLandingPause(ctx, false, "", "admin"); err != nil {
		t.Fatal(err)
	}
	// Expired with auto-renewal off (on, TestLandingAutoRenew renews it).
	if err := ts.svc.AutoRenew.Set(ctx, service.System, l.ID, false); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(service.TokenLifetime)
	if got, want := landingGet(t, phone, page, uaWeChat801).status, http.StatusGone; got != want {
		t.Errorf("expired: status = %d, want %d", got, want)
	}
	if got := j.calls(); len(got) != 1 {
		t.Errorf("signatures = %d, want 1 (paused and expired call nothing)", len(got))
	}
	if got := p.count(); got != 0 {
		t.Errorf("pre-authorizations = %d, want 0", got)
	}
}

func TestLandingJSSDKFailure(t *testing.T) {
	j := &fakeJSSDK{err: &payscore.TicketError{Op: "getticket", ErrCode: 40001, ErrMsg: "invalid credential"}}
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, j))
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "JF-1", 0)
	res := landingGet(t, ts.anonymous(t), "/h5/"+l.Slug, uaWeChat801)
	if got, want := res.status, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""), views.LandingUnavailable; got != want {
		t.Errorf("mode = %q, want %q", got, want)
	}
	if got, want := res.text("h1"), views.Tr(views.LangZH, "landing.unavailable.title"); got != want {
		t.Errorf("h1 = %q, want %q", got, want)
	}
	if strings.Contains(res.body, "40001") || strings.Contains(res.body, "invalid credential") {
		t.Error("the page shows the upstream error's details")
	}
}

// TestLandingWeight: what the landing page loads from us (HTML, CSS, JS) is
// under 15 KB in every branch; the JS-SDK is WeChat's.
func TestLandingWeight(t *testing.T) {
	ts := newTestServer(t, withFakeWeChat(&fakePayScore{}, &fakeJSSDK{}))
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "W-1", 0)
	phone := ts.anonymous(t)
	const limit = 15 * 1024
	for _, ua := range []string{uaWeChat801, uaWeChat704, uaDesktop} {
		t.Run("OK "+ua[len(ua)-12:], func(t *testing.T) {
			res := landingGet(t, phone, "/h5/"+l.Slug, ua)
			total := len(res.body)
			var assets []string
			res.doc.Find(`link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) { assets = append(assets, s.AttrOr("href", "")) })
			res.doc.Find(`script[src]`).Each(func(_ int, s *goquery.Selection) { assets = append(assets, s.AttrOr("src", "")) })
			for _, a := range assets {
				if a == realJSSDK {
					continue
				}
				if !strings.HasPrefix(a, "/static/") {
					t.Errorf("loads %q, neither ours nor the JS-SDK", a)
					continue
				}
				r := phone.get(t, a)
				if r.status != http.StatusOK {
					t.Fatalf("%s: status %d", a, r.status)
				}
				total += len(r.body)
			}
			if total >= limit {
				t.Errorf("weight = %d bytes, want < %d", total, limit)
			}
			t.Logf("weight %d bytes (%v)", total, assets)
		})
	}
}

// TestLandingStatusErrors: the status endpoint answers JSON.
func TestLandingStatusErrors(t *testing.T) {
	ts := newTestServer(t)
	res := ts.anonymous(t).get(t, "/h5/x/status")
	if got, want := res.status, http.StatusNotFound; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got := res.header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", got)
	}
	if got, want := ts.anonymous(t).get(t, "/h5/AAAAAAAAAAAAAAAAAAAAAAAA/qr.png").status, http.StatusNotFound; got != want {
		t.Errorf("unknown QR status = %d, want %d", got, want)
	}
}
