package main

// Accessibility and small screens (issue 13, "Layout and access"): axe-core
// on every console page at desktop and phone size, no horizontal page
// scroll at 390 px, and the language switch keeping the page and its query.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/payscore-console/payscore-console/views"
)

// axeScript is axe-core's browser bundle, installed by
// `npm ci --prefix tools/axe` (tools/axe/package-lock.json pins it).
var axeScript = filepath.Join("tools", "axe", "node_modules", "axe-core", "axe.min.js")

// axeSource reads axe-core. Without it the test skips, except in CI, where
// it fails: .ci/run installs it.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axeScript)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but axe-core is not installed (npm ci --prefix tools/axe): %v", err)
		}
		t.Skipf("axe-core not installed (npm ci --prefix tools/axe): %v", err)
	}
	return string(b)
}

// Sizes the console is checked at.
func wide() device.Info {
	return device.Info{Name: "desktop 1366", UserAgent: uaDesktop, Width: 1366, Height: 900, Scale: 1}
}

const uaMobileChrome = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"

func narrow() device.Info {
	return device.Info{Name: "phone 390", UserAgent: uaMobileChrome, Width: 390, Height: 844, Scale: 2, Mobile: true, Touch: true}
}

// axeViolation is one finding of axe.run, reduced to what a reader needs.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun injects axe-core (once per document) and runs the WCAG 2.1 A/AA
// rules on the whole document.
func axeRun(t *testing.T, tb *tab, src string) []axeViolation {
	t.Helper()
	tb.waitFor(t, "the page to load", `document.readyState === 'complete'`)
	if !eval[bool](t, tb, `typeof window.axe !== 'undefined'`) {
		eval[any](t, tb, src+"\n;true")
	}
	return eval[[]axeViolation](t, tb, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help,
			nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 200), failureSummary: n.failureSummary}))})))`)
}

// seriousOnly keeps serious and critical findings.
func seriousOnly(vs []axeViolation) []axeViolation {
	var out []axeViolation
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

func describe(vs []axeViolation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  [%s] %s: %s (%d)", v.Impact, v.ID, v.Help, len(v.Nodes))
		for i, n := range v.Nodes {
			if i == 6 {
				fmt.Fprintf(&b, "\n      … %d more", len(v.Nodes)-i)
				break
			}
			fmt.Fprintf(&b, "\n      %v %s\n        %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", " / "))
		}
	}
	return b.String()
}

// visit loads url and returns its HTTP status as the page saw it (a page
// that polls can confuse chromedp's NavigateResponse).
func visit(t *testing.T, tb *tab, url string) int {
	t.Helper()
	// Twice a step's time: about 60 page loads share a loaded 2-core machine.
	nctx, cancel := context.WithTimeout(tb.ctx, 2*e2eStepTimeout)
	err := chromedp.Do(nctx, chromedp.Navigate(url))
	cancel()
	if err != nil {
		t.Fatalf("%s tab: load %s: %v", tb.name, url, err)
	}
	// A redirect or a script may still replace the document: ask again
	// until one answers.
	var lastErr error
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		st, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.readyState === 'complete' ? performance.getEntriesByType('navigation')[0].responseStatus : -1`))
		cancel()
		if err == nil && st >= 0 {
			return st
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s tab: %s did not load: %v", tb.name, url, lastErr)
	return 0
}

// phoneShot saves what a phone's screen shows (not the whole page), under
// test-artifacts/e2e and, with E2E_SCREENSHOTS set, as the README's name.png.
func phoneShot(t *testing.T, e *e2e, tb *tab, name string) {
	t.Helper()
	tb.waitFor(t, "images and fonts", `document.readyState === 'complete' && document.fonts.status === 'loaded'`)
	buf := get(t, tb, chromedp.CaptureScreenshot())
	e.shotN++
	if err := os.WriteFile(filepath.Join(e.shotDir, fmt.Sprintf("%02d-%s.png", e.shotN, name)), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if e.docDir != "" {
		if err := os.WriteFile(filepath.Join(e.docDir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// signInTab signs a tab in.
func signInTab(t *testing.T, e *e2e, tb *tab, user, pass string) {
	t.Helper()
	tb.navigate(t, e.base+"/login")
	tb.fill(t, "#username", user)
	tb.fill(t, "#password", pass)
	if st := tb.submit(t, tid("login-form")+` button[type="submit"]`); st != http.StatusOK {
		t.Fatalf("sign-in as %s landed on status %d", user, st)
	}
	if got := tb.text(t, tid("me")); !strings.HasPrefix(got, user) {
		t.Fatalf("signed in as %q, want %s", got, user)
	}
}

// TestE2EA11y checks every console page with axe-core (WCAG 2.1 A and AA,
// no serious or critical finding) at 1366×900 and 390×844, the landing
// page too; that the pages people use on a phone do not scroll sideways at
// 390 px; and that the language switch keeps a look-up's query.
func TestE2EA11y(t *testing.T) {
	src := axeSource(t)
	// About 30 axe-core runs: more than one journey's time on a loaded machine.
	e := startE2EWithin(t, 10*time.Minute)
	admin := e.newTab(t, "admin", false, wide())
	signInTab(t, e, admin, "admin", e2eAdminPass)

	// The sandbox's demo data: three links of today, one agreed, one
	// agreed then closed, one waiting.
	admin.navigate(t, e.base+"/links")
	type linkRow struct{ Href, State string }
	rows := eval[[]linkRow](t, admin, `[...document.querySelectorAll('[data-testid^="link-row-"]')].filter(r => r.tagName === 'TR').map(r => ({
		Href: r.querySelector('a[href^="/links/"]').getAttribute('href'),
		State: r.querySelector('[data-testid="link-row-state"]').dataset.state || r.querySelector('[data-testid="link-row-state"]').className}))`)
	var waiting, agreed string
	for _, r := range rows {
		switch {
		case strings.Contains(r.State, "UNBINDUSER") && waiting == "":
			waiting = r.Href
		case (r.State == "AVAILABLE" || strings.Contains(r.State, " AVAILABLE")) && agreed == "":
			agreed = r.Href
		}
	}
	if waiting == "" || agreed == "" {
		t.Fatalf("demo links: want a waiting and an agreed one among %+v", rows)
	}
	admin.navigate(t, e.base+agreed)
	code := admin.text(t, tid("link-code"))
	admin.navigate(t, e.base+waiting)
	landing := get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
	if code == "" || !strings.HasPrefix(landing, e.base+"/h5/") {
		t.Fatalf("agreed code %q, landing URL %q", code, landing)
	}

	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"links", "/links"},
		{"link", waiting},
		{"link-agreed", agreed},
		{"link-new", "/links/new"},
		{"lookup", "/authorizations"},
		{"authorization", views.LookupURL(code)},
		{"callbacks", "/callbacks"},
		{"audit", "/audit"},
		{"users", "/users"},
		{"sub-merchants", "/sub-merchants"},
		{"account", "/account"},
		{"bulk", "/bulk"},
	}
	phone := e.newTab(t, "admin-phone", false, narrow())
	visitor := e.newTab(t, "visitor", true, wide())
	visitorPhone := e.newTab(t, "visitor-phone", true, narrow())

	t.Run("Axe", func(t *testing.T) {
		check := func(t *testing.T, tb *tab, name, url string) {
			t.Helper()
			if st := visit(t, tb, url); st != http.StatusOK {
				t.Errorf("%s: %s answered %d", tb.name, url, st)
			}
			if vs := seriousOnly(axeRun(t, tb, src)); len(vs) > 0 {
				t.Errorf("%s at %s (%s): %d serious or critical axe-core findings:%s", name, tb.name, url, len(vs), describe(vs))
				e.shot(t, tb, "axe-"+name+"-"+tb.name, "")
			}
		}
		for _, tb := range []*tab{admin, phone} {
			for _, p := range pages {
				t.Run(tb.name+"/"+p.name, func(t *testing.T) { check(t, tb, p.name, e.base+p.path) })
			}
		}
		for _, tb := range []*tab{visitor, visitorPhone} {
			t.Run(tb.name+"/login", func(t *testing.T) { check(t, tb, "login", e.base+"/login") })
			t.Run(tb.name+"/landing", func(t *testing.T) { check(t, tb, "landing", landing) })
		}
	})

	t.Run("NoOverflow390", func(t *testing.T) {
		for _, p := range pages {
			switch p.name {
			case "overview", "links", "link", "link-agreed", "authorization", "callbacks", "audit":
			default:
				continue
			}
			visit(t, phone, e.base+p.path)
			// A phone's browser widens the layout to fit what overflows
			// (innerWidth grows): the device's 390 px is the measure.
			type size struct{ Scroll, Client, Inner int }
			s := eval[size](t, phone, `({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth, Inner: window.innerWidth})`)
			if s.Scroll > 390 || s.Client > 390 || s.Inner > 390 {
				wide := eval[[]string](t, phone, `[...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > 391)
					.slice(0, 8).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).replace(/ /g, '.') : '') +
						(el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + ' ' + Math.round(el.getBoundingClientRect().right))`)
				t.Errorf("%s (%s) scrolls sideways at 390 px: scrollWidth %d, clientWidth %d, innerWidth %d; too wide: %v", p.name, p.path, s.Scroll, s.Client, s.Inner, wide)
				e.shot(t, phone, "overflow-"+p.name, "")
			}
			switch p.name {
			case "overview", "links", "authorization", "callbacks":
				phoneShot(t, e, phone, "phone-"+p.name)
			}
		}
	})

	t.Run("PhoneMenu", func(t *testing.T) {
		// The header folds into a menu that opens without JavaScript's help
		// (<details>) and holds the navigation and the person's controls.
		visit(t, phone, e.base+"/")
		if eval[bool](t, phone, `getComputedStyle(document.querySelector('header.top nav.wide')).display !== 'none'`) {
			t.Error("the wide navigation shows at 390 px")
		}
		phone.do(t, chromedp.Click(chromedp.CSS(tid("menu-toggle")), chromedp.NodeVisible))
		phone.do(t, chromedp.WaitVisible(chromedp.CSS(`details.menu nav a[href="/callbacks"]`)))
		phone.do(t, chromedp.WaitVisible(chromedp.CSS(tid("menu-lang-switch"))))
		phoneShot(t, e, phone, "phone-menu")
		if st := phone.submit(t, `details.menu nav a[href="/callbacks"]`); st != http.StatusOK {
			t.Errorf("menu → callbacks: %d", st)
		}
		if got := eval[string](t, phone, `location.pathname`); got != "/callbacks" {
			t.Errorf("menu led to %s", got)
		}
	})

	t.Run("LangSwitchKeepsLookup", func(t *testing.T) {
		want := views.LookupURL(code)
		admin.navigate(t, e.base+want)
		before := admin.text(t, tid("state-badge"))
		admin.submit(t, tid("lang-switch"))
		if got := eval[string](t, admin, `location.pathname + location.search`); got != want {
			t.Errorf("after switching the language: at %s, want %s", got, want)
		}
		if got := eval[string](t, admin, `document.documentElement.lang`); got != "en" {
			t.Errorf("html lang = %q, want en", got)
		}
		if got := admin.text(t, tid("state-badge")); got != before {
			t.Errorf("state after switching = %q, want %q (the same look-up)", got, before)
		}
		admin.submit(t, tid("lang-switch"))
		if got := eval[string](t, admin, `location.pathname + location.search`); got != want {
			t.Errorf("after switching back: at %s, want %s", got, want)
		}
	})
}
