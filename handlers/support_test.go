package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// testSubMchID is the sub-merchant every support test registers.
const testSubMchID = "1900000101"

// supportServer is a console talking to the sandbox, with one registered
// sub-merchant.
type supportServer struct {
	*testServer
	wp  *wechatPay
	sub *store.SubMerchant
}

// withPayScore wraps the PayScore client the handlers use; it must come
// after withWeChatPay.
func withPayScore(wrap func(service.PayScore) service.PayScore) serverOption {
	return func(c *serverConfig) {
		prev := c.deps
		c.deps = func(d *testWiring) {
			if prev != nil {
				prev(d)
			}
			d.PayScore = wrap(d.PayScore)
		}
	}
}

func newSupportServer(t *testing.T, opts ...serverOption) *supportServer {
	t.Helper()
	var wp wechatPay
	ts := newTestServer(t, append([]serverOption{withWeChatPay(t, &wp)}, opts...)...)
	sub, err := ts.db.CreateSubMerchant(context.Background(), store.SubMerchant{SubMchID: testSubMchID, Name: "测试商户"})
	if err != nil {
		t.Fatal(err)
	}
	return &supportServer{testServer: ts, wp: &wp, sub: sub}
}

// link pre-authorizes code through the sandbox and stores its link as the
// link screen does; it returns the token.
func (s *supportServer) link(t *testing.T, code string) string {
	t.Helper()
	ctx := context.Background()
	notify := s.URL + "/notify/payscore"
	res, err := s.wp.client.PreAuthorize(ctx, payscore.PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: code, NotifyURL: notify})
	if err != nil {
		t.Fatalf("PreAuthorize %s: %v", code, err)
	}
	if _, err := s.db.CreateLink(ctx, store.Link{Slug: "slug-" + code, SubMerchantID: s.sub.ID, AuthorizationCode: code,
		Token: res.Token, TokenExpiresAt: s.clock.Now().Add(time.Hour), NotifyURL: notify, CreatedBy: s.users[store.RoleOperator].ID}); err != nil {
		t.Fatalf("CreateLink %s: %v", code, err)
	}
	return res.Token
}

// active links code, has the user agree, and delivers the notification.
func (s *supportServer) active(t *testing.T, code string) {
	t.Helper()
	tok := s.link(t, code)
	if _, err := s.wp.sb.Agree(context.Background(), tok); err != nil {
		t.Fatalf("Agree: %v", err)
	}
	// Earlier tests' close notifications may go out too.
	if got := s.wp.deliver(t); got < 1 {
		t.Fatalf("delivered %d notifications, want at least 1", got)
	}
	if got := s.localState(t, code); got != store.StateAvailable {
		t.Fatalf("after the notification: local state %q, want AVAILABLE", got)
	}
}

func (s *supportServer) localState(t *testing.T, code string) string {
	t.Helper()
	a, err := s.db.AuthorizationByCode(context.Background(), code)
	if err != nil {
		t.Fatalf("AuthorizationByCode %s: %v", code, err)
	}
	return a.State
}

func (s *supportServer) sandboxState(t *testing.T, code string) sandbox.Authorization {
	t.Helper()
	a, err := s.wp.sb.Authorization(context.Background(), code)
	if err != nil {
		t.Fatalf("sandbox authorization %s: %v", code, err)
	}
	return a
}

// auditActions counts the audit entries of a code by action.
func (s *supportServer) auditActions(t *testing.T, code string) map[string]int {
	t.Helper()
	entries, err := s.db.AuditLog(context.Background(), store.AuditFilter{Target: code})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range entries {
		out[e.Action]++
	}
	return out
}

func lookupPath(code string, extra ...string) string {
	q := url.Values{"authorization_code": {code}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/authorizations?" + q.Encode()
}

func TestLookupAvailable(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "LOOKUP-1")
	tests := []struct {
		role          string
		wantTerminate bool
		wantLinkHref  bool
	}{
		{store.RoleViewer, false, false},
		{store.RoleOperator, false, true},
		{store.RoleSupport, true, false},
		{store.RoleAdmin, true, true},
	}
	for _, tt := range tests {
		t.Run("OK"+roleName(tt.role), func(t *testing.T) {
			res := s.client(t, tt.role).get(t, lookupPath("LOOKUP-1"))
			if got, want := res.status, http.StatusOK; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.text(`[data-testid="state-badge"]`), "AVAILABLE"; got != want {
				t.Errorf("state badge = %q, want %q", got, want)
			}
			if got := res.text(`[data-testid="field-openid"]`); !strings.HasPrefix(got, "o") {
				t.Errorf("openid = %q, want the user's openid", got)
			}
			for field, want := range map[string]string{"authorization_code": "LOOKUP-1", "sub_mchid": testSubMchID,
				"sub_openid": "—", "sub_appid": "—", "cancel_authorization_time": "—", "mchid": s.wp.creds.MchID} {
				if got := res.text(`[data-testid="field-` + field + `"]`); got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			// Shown in Asia/Shanghai, to the second WeChat Pay gives.
			success := s.sandboxState(t, "LOOKUP-1").SuccessTime.Truncate(time.Second)
			if got, want := res.text(`[data-testid="field-authorization_success_time"]`), success.In(views.Shanghai).Format("2006-01-02 15:04:05"); got != want {
				t.Errorf("success time = %q, want %q", got, want)
			}
			if res.has(`[data-testid="upstream-error"]`) {
				t.Errorf("upstream error shown: %q", res.text(`[data-testid="upstream-error"]`))
			}
			if got, want := res.doc.Find(`[data-testid="callback-row"]`).Length(), 1; got != want {
				t.Errorf("callback rows = %d, want %d", got, want)
			}
			if got, want := res.has(`[data-testid="history-link"]`), true; got != want {
				t.Errorf("link in history = %v, want %v", got, want)
			}
			if got, want := res.has(`[data-testid="history-link-href"]`), tt.wantLinkHref; got != want {
				t.Errorf("link to /links/{id} = %v, want %v", got, want)
			}
			if got, want := res.has(`[data-testid="terminate-form"]`), tt.wantTerminate; got != want {
				t.Errorf("terminate form = %v, want %v", got, want)
			}
			// The navigation (and its copy in the phone menu) lists it once.
			for _, nav := range []string{`[data-testid="nav"]`, `[data-testid="menu"] nav`} {
				if got, want := res.doc.Find(nav+` a[href="/authorizations"]`).Length(), 1; got != want {
					t.Errorf("%s: nav entries for the look-up = %d, want %d", nav, got, want)
				}
			}
		})
	}
	a, err := s.db.AuthorizationByCode(context.Background(), "LOOKUP-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Source, "query"; got != want {
		t.Errorf("local source = %q, want %q (the look-up records what it learned)", got, want)
	}
	if a.OpenID == "" || a.UserLabel == "" {
		t.Errorf("local authorization %+v lacks openid or user_label", a)
	}
}

func TestLookupForm(t *testing.T) {
	s := newSupportServer(t)
	ctx := context.Background()
	// Pre-authorized outside the console: unknown locally.
	if _, err := s.wp.client.PreAuthorize(ctx, payscore.PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: "ELSEWHERE-1"}); err != nil {
		t.Fatal(err)
	}
	tc := s.client(t, store.RoleViewer)
	tests := []struct {
		name        string
		path        string
		wantStatus  int
		wantError   string // field with an error message
		wantAsk     bool
		wantState   string
		wantUpCode  string
		wantKeptVal string
	}{
		{name: "OKEmpty", path: "/authorizations", wantStatus: http.StatusOK},
		{name: "ErrCodeCharset", path: lookupPath("bad code!"), wantStatus: http.StatusUnprocessableEntity, wantError: "authorization_code", wantKeptVal: "bad code!"},
		{name: "ErrCodeEmpty", path: lookupPath(""), wantStatus: http.StatusUnprocessableEntity, wantError: "authorization_code"},
		{name: "ErrCodeTooLong", path: lookupPath(strings.Repeat("A", 33)), wantStatus: http.StatusUnprocessableEntity, wantError: "authorization_code", wantKeptVal: strings.Repeat("A", 33)},
		{name: "OKUnknownAsksSubMchID", path: lookupPath("ELSEWHERE-1"), wantStatus: http.StatusOK, wantAsk: true, wantKeptVal: "ELSEWHERE-1"},
		{name: "ErrSubMchIDUnregistered", path: lookupPath("ELSEWHERE-1", "sub_mchid", "1999999999"), wantStatus: http.StatusUnprocessableEntity, wantAsk: true, wantError: "sub_mchid"},
		{name: "ErrOrderNotExist", path: lookupPath("NOWHERE-1", "sub_mchid", testSubMchID), wantStatus: http.StatusNotFound, wantAsk: true, wantUpCode: payscore.CodeOrderNotExist},
		{name: "OKUnknownWithSubMchID", path: lookupPath("ELSEWHERE-1", "sub_mchid", testSubMchID), wantStatus: http.StatusOK, wantAsk: true, wantState: "UNBINDUSER"},
		// Learned by the previous look-up: now known locally.
		{name: "OKKnownAfterQuery", path: lookupPath("ELSEWHERE-1"), wantStatus: http.StatusOK, wantState: "UNBINDUSER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.get(t, tt.path)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
			}
			if !res.has(`[data-testid="lookup-form"]`) {
				t.Error("no look-up form")
			}
			if tt.wantError != "" && res.text(`[data-testid="error-`+tt.wantError+`"]`) == "" {
				t.Errorf("no message for %s", tt.wantError)
			}
			if tt.wantError == "" && res.has(`.field-error`) {
				t.Errorf("unexpected field error %q", res.text(`.field-error`))
			}
			if tt.wantKeptVal != "" {
				if got, want := res.doc.Find(`input[name="q"]`).AttrOr("value", ""), tt.wantKeptVal; got != want {
					t.Errorf("typed code = %q, want %q kept", got, want)
				}
			}
			if got, want := res.has(`select[name="sub_mchid"]`), tt.wantAsk; got != want {
				t.Errorf("sub_mchid select = %v, want %v", got, want)
			}
			if tt.wantAsk {
				if got, want := res.doc.Find(`select[name="sub_mchid"] option[value="`+testSubMchID+`"]`).Length(), 1; got != want {
					t.Errorf("registered sub-merchant options = %d, want %d", got, want)
				}
			}
			if got, want := res.text(`[data-testid="live"] [data-testid="state-badge"]`), tt.wantState; got != want {
				t.Errorf("live state = %q, want %q", got, want)
			}
			if got, want := res.text(`[data-testid="upstream-code"]`), tt.wantUpCode; got != want {
				t.Errorf("upstream code = %q, want %q", got, want)
			}
			if tt.wantUpCode == payscore.CodeOrderNotExist {
				if got, want := res.text(`[data-testid="upstream-explanation"]`), views.Tr(views.LangZH, "upstream.ORDER_NOT_EXIST"); got != want {
					t.Errorf("explanation = %q, want %q", got, want)
				}
				if got, want := res.text(`[data-testid="upstream-remedy"]`), views.Tr(views.LangZH, "upstream.ORDER_NOT_EXIST.do"); got != want {
					t.Errorf("remedy = %q, want %q", got, want)
				}
			}
		})
	}
	// The code learned with a chosen sub-merchant is recorded with it.
	a, err := s.db.AuthorizationByCode(ctx, "ELSEWHERE-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.SubMchID, testSubMchID; got != want {
		t.Errorf("recorded sub_mchid = %q, want %q", got, want)
	}
	if _, err := s.db.AuthorizationByCode(ctx, "NOWHERE-1"); err == nil {
		t.Error("a code WeChat Pay does not know was recorded")
	}
}

func TestLookupUpstreamDown(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "DOWN-1")
	tc := s.client(t, store.RoleSupport)
	s.clock.Advance(12 * time.Minute)
	t.Run("ErrSystemError", func(t *testing.T) {
		s.wp.sb.InjectFault(sandbox.FaultSystemError, 10)
		defer s.wp.sb.ClearFaults()
		res := tc.get(t, lookupPath("DOWN-1"))
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-explanation"]`), views.Tr(views.LangZH, "upstream.SYSTEM_ERROR"); got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-remedy"]`), views.Tr(views.LangZH, "upstream.SYSTEM_ERROR.do"); got != want {
			t.Errorf("remedy = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="local-badge"]`), "AVAILABLE"; got != want {
			t.Errorf("last known state = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="local-age"]`), "12 分钟前"; got != want {
			t.Errorf("age = %q, want %q", got, want)
		}
		if res.has(`[data-testid="live"]`) {
			t.Error("a live answer is shown although the query failed")
		}
		// Its state cannot be learned now: support may still end it.
		if !res.has(`[data-testid="terminate-form"]`) {
			t.Error("no terminate form while WeChat Pay is down")
		}
		if !res.has(`[data-testid="history-callbacks"]`) {
			t.Error("no history beside the error")
		}
	})
	t.Run("ErrBadSignature", func(t *testing.T) {
		// WeChat Pay has it closed, but its answer is forged: not believed.
		if err := s.wp.sb.UserClose(context.Background(), "DOWN-1"); err != nil {
			t.Fatal(err)
		}
		s.wp.sb.InjectFault(sandbox.FaultBadSignature, 3)
		defer s.wp.sb.ClearFaults()
		res := tc.get(t, lookupPath("DOWN-1"))
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-explanation"]`), views.Tr(views.LangZH, "support.err.badsig"); got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="local-badge"]`), "AVAILABLE"; got != want {
			t.Errorf("last known state = %q, want %q", got, want)
		}
		if got, want := s.localState(t, "DOWN-1"), store.StateAvailable; got != want {
			t.Errorf("local state = %q, want %q unchanged", got, want)
		}
	})
	t.Run("OKAfterRecovery", func(t *testing.T) {
		res := tc.get(t, lookupPath("DOWN-1"))
		if got, want := res.status, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="state-badge"]`), "UNAVAILABLE"; got != want {
			t.Errorf("state = %q, want %q", got, want)
		}
		if res.has(`[data-testid="terminate-form"]`) {
			t.Error("terminate form offered for an ended authorization")
		}
		if got, want := s.localState(t, "DOWN-1"), store.StateUnavailable; got != want {
			t.Errorf("local state = %q, want %q", got, want)
		}
	})
}

func TestLookupFragment(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "FRAG-1")
	tc := s.client(t, store.RoleViewer)
	tests := []struct {
		name       string
		path       string
		headers    []string
		wantStatus int
		wantFull   bool
	}{
		{"OKFragment", lookupPath("FRAG-1"), []string{"HX-Request", "true"}, http.StatusOK, false},
		{"ErrFragment", lookupPath("bad!"), []string{"HX-Request", "true"}, http.StatusUnprocessableEntity, false},
		{"OKBoostedIsFullPage", lookupPath("FRAG-1"), []string{"HX-Request", "true", "HX-Boosted", "true"}, http.StatusOK, true},
		{"OKHistoryRestoreIsFullPage", lookupPath("FRAG-1"), []string{"HX-Request", "true", "HX-History-Restore-Request", "true"}, http.StatusOK, true},
		{"OKFullPage", lookupPath("FRAG-1"), nil, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.get(t, tt.path, tt.headers...)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.has(`header.top`), tt.wantFull; got != want {
				t.Errorf("layout present = %v, want %v", got, want)
			}
			if got, want := strings.Contains(res.body, "<html"), tt.wantFull; got != want {
				t.Errorf("<html> present = %v, want %v", got, want)
			}
			if !res.has(`#lookup [data-testid="lookup-form"]`) {
				t.Error("the fragment lacks the look-up form")
			}
			if vary := strings.Join(res.header.Values("Vary"), ", "); !strings.Contains(vary, "HX-Request") {
				t.Errorf("Vary = %q, want HX-Request", vary)
			}
		})
	}
}

// confirmForm is the form that confirms a termination.
func confirmForm(reason string, extra ...string) url.Values {
	f := url.Values{"reason": {reason}, "confirm": {"1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func terminatePath(code string) string {
	return "/authorizations/" + url.PathEscape(code) + "/terminate"
}

func TestTerminateValidation(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "VALID-1")
	tc := s.client(t, store.RoleSupport)
	reason50 := strings.Repeat("用", 48) + "解除"
	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus int
		wantError  bool
		wantStep   string // testid of the step shown
		wantReason string // the reason kept in the form or shown to confirm
	}{
		{"ErrReasonEmpty", terminatePath("VALID-1"), url.Values{"reason": {""}}, http.StatusUnprocessableEntity, true, "terminate-form", ""},
		{"ErrReasonBlank", terminatePath("VALID-1"), url.Values{"reason": {"\u3000 "}}, http.StatusUnprocessableEntity, true, "terminate-form", ""},
		{"ErrReasonTooLong", terminatePath("VALID-1"), url.Values{"reason": {reason50 + "了"}}, http.StatusUnprocessableEntity, true, "terminate-form", reason50 + "了"},
		{"ErrReasonControl", terminatePath("VALID-1"), url.Values{"reason": {"用户\x01申请"}}, http.StatusUnprocessableEntity, true, "terminate-form", "用户\x01申请"},
		{"ErrReasonTooLongConfirmed", terminatePath("VALID-1"), confirmForm(reason50 + "了"), http.StatusUnprocessableEntity, true, "terminate-form", reason50 + "了"},
		{"OKReason50Runes", terminatePath("VALID-1"), url.Values{"reason": {reason50}}, http.StatusOK, false, "confirm", reason50},
		{"OKCommonReason", terminatePath("VALID-1"), url.Values{"reason": {" 用户申请解除 "}}, http.StatusOK, false, "confirm", "用户申请解除"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.post(t, tt.path, tt.form)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
			}
			if got, want := res.has(`[data-testid="error-reason"]`), tt.wantError; got != want {
				t.Errorf("reason error shown = %v, want %v", got, want)
			}
			if !res.has(`[data-testid="` + tt.wantStep + `"]`) {
				t.Errorf("step %s not shown", tt.wantStep)
			}
			if got, want := res.text(`[data-testid="terminate"] [data-testid="field-sub_mchid"]`), testSubMchID; got != want {
				t.Errorf("sub_mchid = %q, want %q", got, want)
			}
			if tt.wantStep == "confirm" {
				if got, want := res.text(`[data-testid="confirm-reason"]`), tt.wantReason; got != want {
					t.Errorf("reason to confirm = %q, want %q", got, want)
				}
				if got, want := res.doc.Find(`[data-testid="confirm-form"] input[name="confirm"]`).AttrOr("value", ""), "1"; got != want {
					t.Errorf("confirm = %q, want %q", got, want)
				}
				if res.has(`[data-testid="reauth"]`) {
					t.Error("password asked right after sign-in")
				}
			} else if got, want := res.doc.Find(`input[name="reason"]`).AttrOr("value", ""), tt.wantReason; got != want {
				t.Errorf("typed reason = %q, want %q kept", got, want)
			}
		})
	}
	if got := s.auditActions(t, "VALID-1")[service.AuditTerminateRequest]; got != 0 {
		t.Errorf("terminate.request entries = %d, want 0: nothing was confirmed", got)
	}
	if got, want := s.sandboxState(t, "VALID-1").State, sandbox.StateAvailable; got != want {
		t.Errorf("sandbox state = %s, want %s", got, want)
	}
}

func TestTerminateAccess(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "ACCESS-1")
	tests := []struct {
		role       string
		path       string
		wantStatus int
	}{
		{"", terminatePath("ACCESS-1"), http.StatusUnauthorized},
		{store.RoleViewer, terminatePath("ACCESS-1"), http.StatusForbidden},
		{store.RoleOperator, terminatePath("ACCESS-1"), http.StatusForbidden},
		{store.RoleSupport, terminatePath("UNKNOWN-1"), http.StatusNotFound},
		{store.RoleAdmin, terminatePath("bad!code"), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(roleName(tt.role)+" "+tt.path, func(t *testing.T) {
			res := s.client(t, tt.role).post(t, tt.path, confirmForm("用户申请解除"))
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.text(`[data-testid="error"] .code`), itoa(tt.wantStatus); got != want {
				t.Errorf("error page code = %q, want %q", got, want)
			}
		})
	}
	t.Run("ErrGET", func(t *testing.T) {
		res := s.client(t, store.RoleAdmin).get(t, terminatePath("ACCESS-1"))
		if res.status != http.StatusMethodNotAllowed && res.status != http.StatusNotFound {
			t.Errorf("GET status = %d, want 405 or 404", res.status)
		}
	})
	if got, want := s.sandboxState(t, "ACCESS-1").State, sandbox.StateAvailable; got != want {
		t.Errorf("sandbox state = %s, want %s", got, want)
	}
	if got := s.auditActions(t, "ACCESS-1")[service.AuditTerminateRequest]; got != 0 {
		t.Errorf("terminate.request entries = %d, want 0", got)
	}
}

func TestTerminateOK(t *testing.T) {
	for _, role := range []string{store.RoleSupport, store.RoleAdmin} {
		t.Run("OK"+role, func(t *testing.T) {
			s := newSupportServer(t)
			s.active(t, "TERM-1")
			tc := s.client(t, role)
			const reason = "用户申请解除"
			res := tc.post(t, terminatePath("TERM-1"), confirmForm(reason))
			if got, want := res.status, http.StatusSeeOther; got != want {
				t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
			}
			if got, want := res.header.Get("Location"), views.LookupURL("TERM-1"); got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			sb := s.sandboxState(t, "TERM-1")
			if sb.State != sandbox.StateUnavailable || sb.TerminateReason != reason {
				t.Errorf("sandbox: state %s reason %q, want UNAVAILABLE %q", sb.State, sb.TerminateReason, reason)
			}
			terms, err := s.db.TerminationsByCode(context.Background(), "TERM-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded || terms[0].RequestID == "" ||
				terms[0].Reason != reason || terms[0].SubMchID != testSubMchID || terms[0].Username != role {
				t.Errorf("terminations = %+v, want one succeeded with a Request-ID, by %s", terms, role)
			}
			entries, err := s.db.AuditLog(context.Background(), store.AuditFilter{Target: "TERM-1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Fatalf("audit entries = %+v, want 2", entries)
			}
			// Newest first.
			req, result := entries[1], entries[0]
			if req.Action != service.AuditTerminateRequest || req.Result != store.TerminationPending || req.Username != role || req.Reason != reason || req.IP == "" {
				t.Errorf("request entry = %+v", req)
			}
			if result.Action != service.AuditTerminateResult || result.Result != store.TerminationSucceeded || result.RequestID != terms[0].RequestID || result.Username != role {
				t.Errorf("result entry = %+v", result)
			}
			if got, want := s.localState(t, "TERM-1"), store.StateUnavailable; got != want {
				t.Errorf("local state = %q, want %q after the re-query", got, want)
			}
			page := tc.get(t, res.header.Get("Location"))
			if got := page.text(`[data-testid="flash"]`); !strings.Contains(got, "UNAVAILABLE") || !strings.Contains(got, "TERM-1") {
				t.Errorf("flash = %q, want the new state", got)
			}
			if got, want := page.text(`[data-testid="termination-status"]`), "成功"; got != want {
				t.Errorf("termination in history = %q, want %q", got, want)
			}
			if got, want := page.doc.Find(`[data-testid="audit-action"]`).Length(), 2; got != want {
				t.Errorf("audit rows in history = %d, want %d", got, want)
			}
		})
	}
}

func TestTerminateReauth(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "REAUTH-1")
	tc := s.client(t, store.RoleSupport)
	s.clock.Advance(16 * time.Minute)
	const reason = "商户停止服务"
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantReauth bool
		wantError  bool
	}{
		{"OKConfirmAsksPassword", url.Values{"reason": {reason}}, http.StatusOK, true, false},
		{"ErrPasswordMissing", confirmForm(reason), http.StatusUnprocessableEntity, true, true},
		{"ErrPasswordWrong", confirmForm(reason, "password", "not the password"), http.StatusUnprocessableEntity, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.post(t, terminatePath("REAUTH-1"), tt.form)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.has(`[data-testid="reauth"]`) && res.has(`input[name="password"][type="password"]`), tt.wantReauth; got != want {
				t.Errorf("password asked = %v, want %v", got, want)
			}
			if got, want := res.has(`[data-testid="error-password"]`), tt.wantError; got != want {
				t.Errorf("password error = %v, want %v", got, want)
			}
			if got, want := res.doc.Find(`[data-testid="confirm-form"] input[name="reason"]`).AttrOr("value", ""), reason; got != want {
				t.Errorf("reason = %q, want %q kept", got, want)
			}
		})
	}
	if got, want := s.sandboxState(t, "REAUTH-1").State, sandbox.StateAvailable; got != want {
		t.Fatalf("sandbox state after wrong passwords = %s, want %s", got, want)
	}
	actions := s.auditActions(t, "REAUTH-1")
	if got, want := actions[service.AuditTerminateReauth], 1; got != want {
		t.Errorf("terminate.reauth entries = %d, want %d (the wrong password; a missing one guesses nothing)", got, want)
	}
	if got := actions[service.AuditTerminateRequest]; got != 0 {
		t.Errorf("terminate.request entries = %d, want 0", got)
	}
	t.Run("OKPassword", func(t *testing.T) {
		res := tc.post(t, terminatePath("REAUTH-1"), confirmForm(reason, "password", testPassword))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := s.sandboxState(t, "REAUTH-1").State, sandbox.StateUnavailable; got != want {
			t.Errorf("sandbox state = %s, want %s", got, want)
		}
		// The password was just given: the next confirm step does not ask.
		s.active(t, "REAUTH-2")
		next := tc.post(t, terminatePath("REAUTH-2"), url.Values{"reason": {reason}})
		if next.has(`[data-testid="reauth"]`) {
			t.Error("password asked again right after it was given")
		}
	})
}

func TestTerminateReauthLimit(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "LIMIT-1")
	tc := s.client(t, store.RoleAdmin)
	s.clock.Advance(20 * time.Minute)
	for i := 1; i <= service.MaxReauthFailures; i++ {
		res := tc.post(t, terminatePath("LIMIT-1"), confirmForm("风险控制", "password", "wrong password "+itoa(i)))
		want := http.StatusUnprocessableEntity
		if i == service.MaxReauthFailures {
			want = http.StatusSeeOther
		}
		if got := res.status; got != want {
			t.Fatalf("attempt %d: status = %d, want %d", i, got, want)
		}
	}
	if tc.signedIn(t) {
		t.Error("still signed in after too many wrong passwords")
	}
	if got, want := s.sandboxState(t, "LIMIT-1").State, sandbox.StateAvailable; got != want {
		t.Errorf("sandbox state = %s, want %s", got, want)
	}
}

func TestTerminateRefused(t *testing.T) {
	s := newSupportServer(t)
	s.link(t, "REFUSE-1") // pre-authorized, never agreed: nothing to end
	tc := s.client(t, store.RoleSupport)
	res := tc.post(t, terminatePath("REFUSE-1"), confirmForm("重复授权"))
	if got, want := res.status, http.StatusConflict; got != want {
		t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
	}
	if got, want := res.text(`[data-testid="upstream-code"]`), payscore.CodeInvalidOrderState; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got, want := res.text(`[data-testid="upstream-explanation"]`), views.Tr(views.LangZH, "upstream.INVALID_ORDER_STATE"); got != want {
		t.Errorf("explanation = %q, want %q", got, want)
	}
	if got, want := res.text(`[data-testid="upstream-remedy"]`), views.Tr(views.LangZH, "upstream.INVALID_ORDER_STATE.do"); got != want {
		t.Errorf("remedy = %q, want %q", got, want)
	}
	if got, want := res.text(`[data-testid="outcome"]`), views.Tr(views.LangZH, "support.outcome.failed"); got != want {
		t.Errorf("outcome = %q, want %q", got, want)
	}
	if got, want := res.text(`[data-testid="terminate-result"] [data-testid="state-badge"]`), "UNBINDUSER"; got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
	terms, _ := s.db.TerminationsByCode(context.Background(), "REFUSE-1")
	if len(terms) != 1 || terms[0].Status != store.TerminationFailed || terms[0].ErrorCode != payscore.CodeInvalidOrderState || terms[0].RequestID == "" {
		t.Errorf("terminations = %+v, want one failed INVALID_ORDER_STATE with a Request-ID", terms)
	}
	if got := s.auditActions(t, "REFUSE-1"); got[service.AuditTerminateRequest] != 1 || got[service.AuditTerminateResult] != 1 {
		t.Errorf("audit = %v, want one request and one result", got)
	}
}

func TestTerminateOutcomeUnknown(t *testing.T) {
	s := newSupportServer(t)
	tests := []struct {
		name        string
		fault       sandbox.FaultKind
		faults      int
		wantStatus  int
		wantTerm    string // termination status
		wantSandbox string
		wantOutcome string // testid outcome text key, for a page
	}{
		// The terminate answer forged, the work done: a query confirms it.
		{"OKBadSignatureConfirmedByQuery", sandbox.FaultBadSignature, 1, http.StatusSeeOther, store.TerminationSucceeded, sandbox.StateUnavailable, ""},
		// 500 three times, nothing done: the query shows it still on.
		{"ErrSystemErrorNotDone", sandbox.FaultSystemError, 3, http.StatusBadGateway, store.TerminationFailed, sandbox.StateAvailable, "support.outcome.failed"},
		// The query fails too: the outcome stays unknown, pending.
		{"ErrUnknownLeftPending", sandbox.FaultSystemError, 6, http.StatusBadGateway, store.TerminationPending, sandbox.StateAvailable, "support.outcome.pending"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := "UNKNOWN-" + itoa(i)
			s.active(t, code)
			tc := s.client(t, store.RoleSupport)
			s.wp.sb.InjectFault(tt.fault, tt.faults)
			defer s.wp.sb.ClearFaults()
			res := tc.post(t, terminatePath(code), confirmForm("风险控制"))
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
			}
			if tt.wantOutcome != "" {
				if got, want := res.text(`[data-testid="outcome"]`), views.Tr(views.LangZH, tt.wantOutcome); got != want {
					t.Errorf("outcome = %q, want %q", got, want)
				}
				if got, want := res.text(`[data-testid="upstream-explanation"]`), views.Tr(views.LangZH, "upstream.SYSTEM_ERROR"); got != want {
					t.Errorf("explanation = %q, want %q", got, want)
				}
			} else {
				page := tc.get(t, res.header.Get("Location"))
				if got, want := page.text(`[data-testid="flash"]`), views.Tr(views.LangZH, "support.terminate.done.confirmed"); !strings.HasPrefix(got, want[:strings.Index(want, "%s")]) {
					t.Errorf("flash = %q, want it to say a query confirmed it", got)
				}
			}
			terms, _ := s.db.TerminationsByCode(context.Background(), code)
			if len(terms) != 1 || terms[0].Status != tt.wantTerm {
				t.Errorf("terminations = %+v, want one %s", terms, tt.wantTerm)
			}
			if got, want := s.sandboxState(t, code).State, tt.wantSandbox; got != want {
				t.Errorf("sandbox state = %s, want %s", got, want)
			}
			wantResults := 1
			if tt.wantTerm == store.TerminationPending {
				wantResults = 0
			}
			if got := s.auditActions(t, code); got[service.AuditTerminateRequest] != 1 || got[service.AuditTerminateResult] != wantResults {
				t.Errorf("audit = %v, want 1 request and %d result", got, wantResults)
			}
		})
	}
	t.Run("OKPendingResolvedAtStart", func(t *testing.T) {
		code := "UNKNOWN-2" // left pending above
		if err := s.svc.Terminations.ResolvePending(context.Background(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		terms, _ := s.db.TerminationsByCode(context.Background(), code)
		if len(terms) != 1 || terms[0].Status != store.TerminationFailed || terms[0].ErrorMessage != service.InterruptedMessage {
			t.Errorf("terminations = %+v, want failed %q", terms, service.InterruptedMessage)
		}
		// No longer in flight: a new request may go through.
		tc := s.client(t, store.RoleSupport)
		res := tc.post(t, terminatePath(code), confirmForm("风险控制"))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
	})
}

// gatedPayScore holds Terminate calls until released, and counts them.
type gatedPayScore struct {
	service.PayScore
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (g *gatedPayScore) Terminate(ctx context.Context, req payscore.TerminateRequest) (string, error) {
	g.calls.Add(1)
	g.entered <- struct{}{}
	<-g.release
	return g.PayScore.Terminate(ctx, req)
}

func TestTerminateConcurrent(t *testing.T) {
	gate := &gatedPayScore{entered: make(chan struct{}, 2), release: make(chan struct{})}
	s := newSupportServer(t, withPayScore(func(p service.PayScore) service.PayScore { gate.PayScore = p; return gate }))
	s.active(t, "TWICE-1")
	first, second := s.client(t, store.RoleSupport), s.client(t, store.RoleAdmin)
	var wg sync.WaitGroup
	var firstRes *response
	wg.Add(1)
	go func() {
		defer wg.Done()
		firstRes = first.post(t, terminatePath("TWICE-1"), confirmForm("用户申请解除"))
	}()
	<-gate.entered // the first is in flight, between its pending record and its outcome
	res := second.post(t, terminatePath("TWICE-1"), confirmForm("重复授权"))
	close(gate.release)
	wg.Wait()
	if got, want := res.status, http.StatusConflict; got != want {
		t.Fatalf("second submit: status = %d, want %d", got, want)
	}
	if got, want := res.text(`[data-testid="error"] p`), "已有解除请求在处理中"; !strings.HasPrefix(got, want) {
		t.Errorf("second submit says %q, want %q", got, want)
	}
	if got, want := firstRes.status, http.StatusSeeOther; got != want {
		t.Errorf("first submit: status = %d, want %d", got, want)
	}
	if got, want := gate.calls.Load(), int32(1); got != want {
		t.Errorf("Terminate calls = %d, want %d", got, want)
	}
	if got := s.auditActions(t, "TWICE-1"); got[service.AuditTerminateRequest] != 1 || got[service.AuditTerminateResult] != 1 {
		t.Errorf("audit = %v, want one request and one result", got)
	}
	if got, want := s.sandboxState(t, "TWICE-1").TerminateReason, "用户申请解除"; got != want {
		t.Errorf("sandbox reason = %q, want the first submit's %q", got, want)
	}
}

func TestResolvePendingTerminations(t *testing.T) {
	s := newSupportServer(t)
	ctx := context.Background()
	for _, code := range []string{"PEND-STUCK", "PEND-DONE", "PEND-NOTDONE"} {
		s.active(t, code)
		if _, err := s.db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: testSubMchID, Reason: "风险控制", UserID: s.users[store.RoleSupport].ID},
			store.AuditEntry{Action: service.AuditTerminateRequest, Target: code, Result: store.TerminationPending}); err != nil {
			t.Fatal(err)
		}
	}
	// The crash came after WeChat Pay ended PEND-DONE, before we recorded it.
	if _, err := s.wp.client.Terminate(ctx, payscore.TerminateRequest{AuthorizationCode: "PEND-DONE", SubMchID: testSubMchID, Reason: "风险控制"}); err != nil {
		t.Fatal(err)
	}
	// PEND-STUCK is resolved first; WeChat Pay cannot answer it.
	s.wp.sb.InjectFault(sandbox.FaultSystemError, 3)
	err := s.svc.Terminations.ResolvePending(ctx, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "PEND-STUCK") {
		t.Errorf("error = %v, want one naming PEND-STUCK", err)
	}
	tests := []struct {
		code       string
		wantStatus string
		wantMsg    string
		wantState  string
	}{
		{"PEND-STUCK", store.TerminationPending, "", store.StateAvailable},
		{"PEND-DONE", store.TerminationSucceeded, "", store.StateUnavailable},
		{"PEND-NOTDONE", store.TerminationFailed, service.InterruptedMessage, store.StateAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			terms, err := s.db.TerminationsByCode(ctx, tt.code)
			if err != nil || len(terms) != 1 {
				t.Fatalf("terminations = %+v, %v", terms, err)
			}
			got := terms[0]
			if got.Status != tt.wantStatus || got.ErrorMessage != tt.wantMsg {
				t.Errorf("termination = %+v, want %s %q", got, tt.wantStatus, tt.wantMsg)
			}
			if tt.wantStatus != store.TerminationPending && got.RequestID == "" {
				t.Error("no Request-ID of the query recorded")
			}
			if st := s.localState(t, tt.code); st != tt.wantState {
				t.Errorf("local state = %s, want %s", st, tt.wantState)
			}
			entries, _ := s.db.AuditLog(ctx, store.AuditFilter{Target: tt.code, Action: service.AuditTerminateResult})
			wantEntries := 1
			if tt.wantStatus == store.TerminationPending {
				wantEntries = 0
			}
			if len(entries) != wantEntries {
				t.Fatalf("result entries = %+v, want %d", entries, wantEntries)
			}
			if wantEntries == 1 && (entries[0].Username != service.SystemUsername || entries[0].UserID != 0 || entries[0].Result != tt.wantStatus) {
				t.Errorf("result entry = %+v, want by the system", entries[0])
			}
		})
	}
	// Once WeChat Pay answers again, the stuck one is settled too.
	if err := s.svc.Terminations.ResolvePending(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if terms, _ := s.db.TerminationsByCode(ctx, "PEND-STUCK"); terms[0].Status != store.TerminationFailed {
		t.Errorf("stuck termination = %+v, want failed", terms[0])
	}
}

func TestReconcile(t *testing.T) {
	s := newSupportServer(t)
	ctx := context.Background()
	// Active, then closed by the user in WeChat; the close notification lost.
	s.active(t, "RECON-CLOSED")
	if err := s.wp.sb.UserClose(ctx, "RECON-CLOSED"); err != nil {
		t.Fatal(err)
	}
	// The user agreed, but the notification never arrived.
	tok := s.link(t, "RECON-LOST")
	if _, err := s.wp.sb.Agree(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// A link nobody used.
	s.link(t, "RECON-UNUSED")

	t.Run("OKNothingDueYet", func(t *testing.T) {
		n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour)
		if err != nil || n != 0 {
			t.Fatalf("Reconcile = %d, %v; want 0 before tokens expire", n, err)
		}
		if got, want := s.localState(t, "RECON-LOST"), store.StateUnbindUser; got != want {
			t.Errorf("state = %s, want %s", got, want)
		}
	})
	t.Run("OKExpiredLinks", func(t *testing.T) {
		s.clock.Advance(2 * time.Hour)
		n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := n, 2; got != want {
			t.Errorf("checked = %d, want %d (the two expired links)", got, want)
		}
		a, err := s.db.AuthorizationByCode(ctx, "RECON-LOST")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != store.StateAvailable || a.Source != service.SourceReconcile || a.OpenID == "" {
			t.Errorf("RECON-LOST = %+v, want AVAILABLE from reconcile with an openid", a)
		}
		if got, want := s.localState(t, "RECON-UNUSED"), store.StateUnbindUser; got != want {
			t.Errorf("RECON-UNUSED = %s, want %s", got, want)
		}
		// Reconciled links are not asked again.
		if n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour); err != nil || n != 0 {
			t.Errorf("second run = %d, %v; want 0", n, err)
		}
	})
	t.Run("OKStaleAuthorizations", func(t *testing.T) {
		s.clock.Advance(25 * time.Hour)
		n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// RECON-LOST and RECON-CLOSED are AVAILABLE and stale; RECON-UNUSED
		// is UNBINDUSER behind a reconciled link: not asked.
		if got, want := n, 2; got != want {
			t.Errorf("checked = %d, want %d", got, want)
		}
		if got, want := s.localState(t, "RECON-CLOSED"), store.StateUnavailable; got != want {
			t.Errorf("RECON-CLOSED = %s, want %s", got, want)
		}
		// UNAVAILABLE is final: not asked again.
		s.clock.Advance(25 * time.Hour)
		if n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour); err != nil || n != 1 {
			t.Errorf("next run = %d, %v; want 1 (only RECON-LOST)", n, err)
		}
	})
	t.Run("OKErrorsAreNotFatal", func(t *testing.T) {
		s.clock.Advance(25 * time.Hour)
		s.wp.sb.InjectFault(sandbox.FaultSystemError, 3)
		defer s.wp.sb.ClearFaults()
		n, err := s.svc.Reconciler.Reconcile(ctx, 24*time.Hour)
		if err != nil || n != 0 {
			t.Errorf("Reconcile = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("OKMetrics", func(t *testing.T) {
		res := s.client(t, "").get(t, "/metrics", metricsAuth...)
		for _, want := range []string{`payscore_reconcile_total{outcome="changed"} 2`, `payscore_reconcile_total{outcome="error"} 1`} {
			if !strings.Contains(res.body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
	t.Run("OKRunnerStops", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		done := make(chan struct{})
		go func() { s.svc.Reconciler.Run(ctx, time.Hour, 24*time.Hour); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunReconciler did not return after its context ended")
		}
	})
}
