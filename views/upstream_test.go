package views

import (
	"context"
	"strings"
	"testing"
)

// TestUpstreamAnswer: WeChat Pay's codes are explained as instructions for
// this console's users, never in its "订单" words; the code and Request-ID
// stay, with copy buttons, for escalation; an unknown code says so once.
func TestUpstreamAnswer(t *testing.T) {
	tests := []struct {
		name, lang, code, message     string
		wantExpl, wantRemedy, wantMsg string
		wantNotFound                  bool
	}{
		{"OKNotExistEnglish", LangEN, "ORDER_NOT_EXIST", "订单不存在",
			"WeChat Pay knows no authorization with this code for this sub-merchant.", "Check the code and the sub-merchant.", "", true},
		{"OKNotExistChinese", LangZH, "ORDER_NOT_EXIST", "订单不存在",
			"微信支付没有该子商户下使用这个授权协议号的授权。", "请核对授权协议号和子商户。", "", true},
		{"OKStateChinese", LangZH, "INVALID_ORDER_STATE", "订单状态错误",
			Tr(LangZH, "upstream.INVALID_ORDER_STATE"), Tr(LangZH, "upstream.INVALID_ORDER_STATE.do"), "", false},
		{"OKParamErrorKeepsWeChatsWords", LangZH, "PARAM_ERROR", "notify_url 格式错误",
			Tr(LangZH, "upstream.PARAM_ERROR"), Tr(LangZH, "upstream.PARAM_ERROR.do"), "notify_url 格式错误", false},
		{"OKUnknownCode", LangEN, "BRAND_NEW", "something new",
			"WeChat Pay answered with an error this console does not know (HTTP 400 BRAND_NEW).", Tr(LangEN, "upstream.unknown.do"), "something new", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := WithLang(context.Background(), tt.lang)
			e := UpstreamAnswer(ctx, 400, tt.code, tt.code, tt.message, "REQ-9", false)
			if e.NotFound != tt.wantNotFound {
				t.Errorf("NotFound = %v, want %v", e.NotFound, tt.wantNotFound)
			}
			doc := renderDoc(t, tt.lang, upstreamError(e))
			for sel, want := range map[string]string{"upstream-explanation": tt.wantExpl, "upstream-remedy": tt.wantRemedy,
				"upstream-message": tt.wantMsg, "upstream-code": tt.code, "upstream-request-id": "REQ-9"} {
				if got := text(doc, `[data-testid="`+sel+`"]`); got != want {
					t.Errorf("%s = %q, want %q", sel, got, want)
				}
			}
			if all := doc.Text(); strings.Contains(all, "订单") != strings.Contains(tt.wantMsg, "订单") {
				t.Errorf("the page speaks of 订单: %q", all)
			}
			for _, v := range []string{tt.code, "REQ-9"} {
				btn := doc.Find(`button.copy-btn[data-copy-text="` + v + `"]`)
				if btn.Length() != 1 || btn.AttrOr("aria-label", "") != Tf(ctx, "copy.label", v) {
					t.Errorf("copy button for %s: %d, aria-label %q", v, btn.Length(), btn.AttrOr("aria-label", ""))
				}
			}
		})
	}
	t.Run("OKEveryKnownCodeExplained", func(t *testing.T) {
		for code := range upstreamKnown {
			for _, k := range []string{"upstream." + code, "upstream." + code + ".do"} {
				if _, ok := catalog[k]; !ok {
					t.Errorf("no catalogue key %s", k)
				}
			}
		}
	})
}

// TestLookupNothingKnown: a code WeChat Pay knows no authorization for, and
// nothing here knows, is one clear message, not a head, a timeline and
// empty sections.
func TestLookupNothingKnown(t *testing.T) {
	ctx := WithLang(context.Background(), LangEN)
	up := UpstreamAnswer(ctx, 404, "ORDER_NOT_EXIST", "ORDER_NOT_EXIST", "订单不存在", "REQ-404", false)
	v := LookupView{Searched: true, Form: LookupForm{AuthorizationCode: "NOBODY-1"}, Upstream: up}
	doc := renderDoc(t, LangEN, LookupPage(Page{Title: "t", CSRF: "tok"}, v))
	if got := doc.Find(`[data-testid="nothing-known"] [data-testid="upstream-explanation"]`).Text(); got != Tr(LangEN, "upstream.ORDER_NOT_EXIST") {
		t.Errorf("explanation = %q", got)
	}
	for _, sel := range []string{`[data-testid="local-state"]`, `[data-testid="records"]`, `[data-testid="live"]`} {
		if doc.Find(sel).Length() != 0 {
			t.Errorf("%s shown for a code nobody has", sel)
		}
	}
	if got := doc.Find(`[data-testid="upstream-error"]`).Length(); got != 1 {
		t.Errorf("%d error blocks, want 1", got)
	}
	// With a record here, the page keeps its sections.
	v.Local = &LookupLocal{State: "UNAVAILABLE", Source: "notification"}
	if renderDoc(t, LangEN, LookupPage(Page{Title: "t", CSRF: "tok"}, v)).Find(`[data-testid="nothing-known"]`).Length() != 0 {
		t.Error("a code known locally is shown as unknown")
	}
}

// TestUpstreamAnswerSpecCodes: every error code of the spec's table is
// explained, with a remedy, in both languages, and not by the unknown-code
// text; an unknown code's remedy points at the Request-ID; SIGN_ERROR's
// remedy names what to check (these were payscore's Explain tests, whose
// table this catalogue replaced).
func TestUpstreamAnswerSpecCodes(t *testing.T) {
	for _, code := range []string{"SYSTEM_ERROR", "PARAM_ERROR", "NO_AUTH", "FREQUENCY_LIMITED", "INVALID_REQUEST",
		"SIGN_ERROR", "ORDER_NOT_EXIST", "INVALID_ORDER_STATE", "ORDER_CANCELED", "ORDER_DONE"} {
		for _, lang := range []string{LangZH, LangEN} {
			e := UpstreamAnswer(WithLang(context.Background(), lang), 400, code, code, "", "REQ-1", false)
			unknown := Tf(WithLang(context.Background(), lang), "upstream.unknown", "HTTP 400 "+code)
			if e.Explanation == "" || e.Remedy == "" || e.Explanation == unknown || strings.HasPrefix(e.Explanation, "upstream.") {
				t.Errorf("%s (%s): explanation %q, remedy %q", code, lang, e.Explanation, e.Remedy)
			}
		}
	}
	en := UpstreamAnswer(WithLang(context.Background(), LangEN), 400, "BRAND_NEW", "BRAND_NEW", "", "REQ-1", false)
	if !strings.Contains(en.Explanation, "BRAND_NEW") || !strings.Contains(en.Remedy, "Request-ID") {
		t.Errorf("unknown code: %q / %q", en.Explanation, en.Remedy)
	}
	zh := UpstreamAnswer(WithLang(context.Background(), LangZH), 401, "SIGN_ERROR", "SIGN_ERROR", "", "gw-req-1", true)
	enSign := UpstreamAnswer(WithLang(context.Background(), LangEN), 401, "SIGN_ERROR", "SIGN_ERROR", "", "gw-req-1", true)
	for _, want := range []string{"证书序列号", "私钥", "时钟"} {
		if !strings.Contains(zh.Remedy, want) {
			t.Errorf("zh remedy %q lacks %q", zh.Remedy, want)
		}
	}
	for _, want := range []string{"certificate serial", "private key", "clock"} {
		if !strings.Contains(enSign.Remedy, want) {
			t.Errorf("en remedy %q lacks %q", enSign.Remedy, want)
		}
	}
	if !strings.Contains(zh.Explanation, "签名") || !strings.Contains(enSign.Explanation, "ignature") {
		t.Errorf("explanation zh %q en %q", zh.Explanation, enSign.Explanation)
	}
}
