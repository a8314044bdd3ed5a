package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestRenewAgreedLinkIssuesNewCode: a link whose user agreed and then
// closed the service is renewed with a NEW code in a new link pointing back
// to it; the old code is never pre-authorized again (the sandbox refuses
// that, as WeChat Pay does). The link pages explain which.
func TestRenewAgreedLinkIssuesNewCode(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := ts.client(t, store.RoleOperator)
	l := createLinkHTTP(t, op, "1900000001", "AGREED-LINK-1")
	path := "/links/" + strconv.FormatInt(l.ID, 10)

	// Nobody agreed yet: once expired, renewing keeps the code, and says so.
	ts.advanceActive(t, op, service.TokenLifetime+time.Minute)
	page := op.get(t, path)
	if got, want := page.text(`[data-testid="link-renew-help"]`), views.Tr(views.LangZH, "links.renew.help.keep"); got != want {
		t.Errorf("renew help = %q, want %q", got, want)
	}
	if res := op.post(t, path+"/renew", nil); res.status != http.StatusSeeOther || res.header.Get("Location") != path {
		t.Fatalf("keep-code renewal: %d %s", res.status, res.header.Get("Location"))
	}
	l, _ = ts.db.LinkByID(ctx, l.ID)

	// The user agrees, then closes the service in WeChat.
	if _, err := wp.sb.Agree(ctx, l.Token); err != nil {
		t.Fatal(err)
	}
	if err := wp.sb.UserClose(ctx, "AGREED-LINK-1"); err != nil {
		t.Fatal(err)
	}
	if got := wp.deliver(t); got < 2 {
		t.Fatalf("delivered %d notifications, want the open and the close", got)
	}
	page = op.get(t, path)
	if got, want := page.text(`[data-testid="link-renew-help"]`), views.Tr(views.LangZH, "links.renew.help.newcode"); got != want {
		t.Errorf("renew help = %q, want %q", got, want)
	}
	res := op.post(t, path+"/renew", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; %s", res.status, res.text(`[data-testid="upstream-error"]`))
	}
	loc := res.header.Get("Location")
	newID, err := strconv.ParseInt(strings.TrimPrefix(loc, "/links/"), 10, 64)
	if err != nil || newID == l.ID {
		t.Fatalf("Location = %q, want a new link", loc)
	}
	n, err := ts.db.LinkByID(ctx, newID)
	if err != nil {
		t.Fatal(err)
	}
	if n.AuthorizationCode == l.AuthorizationCode || n.RenewedFrom != l.ID || n.SubMchID != "1900000001" {
		t.Errorf("new link = %+v, want a new code pointing back to %d", n, l.ID)
	}
	calls, _ := wp.sb.Calls(ctx, "AGREED-LINK-1")
	preauths := 0
	for _, c := range calls {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/permissions") {
			preauths++
		}
	}
	if preauths != 2 {
		t.Errorf("pre-authorizations of the old code = %d, want 2 (create and the keep-code renewal), none after the user agreed", preauths)
	}
	if a, err := wp.sb.Authorization(ctx, n.AuthorizationCode); err != nil || a.State != "UNBINDUSER" {
		t.Errorf("sandbox: new code %+v, %v", a, err)
	}
	newPage := op.get(t, loc)
	if !newPage.has(`[data-testid="link-renewed-from"]`) || !strings.Contains(newPage.text(`[data-testid="link-renewed-from"]`), "#"+strconv.FormatInt(l.ID, 10)) {
		t.Errorf("new link page does not say which link it replaces: %q", newPage.text(`[data-testid="link-renewed-from"]`))
	}
	oldPage := op.get(t, path)
	if !oldPage.has(`[data-testid="link-renewed-to"]`) || oldPage.has(`[data-testid="link-renew"]`) {
		t.Error("old link page: want 'replaced by' and no renew form")
	}
	if res := op.post(t, path+"/renew", nil); res.status != http.StatusConflict {
		t.Errorf("renewing the replaced link again: status %d, want 409", res.status)
	}
}

// TestCreateLinkConcurrentSameCode: ten parallel submits of one typed code
// make exactly one pre-authorization call at WeChat Pay (the sandbox).
func TestCreateLinkConcurrentSameCode(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	clients := make([]*testClient, 10)
	for i := range clients {
		clients[i] = ts.client(t, store.RoleOperator)
	}
	var wg sync.WaitGroup
	statuses := make(chan int, len(clients))
	for _, tc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := tc.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"PARALLEL-1"}})
			statuses <- res.status
		}()
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		if s == http.StatusSeeOther {
			created++
		}
	}
	calls, err := wp.sb.Calls(ctx, "PARALLEL-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || created != 1 {
		t.Errorf("calls seen by the sandbox = %d, links created = %d; want 1 and 1", len(calls), created)
	}
}

// TestDisabledSubMerchantIssuesNothing: a disabled sub-merchant's links
// cannot be renewed (a clear message, audited) and its landing pages
// answer 403 without any token.
func TestDisabledSubMerchantIssuesNothing(t *testing.T) {
	p, j := &fakePayScore{}, &fakeJSSDK{}
	ts := newTestServer(t, withFakeWeChat(p, j))
	ctx := context.Background()
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "DISABLED-1", 0)
	m.Disabled = true
	if _, err := ts.db.UpdateSubMerchant(ctx, *m); err != nil {
		t.Fatal(err)
	}
	phone := ts.anonymous(t)
	res := landingGet(t, phone, "/h5/"+l.Slug, uaWeChat801)
	if got, want := res.status, http.StatusForbidden; got != want {
		t.Fatalf("landing status = %d, want %d", got, want)
	}
	if !res.has(`[data-testid="landing-disabled"]`) || strings.Contains(res.body, l.Token) {
		t.Errorf("landing page: want the unavailable text and no token")
	}
	if got := j.calls(); len(got) != 0 {
		t.Errorf("JS-SDK signatures = %d, want none", len(got))
	}

	op := ts.client(t, store.RoleOperator)
	ts.advanceActive(t, op, service.TokenLifetime+time.Minute)
	path := "/links/" + strconv.FormatInt(l.ID, 10)
	page := op.get(t, path)
	if page.has(`[data-testid="link-renew"]`) || !page.has(`[data-testid="link-disabled"]`) {
		t.Error("link page: want the disabled notice and no renew form")
	}
	res = op.post(t, path+"/renew", nil)
	if got, want := res.status, http.StatusConflict; got != want {
		t.Fatalf("renew status = %d, want %d", got, want)
	}
	if want := views.Tr(views.LangZH, "links.renew.disabled"); !strings.Contains(res.body, want) {
		t.Errorf("renew answer lacks %q", want)
	}
	if got := p.count(); got != 0 {
		t.Errorf("pre-authorizations = %d, want 0", got)
	}
	audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: "link.renew", Target: "DISABLED-1"})
	if len(audit) != 1 || audit[0].Result != "refused: sub-merchant disabled" || audit[0].Username != store.RoleOperator {
		t.Errorf("audit = %+v, want the refused renewal by the operator", audit)
	}
}
