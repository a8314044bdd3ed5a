package views

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestJSString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"OKPlain", "abc123_-", `'abc123_-'`},
		{"OKQuotes", `a'b"c`, `'a\'b\"c'`},
		{"OKBackslash", `a\b`, `'a\\b'`},
		{"OKScriptClose", "</script><b>&", `'\u003C/script\u003E\u003Cb\u003E\u0026'`},
		{"OKLineTerminators", "a\nb\rc\u2028d\u2029", `'a\nb\rc\u2028d\u2029'`},
		{"OKControl", "a\x00b\x1f", `'a\u0000b\u001F'`},
		{"OKUnicode", "中文", `'中文'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := JSString(tt.in), tt.want; got != want {
				t.Errorf("JSString(%q) = %s, want %s", tt.in, got, want)
			}
		})
	}
}

func TestCString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"OKQuery", "apply_permissions_token=a%2Bb", `"apply_permissions_token=a%2Bb"`},
		{"OKQuoteBackslash", `a"b\c`, `"a\"b\\c"`},
		{"OKNonASCII", "é😀", `"\u00E9\uD83D\uDE00"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := CString(tt.in), tt.want; got != want {
				t.Errorf("CString(%q) = %s, want %s", tt.in, got, want)
			}
		})
	}
}

func TestLinkSnippets(t *testing.T) {
	// A token with everything that could break out of a literal or a query.
	token := "ab+c/d=e'f\"g</script>&h i"
	enc := url.QueryEscape(token)
	snippets := map[string]string{}
	for _, s := range LinkSnippets(token) {
		snippets[s.ID] = s.Code
	}
	tests := []struct {
		id   string
		want []string
	}{
		{"snippet-mp-open", []string{"wx.openBusinessView({", "businessType: 'wxpayScoreEnable'", "apply_permissions_token: " + JSString(token)}},
		{"snippet-mp-navigate", []string{"wx.navigateToMiniProgram({", "appId: 'wxd8f3793ea3b935b8'", "path: 'pages/use/enable'", "apply_permissions_token: " + JSString(token)}},
		{"snippet-android", []string{"WXOpenBusinessView.Req req", `req.businessType = "wxpayScoreEnable";`, `req.query = "apply_permissions_token=` + enc + `";`}},
		{"snippet-ios", []string{"WXOpenBusinessViewReq *req", `req.businessType = @"wxpayScoreEnable";`, `req.query = @"apply_permissions_token=` + enc + `";`}},
		{"snippet-h5", []string{"wx.invoke('openBusinessView', {", "businessType: 'wxpayScoreEnable'", "queryString: 'apply_permissions_token=" + enc + "'", "parseInt(res.err_code, 10)"}},
	}
	for _, tt := range tests {
		t.Run("OK "+tt.id, func(t *testing.T) {
			code, ok := snippets[tt.id]
			if !ok {
				t.Fatalf("no snippet %s", tt.id)
			}
			for _, w := range tt.want {
				if !strings.Contains(code, w) {
					t.Errorf("snippet lacks %q:\n%s", w, code)
				}
			}
			// The raw token never appears unescaped (it has a quote and </script>).
			if strings.Contains(code, token) {
				t.Errorf("snippet holds the raw token:\n%s", code)
			}
		})
	}
	if got, want := len(snippets), 5; got != want {
		t.Errorf("snippets = %d, want %d", got, want)
	}
}

func linkViewFixture() LinkView {
	return LinkView{
		ID: 7, SubMchID: "1900000001", SubMerchantName: "测试商户", Code: "PSC20260301100000ABCDEF",
		Token: "tok'en<1>", State: "UNBINDUSER", CreatedBy: "operator",
		Created: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), Expires: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC),
		Opens: 3, LandingURL: "https://console.example/h5/abcdefghijklmnopqrstuvwx", SelfURL: "/links/7",
	}
}

func TestLinkPage(t *testing.T) {
	p := Page{Title: "t", Path: "/links/7", CSRF: "tok", User: &Me{Username: "operator", Role: "operator"}}
	tests := []struct {
		name      string
		edit      func(v *LinkView)
		wantPoll  bool
		wantRenew bool
		wantError bool
	}{
		{"OKAwaitingUser", func(v *LinkView) {}, true, false, false},
		{"OKAvailableStopsPolling", func(v *LinkView) { v.State = "AVAILABLE" }, false, false, false},
		{"OKExpiredOffersRenewStopsPolling", func(v *LinkView) { v.Expired = true }, false, true, false},
		{"OKExpiredButAvailableNoRenew", func(v *LinkView) { v.Expired, v.State = true, "AVAILABLE" }, false, false, false},
		{"ErrUpstream", func(v *LinkView) {
			v.Upstream = &UpstreamError{Explanation: "系统错误", Remedy: "稍后重试", Code: "SYSTEM_ERROR", RequestID: "REQ-1"}
		}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := linkViewFixture()
			tt.edit(&v)
			doc := renderDoc(t, LangZH, LinkPage(p, v))
			if got, want := doc.Find(`[data-testid="link-qr"]`).AttrOr("src", ""), "/links/7/qr.png"; got != want {
				t.Errorf("QR src = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="link-qr-download"]`).AttrOr("href", ""), "/links/7/qr.png?download=1"; got != want {
				t.Errorf("QR download = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="landing-url"]`).AttrOr("value", ""), v.LandingURL; got != want {
				t.Errorf("landing URL = %q, want %q", got, want)
			}
			if _, ok := doc.Find(`[data-testid="landing-url"]`).Attr("readonly"); !ok {
				t.Error("the landing URL input is not readonly")
			}
			if got, want := doc.Find(`button[data-copy="landing-url"]`).Length(), 1; got != want {
				t.Errorf("copy buttons for the URL = %d, want %d", got, want)
			}
			// The snippet's text, HTML-unescaped by the parser, is the JS-escaped token.
			if got := text(doc, `[data-testid="snippet-mp-open"]`); !strings.Contains(got, JSString(v.Token)) {
				t.Errorf("mini program snippet lacks the token: %s", got)
			}
			state := doc.Find(`[data-testid="link-state"]`)
			if got, want := state.AttrOr("hx-trigger", "") == "every 3s", tt.wantPoll; got != want {
				t.Errorf("polling = %v, want %v", got, want)
			}
			if tt.wantPoll {
				if got, want := state.AttrOr("hx-get", ""), "/links/7"; got != want {
					t.Errorf("hx-get = %q, want %q", got, want)
				}
				if got, want := state.AttrOr("hx-swap", ""), "outerHTML"; got != want {
					t.Errorf("hx-swap = %q, want %q", got, want)
				}
			}
			if got, want := doc.Find(`[data-testid="link-state-badge"]`).AttrOr("data-state", ""), v.State; got != want {
				t.Errorf("badge state = %q, want %q", got, want)
			}
			if got, want := text(doc, `[data-testid="link-opens"]`), "3"; got != want {
				t.Errorf("opens = %q, want %q", got, want)
			}
			if got, want := has(doc, `[data-testid="link-renew"]`), tt.wantRenew; got != want {
				t.Errorf("renew form = %v, want %v", got, want)
			}
			if tt.wantRenew {
				if got, want := doc.Find(`[data-testid="link-renew"]`).AttrOr("action", ""), "/links/7/renew"; got != want {
					t.Errorf("renew action = %q, want %q", got, want)
				}
				if !has(doc, `[data-testid="link-renew"] input[name="_csrf"]`) {
					t.Error("renew form without CSRF field")
				}
			}
			if got, want := has(doc, `[data-testid="upstream-error"]`), tt.wantError; got != want {
				t.Errorf("upstream error = %v, want %v", got, want)
			}
			if tt.wantError {
				if got, want := text(doc, `[data-testid="upstream-explanation"]`), "系统错误"; got != want {
					t.Errorf("explanation = %q, want %q", got, want)
				}
				if got, want := text(doc, `[data-testid="upstream-request-id"]`), "REQ-1"; got != want {
					t.Errorf("request id = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestNewLinkPage(t *testing.T) {
	p := Page{Title: "t", Path: "/links/new", CSRF: "tok", User: &Me{Username: "admin", Role: "admin"}}
	t.Run("ErrKeepsValues", func(t *testing.T) {
		v := NewLinkView{
			SubMerchants: []SubMerchantOption{{SubMchID: "1", Name: "A"}, {SubMchID: "2", Name: "B"}},
			Form:         LinkForm{SubMchID: "2", AuthorizationCode: "bad code", Errors: map[string]string{"authorization_code": "坏"}},
		}
		doc := renderDoc(t, LangZH, NewLinkPage(p, v))
		if got, want := doc.Find(`select[name="sub_mchid"] option[selected]`).AttrOr("value", ""), "2"; got != want {
			t.Errorf("selected = %q, want %q", got, want)
		}
		if got, want := doc.Find(`input[name="authorization_code"]`).AttrOr("value", ""), "bad code"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if got, want := text(doc, `[data-testid="error-authorization_code"]`), "坏"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if !has(doc, `[data-testid="link-form"] input[name="_csrf"][value="tok"]`) {
			t.Error("form without CSRF field")
		}
	})
	t.Run("OKNoSubMerchants", func(t *testing.T) {
		doc := renderDoc(t, LangEN, NewLinkPage(p, NewLinkView{CanManageSubMerchants: true}))
		if has(doc, `[data-testid="link-form"]`) {
			t.Error("form shown without sub-merchants")
		}
		if !has(doc, `[data-testid="no-submerchants"] a[href="/sub-merchants"]`) {
			t.Error("no way to the sub-merchants for an admin")
		}
	})
}

func TestLandingPage(t *testing.T) {
	ready := LandingView{Mode: LandingReady, Token: "tok&1", JSSDKURL: "https://res.wx.qq.com/open/js/jweixin-1.5.0.js", StatusURL: "/h5/s/status",
		Config: LandingConfig{AppID: "wx1", Timestamp: 1700000000, NonceStr: "n1", Signature: "sig", JSAPIList: []string{"checkJsApi", "openBusinessView"}}}
	tests := []struct {
		name        string
		v           LandingView
		wantTitle   string
		wantScripts int
	}{
		{"OKReady", ready, Tr(LangZH, "landing.ready.title"), 2},
		{"OKUpgrade", LandingView{Mode: LandingUpgrade}, Tr(LangZH, "landing.upgrade.title"), 0},
		{"OKOutside", LandingView{Mode: LandingOutside, QRURL: "/h5/s/qr.png"}, "请在微信中打开", 0},
		{"OKExpired", LandingView{Mode: LandingExpired}, Tr(LangZH, "landing.expired.title"), 0},
		{"OKPaused", LandingView{Mode: LandingPaused}, "服务暂停", 0},
		{"OKNotFound", LandingView{Mode: LandingNotFound}, Tr(LangZH, "landing.notfound.title"), 0},
		{"OKUnavailable", LandingView{Mode: LandingUnavailable}, Tr(LangZH, "landing.unavailable.title"), 0},
		{"OKDone", LandingView{Mode: LandingDone}, "已开启", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, LandingPage(tt.v))
			if got, want := doc.Find(`[data-testid="landing"]`).AttrOr("data-mode", ""), tt.v.Mode; got != want {
				t.Errorf("mode = %q, want %q", got, want)
			}
			if got, want := text(doc, "h1"), tt.wantTitle; got != want {
				t.Errorf("h1 = %q, want %q", got, want)
			}
			if got, want := doc.Find("script").Length(), tt.wantScripts; got != want {
				t.Errorf("scripts = %d, want %d", got, want)
			}
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if s.Text() != "" {
					t.Errorf("inline script: %q", s.Text())
				}
			})
			if has(doc, "[style]") {
				t.Error("a style attribute (CSP style-src 'self')")
			}
		})
	}
	t.Run("OKReadyData", func(t *testing.T) {
		doc := renderDoc(t, LangZH, LandingPage(ready))
		m := doc.Find(`[data-testid="landing"]`)
		for attr, want := range map[string]string{
			"data-app-id": "wx1", "data-timestamp": "1700000000", "data-nonce-str": "n1", "data-signature": "sig",
			"data-js-api-list": "checkJsApi,openBusinessView", "data-token": "tok&1", "data-status-url": "/h5/s/status", "data-upgrade-url": UpgradeURL,
		} {
			if got := m.AttrOr(attr, ""); got != want {
				t.Errorf("%s = %q, want %q", attr, got, want)
			}
		}
		if got, want := doc.Find("script").First().AttrOr("src", ""), ready.JSSDKURL; got != want {
			t.Errorf("first script = %q, want the JS-SDK %q", got, want)
		}
	})
	t.Run("OKUpgradeLink", func(t *testing.T) {
		doc := renderDoc(t, LangZH, LandingPage(LandingView{Mode: LandingUpgrade}))
		if got, want := doc.Find(`[data-testid="landing-upgrade"]`).AttrOr("href", ""), UpgradeURL; got != want {
			t.Errorf("upgrade link = %q, want %q", got, want)
		}
	})
}

func TestEmergencySwitch(t *testing.T) {
	admin := Page{Path: "/", CSRF: "tok", User: &Me{Username: "admin", Role: "admin"}}
	tests := []struct {
		name       string
		p          Page
		v          EmergencyView
		wantShown  bool
		wantPaused string // hidden "paused" value the button sends
	}{
		{"OKRunning", admin, EmergencyView{}, true, "1"},
		{"OKPaused", admin, EmergencyView{Paused: true, Reason: "审核", By: "admin", At: time.Now()}, true, "0"},
		{"OKHiddenForOperator", Page{Path: "/", User: &Me{Username: "op", Role: "operator"}}, EmergencyView{}, false, ""},
		{"OKHiddenSignedOut", Page{Path: "/"}, EmergencyView{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, EmergencySwitch(tt.p, tt.v))
			if got, want := has(doc, `[data-testid="emergency-switch"]`), tt.wantShown; got != want {
				t.Fatalf("shown = %v, want %v", got, want)
			}
			if !tt.wantShown {
				return
			}
			if got, want := doc.Find(`[data-testid="emergency-form"] input[name="paused"]`).AttrOr("value", ""), tt.wantPaused; got != want {
				t.Errorf("paused value = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="emergency-form"]`).AttrOr("action", ""), "/emergency"; got != want {
				t.Errorf("action = %q, want %q", got, want)
			}
			if !has(doc, `[data-testid="emergency-form"] input[name="_csrf"][value="tok"]`) {
				t.Error("no CSRF field")
			}
			if got, want := doc.Find(`[data-testid="emergency-state"]`).AttrOr("data-paused", ""), map[bool]string{true: "1", false: "0"}[tt.v.Paused]; got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
		})
	}
}

func TestSubMerchantsPage(t *testing.T) {
	p := Page{Path: "/sub-merchants", CSRF: "tok", User: &Me{Username: "admin", Role: "admin"}}
	v := SubMerchantsView{
		Rows: []SubMerchantRow{
			{ID: 1, SubMchID: "1900000001", Edit: SubMerchantForm{SubMchID: "1900000001", Name: "新名字", Errors: map[string]string{"sub_appid": "坏"}, SubAppID: "a b"}},
			{ID: 2, SubMchID: "1900000002", Disabled: true, Edit: SubMerchantForm{SubMchID: "1900000002", Name: "B"}},
		},
		Form: SubMerchantForm{SubMchID: "12a", Name: "x", Errors: map[string]string{"sub_mchid": "须为数字"}},
	}
	doc := renderDoc(t, LangZH, SubMerchantsPage(p, v))
	if got, want := text(doc, `[data-testid="error-sub_mchid"]`), "须为数字"; got != want {
		t.Errorf("add error = %q, want %q", got, want)
	}
	if got, want := doc.Find(`#sm-sub_mchid`).AttrOr("value", ""), "12a"; got != want {
		t.Errorf("typed sub_mchid = %q, want %q", got, want)
	}
	edit := doc.Find(`[data-testid="submerchant-edit-1900000001"]`)
	if got, want := edit.Find(`input[name="name"]`).AttrOr("value", ""), "新名字"; got != want {
		t.Errorf("edit name = %q, want %q", got, want)
	}
	if got, want := edit.AttrOr("action", ""), "/sub-merchants/1"; got != want {
		t.Errorf("edit action = %q, want %q", got, want)
	}
	if !has(doc, `[data-testid="submerchant-disable-1900000001"]`) || !has(doc, `[data-testid="submerchant-enable-1900000002"]`) {
		t.Error("disable / enable buttons missing")
	}
}

// TestLinkPageSnippets renders the link page and reads each snippet as the
// operator copies it: the guards and version notes WeChat's documents ask
// for, the optional extInfo, and the token escaped for where it sits — a
// JS string literal in extraData, URL-encoded inside a query string.
func TestLinkPageSnippets(t *testing.T) {
	p := Page{Title: "t", Path: "/links/7", CSRF: "tok", User: &Me{Username: "operator", Role: "operator"}}
	v := linkViewFixture()
	v.Token = "AAQT+nZo/AAAB=="
	const encoded = "AAQT%2BnZo%2FAAAB%3D%3D"
	for _, lang := range []string{LangZH, LangEN} {
		t.Run(lang, func(t *testing.T) {
			doc := renderDoc(t, lang, LinkPage(p, v))
			code := func(id string) string { return doc.Find(`[data-testid="` + id + `"]`).Text() }
			note := func(id string) string { return text(doc, `[data-testid="`+id+`-note"]`) }
			contains := func(t *testing.T, what, got string, want ...string) {
				t.Helper()
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", what, w, got)
					}
				}
			}

			t.Run("OKMiniProgramGuard", func(t *testing.T) {
				c := code("snippet-mp-open")
				guard, call, upgrade := strings.Index(c, "if (wx.openBusinessView) {"), strings.Index(c, "wx.openBusinessView({"), strings.Index(c, "} else {")
				if guard < 0 || call < guard || upgrade < call {
					t.Fatalf("the call is not inside if (wx.openBusinessView) {…} else {…}:\n%s", c)
				}
				contains(t, "mini program snippet", c, "2.6.0", "wx.showModal(", "content: "+JSString(UpgradeHintZH))
				if !strings.Contains(c[upgrade:], "showModal") {
					t.Errorf("the else branch does not prompt an upgrade:\n%s", c)
				}
				contains(t, "mini program note", note("snippet-mp-open"), "2.6.0", "wx.openBusinessView", "7.0.3")
			})
			t.Run("OKAndroidSupportCheck", func(t *testing.T) {
				c := code("snippet-android")
				check, send := strings.Index(c, "if (api.getWXAppSupportAPI() >= Build.OPEN_BUSINESS_VIEW_SDK_INT) {"), strings.Index(c, "api.sendReq(req);")
				if check < 0 || send < check {
					t.Fatalf("sendReq is not guarded by getWXAppSupportAPI():\n%s", c)
				}
				contains(t, "Android snippet", c, `req.extInfo = "{\"miniProgramType\":0}";`, "import com.tencent.mm.opensdk.constants.Build;", "7.0.3", "5.3.1", "} else {")
				contains(t, "Android note", note("snippet-android"), "5.3.1", "7.0.3", "getWXAppSupportAPI()", "Build.OPEN_BUSINESS_VIEW_SDK_INT", "extInfo")
			})
			t.Run("OKIOSOpenSDKMinimum", func(t *testing.T) {
				c := code("snippet-ios")
				contains(t, "iOS snippet", c, "WXOpenBusinessViewReq *req = [WXOpenBusinessViewReq object];",
					`req.extInfo = @"{\"miniProgramType\":0}";`, "[WXApi sendReq:req completion:nil];", "1.8.4", "1.8.6", "7.0.3")
				contains(t, "iOS note", note("snippet-ios"), "1.8.4", "1.8.6", "sendReq:completion:", "registerApp:universalLink:", "7.0.3", "extInfo")
			})
			t.Run("OKH5CheckJsApi", func(t *testing.T) {
				c := code("snippet-h5")
				check, invoke := strings.Index(c, "wx.checkJsApi({"), strings.Index(c, "wx.invoke('openBusinessView', {")
				if check < 0 || invoke < check {
					t.Fatalf("invoke is not inside checkJsApi:\n%s", c)
				}
				contains(t, "H5 snippet", c, "if (!res.checkResult.openBusinessView) {", "window.location.href = '"+UpgradeURL+"';")
				contains(t, "H5 note", note("snippet-h5"), "7.0.5", "wx.config")
			})
			t.Run("OKTokenEscapedForItsContext", func(t *testing.T) {
				// In extraData the token is a JS string literal, as is.
				for _, id := range []string{"snippet-mp-open", "snippet-mp-navigate"} {
					c := code(id)
					contains(t, id, c, "apply_permissions_token: '"+v.Token+"'")
					if strings.Contains(c, encoded) {
						t.Errorf("%s URL-encodes a token that is not in a URL:\n%s", id, c)
					}
				}
				// In a query string it is URL-encoded, then quoted.
				for id, want := range map[string]string{
					"snippet-android": `req.query = "apply_permissions_token=` + encoded + `";`,
					"snippet-ios":     `req.query = @"apply_permissions_token=` + encoded + `";`,
					"snippet-h5":      `queryString: 'apply_permissions_token=` + encoded + `'`,
				} {
					c := code(id)
					contains(t, id, c, want)
					if strings.Contains(c, v.Token) {
						t.Errorf("%s puts the raw token (+ / =) into a query string:\n%s", id, c)
					}
				}
			})
		})
	}
}

// TestSnippetsParseAsJS: the JavaScript snippets, filled with a token that
// holds quotes, </script> and line breaks, are valid JavaScript (checked by
// node when it is installed).
func TestSnippetsParseAsJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed: CI must check the snippets with it")
		}
		t.Skip("node not installed")
	}
	for _, s := range LinkSnippets("a+b/c='d\"\n</script>\u2028") {
		if s.Lang != "javascript" {
			continue
		}
		t.Run("OK "+s.ID, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "snippet.js")
			if err := os.WriteFile(f, []byte(s.Code), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
				t.Errorf("node --check: %v\n%s\n%s", err, out, s.Code)
			}
		})
	}
}
