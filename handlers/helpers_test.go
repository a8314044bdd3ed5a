package handlers

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/wiring"
)

// testPassword is the password of every user newTestServer creates.
const testPassword = "correct horse battery"

// testStart is where every fake clock starts.
var testStart = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves by hand; the server reads it from its
// own goroutines, so it is locked.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: testStart} }

// Now is the clock's time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testPasswordHash hashes testPassword once per test binary: argon2id is
// deliberately slow.
var testPasswordHash = sync.OnceValue(func() string {
	h, err := service.HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// lockedBuffer is a log sink the server writes to from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverConfig are the knobs of newTestServer.
type serverConfig struct {
	https      bool
	sandbox    bool
	noTrust    bool                // do not trust the loopback proxy: X-Forwarded-For is ignored
	extra      func(e *echo.Echo)  // routes added for one test, before the server starts
	deps       func(d *testWiring) // last changes to the handlers' dependencies
	sessionKey []byte
	dbPath     string // a database file shared with another test server (default: a new one)
}

// withDBPath runs on the database file at path, which another test server
// may share (two instances on one database); the users are created once.
func withDBPath(path string) serverOption { return func(c *serverConfig) { c.dbPath = path } }

// serverOption changes newTestServer's configuration.
type serverOption func(*serverConfig)

// withHTTPS serves over TLS with an https BASE_URL (Secure cookies, __Host- names, HSTS).
func withHTTPS() serverOption { return func(c *serverConfig) { c.https = true } }

// withSandbox runs in sandbox mode.
func withSandbox() serverOption { return func(c *serverConfig) { c.sandbox = true } }

// withoutTrustedProxy leaves TRUST_PROXY empty, as in production by default.
func withoutTrustedProxy() serverOption { return func(c *serverConfig) { c.noTrust = true } }

// withRoutes registers test-only routes on the Echo before it serves.
func withRoutes(f func(e *echo.Echo)) serverOption { return func(c *serverConfig) { c.extra = f } }

// testWiring is what newTestServer builds the handlers from: their Deps,
// and what wiring.NewServices builds the services from.
type testWiring struct {
	Deps
	Store      *store.DB
	PayScore   service.PayScore
	CodePrefix string
	// MchID and ServiceID are ours: notifications must name both.
	MchID, ServiceID string
	// AppID is PAYSCORE_APPID.
	AppID string
	// AdjustServices changes the services once built, before the server
	// starts.
	AdjustServices func(*service.Services)
	// MFARequiredRoles must sign in with two-factor (none by default).
	MFARequiredRoles []string
}

// withDeps changes the dependencies before the services and handlers are
// built.
func withDeps(f func(d *testWiring)) serverOption { return func(c *serverConfig) { c.deps = f } }

// testServer is the console over real HTTP on a real SQLite file, with a
// fake clock shared by the store and the session store. By default it trusts
// loopback as a reverse proxy, and every testClient sends its own
// X-Forwarded-For address, so that the per-IP sign-in rate limit counts each
// client separately.
type testServer struct {
	*httptest.Server
	h     *Handler
	svc   *service.Services
	e     *echo.Echo
	db    *store.DB
	clock *fakeClock
	logs  *lockedBuffer
	users map[string]*store.User // by role; username = role
	base  *url.URL
	ips   atomic.Int32
}

// roles lists every role; anonymous is the empty string.
var allRoles = []string{"", store.RoleAdmin, store.RoleOperator, store.RoleSupport, store.RoleViewer}

// roleName names a role in subtest names.
func roleName(role string) string {
	if role == "" {
		return "anonymous"
	}
	return role
}

// testMetricsToken is the test server's METRICS_TOKEN; metricsAuth the
// header that presents it.
const testMetricsToken = "test-metrics-token"

var metricsAuth = []string{"Authorization", "Bearer " + testMetricsToken}

// newTestServer starts the console with a user per role (username = role,
// password testPassword).
func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	cfg := serverConfig{sessionKey: bytes.Repeat([]byte("k"), 32)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	dbPath := cfg.dbPath
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "test.db")
	}
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clock := newFakeClock()
	db.Now = clock.Now

	ts := &testServer{db: db, clock: clock, logs: &lockedBuffer{}, users: map[string]*store.User{}}
	for _, role := range store.Roles {
		u, err := db.CreateUser(ctx, role, testPasswordHash(), role)
		if errors.Is(err, store.ErrConflict) && cfg.dbPath != "" {
			u, err = db.UserByUsername(ctx, role)
		}
		if err != nil {
			t.Fatalf("CreateUser %s: %v", role, err)
		}
		ts.users[role] = u
	}

	srv := httptest.NewUnstartedServer(nil)
	scheme := "http"
	if cfg.https {
		scheme = "https"
	}
	ts.base = &url.URL{Scheme: scheme, Host: srv.Listener.Addr().String()}
	deps := testWiring{Store: db}
	deps.Deps = Deps{
		Sessions: NewSessionStore(db, cfg.sessionKey, cfg.https, clock.Now),
		Logger:   slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      clock.Now,
		BaseURL:  ts.base,
		Sandbox:  cfg.sandbox,
		// Tests read /metrics with metricsAuth.
		MetricsToken: testMetricsToken,
		// Refuses every notification as unsigned; notification tests set a
		// real parser with withDeps.
		Receiver: Receiver{Parser: refuseUnsigned{}},
	}
	if !cfg.noTrust {
		for _, cidr := range []string{"127.0.0.0/8", "::1/128"} {
			_, n, _ := net.ParseCIDR(cidr)
			deps.TrustProxy = append(deps.TrustProxy, n)
		}
	}
	if cfg.deps != nil {
		cfg.deps(&deps)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	// The services as serve builds them (wiring.NewServices), on the fake
	// clock.
	ts.svc = wiring.NewServices(deps.Store, deps.PayScore, wiring.ServiceOptions{BaseURL: ts.base.String(),
		CodePrefix: deps.CodePrefix, MchID: deps.MchID, ServiceID: deps.ServiceID, AppID: deps.AppID, Now: clock.Now, Logger: deps.Logger,
		Registerer: deps.Registry, SessionKey: cfg.sessionKey, MFARequiredRoles: deps.MFARequiredRoles})
	if deps.AdjustServices != nil {
		deps.AdjustServices(ts.svc)
	}
	deps.Services, deps.Logs, deps.Health = ts.svc, deps.Store, deps.Store
	if deps.Notifications == nil {
		deps.Notifications = deps.Store
	}
	ts.h = New(deps.Deps)
	ts.e = ts.h.Echo()
	if cfg.extra != nil {
		cfg.extra(ts.e)
	}
	srv.Config.Handler = ts.e
	if cfg.https {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	ts.Server = srv
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
	return ts
}

// refuseUnsigned is a NotifyParser that refuses everything as unsigned.
type refuseUnsigned struct{}

func (refuseUnsigned) Parse(context.Context, http.Header, []byte) (*payscore.Notification, error) {
	return nil, &payscore.NotifyError{Reason: payscore.ReasonMissingHeader}
}

// testClient is a browser without JavaScript: a cookie jar, no redirects
// followed, and the CSRF token of the last page it loaded.
type testClient struct {
	ts   *testServer
	http *http.Client
	ip   string
	csrf string
}

// xffTransport sends a fixed X-Forwarded-For, as a proxy in front would.
type xffTransport struct {
	base http.RoundTripper
	ip   string
}

func (x xffTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if x.ip != "" && r.Header.Get("X-Forwarded-For") == "" {
		r.Header.Set("X-Forwarded-For", x.ip)
	}
	return x.base.RoundTrip(r)
}

// anonymous is a signed-out browser that has loaded /login (so it holds a
// CSRF cookie and token).
func (ts *testServer) anonymous(t testing.TB) *testClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	n := ts.ips.Add(1)
	ip := fmt.Sprintf("10.0.%d.%d", n/250, n%250+1)
	tc := &testClient{ts: ts, ip: ip}
	tc.http = &http.Client{
		Jar:           jar,
		Transport:     xffTransport{base: ts.Server.Client().Transport, ip: ip},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	res := tc.get(t, "/login")
	if res.status != http.StatusOK {
		t.Fatalf("GET /login: status %d", res.status)
	}
	if tc.csrf == "" {
		t.Fatal("GET /login: no CSRF token in the page")
	}
	return tc
}

// client is a browser signed in as the user of role ("" is anonymous).
func (ts *testServer) client(t testing.TB, role string) *testClient {
	t.Helper()
	tc := ts.anonymous(t)
	if role == "" {
		return tc
	}
	tc.signIn(t, role, testPassword)
	return tc
}

// signIn posts the login form and requires success.
func (tc *testClient) signIn(t testing.TB, username, password string) *response {
	t.Helper()
	res := tc.login(t, username, password)
	if res.status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d, want 303; page error %q", username, res.status, res.text(`[data-testid="login-error"]`))
	}
	return res
}

// login posts the login form.
func (tc *testClient) login(t testing.TB, username, password string) *response {
	t.Helper()
	return tc.post(t, "/login", url.Values{"username": {username}, "password": {password}})
}

// response is an answer with its page parsed.
type response struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    string
	doc     *goquery.Document
}

// text is the trimmed text of the elements sel matches.
func (r *response) text(sel string) string {
	return strings.TrimSpace(r.doc.Find(sel).Text())
}

// has reports whether sel matches anything.
func (r *response) has(sel string) bool { return r.doc.Find(sel).Length() > 0 }

// cookie returns the Set-Cookie of that name, or nil.
func (r *response) cookie(name string) *http.Cookie {
	var found *http.Cookie
	for _, c := range r.cookies {
		if c.Name == name {
			found = c
		}
	}
	return found
}

// do sends a request and reads the answer; a page's CSRF token is kept.
func (tc *testClient) do(t testing.TB, req *http.Request) *response {
	t.Helper()
	res, err := tc.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: parse HTML: %v", req.Method, req.URL.Path, err)
	}
	if tok, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok && tok != "" {
		tc.csrf = tok
	}
	r := &response{status: res.StatusCode, header: res.Header, cookies: res.Cookies(), body: string(body), doc: doc}
	// One Set-Cookie per name (RFC 6265 §4.1.1): the browser must not have
	// to pick between a session's old and new value.
	names := map[string]bool{}
	for _, c := range r.cookies {
		if names[c.Name] {
			t.Errorf("%s %s: more than one Set-Cookie for %s: %q", req.Method, req.URL.Path, c.Name, res.Header.Values("Set-Cookie"))
		}
		names[c.Name] = true
	}
	return r
}

// newRequest builds a request to the test server.
func (tc *testClient) newRequest(t testing.TB, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, tc.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// get loads a page; headers are name, value pairs.
func (tc *testClient) get(t testing.TB, path string, headers ...string) *response {
	t.Helper()
	req := tc.newRequest(t, http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return tc.do(t, req)
}

// post submits a form with the client's CSRF token, as the page's hidden
// input would; headers are name, value pairs.
func (tc *testClient) post(t testing.TB, path string, form url.Values, headers ...string) *response {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if _, ok := f["_csrf"]; !ok {
		f.Set("_csrf", tc.csrf)
	}
	return tc.postRaw(t, path, f, headers...)
}

// postRaw submits a form exactly as given (no token added).
func (tc *testClient) postRaw(t testing.TB, path string, form url.Values, headers ...string) *response {
	t.Helper()
	req := tc.newRequest(t, http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return tc.do(t, req)
}

// sessionCookie is the session cookie the client's jar holds, or nil.
func (tc *testClient) sessionCookie() *http.Cookie {
	u := *tc.ts.base
	for _, c := range tc.http.Jar.Cookies(&u) {
		if c.Name == tc.ts.h.Sessions.Name() {
			return c
		}
	}
	return nil
}

// copyOf is another browser holding a copy of this client's cookies (a
// stolen cookie), with the same CSRF token.
func (tc *testClient) copyOf(t testing.TB) *testClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := *tc.ts.base
	jar.SetCookies(&u, tc.http.Jar.Cookies(&u))
	cp := *tc
	cp.http = &http.Client{Jar: jar, Transport: tc.http.Transport, CheckRedirect: tc.http.CheckRedirect, Timeout: tc.http.Timeout}
	return &cp
}

// signedIn reports whether GET / shows the overview (200) rather than
// sending the browser to sign in.
func (tc *testClient) signedIn(t testing.TB) bool {
	t.Helper()
	res := tc.get(t, "/")
	switch res.status {
	case http.StatusOK:
		if !res.has(`[data-testid="me"]`) {
			t.Fatalf("GET /: 200 without the signed-in person in the page")
		}
		return true
	case http.StatusSeeOther:
		if got, want := res.header.Get("Location"), "/login?next=%2F"; got != want {
			t.Fatalf("GET /: redirect to %q, want %q", got, want)
		}
		return false
	}
	t.Fatalf("GET /: status %d", res.status)
	return false
}

// sessionCount is how many session rows a user has.
func (ts *testServer) sessionCount(t testing.TB, userID int64) int {
	t.Helper()
	n, err := queryInt(t, ts.db, `SELECT count(*) FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// openSQL opens a connection of the test's own to the store's file, for
// checks and fixtures the store has no method for (its handles stay its
// own). It is closed when the test ends.
func openSQL(t testing.TB, db *store.DB) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db.Path+"?_busy_timeout=5000&_foreign_keys=on&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// queryInt runs a query answering one integer on a short-lived connection
// of the test's own.
func queryInt(t testing.TB, db *store.DB, q string, args ...any) (int, error) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db.Path+"?_busy_timeout=5000&mode=ro")
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	var n int
	err = raw.QueryRow(q, args...).Scan(&n)
	return n, err
}
