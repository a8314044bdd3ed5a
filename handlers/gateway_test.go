package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestCertificateRotation (issue 9, item 8): in platform-certificate mode
// (here combined with the public key, as wiring runs the sandbox console)
// the console downloads WeChat Pay's certificates with the official SDK's
// downloader; after the sandbox rotates its certificate, notifications and
// answers signed with the new one are accepted without a restart, and the
// overview says which key signed what and when each certificate expires.
func TestCertificateRotation(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	certs := wp.certs
	if certs == nil {
		t.Fatal("the sandbox console runs without platform certificates")
	}
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	if err := certs.Refresh(ctx); err != nil { // serve runs certs.Run
		t.Fatalf("first download: %v", err)
	}
	first := wp.sb.PlatformCertificates()[0].Serial
	op := ts.client(t, store.RoleOperator)

	// agree creates a link (its answer signed in the sandbox's current
	// mode), has the user agree and delivers the notification; it returns
	// the serial that signed it.
	agree := func(t *testing.T) string {
		t.Helper()
		l := createLinkHTTP(t, op, "1900000001", "")
		if _, err := wp.sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		wp.deliver(t)
		ns, err := wp.sb.Notifications(ctx, l.AuthorizationCode)
		if err != nil || len(ns) != 1 || len(ns[0].Attempts) == 0 {
			t.Fatalf("notifications = %+v, %v", ns, err)
		}
		if a := ns[0].Attempts[len(ns[0].Attempts)-1]; !a.OK() {
			t.Fatalf("the console refused the notification: %d %s", a.StatusCode, a.Error)
		}
		a, err := ts.db.AuthorizationByCode(ctx, l.AuthorizationCode)
		if err != nil || a.State != store.StateAvailable {
			t.Fatalf("authorization = %+v, %v; want AVAILABLE", a, err)
		}
		cbs, err := ts.db.Callbacks(ctx, store.CallbackFilter{AuthorizationCode: l.AuthorizationCode})
		if err != nil || len(cbs) != 1 {
			t.Fatalf("callbacks = %+v, %v", cbs, err)
		}
		return cbs[0].Serial
	}

	if got := agree(t); got != wp.creds.PublicKeyID {
		t.Errorf("public-key mode: signed by %q, want %q", got, wp.creds.PublicKeyID)
	}
	if err := wp.sb.SetSettings(ctx, sandbox.Settings{SignWithCertificate: true}); err != nil {
		t.Fatal(err)
	}
	if got := agree(t); got != first {
		t.Errorf("certificate mode: signed by %q, want %q", got, first)
	}
	rotated, err := wp.sb.RotatePlatformCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := certs.Get(ctx, rotated); ok {
		t.Fatal("the new certificate is known before anything named it")
	}
	// No restart, no refresh by hand: the first answer (pre-authorize) or
	// notification naming the new serial makes the console download it.
	if got := agree(t); got != rotated {
		t.Errorf("after rotation: signed by %q, want %q", got, rotated)
	}

	res := ts.client(t, store.RoleAdmin).get(t, "/")
	if res.status != http.StatusOK {
		t.Fatalf("overview status %d", res.status)
	}
	kinds := map[string]string{}
	res.doc.Find(`[data-testid="signing-key"]`).Each(func(_ int, s *goquery.Selection) {
		kinds[s.AttrOr("data-serial", "")] = s.AttrOr("data-kind", "")
	})
	for serial, want := range map[string]string{wp.creds.PublicKeyID: "public_key", first: "certificate", rotated: "certificate"} {
		if kinds[serial] != want {
			t.Errorf("signing key %s: kind %q, want %q (all %v)", serial, kinds[serial], want, kinds)
		}
	}
	expires := map[string]string{}
	res.doc.Find(`[data-testid="platform-certificate"]`).Each(func(_ int, s *goquery.Selection) {
		expires[s.AttrOr("data-serial", "")] = strings.TrimSpace(s.Find(`[data-testid="certificate-expires"]`).Text())
	})
	for _, pc := range wp.sb.PlatformCertificates() {
		if got, want := expires[pc.Serial], views.FormatTime(pc.NotAfter); got != want {
			t.Errorf("certificate %s expires %q, want %q", pc.Serial, got, want)
		}
	}
}

// TestUnsignedSignErrorScreen (issue 9, item 1): an unsigned 401
// SIGN_ERROR is shown as WeChat's answer — its code, message and
// Request-ID, the SIGN_ERROR explanation (merchant serial, private key,
// clock) and a note that it is unsigned — not as a forged answer pointing
// at the WeChat Pay public key.
func TestUnsignedSignErrorScreen(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := ts.client(t, store.RoleOperator)

	wp.sb.InjectFault(sandbox.FaultUnsigned401, 1)
	t.Cleanup(wp.sb.ClearFaults)
	res := op.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"SIGNERR-1"}})
	if got, want := res.status, http.StatusBadGateway; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	expl, remedy := views.Tr(views.LangZH, "upstream.SIGN_ERROR"), views.Tr(views.LangZH, "upstream.SIGN_ERROR.do")
	if got := res.text(`[data-testid="upstream-explanation"]`); got != expl || got == catalogZH("links.err.badsignature") {
		t.Errorf("explanation = %q, want %q", got, expl)
	}
	if got := res.text(`[data-testid="upstream-remedy"]`); got != remedy || !strings.Contains(got, "私钥") {
		t.Errorf("remedy = %q, want %q", got, remedy)
	}
	if got := res.text(`[data-testid="upstream-code"]`); got != payscore.CodeSignError {
		t.Errorf("code = %q", got)
	}
	if !strings.Contains(res.text(`[data-testid="upstream-error"]`), "签名错误") {
		t.Errorf("WeChat's message is missing: %q", res.text(`[data-testid="upstream-error"]`))
	}
	if res.text(`[data-testid="upstream-request-id"]`) == "" {
		t.Error("no Request-ID")
	}
	if got, want := res.text(`[data-testid="upstream-unsigned"]`), views.Tr(views.LangZH, "support.err.unsigned"); got != want {
		t.Errorf("unsigned note = %q, want %q", got, want)
	}
	audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Target: "SIGNERR-1"})
	if len(audit) != 1 || audit[0].Result != "failed: SIGN_ERROR" || audit[0].RequestID == "" {
		t.Errorf("audit = %+v, want one failed: SIGN_ERROR with its Request-ID", audit)
	}

	// The gateway's unsigned 429 is retried like a signed one.
	wp.sb.InjectFault(sandbox.FaultUnsigned429, 1)
	l := createLinkHTTP(t, op, "1900000001", "RETRY-429")
	if calls, _ := wp.sb.Calls(ctx, "RETRY-429"); len(calls) != 2 {
		t.Errorf("%d calls, want 2 (the 429, then the retry)", len(calls))
	}
	if l.Token == "" {
		t.Error("no token after the retry")
	}
}

// TestTokensWithPlusSlashEquals (issue 9, item 7): the sandbox issues
// tokens with "+", "/" and "=", as WeChat Pay's base64 tokens have; the
// landing page carries the token exactly and the link page's snippets
// URL-encode it where it goes into a query string.
func TestTokensWithPlusSlashEquals(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := ts.client(t, store.RoleOperator)
	var l *store.Link
	for i := 0; i < 40; i++ {
		c := createLinkHTTP(t, op, "1900000001", "")
		if strings.ContainsAny(c.Token, "+") && strings.Contains(c.Token, "/") && strings.Contains(c.Token, "=") {
			l = c
			break
		}
	}
	if l == nil {
		t.Fatal("no token with +, / and = in 40 links")
	}
	page := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10))
	enc := url.QueryEscape(l.Token)
	if enc == l.Token || !strings.Contains(enc, "%2B") || !strings.Contains(enc, "%2F") || !strings.Contains(enc, "%3D") {
		t.Fatalf("QueryEscape(%q) = %q", l.Token, enc)
	}
	for id, want := range map[string]string{
		"snippet-mp-open":     "apply_permissions_token: '" + l.Token + "'",
		"snippet-mp-navigate": "apply_permissions_token: '" + l.Token + "'",
		"snippet-android":     `req.query = "apply_permissions_token=` + enc + `"`,
		"snippet-ios":         `req.query = @"apply_permissions_token=` + enc + `"`,
		"snippet-h5":          "queryString: 'apply_permissions_token=" + enc + "'",
	} {
		if got := page.text(`[data-testid="` + id + `"]`); !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", id, want, got)
		}
	}
	phone := ts.anonymous(t)
	res := landingGet(t, phone, "/h5/"+l.Slug, uaWeChat801)
	if got := res.doc.Find(`[data-testid="landing"]`).AttrOr("data-token", ""); got != l.Token {
		t.Errorf("landing data-token = %q, want %q", got, l.Token)
	}
	// The sandbox's consent page (what the mini program opens) finds the
	// token from the encoded query the landing page's script builds
	// (encodeURIComponent, as url.PathEscape here for + / =).
	consent := phone.get(t, "/sandbox/payscore?apply_permissions_token="+url.QueryEscape(l.Token))
	if got := consent.doc.Find(`[data-testid=consent]`).AttrOr("data-stage", ""); consent.status != http.StatusOK || got != "form" {
		t.Errorf("consent page: status %d stage %q, want 200 form", consent.status, got)
	}
}
