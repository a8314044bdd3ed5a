package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestWaitNotes (issue 13): every form whose action calls WeChat Pay
// carries a wait note beside its submit button (static/app.js fills it and
// disables the button); the look-up, an htmx form, also disables its button
// and shows the note as its indicator.
func TestWaitNotes(t *testing.T) {
	p := Page{Title: "t", CSRF: "tok"}
	form := TerminateForm{AuthorizationCode: "C1", SubMchID: "1900000101", Reason: "风险控制", Reasons: []string{"风险控制", "重复授权"}, Errors: map[string]string{}}
	cases := map[string]struct {
		doc  *goquery.Document
		form string
	}{
		"NewLink": {renderDoc(t, LangZH, NewLinkPage(p, NewLinkView{SubMerchants: []SubMerchantOption{{SubMchID: "1900000101", Name: "店"}}, Form: LinkForm{Errors: map[string]string{}}})), `[data-testid="link-form"]`},
		"Renew":   {renderDoc(t, LangZH, LinkPage(p, LinkView{ID: 1, State: "UNBINDUSER", Expired: true})), `[data-testid="link-renew"]`},
		"Lookup":  {renderDoc(t, LangZH, LookupPage(p, LookupView{})), `[data-testid="lookup-form"]`},
		"Terminate": {renderDoc(t, LangZH, TerminatePage(p, TerminateView{Step: TerminateStepConfirm, Form: form, BackHref: LookupURL("C1")})),
			`[data-testid="confirm-form"]`},
		"Offboard": {renderDoc(t, LangZH, OffboardPage(p, OffboardView{SubMerchant: OffboardSubMerchant{ID: 1, SubMchID: "1900000101"}, Count: 2,
			Codes: []OffboardCode{{AuthorizationCode: "A1"}, {AuthorizationCode: "A2"}}, Form: OffboardForm{Errors: map[string]string{}}})), `[data-testid="offboard-form"]`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			doc := c.doc
			note := doc.Find(c.form + ` .wait-note[role="status"]`)
			if note.Length() != 1 {
				t.Fatalf("wait notes in %s = %d, want 1", c.form, note.Length())
			}
			if note.AttrOr("data-wait", "") != Tr(LangZH, "wait.working") || note.AttrOr("data-slow", "") != Tr(LangZH, "wait.slow") {
				t.Errorf("note texts = %q / %q", note.AttrOr("data-wait", ""), note.AttrOr("data-slow", ""))
			}
			if strings.TrimSpace(note.Text()) != "" {
				t.Error("the note says something before any submit")
			}
		})
	}
	doc := cases["Lookup"].doc
	f := doc.Find(`[data-testid="lookup-form"]`)
	if id := f.AttrOr("hx-disable", ""); id == "" || doc.Find(id+`[type="submit"]`).Length() != 1 {
		t.Errorf("look-up hx-disable = %q, want its submit button", id)
	}
	if id := f.AttrOr("hx-indicator", ""); id == "" || doc.Find(id+`.wait-note`).Length() != 1 {
		t.Errorf("look-up hx-indicator = %q, want its wait note", id)
	}
	if got := Tr(LangZH, "wait.slow"); !strings.HasPrefix(got, "仍在等待微信支付的答复") {
		t.Errorf("slow text = %q", got)
	}
}

// TestPauseBannerInLayout (issue 13): a page with Page.Pause shows the
// banner with the reason, who and since when; without it, none.
func TestPauseBannerInLayout(t *testing.T) {
	at := time.Date(2026, 12, 1, 16, 27, 38, 0, time.UTC)
	p := Page{Title: "t", User: &Me{Username: "op", Role: "operator"}, Pause: &PauseBanner{Reason: "微信审核", By: "admin", At: at}}
	doc := renderDoc(t, LangZH, ErrorPage(p, ErrorView{Status: 404, Message: "x"}))
	for id, want := range map[string]string{"pause-reason": "微信审核", "pause-by": "admin", "pause-since": "2026-12-02 00:27:38"} {
		if got := text(doc, `[data-testid="`+id+`"]`); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	p.Pause = nil
	if has(renderDoc(t, LangZH, ErrorPage(p, ErrorView{Status: 404})), `[data-testid="pause-banner"]`) {
		t.Error("banner without a pause")
	}
}
