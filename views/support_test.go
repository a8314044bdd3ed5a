package views

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestLookupPage(t *testing.T) {
	success := time.Date(2026, 3, 1, 2, 0, 5, 0, time.UTC)
	now := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	live := &LookupAuthorization{AuthorizationCode: "C1", AuthorizationState: "AVAILABLE", AppID: "wx1", MchID: "1230000109",
		SubMchID: "1900000101", ServiceID: "svc", OpenID: "oUser", AuthorizationSuccessTime: &success, RequestID: "REQ-1"}
	history := LookupHistory{
		Link:         &HistoryLink{ID: 7, Href: "/links/7", SubMchID: "1900000101", SubMerchantName: "测试商户", CreatedBy: "operator"},
		Callbacks:    []HistoryCallback{{ID: 3, Href: "/callbacks/3", EventType: "PAYSCORE.USER_OPEN_SERVICE", Deliveries: 2, Applied: true}},
		Terminations: []HistoryTermination{{ID: 1, Reason: "风险控制", Status: "failed", ErrorCode: "INVALID_ORDER_STATE"}},
		Audit:        []HistoryAudit{{Action: "terminate.request", Username: "support", Reason: "风险控制"}},
	}
	tests := []struct {
		name     string
		v        LookupView
		want     map[string]string // data-testid → text
		absent   []string          // data-testids that must not be there
		wantForm bool
	}{
		{
			name: "OKLive",
			v:    LookupView{Now: now, Searched: true, Live: live, History: history, Form: LookupForm{AuthorizationCode: "C1"}},
			want: map[string]string{
				"state-badge": "AVAILABLE", "field-openid": "oUser", "field-sub_openid": "—", "field-user_label": "—",
				"field-authorization_success_time": "2026-03-01 10:00:05", "field-cancel_authorization_time": "—",
				"live-request-id": "REQ-1", "history-link-href": "链接 #7", "termination-status": "失败",
			},
			absent: []string{"upstream-error", "local-state", "terminate-form", "ask-sub-mchid"},
		},
		{
			name: "OKUpstreamWithLocal",
			v: LookupView{Now: now, Searched: true, Form: LookupForm{AuthorizationCode: "C1"},
				Upstream: &UpstreamError{Explanation: "系统错误", Remedy: "稍后重试", Code: "SYSTEM_ERROR", RequestID: "REQ-2"},
				Local:    &LookupLocal{State: "AVAILABLE", Source: "notification", CheckedAt: now.Add(-12 * time.Minute)},
				History:  LookupHistory{}},
			want: map[string]string{
				"upstream-explanation": "系统错误", "upstream-remedy": "稍后重试", "upstream-code": "SYSTEM_ERROR",
				"upstream-request-id": "REQ-2", "local-badge": "AVAILABLE", "local-age": "12 分钟前",
				"history-no-link": Tr(LangZH, "support.history.nolink"),
			},
			absent: []string{"live", "history-callbacks"},
		},
		{
			name: "OKUpstreamNothingLocal",
			v: LookupView{Now: now, Searched: true, Form: LookupForm{AuthorizationCode: "C1"},
				Upstream: &UpstreamError{Explanation: "订单不存在"}},
			want:   map[string]string{"local-none": Tr(LangZH, "support.local.none")},
			absent: []string{"local-badge", "upstream-request-id"},
		},
		{
			name: "OKAskSubMchID",
			v: LookupView{Now: now, AskSubMch: true, SubMerchants: []LookupSubMerchant{{SubMchID: "1900000101", Name: "甲"}},
				Form: LookupForm{AuthorizationCode: "C2", SubMchID: "1900000101", Errors: map[string]string{"sub_mchid": "请选择"}}},
			want:   map[string]string{"error-sub_mchid": "请选择", "ask-sub-mchid": Tr(LangZH, "support.unknown.hint")},
			absent: []string{"history", "live"},
		},
		{
			name: "OKTerminateForm",
			v: LookupView{Now: now, Searched: true, Live: live, Form: LookupForm{AuthorizationCode: "C1|x"},
				Terminate: &TerminateForm{AuthorizationCode: "C1|x", SubMchID: "1900000101", Reasons: []string{"用户申请解除", "风险控制"}}},
			wantForm: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, LookupPage(Page{Title: "t", CSRF: "tok"}, tt.v))
			for id, want := range tt.want {
				if got := text(doc, `[data-testid="`+id+`"]`); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			for _, id := range tt.absent {
				if has(doc, `[data-testid="`+id+`"]`) {
					t.Errorf("%s present", id)
				}
			}
			if got, want := doc.Find(`#lookup input[name="q"]`).AttrOr("value", ""), tt.v.Form.AuthorizationCode; got != want {
				t.Errorf("code input = %q, want %q", got, want)
			}
			if got, want := has(doc, `[data-testid="terminate-form"]`), tt.wantForm; got != want {
				t.Fatalf("terminate form = %v, want %v", got, want)
			}
			if tt.wantForm {
				form := doc.Find(`[data-testid="terminate-form"] form`)
				if got, want := form.AttrOr("action", ""), "/authorizations/C1%7Cx/terminate"; got != want {
					t.Errorf("action = %q, want %q", got, want)
				}
				if got, want := form.AttrOr("method", ""), "post"; got != want {
					t.Errorf("method = %q, want %q", got, want)
				}
				if got, want := form.Find(`input[name="_csrf"]`).AttrOr("value", ""), "tok"; got != want {
					t.Errorf("CSRF = %q, want %q", got, want)
				}
				if got, want := doc.Find(`datalist#terminate-reasons option`).Length(), 2; got != want {
					t.Errorf("common reasons = %d, want %d", got, want)
				}
				if got, want := form.Find(`input[name="reason"]`).AttrOr("list", ""), "terminate-reasons"; got != want {
					t.Errorf("reason list = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestLookupPageFragment(t *testing.T) {
	v := LookupView{Form: LookupForm{AuthorizationCode: "C1"}}
	doc := renderDoc(t, LangZH, LookupPage(Page{Title: "t"}, v))
	form := doc.Find(`[data-testid="lookup-form"]`)
	for attr, want := range map[string]string{"hx-get": "/authorizations", "hx-target": "#lookup", "hx-swap": "outerHTML", "method": "get", "action": "/authorizations"} {
		if got := form.AttrOr(attr, ""); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if !has(doc, `#lookup [data-testid="lookup-form"]`) {
		t.Error("the form is not inside the swapped element")
	}
}

func TestTerminatePage(t *testing.T) {
	form := TerminateForm{AuthorizationCode: "C1", SubMchID: "1900000101", Reason: "风险控制", Reasons: []string{"风险控制"}, Errors: map[string]string{}}
	tests := []struct {
		name    string
		v       TerminateView
		want    map[string]string
		present []string
		absent  []string
	}{
		{
			name:    "OKConfirm",
			v:       TerminateView{Step: TerminateStepConfirm, Form: form, BackHref: LookupURL("C1")},
			want:    map[string]string{"confirm-reason": "风险控制", "field-authorization_code": "C1", "field-sub_mchid": "1900000101"},
			present: []string{"confirm-form", "confirm-submit"},
			absent:  []string{"reauth", "terminate-form", "terminate-result"},
		},
		{
			name: "OKConfirmPassword",
			v: TerminateView{Step: TerminateStepConfirm, NeedPassword: true, BackHref: LookupURL("C1"),
				Form: TerminateForm{AuthorizationCode: "C1", Reason: "风险控制", Errors: map[string]string{"password": "密码错误"}}},
			want:    map[string]string{"error-password": "密码错误", "reauth": Tr(LangZH, "support.confirm.reauth")},
			present: []string{"confirm-form"},
		},
		{
			name: "ErrForm",
			v: TerminateView{Step: TerminateStepForm, BackHref: LookupURL("C1"),
				Form: TerminateForm{AuthorizationCode: "C1", Reason: strings.Repeat("长", 51), Errors: map[string]string{"reason": "太长"}}},
			want:    map[string]string{"error-reason": "太长"},
			present: []string{"terminate-form"},
			absent:  []string{"confirm-form"},
		},
		{
			name: "OKResultPending",
			v: TerminateView{Step: TerminateStepResult, Outcome: "pending", State: "AVAILABLE", Form: form, BackHref: LookupURL("C1"),
				Upstream: &UpstreamError{Explanation: "微信支付在限定时间内没有应答"}},
			want: map[string]string{"outcome": Tr(LangZH, "support.outcome.pending"), "state-badge": "AVAILABLE",
				"upstream-explanation": "微信支付在限定时间内没有应答"},
			present: []string{"back"},
			absent:  []string{"confirm-form"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, TerminatePage(Page{Title: "t", CSRF: "tok"}, tt.v))
			for id, want := range tt.want {
				if got := text(doc, `[data-testid="`+id+`"]`); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			for _, id := range tt.present {
				if !has(doc, `[data-testid="`+id+`"]`) {
					t.Errorf("%s missing", id)
				}
			}
			for _, id := range tt.absent {
				if has(doc, `[data-testid="`+id+`"]`) {
					t.Errorf("%s present", id)
				}
			}
			if tt.v.Step == TerminateStepConfirm {
				f := doc.Find(`[data-testid="confirm-form"]`)
				if got, want := f.Find(`input[name="reason"]`).AttrOr("value", ""), tt.v.Form.Reason; got != want {
					t.Errorf("hidden reason = %q, want %q", got, want)
				}
				if got, want := f.Find(`input[name="confirm"]`).AttrOr("value", ""), "1"; got != want {
					t.Errorf("confirm = %q, want %q", got, want)
				}
				if got, want := f.Find(`input[name="password"]`).Length() == 1, tt.v.NeedPassword; got != want {
					t.Errorf("password input = %v, want %v", got, want)
				}
				if got, want := f.Find(`input[name="_csrf"]`).AttrOr("value", ""), "tok"; got != want {
					t.Errorf("CSRF = %q, want %q", got, want)
				}
			}
			if tt.v.Step == TerminateStepForm {
				if got, want := doc.Find(`input[name="reason"]`).AttrOr("value", ""), tt.v.Form.Reason; got != want {
					t.Errorf("typed reason = %q, want %q kept", got, want)
				}
			}
		})
	}
}

func TestFormatAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		ago    time.Duration
		zh, en string
	}{
		{"OKJustNow", 20 * time.Second, "刚刚", "just now"},
		{"OKOneMinute", time.Minute + 30*time.Second, "1 分钟前", "1 minute ago"},
		{"OKMinutes", 12*time.Minute + 30*time.Second, "12 分钟前", "12 minutes ago"},
		{"OKOneHour", time.Hour + 59*time.Minute, "1 小时前", "1 hour ago"},
		{"OKHours", 5 * time.Hour, "5 小时前", "5 hours ago"},
		{"OKDays", 72 * time.Hour, "3 天前", "3 days ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatAgo(WithLang(context.Background(), LangZH), now, now.Add(-tt.ago)); got != tt.zh {
				t.Errorf("zh = %q, want %q", got, tt.zh)
			}
			if got := FormatAgo(WithLang(context.Background(), LangEN), now, now.Add(-tt.ago)); got != tt.en {
				t.Errorf("en = %q, want %q", got, tt.en)
			}
		})
	}
}

func TestSupportStrings(t *testing.T) {
	for key, e := range supportStrings {
		if !strings.HasPrefix(key, "support.") {
			t.Errorf("key %q lacks the support. prefix", key)
		}
		if e.zh == "" || e.en == "" {
			t.Errorf("key %q lacks a translation", key)
		}
	}
}
