package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
)

// childEnv marks a test binary started as the console itself: the crash
// test runs the real program in a subprocess it can kill, without a second
// build.
const childEnv = "PAYSCORE_CONSOLE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// console is the program running in a subprocess.
type console struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

// startConsole runs the console on dbPath and waits until /healthz answers.
func startConsole(t testing.TB, dbPath string, port int, extraEnv ...string) *console {
	t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), childEnv+"=1", "ADDR=127.0.0.1:"+fmt.Sprint(port), "BASE_URL="+base,
		"DB_PATH="+dbPath, "ADMIN_PASSWORD=crash-test-password")
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &console{cmd: cmd, base: base, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.kill()
	t.Fatalf("console did not start:\n%s", logs.String())
	return nil
}

func (c *console) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// csrfInput finds a page's CSRF token.
var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// browser is a signed-in person without JavaScript: a cookie jar and the
// page's CSRF token, as the forms carry it.
type browser struct {
	http *http.Client
	csrf string
}

func signIn(t testing.TB, base, username, password string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, err := b.http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on /login")
	}
	b.csrf = string(m[1])
	res, err = b.post(base+"/login", url.Values{"username": {username}, "password": {password}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %v %v", res, err)
	}
	return b
}

// post submits a form with the CSRF token.
func (b *browser) post(u string, form url.Values) (*http.Response, error) {
	form.Set("_csrf", b.csrf)
	res, err := b.http.PostForm(u, form)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// TestKillNineLosesNothing runs the console as a subprocess, sends it
// notifications and terminations, kills it with SIGKILL at random moments
// and restarts it, cycle after cycle. Then: every notification that got a
// 2xx is in the log exactly once; the database passes integrity_check; no
// termination reached WeChat Pay twice; none is left pending after a start.
func TestKillNineLosesNothing(t *testing.T) {
	cycles := 20
	if v := os.Getenv("CRASH_CYCLES"); v != "" {
		fmt.Sscan(v, &cycles)
	}
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "crash.db")
	port := freePort(t)

	// First start creates the sandbox keys; the test then signs with them.
	c := startConsole(t, dbPath, port)
	c.kill()
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	const subMchID = "1900000777"
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "crash"}); err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{DBPath: db.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	signer := sb.Signer()

	// Authorizations to terminate: links made through the console, agreed
	// by their users at the simulator.
	c = startConsole(t, dbPath, port)
	admin := signIn(t, c.base, "admin", "crash-test-password")
	var codes []string
	for range 20 {
		res, err := admin.post(c.base+"/links", url.Values{"sub_mchid": {subMchID}})
		if err != nil || res.StatusCode != http.StatusSeeOther {
			t.Fatalf("create link: %v %v", res, err)
		}
		var id int64
		fmt.Sscanf(res.Header.Get("Location"), "/links/%d", &id)
		l, err := db.LinkByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, l.AuthorizationCode)
	}
	c.kill()
	db.Close()

	// Notifications are signed once and sent again in later cycles, as
	// WeChat Pay's retries are: a duplicate must still answer 2xx.
	const total = 600
	notes := make([]sandbox.SignedNotification, total)
	now := time.Now()
	for i := range notes {
		n, err := signer.Open(fmt.Sprintf("CRASH-%d", i), subMchID, fmt.Sprintf("oCrash%022d", i), now, now)
		if err != nil {
			t.Fatal(err)
		}
		notes[i] = n
	}

	acked := map[string]int{}
	var mu sync.Mutex
	client := &http.Client{Timeout: 5 * time.Second}
	for cycle := range cycles {
		c := startConsole(t, dbPath, port)
		runFor := time.Duration(50+rand.IntN(400)) * time.Millisecond
		stop := time.Now().Add(runFor)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; time.Now().Before(stop.Add(time.Second)); i += 8 {
					n := notes[(cycle*97+i)%total]
					req, _ := http.NewRequest(http.MethodPost, c.base+"/notify/payscore", bytes.NewReader(n.Body))
					req.Header = n.Header.Clone()
					res, err := client.Do(req)
					if err != nil {
						return // killed: the answer never came, so nothing was promised
					}
					res.Body.Close()
					if res.StatusCode == http.StatusNoContent {
						mu.Lock()
						acked[n.ID]++
						mu.Unlock()
					} else if res.StatusCode < 500 {
						t.Errorf("cycle %d: status %d for %s", cycle, res.StatusCode, n.ID)
					}
				}
			}()
		}
		// One termination a cycle, each code submitted once, whatever
		// happens to the answer: a person would look the code up again
		// rather than resubmit blindly.
		if cycle < len(codes) {
			code := codes[cycle]
			wg.Add(1)
			// Every other termination meets a WeChat Pay that answers after
			// the kill: the call reached it, the answer never came back, and
			// the next start must find out by a query.
			if cycle%2 == 1 {
				if res, err := admin.post(c.base+"/sandbox/control/faults", url.Values{"kind": {"slow"}, "n": {"1"}}); err != nil || res.StatusCode != http.StatusSeeOther {
					t.Fatalf("inject a slow answer: %v %v", res, err)
				}
			}
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(int(runFor/time.Millisecond)+1)) * time.Millisecond)
				_, _ = admin.post(c.base+"/authorizations/"+code+"/terminate", url.Values{"reason": {"用户申请解除（崩溃测试）"}, "confirm": {"1"}})
			}()
		}
		time.Sleep(runFor)
		c.kill() // SIGKILL mid-flight
		wg.Wait()
	}

	// A last start resolves terminations a kill left pending.
	c = startConsole(t, dbPath, port)
	db, err = store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pending, err := db.PendingTerminations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d terminations still pending after a start:\n%s", len(pending), c.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.kill()
	sb.Close()
	sb, err = sandbox.New(ctx, sandbox.Options{DBPath: db.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	terminated := 0
	for _, code := range codes[:min(cycles, len(codes))] {
		calls, err := sb.Calls(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, call := range calls {
			if strings.HasSuffix(call.Path, "/terminate") {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%s: %d terminate calls reached WeChat Pay, want at most 1", code, n)
		}
		terms, err := db.TerminationsByCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		sbAuth, err := sb.Authorization(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range terms {
			if tr.Status == store.TerminationSucceeded {
				terminated++
				if sbAuth.State != sandbox.StateUnavailable {
					t.Errorf("%s: recorded as terminated, but WeChat Pay says %s", code, sbAuth.State)
				}
			}
		}
		if n == 1 && sbAuth.State == sandbox.StateUnavailable && len(terms) > 0 && terms[0].Status != store.TerminationSucceeded {
			t.Errorf("%s: WeChat Pay terminated it, but the console recorded %s", code, terms[0].Status)
		}
	}
	var integrity string
	if err := openSQL(t, dbPath).QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	found, err := db.DeliveryCounts(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for id, answers := range acked {
		if found[id] < answers {
			t.Errorf("%s: %d 2xx answers but %d deliveries recorded", id, answers, found[id])
		}
	}
	var dupIDs int
	if err := openSQL(t, dbPath).QueryRow(`SELECT count(*) FROM (SELECT notification_id FROM callbacks GROUP BY notification_id HAVING count(*) > 1)`).Scan(&dupIDs); err != nil || dupIDs != 0 {
		t.Errorf("notification ids stored more than once: %d, %v", dupIDs, err)
	}
	if len(acked) == 0 {
		t.Fatal("no notification was acknowledged: the test proved nothing")
	}
	t.Logf("%d cycles: %d distinct notifications acknowledged, all present once; %d terminations succeeded, none sent twice", cycles, len(acked), terminated)
}
