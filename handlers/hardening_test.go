package handlers

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/static"
	"github.com/payscore-console/payscore-console/store"
)

// TestMetricsAccess: with METRICS_TOKEN, /metrics wants exactly that bearer
// token; without one it is open in sandbox mode and not served in live mode.
func TestMetricsAccess(t *testing.T) {
	tests := []struct {
		name       string
		sandbox    bool
		token      string
		auth       string // Authorization header sent; "" = none
		wantStatus int
	}{
		{"OKToken", false, "s3cret-token", "Bearer s3cret-token", http.StatusOK},
		{"OKTokenSandbox", true, "s3cret-token", "Bearer s3cret-token", http.StatusOK},
		{"OKSandboxOpen", true, "", "", http.StatusOK},
		{"ErrNoToken", false, "s3cret-token", "", http.StatusUnauthorized},
		{"ErrNoTokenSandbox", true, "s3cret-token", "", http.StatusUnauthorized},
		{"ErrWrongToken", false, "s3cret-token", "Bearer s3cret-tokem", http.StatusUnauthorized},
		{"ErrPrefixOfToken", false, "s3cret-token", "Bearer s3cret", http.StatusUnauthorized},
		{"ErrNotBearer", false, "s3cret-token", "Basic s3cret-token", http.StatusUnauthorized},
		{"ErrLiveWithoutToken", false, "", "", http.StatusNotFound},
		{"ErrLiveWithoutTokenAnyAuth", false, "", "Bearer ", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, withDeps(func(d *testWiring) { d.Sandbox, d.MetricsToken = tt.sandbox, tt.token }))
			tc := ts.anonymous(t)
			var headers []string
			if tt.auth != "" {
				headers = []string{"Authorization", tt.auth}
			}
			res := tc.get(t, "/metrics", headers...)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			served := strings.Contains(res.body, "http_requests_total")
			if got, want := served, tt.wantStatus == http.StatusOK; got != want {
				t.Errorf("metrics in the body = %v, want %v", got, want)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", res.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestTrustProxyExact: X-Forwarded-For is believed from the TRUST_PROXY
// networks only; loopback, link-local and private peers are not trusted
// unless listed.
func TestTrustProxyExact(t *testing.T) {
	tests := []struct {
		name   string
		trust  []string
		wantIP string
	}{
		{"OKNoTrustProxySocketIP", nil, "127.0.0.1"},
		{"OKLoopbackNotListedSocketIP", []string{"10.0.0.0/8"}, "127.0.0.1"},
		{"OKLoopbackNotListedAmongPrivate", []string{"192.168.0.0/16", "172.16.0.0/12", "fe80::/10"}, "127.0.0.1"},
		{"OKLoopbackListed", []string{"127.0.0.1/32"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, withDeps(func(d *testWiring) {
				d.TrustProxy = nil
				for _, c := range tt.trust {
					_, n, err := net.ParseCIDR(c)
					if err != nil {
						t.Fatal(err)
					}
					d.TrustProxy = append(d.TrustProxy, n)
				}
			}), withRoutes(func(e *echo.Echo) {
				e.GET("/test/ip", func(c echo.Context) error { return c.String(http.StatusOK, c.RealIP()) })
			}))
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/test/ip", nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Real-Ip", "203.0.113.9")
			res := ts.anonymousRaw(t, req)
			if got, want := res.body, tt.wantIP; got != want {
				t.Errorf("RealIP = %q, want %q", got, want)
			}
			if want := `"ip":"` + tt.wantIP + `"`; !strings.Contains(ts.logs.String(), want) {
				t.Errorf("request log lacks %s", want)
			}
		})
	}
}

// anonymousRaw sends req without cookies or a forwarded address.
func (ts *testServer) anonymousRaw(t *testing.T, req *http.Request) *response {
	t.Helper()
	tc := &testClient{ts: ts, http: &http.Client{
		Transport:     ts.Server.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	return tc.do(t, req)
}

// TestRequestIDFromTrustedProxyOnly: a client's X-Request-Id is kept only
// when a trusted proxy forwards it; otherwise the request gets a fresh id.
func TestRequestIDFromTrustedProxyOnly(t *testing.T) {
	tests := []struct {
		name     string
		opts     []serverOption
		sent     string
		wantKept bool
	}{
		{"OKTrustedProxy", nil, "proxy-id-42", true},
		{"ErrUntrustedPeer", []serverOption{withoutTrustedProxy()}, "attacker-chosen-id", false},
		{"ErrTrustedProxyOddID", nil, "id with spaces\u202e", false},
		{"ErrTrustedProxyLongID", nil, strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts...)
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/healthz", nil)
			req.Header.Set("X-Request-Id", tt.sent)
			res := ts.anonymousRaw(t, req)
			got := res.header.Get("X-Request-Id")
			if got == "" {
				t.Fatal("no X-Request-Id")
			}
			if kept := got == tt.sent; kept != tt.wantKept {
				t.Errorf("X-Request-Id = %q, sent %q: kept = %v, want %v", got, tt.sent, kept, tt.wantKept)
			}
			if want := `"request_id":"` + got + `"`; !strings.Contains(ts.logs.String(), want) {
				t.Errorf("request log lacks %s", want)
			}
			if !tt.wantKept && strings.Contains(ts.logs.String(), tt.sent) {
				t.Error("the client's id reached the log")
			}
		})
	}
}

// TestSignedInNoStore: every answer to a signed-in person says no-store,
// error pages and images included; public pages are unaffected.
func TestSignedInNoStore(t *testing.T) {
	ts := newTestServer(t, withFakePayScore(&fakePayScore{}))
	ts.addSubMerchant(t, "1900000301", "测试商户", false)
	admin := ts.client(t, store.RoleAdmin)
	for _, path := range []string{"/", "/links", "/links/new", "/callbacks", "/callbacks.csv", "/audit", "/users",
		"/sub-merchants", "/authorizations", "/callbacks/999", "/links/999/qr.png", "/no/such/page"} {
		t.Run("OK "+path, func(t *testing.T) {
			res := admin.get(t, path)
			if res.status >= 500 {
				t.Fatalf("status = %d", res.status)
			}
			if got, want := res.header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("GET %s (%d): Cache-Control = %q, want %q", path, res.status, got, want)
			}
		})
	}
	t.Run("OKSignedInLinkQR", func(t *testing.T) {
		op := ts.client(t, store.RoleOperator)
		res := op.post(t, "/links", map[string][]string{"sub_mchid": {"1900000301"}})
		loc := res.header.Get("Location")
		if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/links/") {
			t.Fatalf("POST /links: %d %q, want 303 to the link", res.status, loc)
		}
		for _, p := range []string{loc, loc + "/qr.png"} {
			if got, want := op.get(t, p).header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("GET %s: Cache-Control = %q, want %q", p, got, want)
			}
		}
	})
	t.Run("OKStaticStillCached", func(t *testing.T) {
		res := admin.get(t, static.URL(static.HTMXFile))
		if got, want := res.header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
			t.Errorf("Cache-Control = %q, want %q", got, want)
		}
	})
}

// TestUnusedMethods: a method no route uses is answered before the logs and
// the metrics see it: 405 for the standard ones, 501 for made-up ones.
func TestUnusedMethods(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	before := tc.get(t, "/metrics", metricsAuth...).body
	logBefore := ts.logs.String()
	tests := []struct {
		method     string
		wantStatus int
	}{
		{"PUT", http.StatusMethodNotAllowed},
		{"DELETE", http.StatusMethodNotAllowed},
		{"PATCH", http.StatusMethodNotAllowed},
		{"OPTIONS", http.StatusMethodNotAllowed},
		{"TRACE", http.StatusMethodNotAllowed},
		{"HEAD", http.StatusMethodNotAllowed},
		{"FOO", http.StatusNotImplemented},
		{"PROPFIND", http.StatusNotImplemented},
		{"X-MADE-UP-1", http.StatusNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			for _, path := range []string{"/", "/login", "/no/such/page", "/notify/payscore"} {
				res := tc.do(t, tc.newRequest(t, tt.method, path, nil))
				if got, want := res.status, tt.wantStatus; got != want {
					t.Fatalf("%s %s: status = %d, want %d", tt.method, path, got, want)
				}
				if got, want := res.header.Get("Allow"), "GET, POST"; tt.wantStatus == http.StatusMethodNotAllowed && got != want {
					t.Errorf("Allow = %q, want %q", got, want)
				}
				for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Cross-Origin-Resource-Policy"} {
					if res.header.Get(h) == "" {
						t.Errorf("no %s", h)
					}
				}
			}
		})
	}
	after := tc.get(t, "/metrics", metricsAuth...).body
	// Only /metrics's own series may differ between the two reads.
	series := func(body string) []string {
		var out []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "http_request") && !strings.Contains(l, `route="/metrics"`) {
				out = append(out, l)
			}
		}
		return out
	}
	if got, want := strings.Join(series(after), "\n"), strings.Join(series(before), "\n"); got != want {
		t.Errorf("metrics changed:\nbefore:\n%s\nafter:\n%s", want, got)
	}
	newLog := strings.TrimPrefix(ts.logs.String(), logBefore)
	for _, tt := range tests {
		if strings.Contains(newLog, `"method":"`+tt.method+`"`) {
			t.Errorf("the log shows a %s request", tt.method)
		}
	}
}

// TestCrossOriginHeaders: every answer, pages, assets, the public landing
// page and errors alike, carries Permissions-Policy, COOP and CORP.
func TestCrossOriginHeaders(t *testing.T) {
	ts := newTestServer(t)
	anon := ts.anonymous(t)
	viewer := ts.client(t, store.RoleViewer)
	for _, c := range []struct {
		name string
		tc   *testClient
		path string
	}{
		{"Login", anon, "/login"},
		{"Static", anon, static.URL("app.css")},
		{"StaticHTMX", anon, static.URL(static.HTMXFile)},
		{"Landing404", anon, "/h5/no-such-slug"},
		{"Healthz", anon, "/healthz"},
		{"Overview", viewer, "/"},
		{"Forbidden", viewer, "/users"},
		{"NotFound", anon, "/no/such/page"},
	} {
		t.Run("OK"+c.name, func(t *testing.T) {
			res := c.tc.get(t, c.path)
			for h, want := range map[string]string{
				"Cross-Origin-Opener-Policy":   "same-origin",
				"Cross-Origin-Resource-Policy": "same-origin",
			} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			pp := res.header.Get("Permissions-Policy")
			for _, want := range []string{"camera=()", "microphone=()", "geolocation=()", "payment=()"} {
				if !strings.Contains(pp, want) {
					t.Errorf("Permissions-Policy %q lacks %s", pp, want)
				}
			}
		})
	}
}
