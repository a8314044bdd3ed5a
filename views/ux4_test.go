package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestOverviewByRole: the overview leads with what each role comes for.
// Operators: "new link" first, then their links' states; support and
// viewers: the look-up first, the cursor in it; admins: the emergency
// switch in a compact card beside the tasks, not above everything. Tiles
// with a page behind them are links; empty lists say what to do.
func TestOverviewByRole(t *testing.T) {
	v := OverviewView{Username: "x", Callbacks24h: 4,
		MyLinks:    []LinkRow{{ID: 7, SubMerchantName: "门店", State: StateUnbindUser}, {ID: 6, SubMerchantName: "门店", State: StateUnavailable, TerminatedBySupport: true}},
		MyLinksURL: "/links?created_by=x"}
	order := func(doc *goquery.Document) []string {
		var out []string
		doc.Find(`main [data-testid="overview-links"], main [data-testid="overview-lookup"], main [data-testid="emergency-switch"], main [data-testid="overview"], main [data-testid="health"]`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, s.AttrOr("data-testid", ""))
		})
		return out
	}
	for _, tt := range []struct {
		role      string
		wantOrder string
		autofocus bool
	}{
		{"operator", "overview-links overview-lookup health overview", false},
		{"support", "overview-lookup health overview", true},
		{"viewer", "overview-lookup health overview", true},
		{"admin", "overview-lookup overview-links emergency-switch health overview", false},
	} {
		t.Run(tt.role, func(t *testing.T) {
			doc, _ := renderLogDoc(t, LangZH, OverviewPage(Page{Title: "Overview", User: &Me{Username: "x", Role: tt.role}}, v))
			if got := strings.Join(order(doc), " "); got != tt.wantOrder {
				t.Errorf("order = %q, want %q", got, tt.wantOrder)
			}
			if got := has(doc, `#overview-code[autofocus]`); got != tt.autofocus {
				t.Errorf("look-up autofocus = %v, want %v", got, tt.autofocus)
			}
			if tt.role == "operator" {
				first := doc.Find(`main a.button, main button`).First()
				if first.AttrOr("data-testid", "") != "overview-new-link" || first.AttrOr("href", "") != "/links/new" {
					t.Errorf("first action = %v, want the new-link button", first.AttrOr("data-testid", ""))
				}
				if got := doc.Find(`[data-testid="overview-mylink"]`).Length(); got != 2 {
					t.Errorf("%d of the operator's links listed, want 2", got)
				}
				if got := doc.Find(`[data-testid="overview-mylink"] [data-state]`).Eq(1).AttrOr("data-state", ""); got != StateTerminated {
					t.Errorf("second link's state = %q, want %s (terminated by support)", got, StateTerminated)
				}
				if got := doc.Find(`[data-testid="overview-mylinks-all"]`).AttrOr("href", ""); got != v.MyLinksURL {
					t.Errorf("all my links → %q", got)
				}
			}
			if tt.role == "admin" && !has(doc, `aside.overview-side [data-testid="emergency-switch"]`) {
				t.Error("the admin's emergency switch is not in the side card")
			}
			// The callbacks tile is a link as a whole, and says so.
			tile := doc.Find(`a.tile-link:has([data-testid="overview-callbacks-24h"])`)
			if tile.AttrOr("href", "") != "/callbacks" || strings.TrimSpace(tile.Find(".tile-go").Text()) == "" {
				t.Errorf("callbacks tile: href %q, no visible link cue", tile.AttrOr("href", ""))
			}
			if has(doc, `a.tile-link:has([data-testid="overview-active"])`) {
				t.Error("a tile without a page looks like a link")
			}
			for _, id := range []string{"latest-callbacks-empty", "recent-terminations-empty"} {
				if got := text(doc, `[data-testid="`+id+`"]`); got == "" || got == Tr(LangZH, "logs.empty") {
					t.Errorf("%s = %q, want it to say what to do", id, got)
				}
			}
		})
	}
	// An operator with no link yet is told how to start.
	doc, _ := renderLogDoc(t, LangEN, OverviewPage(Page{User: &Me{Username: "x", Role: "operator"}}, OverviewView{}))
	if got := text(doc, `[data-testid="overview-mylinks-empty"]`); got != Tr(LangEN, "overview.task.mylinks.none") {
		t.Errorf("empty links = %q", got)
	}
}

// TestLayoutAccess: the skip link comes first and leads to main; the phone
// menu repeats the navigation without the test ids; every form carries the
// page it is on; the language switch leads back to the page with its query.
func TestLayoutAccess(t *testing.T) {
	p := Page{Title: "t", Path: "/callbacks", User: &Me{Username: "x", Role: "admin"}, Nav: []NavItem{{Label: "nav.callbacks", Href: "/callbacks"}}}
	ctx := WithHere(WithLang(context.Background(), LangZH), "/callbacks?outcome=refused")
	var buf bytes.Buffer
	if err := Layout(p).Render(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Find(`body a`).First(); got.AttrOr("href", "") != "#main" || !got.HasClass("skip-link") {
		t.Errorf("first link = %q, want the skip link to #main", got.AttrOr("href", ""))
	}
	if !has(doc, `main#main`) {
		t.Error("no main#main")
	}
	if got := doc.Find(`details.menu nav a[href="/callbacks"][aria-current="page"]`).Length(); got != 1 {
		t.Errorf("menu entries = %d, want 1", got)
	}
	if got := doc.Find(`[data-testid="lang-switch"]`).Length(); got != 1 {
		t.Errorf("lang-switch test ids = %d, want 1 (the menu's copy has its own)", got)
	}
	doc.Find(`form[action="/lang"]`).Each(func(_ int, f *goquery.Selection) {
		if got := f.Find(`input[name="next"]`).AttrOr("value", ""); got != "/callbacks?outcome=refused" {
			t.Errorf("lang next = %q", got)
		}
	})
	doc.Find(`form[method="post"]`).Each(func(_ int, f *goquery.Selection) {
		if got := f.Find(`input[name="_from"]`).AttrOr("value", ""); got != "/callbacks?outcome=refused" {
			t.Errorf("form %s: _from = %q", f.AttrOr("action", ""), got)
		}
	})
	if got := doc.Find(`link[rel="icon"]`).AttrOr("href", ""); !strings.HasPrefix(got, "/static/favicon.svg?v=") {
		t.Errorf("icon = %q", got)
	}
}
