package main

// Helpers of the browser end-to-end test (e2e_test.go): the console run in
// process on a loopback port, a headless Chromium driven by chromedp, tabs
// that record every JavaScript exception, CSP violation and console error,
// and screenshots.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Time limits. The whole test is bounded; a single wait is bounded well
// below it, generously enough for a loaded 2-core CI machine.
const (
	e2eTotalTimeout = 4 * time.Minute
	e2eStepTimeout  = 30 * time.Second
	e2eAdminPass    = "e2e-admin-password"
)

// User agents of the journey.
const (
	uaWeChat8 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
		"Mobile/15E148 MicroMessenger/8.0.49(0x18003131) NetType/WIFI Language/zh_CN"
	uaWeChat704 = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
		"Mobile/15E148 MicroMessenger/7.0.4(0x17000428) NetType/WIFI Language/zh_CN"
	uaDesktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// phone is a WeChat 8 phone: an iPhone-sized viewport, touch, the WeChat UA.
func phone(ua string) device.Info {
	return device.Info{Name: "WeChat phone", UserAgent: ua, Width: 390, Height: 844, Scale: 2, Mobile: true, Touch: true}
}

// desktop is the console's desktop: 1280×800.
func desktop() device.Info {
	return device.Info{Name: "desktop", UserAgent: uaDesktop, Width: 1280, Height: 800, Scale: 1}
}

// chromiumPath finds Chromium. Without one the test skips, except in CI
// (CI set), where the browser tests must run: there it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but Chromium is not installed (apt-get install chromium): the browser tests must run in CI")
	}
	t.Skip("Chromium not found (install Debian's chromium); the browser end-to-end test runs in CI")
	return ""
}

// syncBuffer is a log sink safe for the server's goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// e2e is one run: the console, the browser, the screenshots.
type e2e struct {
	top     *testing.T      // the whole test: tabs live as long as it
	base    string          // the console's loopback URL, also its BASE_URL
	browser context.Context // the browser's first tab; every tab opens from it
	logs    *syncBuffer
	shotDir string // test-artifacts/e2e
	docDir  string // E2E_SCREENSHOTS, or "" to leave docs alone
	dbPath  string // the console's SQLite file ("" on PostgreSQL)
	shotN   int
	tabs    []*tab
}

// startE2E runs the console in process (sandbox mode, a SQLite file in a
// temporary directory, a free loopback port, BASE_URL that very URL so the
// sandbox delivers its notifications to it) and starts Chromium.
func startE2E(t *testing.T) *e2e {
	t.Helper()
	return startE2EOn(t, "")
}

// startE2EWithin is startE2E for a test that needs longer than
// e2eTotalTimeout as a whole.
func startE2EWithin(t *testing.T, total time.Duration) *e2e {
	t.Helper()
	return startE2EOnWithin(t, "", total)
}

// startE2EOn is startE2E with the console's state in the PostgreSQL
// database at databaseURL (DATABASE_URL; the sandbox then keeps its own
// SQLite file) when it is not empty. Its screenshots go to
// test-artifacts/e2e-postgres, never to the docs.
func startE2EOn(t *testing.T, databaseURL string) *e2e {
	t.Helper()
	return startE2EOnWithin(t, databaseURL, e2eTotalTimeout)
}

// startE2EOnWithin is startE2EOn within total.
func startE2EOnWithin(t *testing.T, databaseURL string, total time.Duration) *e2e {
	t.Helper()
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), total)
	t.Cleanup(cancel)

	dir := t.TempDir()
	port := freePort(t)
	e := &e2e{
		dbPath:  filepath.Join(dir, "e2e.db"),
		top:     t,
		base:    fmt.Sprintf("http://127.0.0.1:%d", port),
		logs:    &syncBuffer{},
		shotDir: filepath.Join("test-artifacts", "e2e"),
		docDir:  os.Getenv("E2E_SCREENSHOTS"),
	}
	if databaseURL != "" {
		e.shotDir, e.docDir, e.dbPath = filepath.Join("test-artifacts", "e2e-postgres"), "", ""
	}
	if err := os.RemoveAll(e.shotDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.shotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if e.docDir != "" {
		if err := os.MkdirAll(e.docDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	env := map[string]string{
		"ADDR":           fmt.Sprintf("127.0.0.1:%d", port),
		"BASE_URL":       e.base,
		"DB_PATH":        e.dbPath,
		"ADMIN_PASSWORD": e2eAdminPass,
	}
	if databaseURL != "" {
		env["DATABASE_URL"], env["SANDBOX_DB_PATH"] = databaseURL, filepath.Join(dir, "sandbox.db")
	}
	srvCtx, stopServer := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(srvCtx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), e.logs, e.logs)
	}()
	t.Cleanup(func() {
		stopServer()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("console exited with status %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("console did not shut down within 30 s")
		}
		if t.Failed() {
			t.Logf("console log:\n%s", tail(e.logs.String(), 60))
		}
	})
	e.waitHealthy(t, done)

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(dir, "chromium-profile")),
		chromedp.WindowSize(1280, 800),
	)...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first Do starts the browser, bound to the test's whole context:
	// later waits use shorter contexts derived from a tab's.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	e.browser = browser
	return e
}

// waitHealthy waits until /healthz answers 200 and the sandbox's demo data
// is in place (the first start seeds it in the background), so that pages
// and screenshots do not change under the test.
func (e *e2e) waitHealthy(t *testing.T, done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(e2eStepTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case code := <-done:
			t.Fatalf("console exited with status %d:\n%s", code, e.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("console not ready within %s:\n%s", e2eStepTimeout, e.logs.String())
		}
		res, err := client.Get(e.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK && strings.Contains(e.logs.String(), "sandbox demo data") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// tab is one browser tab. It records every uncaught exception, console
// error and CSP violation of its pages (frames included), and the URLs it
// requested.
type tab struct {
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string
	requests []string
	expected []string // URL substrings whose non-2xx answers are part of the test
}

// newTab opens a tab emulating dev. isolated puts it in a browser context
// of its own (its own cookies: another person); otherwise it shares the
// admin's. The tab lives until the whole test ends, whichever step opens it.
func (e *e2e) newTab(t *testing.T, name string, isolated bool, dev device.Info) *tab {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(e.browser, opts...)
	e.top.Cleanup(cancel)
	tb := &tab{name: name, ctx: ctx}
	e.tabs = append(e.tabs, tb)
	if err := chromedp.Listen(ctx, tb.observe); err != nil {
		t.Fatalf("%s: listen: %v", name, err)
	}
	tb.do(t, chromedp.Emulate(dev))
	return tb
}

// observe runs in the tab's event loop: it only records.
func (tb *tab) observe(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		tb.problems = append(tb.problems, fmt.Sprintf("JS exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			tb.problems = append(tb.problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
		}
	case *log.EventEntryAdded:
		en := ev.Entry
		switch {
		case en.Source == log.EntrySourceSecurity || strings.Contains(en.Text, "Content Security Policy"):
			tb.problems = append(tb.problems, fmt.Sprintf("CSP violation (%s): %s", en.URL, en.Text))
		case en.Level == log.EntryLevelError && en.Source == log.EntrySourceNetwork && tb.isExpected(en.URL):
			// A status the test asked for (the paused landing page's 503).
		case en.Source == log.EntrySourceNetwork && strings.HasSuffix(en.URL, "/favicon.ico"):
			// The browser asks for /favicon.ico by itself; the console has
			// none, and no page refers to one.
		case en.Level == log.EntryLevelError:
			tb.problems = append(tb.problems, fmt.Sprintf("browser log %s error (%s): %s", en.Source, en.URL, en.Text))
		}
	case *network.EventRequestWillBeSent:
		tb.requests = append(tb.requests, ev.Request.URL)
	}
}

func (tb *tab) isExpected(url string) bool {
	for _, s := range tb.expected {
		if strings.Contains(url, s) {
			return true
		}
	}
	return false
}

// expect declares that pages whose URL contains s answer a non-2xx status
// on purpose, so the browser's "failed to load resource" entry is not a
// problem.
func (tb *tab) expect(s string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.expected = append(tb.expected, s)
}

// clean fails the test for every problem recorded since the last call.
func (tb *tab) clean(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	problems := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range problems {
		t.Errorf("%s tab: %s", tb.name, p)
	}
}

// requested lists the URLs the tab requested that contain s.
func (tb *tab) requested(s string) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, u := range tb.requests {
		if strings.Contains(u, s) {
			out = append(out, u)
		}
	}
	return out
}

// do runs actions within e2eStepTimeout.
func (tb *tab) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s tab: %v", tb.name, err)
	}
}

// get runs one action that returns a value, within e2eStepTimeout.
func get[T any](t *testing.T, tb *tab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s tab: %v", tb.name, err)
	}
	return v
}

// navigate loads url and returns the document's HTTP status.
func (tb *tab) navigate(t *testing.T, url string) int64 {
	t.Helper()
	res := get(t, tb, chromedp.NavigateResponse(url))
	if res == nil {
		t.Fatalf("%s tab: no response for %s", tb.name, url)
	}
	return res.Status
}

// submit clicks sel (a submit button or a link), waits for the page it
// leads to, and returns that page's HTTP status.
func (tb *tab) submit(t *testing.T, sel string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eStepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("%s tab: click %s: %v", tb.name, sel, err)
	}
	if res == nil {
		t.Fatalf("%s tab: click %s: no response", tb.name, sel)
	}
	return res.Status
}

// waitFor polls a JavaScript predicate until it is truthy.
func (tb *tab) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eStepTimeout+5*time.Second)
	defer cancel()
	deadline := time.Now().Add(e2eStepTimeout)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// The page's JavaScript context went away under the poll (the
		// page navigated or reloaded itself meanwhile): poll the new one.
		if contextGone(err) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("%s tab: waiting for %s: %v", tb.name, what, err)
	}
}

// contextGone reports whether err is Chromium's answer to an evaluation in
// an execution context that was destroyed by a navigation.
func contextGone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") || strings.Contains(msg, "Execution context was destroyed")
}

// text is the trimmed text of the first element matching sel, once visible.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, tb, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	return get(t, tb, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// count is how many elements match sel now.
func (tb *tab) count(t *testing.T, sel string) int {
	t.Helper()
	return eval[int](t, tb, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// fill types value into the input sel after clearing it.
func (tb *tab) fill(t *testing.T, sel, value string) {
	t.Helper()
	tb.do(t, chromedp.Clear(chromedp.CSS(sel), chromedp.NodeVisible), chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
	if got := get(t, tb, chromedp.Value(chromedp.CSS(sel))); got != value {
		t.Fatalf("%s tab: typed %q into %s, field holds %q", tb.name, value, sel, got)
	}
}

// fetchBytes fetches url from the page, with its cookies, and returns the body.
func (tb *tab) fetchBytes(t *testing.T, url string) []byte {
	t.Helper()
	b64 := eval[string](t, tb, fmt.Sprintf(`(async () => {
		const r = await fetch(%s, {credentials: 'same-origin', cache: 'no-store'});
		if (!r.ok) throw new Error('HTTP ' + r.status);
		const b = new Uint8Array(await r.arrayBuffer());
		let s = '';
		for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
		return btoa(s);
	})()`, jsString(url)))
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeQRPNG decodes the QR code in a PNG.
func decodeQRPNG(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("QR image is not a PNG: %v", err)
	}
	// The console draws a pure, upright code with its quiet zone, which
	// PURE_BARCODE reads every time; gozxing's general finder-pattern
	// detector misses about 1 in 120 such pixel-perfect codes. The detector
	// is the fallback.
	var errs []error
	for _, hints := range []map[gozxing.DecodeHintType]any{{gozxing.DecodeHintType_PURE_BARCODE: true}, nil} {
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := zxingqr.NewQRCodeReader().Decode(bmp, hints)
		if err == nil {
			return res.GetText()
		}
		errs = append(errs, err)
	}
	t.Fatalf("decode QR: %v", errors.Join(errs...))
	return ""
}

// shot saves a full-page PNG of the tab under test-artifacts/e2e, and, when
// doc is not empty and E2E_SCREENSHOTS names a folder, as doc.png there too.
func (e *e2e) shot(t *testing.T, tb *tab, name, doc string) {
	t.Helper()
	// Fonts and images first: a screenshot of a half-drawn page is no evidence.
	tb.waitFor(t, "images and fonts", `document.readyState === 'complete' && document.fonts.status === 'loaded' &&
		[...document.images].every(i => i.complete && i.naturalWidth > 0)`)
	buf := get(t, tb, chromedp.FullScreenshot(100))
	e.shotN++
	file := filepath.Join(e.shotDir, fmt.Sprintf("%02d-%s.png", e.shotN, name))
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if doc != "" && e.docDir != "" {
		if err := os.WriteFile(filepath.Join(e.docDir, doc+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// failureShots saves what every tab shows when a step failed, for the CI
// log's reader; it never fails the test itself.
func (e *e2e) failureShots(t *testing.T, step string) {
	for _, tb := range e.tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			continue
		}
		file := filepath.Join(e.shotDir, fmt.Sprintf("FAILED-%s-%s.png", step, tb.name))
		if os.WriteFile(file, buf, 0o644) == nil {
			t.Logf("screenshot of the %s tab: %s", tb.name, file)
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tid is the CSS selector of a data-testid.
func tid(id string) string { return `[data-testid="` + id + `"]` }

// consentFrame is the JavaScript expression of the sandbox JS-SDK's consent
// frame. It is same-origin, so the page's script can reach its document.
const consentFrame = `document.querySelector('[data-testid="wx-sandbox-overlay"] iframe')`

// frameEval evaluates expr with d bound to the consent frame's document.
func frameEval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	return eval[T](t, tb, `(() => {
		const f = `+consentFrame+`;
		const d = f && f.contentDocument;
		if (!d) throw new Error('no consent frame');
		return (`+expr+`);
	})()`)
}

// frameWaitFor polls expr, with d bound to the consent frame's loaded
// document, until it is truthy.
func frameWaitFor(t *testing.T, tb *tab, what, expr string) {
	t.Helper()
	tb.waitFor(t, what, `(() => {
		const f = `+consentFrame+`;
		const d = f && f.contentDocument;
		return !!d && d.readyState === 'complete' && d.fonts.status === 'loaded' && !!(`+expr+`);
	})()`)
}

// frameTap taps, with a real touch, the centre of the element sel inside
// the consent frame (hit-testing, not a synthetic el.click()).
func frameTap(t *testing.T, tb *tab, sel string) {
	t.Helper()
	type point struct{ X, Y float64 }
	p := frameEval[point](t, tb, `(() => {
		const el = d.querySelector(`+jsString(sel)+`);
		if (!el) throw new Error('no ' + `+jsString(sel)+` + ' in the consent frame');
		el.scrollIntoView({block: 'center'});
		const fr = f.getBoundingClientRect(), r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) throw new Error(`+jsString(sel)+` + ' is not visible');
		return {X: fr.left + r.left + r.width / 2, Y: fr.top + r.top + r.height / 2};
	})()`)
	tb.do(t, chromedp.TapXY(p.X, p.Y))
}
