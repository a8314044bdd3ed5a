package main

// The customer's path in a real browser (issue 14): the charts from the
// demo's seeded history, the printable poster, a user who declines and is
// offered to open again, the funnel after that journey, and an expired token
// renewed when the landing page is opened.

import (
	"bytes"
	"database/sql"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
	_ "github.com/mattn/go-sqlite3"

	"github.com/payscore-console/payscore-console/views"
)

func TestE2ECustomer(t *testing.T) {
	e := startE2E(t)
	admin := e.newTab(t, "admin", false, desktop())
	db, err := sql.Open("sqlite3", "file:"+e.dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const (
		subMchID = "1900000101" // a demo sub-merchant
		subName  = "示例便利店（沙箱）"
	)
	var linkPath, landingURL, code string
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			e.failureShots(t, name)
			t.FailNow()
		}
	}

	step("SignIn", func(t *testing.T) {
		admin.navigate(t, e.base+"/login")
		admin.fill(t, "#username", "admin")
		admin.fill(t, "#password", e2eAdminPass)
		if st := admin.submit(t, tid("login-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("sign-in landed on status %d", st)
		}
	})

	// The charts' tables carry the numbers counted straight from the rows
	// the demo seeded (not from the day counts the charts read).
	step("ChartsFromSeededHistory", func(t *testing.T) {
		admin.navigate(t, e.base+"/")
		admin.do(t, chromedp.WaitVisible(chromedp.CSS(tid("chart-authorizations"))))
		want := map[string]string{}
		rows, err := db.Query(`SELECT date(first_received_at, '+8 hours'), count(*) FROM callbacks WHERE event_type = 'PAYSCORE.USER_OPEN_SERVICE' GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var day string
			var n int
			if err := rows.Scan(&day, &n); err != nil {
				t.Fatal(err)
			}
			want[day] = strconv.Itoa(n)
		}
		rows.Close()
		if len(want) < 20 {
			t.Fatalf("the demo seeded agreements on %d days, want about 30", len(want))
		}
		type cell struct{ Day, N string }
		cells := eval[[]cell](t, admin, `[...document.querySelectorAll('[data-testid="chart-authorizations-table"] tr[data-series="s-opened"] td')].map(td => ({Day: td.dataset.day, N: td.textContent.trim()}))`)
		if len(cells) != 30 {
			t.Fatalf("%d days in the table, want 30", len(cells))
		}
		for _, c := range cells {
			w := want[c.Day]
			if w == "" {
				w = "0"
			}
			if c.N != w {
				t.Errorf("opened on %s: table %s, rows %s", c.Day, c.N, w)
			}
		}
		if n := admin.count(t, tid("chart-authorizations")+` svg rect.bar`); n < 20 {
			t.Errorf("%d bars drawn, want about 30", n)
		}
		if n := admin.count(t, tid("funnel-submerchants")+` tbody tr`); n != 2 {
			t.Errorf("funnel rows per sub-merchant = %d, want 2", n)
		}
		admin.do(t, chromedp.ScrollIntoView(chromedp.CSS(tid("charts"))))
		e.shot(t, admin, "overview-charts", "overview-charts")
		admin.clean(t)
	})

	step("CreateLink", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		if st := admin.submit(t, tid("link-form")+` button[type="submit"]`); st != http.StatusOK {
			t.Fatalf("after creating the link: status %d", st)
		}
		linkPath = eval[string](t, admin, `location.pathname`)
		if !regexp.MustCompile(`^/links/\d+$`).MatchString(linkPath) {
			t.Fatalf("created link redirected to %q", linkPath)
		}
		code = admin.text(t, tid("link-code"))
		landingURL = get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		if code == "" {
			t.Fatal("no code on the link page")
		}
		if got := admin.text(t, tid("link-left")); !strings.HasPrefix(got, "剩余") {
			t.Errorf("time left = %q", got)
		}
		admin.clean(t)
	})

	// The poster decodes to the landing URL and says, in its text chunks,
	// the merchant's name it draws.
	step("Poster", func(t *testing.T) {
		b := admin.fetchBytes(t, linkPath+"/poster.png")
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := img.Bounds().Dx(); got != 1240 {
			t.Errorf("poster width = %d, want 1240 (A6 at 300 dpi)", got)
		}
		bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
		res, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
		if err != nil {
			t.Fatalf("poster QR: %v", err)
		}
		if got := res.GetText(); got != landingURL {
			t.Errorf("poster QR = %q, want %q", got, landingURL)
		}
		text, err := views.PNGText(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := text["Title"]; got != subName {
			t.Errorf("poster title = %q, want %q", got, subName)
		}
		if text["Description"] != views.PosterCaption {
			t.Errorf("poster caption = %q", text["Description"])
		}
		if err := os.WriteFile(filepath.Join(e.shotDir, "poster.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if e.docDir != "" {
			if err := os.WriteFile(filepath.Join(e.docDir, "poster.png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})

	// Decline → return → 再次开启 offered (after the 10 s wait: WeChat's
	// callback says err_code 0 either way) → opening again → agree → done.
	phoneTab := e.newTab(t, "phone", true, phone(uaWeChat8))
	step("DeclineThenReopen", func(t *testing.T) {
		if st := phoneTab.navigate(t, landingURL); st != http.StatusOK {
			t.Fatalf("landing status %d", st)
		}
		if got := phoneTab.text(t, tid("landing-merchant")); !strings.Contains(got, subName) {
			t.Errorf("landing names %q, want %q", got, subName)
		}
		phoneTab.waitFor(t, "the consent frame", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		frameWaitFor(t, phoneTab, "the consent form", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		frameTap(t, phoneTab, tid("decline"))
		frameWaitFor(t, phoneTab, "the declined page", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'declined'`)
		frameTap(t, phoneTab, tid("return"))
		phoneTab.waitFor(t, "the frame to close", `!document.querySelector('[data-testid="wx-sandbox-overlay"]')`)
		returned := time.Now()
		// Progress while waiting; never a dead end.
		phoneTab.waitFor(t, "progress", `!document.getElementById('landing-progress').hidden`)
		phoneTab.waitFor(t, "再次开启 after the wait", `document.getElementById('landing').dataset.step === 'waiting' && !document.getElementById('landing-reopen').hidden`)
		if waited := time.Since(returned); waited < 8*time.Second {
			t.Errorf("offered after %s, want about 10 s", waited.Round(time.Second))
		}
		if got := phoneTab.text(t, tid("landing-reopen")); got != "再次开启" {
			t.Errorf("button = %q, want 再次开启", got)
		}
		if got := phoneTab.text(t, tid("landing-waiting")); got != views.Tr(views.LangZH, "landing.step.waiting") {
			t.Errorf("waiting text = %q", got)
		}
		e.shot(t, phoneTab, "landing-reopen", "landing-reopen")
		phoneTab.do(t, chromedp.Click(chromedp.CSS(tid("landing-reopen")), chromedp.NodeVisible))
		phoneTab.waitFor(t, "the consent frame again", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		frameWaitFor(t, phoneTab, "the consent form again", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		frameTap(t, phoneTab, tid("agree"))
		frameWaitFor(t, phoneTab, "the agreed page", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'agreed'`)
		frameTap(t, phoneTab, tid("return"))
		phoneTab.waitFor(t, "the landing page to say it is on", `document.getElementById('landing').dataset.step === 'done'`)
		phoneTab.clean(t)
	})

	// The funnel after that journey: one visitor (counted once a minute),
	// one open, version ok, opened Pay Score, came back, agreed.
	step("FunnelCounts", func(t *testing.T) {
		admin.navigate(t, e.base+linkPath)
		for s, want := range map[string]string{"opened": "1", "check_ok": "1", "check_outside": "0", "invoked": "1", "answer_ok": "1", "notified": "1"} {
			if got := admin.text(t, tid("funnel-"+s)); got != want {
				t.Errorf("funnel %s = %s, want %s", s, got, want)
			}
		}
		admin.clean(t)
	})

	// An expired token: opening the landing page renews it on the spot, and
	// WeChat Pay (the sandbox) sees a second pre-authorization of that code.
	step("ExpiredTokenRenewedOnOpen", func(t *testing.T) {
		admin.navigate(t, e.base+"/links/new")
		admin.do(t, chromedp.SetValue(chromedp.CSS("#link-sub_mchid"), subMchID, chromedp.NodeVisible))
		admin.submit(t, tid("link-form")+` button[type="submit"]`)
		code2 := admin.text(t, tid("link-code"))
		url2 := get(t, admin, chromedp.Value(chromedp.CSS(tid("landing-url"))))
		var oldToken string
		if err := db.QueryRow(`SELECT token FROM links WHERE authorization_code = ?`, code2).Scan(&oldToken); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE links SET token_expires_at = ? WHERE authorization_code = ?`,
			time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z"), code2); err != nil {
			t.Fatal(err)
		}
		admin.navigate(t, e.base+eval[string](t, admin, `location.pathname`))
		if got := get(t, admin, chromedp.AttributeValue(chromedp.CSS(tid("link-qr-faded")), "data-reason")); got.Value != "links.qr.faded.renews" {
			t.Errorf("faded QR reason = %q", got.Value)
		}
		preauths := func() int {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM sandbox_calls WHERE authorization_code = ? AND method = 'POST' AND path LIKE '%/permissions'`, code2).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if got := preauths(); got != 1 {
			t.Fatalf("pre-authorizations before opening = %d, want 1", got)
		}
		p2 := e.newTab(t, "phone2", true, phone(uaWeChat8))
		if st := p2.navigate(t, url2); st != http.StatusOK {
			t.Fatalf("landing status %d, want 200", st)
		}
		got := get(t, p2, chromedp.AttributeValue(chromedp.CSS(tid("landing")), "data-token"))
		if got.Value == "" || got.Value == oldToken {
			t.Errorf("landing token = %q, want a fresh one (old %q)", got.Value, oldToken)
		}
		if got := preauths(); got != 2 {
			t.Errorf("pre-authorizations of %s = %d, want 2 (the renewal)", code2, got)
		}
		p2.waitFor(t, "the consent frame", `!!document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`)
		frameWaitFor(t, p2, "the consent form with the fresh token", `d.querySelector('[data-testid="consent"]')?.dataset.stage === 'form'`)
		var who string
		if err := db.QueryRow(`SELECT username FROM audit_log WHERE action = 'link.renew' AND target = ? ORDER BY id DESC LIMIT 1`, code2).Scan(&who); err != nil {
			t.Fatal(err)
		}
		if who != "system" {
			t.Errorf("renewal audited as %q, want system", who)
		}
		p2.clean(t)
	})
}
