package main

import (
	"net/http"
	"testing"
)

// TestE2EWordsAndNumbers checks, in Chromium at 1366×900 in both
// languages, the pages with tables: no sideways scroll, headers as people
// read them (not forced to capitals) and never stacked a character a line,
// times on one line; and that the scripts show what they promise: copy
// buttons where a code can be copied, the callback log's live indicator.
func TestE2EWordsAndNumbers(t *testing.T) {
	e := startE2E(t)
	admin := e.newTab(t, "admin-ux3", false, wide())
	signInTab(t, e, admin, "admin", e2eAdminPass)
	pages := []string{"/", "/links", "/callbacks", "/callbacks?outcome=refused", "/audit", "/users", "/sub-merchants", "/bulk", "/account"}
	type size struct{ Scroll, Inner int }
	type header struct {
		Text, Transform string
		Lines           float64
	}
	for _, lang := range []string{"zh", "en"} {
		if lang == "en" {
			admin.navigate(t, e.base+"/")
			admin.submit(t, tid("lang-switch"))
		}
		for _, p := range pages {
			if st := admin.navigate(t, e.base+p); st != http.StatusOK {
				t.Errorf("%s %s: status %d", lang, p, st)
				continue
			}
			admin.waitFor(t, "the page to load", `document.readyState === 'complete'`)
			if s := eval[size](t, admin, `({Scroll: document.documentElement.scrollWidth, Inner: document.documentElement.clientWidth})`); s.Scroll > s.Inner {
				t.Errorf("%s %s scrolls sideways at 1366 px: %d > %d", lang, p, s.Scroll, s.Inner)
				e.shot(t, admin, "ux3-overflow-"+lang, "")
			}
			hs := eval[[]header](t, admin, `[...document.querySelectorAll('th')].filter(th => th.offsetParent !== null).map(th => {
				const cs = getComputedStyle(th), lh = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.5;
				const r = document.createRange(); r.selectNodeContents(th);
				const tops = new Set([...r.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top)));
				return {Text: th.textContent.trim(), Transform: cs.textTransform, Lines: tops.size};
			})`)
			for _, h := range hs {
				if h.Transform != "none" {
					t.Errorf("%s %s: header %q is text-transform %s", lang, p, h.Text, h.Transform)
				}
				if h.Lines > 3 {
					t.Errorf("%s %s: header %q stands on %.0f lines", lang, p, h.Text, h.Lines)
				}
			}
			if bad := eval[[]string](t, admin, `[...document.querySelectorAll('time.ts')].filter(el => el.offsetParent !== null && el.getClientRects().length > 1).map(el => el.textContent)`); len(bad) > 0 {
				t.Errorf("%s %s: times broken over lines: %v", lang, p, bad)
			}
		}
	}
	t.Run("ScriptsShowLiveAndCopy", func(t *testing.T) {
		admin.navigate(t, e.base+"/callbacks")
		admin.waitFor(t, "the live indicator to show", `!document.querySelector('[data-testid="callback-poller"]').hidden`)
		admin.navigate(t, e.base+"/links")
		href := eval[string](t, admin, `(document.querySelector('[data-testid^="link-row-"] a[href^="/links/"]') || {}).getAttribute?.('href') || ''`)
		if href == "" {
			t.Skip("no link in the demo data")
		}
		admin.navigate(t, e.base+href)
		admin.waitFor(t, "the code's copy button to show", `[...document.querySelectorAll('button[data-copy-text]')].some(b => !b.hidden)`)
		if got := eval[string](t, admin, `document.querySelector('button[data-copy-text]').getAttribute('aria-label')`); got == "" {
			t.Error("copy button without aria-label")
		}
	})
}
