package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// ux1Authorization records an authorization as WeChat Pay reported it,
// without a link of ours.
func ux1Authorization(t *testing.T, s *supportServer, code, state, openid string, at time.Time) {
	t.Helper()
	a := store.Authorization{AuthorizationCode: code, SubMchID: testSubMchID, State: state, OpenID: openid, StateTime: at, Source: "query"}
	success := at.Add(-time.Hour)
	a.SuccessTime = &success
	if state == store.StateUnavailable {
		a.CancelTime = &at
	}
	if _, err := s.db.SaveAuthorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// ux1Terminated records a termination of code by support that succeeded.
func ux1Terminated(t *testing.T, s *supportServer, code, reason string) {
	t.Helper()
	ctx := context.Background()
	id, err := s.db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: testSubMchID, Reason: reason,
		UserID: s.users[store.RoleSupport].ID}, store.AuditEntry{Action: "terminate.request", Target: code})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.FinishTermination(ctx, id, store.TerminationSucceeded, "rid-"+code, "", "", store.AuditEntry{Action: "terminate.result", Target: code}); err != nil {
		t.Fatal(err)
	}
}

func searchPath(q string) string { return "/authorizations?" + url.Values{"q": {q}}.Encode() }

// TestSearchCode: a code known here is matched exactly and shows its page
// (the same at its stable address); a code that differs only in case is
// not found, and the page names the known one.
func TestSearchCode(t *testing.T) {
	s := newSupportServer(t)
	s.link(t, "PSCABC1")
	tc := s.client(t, store.RoleSupport)
	for _, path := range []string{searchPath("PSCABC1"), searchPath("  PSCABC1 "), views.AuthorizationURL("PSCABC1"), lookupPath("PSCABC1")} {
		res := tc.get(t, path)
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.status)
		}
		if got, want := res.doc.Find(`[data-testid="authz-permalink"]`).AttrOr("href", ""), "/authorizations/PSCABC1"; got != want {
			t.Errorf("%s: permalink = %q, want %q", path, got, want)
		}
		if got := res.doc.Find(`[data-testid="timeline-step"]`).First().AttrOr("data-kind", ""); got != views.TimelineCreated {
			t.Errorf("%s: first timeline step = %q, want created", path, got)
		}
		if res.has(`[data-testid="did-you-mean"]`) || res.has(`select[name="sub_mchid"]`) {
			t.Errorf("%s: a known code was not taken as it is", path)
		}
		if got := res.text(`[data-testid="live"] [data-testid="state-badge"]`); got != "UNBINDUSER" {
			t.Errorf("%s: live state = %q", path, got)
		}
	}
	for _, path := range []string{searchPath("PSCabc1"), views.AuthorizationURL("PSCabc1"), lookupPath("pscabc1")} {
		res := tc.get(t, path)
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.status)
		}
		hint := res.text(`[data-testid="did-you-mean"]`)
		if !strings.Contains(hint, "PSCABC1") {
			t.Errorf("%s: hint = %q, want it to name PSCABC1", path, hint)
		}
		if got, want := res.doc.Find(`[data-testid="did-you-mean-code"]`).AttrOr("href", ""), "/authorizations/PSCABC1"; got != want {
			t.Errorf("%s: hint link = %q, want %q", path, got, want)
		}
		// Not taken for the known code: WeChat Pay is asked about the
		// code as typed, once a sub-merchant is chosen.
		if !res.has(`select[name="sub_mchid"]`) {
			t.Errorf("%s: no sub-merchant choice for the unknown code", path)
		}
		if res.has(`[data-testid="authz-permalink"]`) {
			t.Errorf("%s: an authorization page for a code that differs in case", path)
		}
	}
	// A code nobody has: no hint; nothing at all: says so.
	if res := tc.get(t, searchPath("NOSUCH-1")); res.has(`[data-testid="did-you-mean"]`) || !res.has(`select[name="sub_mchid"]`) {
		t.Error("unknown code: a hint, or no sub-merchant choice")
	}
	res := tc.get(t, searchPath("no such thing!"))
	if res.status != http.StatusOK || !strings.Contains(res.text(`[data-testid="search-none"]`), "no such thing!") {
		t.Errorf("nothing matched: status %d, message %q", res.status, res.text(`[data-testid="search-none"]`))
	}
	if got := res.doc.Find(`input[name="q"]`).AttrOr("value", ""); got != "no such thing!" {
		t.Errorf("search field = %q, want what was typed kept", got)
	}
}

// TestSearchOpenID: a user's authorizations are listed (several), each
// linking to its page, with terminated by support told apart from closed
// by the user; one authorization shows its page at once.
func TestSearchOpenID(t *testing.T) {
	s := newSupportServer(t)
	now := s.clock.Now()
	ux1Authorization(t, s, "U1-ON", store.StateAvailable, "oUser1", now.Add(-3*time.Hour))
	ux1Authorization(t, s, "U1-TERM", store.StateUnavailable, "oUser1", now.Add(-2*time.Hour))
	ux1Terminated(t, s, "U1-TERM", "用户要求解除")
	ux1Authorization(t, s, "U1-CLOSED", store.StateUnavailable, "oUser1", now.Add(-time.Hour))
	ux1Authorization(t, s, "U2-ON", store.StateAvailable, "oUser2", now.Add(-time.Hour))
	tc := s.client(t, store.RoleViewer)

	res := tc.get(t, searchPath("oUser1"))
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	got := map[string]string{}
	var order []string
	res.doc.Find(`[data-testid="authz-row"]`).Each(func(_ int, row *goquery.Selection) {
		code := row.AttrOr("data-code", "")
		order = append(order, code)
		got[code] = row.Find(`[data-testid="authz-row-state"]`).AttrOr("data-state", "")
		if href := row.Find(`[data-testid="authz-row-link"]`).AttrOr("href", ""); href != "/authorizations/"+code {
			t.Errorf("row %s links to %q", code, href)
		}
	})
	want := map[string]string{"U1-ON": views.StateAvailable, "U1-TERM": views.StateTerminated, "U1-CLOSED": views.StateClosed}
	if len(got) != len(want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	for code, st := range want {
		if got[code] != st {
			t.Errorf("%s state = %q, want %q", code, got[code], st)
		}
	}
	// The latest change first: the termination was recorded now.
	if strings.Join(order, ",") != "U1-TERM,U1-CLOSED,U1-ON" {
		t.Errorf("order = %v, want the latest change first", order)
	}
	terminated := res.text(`[data-code="U1-TERM"] [data-testid="authz-row-state"]`)
	closed := res.text(`[data-code="U1-CLOSED"] [data-testid="authz-row-state"]`)
	if terminated != views.Tr(views.LangZH, "ux1.state.TERMINATED") || closed != views.Tr(views.LangZH, "ux1.state.CLOSED") || terminated == closed {
		t.Errorf("terminated shows %q, closed %q: want the two words", terminated, closed)
	}
	// Each page tells how it ended: closed by the user, or terminated by
	// support (who, why). WeChat Pay does not know these made-up codes:
	// the last state known locally speaks.
	page := tc.get(t, views.AuthorizationURL("U1-CLOSED"))
	if got := page.doc.Find(`[data-testid="authz-summary"]`).AttrOr("data-state", ""); got != views.StateClosed {
		t.Errorf("U1-CLOSED summary = %q, want CLOSED", got)
	}
	if page.doc.Find(`[data-testid="timeline-step"][data-kind="closed"]`).Length() != 1 {
		t.Error("U1-CLOSED: no closed step")
	}
	page = tc.get(t, views.AuthorizationURL("U1-TERM"))
	if got := page.doc.Find(`[data-testid="authz-summary"]`).AttrOr("data-state", ""); got != views.StateTerminated {
		t.Errorf("U1-TERM summary = %q, want TERMINATED", got)
	}
	term := page.doc.Find(`[data-testid="timeline-step"][data-kind="terminated"]`)
	if !strings.Contains(term.Text(), "用户要求解除") || !strings.Contains(term.Text(), "support") {
		t.Errorf("U1-TERM terminated step %q: want the reason and who", term.Text())
	}
	if page.doc.Find(`[data-testid="timeline-step"][data-kind="closed"]`).Length() != 0 {
		t.Error("U1-TERM: shown as closed by the user")
	}
	// A single match is its page.
	res = tc.get(t, searchPath("oUser2"))
	if got, want := res.doc.Find(`[data-testid="authz-permalink"]`).AttrOr("href", ""), "/authorizations/U2-ON"; got != want {
		t.Errorf("single match: permalink %q, want %q", got, want)
	}
}

// TestSearchSubMerchant: a sub-merchant (by sub_mchid or name) lists its
// authorizations.
func TestSearchSubMerchant(t *testing.T) {
	s := newSupportServer(t)
	s.link(t, "SM-1")
	s.link(t, "SM-2")
	ux1Authorization(t, s, "SM-3", store.StateUnavailable, "oUser3", s.clock.Now())
	tc := s.client(t, store.RoleSupport)
	for _, q := range []string{testSubMchID, "测试商户"} {
		res := tc.get(t, searchPath(q))
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d", q, res.status)
		}
		if n := res.doc.Find(`[data-testid="authz-row"]`).Length(); n != 3 {
			t.Errorf("%s: %d rows, want 3", q, n)
		}
		if got := res.text(`[data-testid="search-results"] h2`); !strings.Contains(got, testSubMchID) || !strings.Contains(got, "测试商户") {
			t.Errorf("%s: heading %q names not the sub-merchant", q, got)
		}
		if got := res.doc.Find(`[data-code="SM-1"] [data-testid="authz-row-state"]`).AttrOr("data-state", ""); got != views.StateUnbindUser {
			t.Errorf("%s: SM-1 state %q", q, got)
		}
		if got := res.doc.Find(`[data-code="SM-3"] td[data-label]`).Length(); got != 6 {
			t.Errorf("%s: %d labelled cells, want 6 (cards on a phone)", q, got)
		}
	}
}

// TestLinkPageFinished: once the user agreed, the link page leads with
// "已开启 · openid · time" and the way to the authorization's page; the QR
// code and the snippets fold away. A link nobody agreed to shows them.
func TestLinkPageFinished(t *testing.T) {
	s := newSupportServer(t)
	s.link(t, "WAIT-1")
	s.active(t, "DONE-1")
	tc := s.client(t, store.RoleOperator)
	linkPage := func(code string) *response {
		l, err := s.db.LinkByCode(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		res := tc.get(t, "/links/"+strconv.FormatInt(l.ID, 10))
		if res.status != http.StatusOK {
			t.Fatalf("link %s: status %d", code, res.status)
		}
		return res
	}
	res := linkPage("WAIT-1")
	if res.has(`[data-testid="link-finished"]`) || res.has(`[data-testid="link-handout"]`) {
		t.Error("an unused link's page is finished")
	}
	if !res.has(`[data-testid="link-qr"]`) || !res.has(`[data-testid="snippets"]`) {
		t.Error("an unused link's page lacks its QR code or snippets")
	}

	a, err := s.db.AuthorizationByCode(context.Background(), "DONE-1")
	if err != nil || a.OpenID == "" || a.SuccessTime == nil {
		t.Fatalf("DONE-1: %+v, %v", a, err)
	}
	res = linkPage("DONE-1")
	lead := res.doc.Find(`main [data-testid="link-finished"]`)
	if lead.Length() != 1 {
		t.Fatal("no finished lead")
	}
	if got, want := lead.Find(`[data-testid="link-finished-state"]`).Text(), views.Tr(views.LangZH, "ux1.link.finished"); got != want {
		t.Errorf("lead state = %q, want %q", got, want)
	}
	if got := lead.Find(`[data-testid="link-finished-openid"]`).Text(); got != a.OpenID {
		t.Errorf("lead openid = %q, want %q", got, a.OpenID)
	}
	if got, want := lead.Find(`[data-testid="link-finished-at"]`).Text(), views.FormatTime(*a.SuccessTime); got != want {
		t.Errorf("lead time = %q, want %q", got, want)
	}
	if got, want := lead.Find(`[data-testid="link-authorization"]`).AttrOr("href", ""), "/authorizations/DONE-1"; got != want {
		t.Errorf("lead link = %q, want %q", got, want)
	}
	// The lead comes before the facts, and the QR code and snippets are
	// inside a closed <details>.
	handout := res.doc.Find(`details[data-testid="link-handout"]`)
	if handout.Length() != 1 {
		t.Fatal("no folded hand-out")
	}
	if _, open := handout.Attr("open"); open {
		t.Error("the hand-out is open")
	}
	for _, id := range []string{"link-qr", "snippets", "landing-url"} {
		if handout.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("%s is not folded away", id)
		}
	}
	// The state polling's fragment carries the lead too (it appears
	// without a reload).
	l, _ := s.db.LinkByCode(context.Background(), "DONE-1")
	frag := tc.get(t, "/links/"+strconv.FormatInt(l.ID, 10)+"?"+pollParam+"=1", "HX-Request", "true")
	if !frag.has(`[data-testid="link-finished"]`) {
		t.Error("the polled fragment has no finished lead")
	}

	// Terminated by support: the link page and the list say so, not
	// "closed by the user".
	ux1Terminated(t, s, "DONE-1", "商户停止合作")
	ux1Authorization(t, s, "DONE-1", store.StateUnavailable, a.OpenID, time.Now().Add(time.Hour))
	res = linkPage("DONE-1")
	if got := res.doc.Find(`[data-testid="link-finished"]`).AttrOr("data-state", ""); got != views.StateTerminated {
		t.Errorf("after the termination: lead state %q, want TERMINATED", got)
	}
	// The filter's words are the store's.
	if views.StateTerminated != store.StateTerminatedBySupport || views.StateClosed != store.StateClosedByUser {
		t.Fatal("views and store name the ended states differently")
	}
	for state, want := range map[string]int{views.StateTerminated: 1, views.StateClosed: 0, views.StateUnavailable: 1} {
		if n := tc.get(t, "/links?state="+state).doc.Find(`[data-testid="link-row-state"]`).Length(); n != want {
			t.Errorf("links filtered %s: %d rows, want %d", state, n, want)
		}
	}
	list := tc.get(t, "/links")
	if got := list.doc.Find(`[data-testid="link-row-`+strconv.FormatInt(l.ID, 10)+`"] [data-testid="link-row-state"]`).AttrOr("data-state", ""); got != views.StateTerminated {
		t.Errorf("links list: state %q, want TERMINATED", got)
	}
}
