package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/static"
	"github.com/payscore-console/payscore-console/store"
)

// walkRow is one route of the table with the status each role gets.
// POSTs carry a valid CSRF token and a form that changes nothing.
type walkRow struct {
	method, route string // as in the route table
	path          string // concrete path; "" = route
	form          url.Values
	want          map[string]int // by role; "" = anonymous
	ends          bool           // the request ends the client's session
	headers       []string       // name, value pairs sent with a GET
}

// everyone answers the same to every role.
func walkEveryone(status int) map[string]int {
	m := map[string]int{}
	for _, r := range allRoles {
		m[r] = status
	}
	return m
}

// signedInOnly answers anonymous with anon and every role with status.
func walkSignedIn(anon, status int) map[string]int {
	m := walkEveryone(status)
	m[""] = anon
	return m
}

// only answers the listed roles with ok, other roles 403 and anonymous anon.
func walkOnly(anon, ok int, roles ...string) map[string]int {
	m := walkEveryone(http.StatusForbidden)
	m[""] = anon
	for _, r := range roles {
		m[r] = ok
	}
	return m
}

func walkTable(ts *testServer) []walkRow {
	viewer := "/users/" + strconv.FormatInt(ts.users[store.RoleViewer].ID, 10)
	return []walkRow{
		{method: "GET", route: "/login", want: walkSignedIn(http.StatusOK, http.StatusSeeOther)},
		{method: "POST", route: "/login", form: url.Values{"username": {""}}, want: walkEveryone(http.StatusUnprocessableEntity)},
		// No password was given first: back to /login, and a code alone is refused.
		{method: "GET", route: "/login/code", want: walkEveryone(http.StatusSeeOther)},
		{method: "POST", route: "/login/code", form: url.Values{"code": {"123456"}}, want: walkEveryone(http.StatusUnprocessableEntity)},
		// Without OIDC_ISSUER (this server) single sign-on is not there;
		// oidc_test.go walks it with a provider.
		{method: "GET", route: "/login/oidc", want: walkEveryone(http.StatusNotFound)},
		{method: "GET", route: "/login/oidc/callback", want: walkEveryone(http.StatusNotFound)},
		{method: "POST", route: "/logout", want: walkEveryone(http.StatusSeeOther), ends: true},
		{method: "POST", route: "/lang", form: url.Values{"lang": {"zh"}}, want: walkEveryone(http.StatusSeeOther)},
		{method: "GET", route: "/", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		{method: "GET", route: "/sub-merchants", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin)},
		{method: "POST", route: "/sub-merchants", want: walkOnly(http.StatusUnauthorized, http.StatusUnprocessableEntity, store.RoleAdmin)},
		{method: "POST", route: "/sub-merchants/:id", path: "/sub-merchants/999", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin)},
		{method: "GET", route: "/links", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin, store.RoleOperator)},
		{method: "GET", route: "/links/new", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin, store.RoleOperator)},
		{method: "POST", route: "/links", want: walkOnly(http.StatusUnauthorized, http.StatusUnprocessableEntity, store.RoleAdmin, store.RoleOperator)},
		{method: "GET", route: "/links/:id", path: "/links/999", want: walkOnly(http.StatusSeeOther, http.StatusNotFound, store.RoleAdmin, store.RoleOperator)},
		{method: "GET", route: "/links/:id/qr.png", path: "/links/999/qr.png", want: walkOnly(http.StatusSeeOther, http.StatusNotFound, store.RoleAdmin, store.RoleOperator)},
		{method: "POST", route: "/links/:id/renew", path: "/links/999/renew", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin, store.RoleOperator)},
		{method: "GET", route: "/links/:id/poster.png", path: "/links/999/poster.png", want: walkOnly(http.StatusSeeOther, http.StatusNotFound, store.RoleAdmin, store.RoleOperator)},
		{method: "POST", route: "/links/:id/auto-renew", path: "/links/999/auto-renew", want: walkOnly(http.StatusUnauthorized, http.StatusBadRequest, store.RoleAdmin, store.RoleOperator)},
		{method: "GET", route: "/sub-merchants/:id", path: "/sub-merchants/999", want: walkSignedIn(http.StatusSeeOther, http.StatusNotFound)},
		{method: "GET", route: "/stats.csv", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		{method: "POST", route: "/emergency", want: walkOnly(http.StatusUnauthorized, http.StatusUnprocessableEntity, store.RoleAdmin)},
		// The landing pages are public; an unknown slug is 404 for everyone.
		{method: "GET", route: "/h5/:slug", path: "/h5/no-such-slug", want: walkEveryone(http.StatusNotFound)},
		{method: "GET", route: "/h5/:slug/status", path: "/h5/no-such-slug/status", want: walkEveryone(http.StatusNotFound)},
		{method: "GET", route: "/h5/:slug/qr.png", path: "/h5/no-such-slug/qr.png", want: walkEveryone(http.StatusNotFound)},
		{method: "POST", route: "/h5/:slug/event", path: "/h5/no-such-slug/event", want: walkEveryone(http.StatusNotFound)},
		{method: "GET", route: "/authorizations", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		{method: "GET", route: "/authorizations/:code", path: "/authorizations/PSC123", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		// A code this console never saw: refused after the role check, nothing is called.
		{method: "POST", route: "/authorizations/:code/terminate", path: "/authorizations/PSC123/terminate", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin, store.RoleSupport)},
		{method: "GET", route: "/bulk", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		// An empty list: refused after the role check, nothing starts.
		{method: "POST", route: "/bulk/lookup", form: url.Values{"codes": {""}}, want: walkSignedIn(http.StatusUnauthorized, http.StatusUnprocessableEntity)},
		{method: "GET", route: "/sub-merchants/:id/offboard", path: "/sub-merchants/999/offboard", want: walkOnly(http.StatusSeeOther, http.StatusNotFound, store.RoleAdmin, store.RoleSupport)},
		{method: "POST", route: "/sub-merchants/:id/offboard", path: "/sub-merchants/999/offboard", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin, store.RoleSupport)},
		{method: "GET", route: "/jobs/:id", path: "/jobs/999", want: walkSignedIn(http.StatusSeeOther, http.StatusNotFound)},
		{method: "POST", route: "/jobs/:id/cancel", path: "/jobs/999/cancel", want: walkSignedIn(http.StatusUnauthorized, http.StatusNotFound)},
		{method: "GET", route: "/callbacks", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		{method: "GET", route: "/callbacks.csv", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		{method: "GET", route: "/callbacks/:id", path: "/callbacks/999", want: walkSignedIn(http.StatusSeeOther, http.StatusNotFound)},
		{method: "GET", route: "/callbacks/refusals/:id", path: "/callbacks/refusals/999", want: walkSignedIn(http.StatusSeeOther, http.StatusNotFound)},
		{method: "POST", route: "/callbacks/refusals/:id/reverify", path: "/callbacks/refusals/999/reverify", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin)},
		{method: "GET", route: "/audit", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin)},
		{method: "GET", route: "/audit.csv", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin)},
		{method: "GET", route: "/users", want: walkOnly(http.StatusSeeOther, http.StatusOK, store.RoleAdmin)},
		{method: "POST", route: "/users", form: url.Values{"username": {"x"}}, want: walkOnly(http.StatusUnauthorized, http.StatusUnprocessableEntity, store.RoleAdmin)},
		// No action: refused as a bad request after the role check, nothing changes.
		{method: "POST", route: "/users/:id", path: viewer, want: walkOnly(http.StatusUnauthorized, http.StatusBadRequest, store.RoleAdmin)},
		{method: "POST", route: "/users/:id/mfa-reset", path: "/users/999/mfa-reset", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin)},
		{method: "POST", route: "/users/:id/sessions/:sid/revoke", path: "/users/999/sessions/999/revoke", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin)},
		{method: "POST", route: "/users/:id/sessions/revoke-all", path: "/users/999/sessions/revoke-all", want: walkOnly(http.StatusUnauthorized, http.StatusNotFound, store.RoleAdmin)},
		{method: "GET", route: "/account", want: walkSignedIn(http.StatusSeeOther, http.StatusOK)},
		// No current password: refused, nothing changes.
		{method: "POST", route: "/account/password", want: walkSignedIn(http.StatusUnauthorized, http.StatusUnprocessableEntity)},
		// Nothing to confirm yet.
		{method: "POST", route: "/account/mfa", form: url.Values{"code": {"123456"}}, want: walkSignedIn(http.StatusUnauthorized, http.StatusConflict)},
		{method: "POST", route: "/account/mfa/start", want: walkSignedIn(http.StatusUnauthorized, http.StatusSeeOther)},
		{method: "POST", route: "/account/sessions/:sid/revoke", path: "/account/sessions/999999/revoke", want: walkSignedIn(http.StatusUnauthorized, http.StatusNotFound)},
		{method: "POST", route: "/account/sessions/revoke-others", want: walkSignedIn(http.StatusUnauthorized, http.StatusSeeOther)},
		// Server to server: no session, no CSRF token; unsigned → 401 for all.
		{method: "POST", route: "/notify/payscore", want: walkEveryone(http.StatusUnauthorized)},
		{method: "GET", route: "/healthz", want: walkEveryone(http.StatusOK)},
		{method: "GET", route: "/metrics", headers: metricsAuth, want: walkEveryone(http.StatusOK)},
		{method: "GET", route: "/favicon.ico", want: walkEveryone(http.StatusOK)},
	}
}

// TestRouteWalk walks every route of the route table as every role. A route
// added to the table without a row here fails the test.
func TestRouteWalk(t *testing.T) {
	ts := newTestServer(t)
	rows := walkTable(ts)
	inTable := map[string]bool{}
	for _, r := range rows {
		inTable[r.method+" "+r.route] = true
	}
	for _, r := range ts.h.routes() {
		if !inTable[r.method+" "+r.path] {
			t.Errorf("route %s %s has no row in walkTable: add the status each role gets", r.method, r.path)
		}
		delete(inTable, r.method+" "+r.path)
	}
	for k := range inTable {
		t.Errorf("walkTable row %s is not in the route table", k)
	}

	clients := map[string]*testClient{}
	clientFor := func(t *testing.T, role string) *testClient {
		if clients[role] == nil {
			clients[role] = ts.client(t, role)
		}
		return clients[role]
	}
	for _, row := range rows {
		path := row.path
		if path == "" {
			path = row.route
		}
		for _, role := range allRoles {
			t.Run(fmt.Sprintf("%s %s as %s", row.method, row.route, roleName(role)), func(t *testing.T) {
				tc := clientFor(t, role)
				var res *response
				if row.method == http.MethodGet {
					res = tc.get(t, path, row.headers...)
				} else {
					res = tc.post(t, path, row.form)
				}
				if got, want := res.status, row.want[role]; got != want {
					t.Errorf("status = %d, want %d (Location %q)", got, want, res.header.Get("Location"))
				}
				if res.status == http.StatusSeeOther && res.header.Get("Location") == "" {
					t.Error("303 without Location")
				}
				if (res.status == http.StatusForbidden || res.status == http.StatusUnauthorized || res.status == http.StatusBadRequest) && !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
					if got, want := res.text(`[data-testid="error"] .code`), strconv.Itoa(res.status); got != want {
						t.Errorf("error page code = %q, want %q", got, want)
					}
				}
				if row.ends && role != "" {
					delete(clients, role) // signed out: the next row signs in again
				}
			})
		}
	}
}

func TestAnonymousRedirects(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	tests := []struct {
		name         string
		path         string
		headers      []string
		wantStatus   int
		wantLocation string
		wantHX       string
	}{
		{"OKPage", "/users?x=1", nil, http.StatusSeeOther, "/login?next=%2Fusers%3Fx%3D1", ""},
		{"OKHTMX", "/", []string{"HX-Request", "true"}, http.StatusUnauthorized, "", "/login?next=%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.get(t, tt.path, tt.headers...)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.header.Get("Location"), tt.wantLocation; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			if got, want := res.header.Get("HX-Redirect"), tt.wantHX; got != want {
				t.Errorf("HX-Redirect = %q, want %q", got, want)
			}
		})
	}
	// Following the redirect and signing in lands where the person was going.
	page := tc.get(t, "/login?next=%2Fusers%3Fx%3D1")
	if got, want := page.doc.Find(`[data-testid="login-form"] input[name="next"]`).AttrOr("value", ""), "/users?x=1"; got != want {
		t.Fatalf("next = %q, want %q", got, want)
	}
	res := tc.post(t, "/login", url.Values{"username": {"admin"}, "password": {testPassword}, "next": {"/users?x=1"}})
	if got, want := res.header.Get("Location"), "/users?x=1"; got != want {
		t.Errorf("after sign-in Location = %q, want %q", got, want)
	}
}

func TestStaticAssets(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	res := tc.get(t, static.URL(static.HTMXFile))
	if got, want := res.status, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := res.header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
		t.Errorf("Cache-Control = %q, want %q", got, want)
	}
	// The layout loads the versioned URL.
	if got, want := tc.get(t, "/login").doc.Find(`script[src^="/static/htmx-"]`).AttrOr("src", ""), static.URL(static.HTMXFile); got != want {
		t.Errorf("htmx script src = %q, want %q", got, want)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleAdmin)
	for _, path := range []string{"/logout", "/lang", "/users/1"} {
		t.Run("Err405 "+path, func(t *testing.T) {
			res := tc.get(t, path)
			if got, want := res.status, http.StatusMethodNotAllowed; got != want {
				t.Fatalf("GET %s: status = %d, want %d", path, got, want)
			}
			if got, want := res.text(`[data-testid="error"] .code`), "405"; got != want {
				t.Errorf("error page code = %q, want %q", got, want)
			}
		})
	}
	// The GET did not sign anyone out.
	if got, want := tc.signedIn(t), true; got != want {
		t.Errorf("signed in = %v, want %v", got, want)
	}
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name       string
		size       int
		wantStatus int
	}{
		// "1 MB": a million bytes pass; one byte over a MiB never does.
		{"OKOneMB", 1000 * 1000, http.StatusSeeOther},
		{"ErrTooLarge", 1<<20 + 1, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := ts.anonymous(t)
			body := url.Values{"_csrf": {tc.csrf}, "username": {"admin"}, "password": {testPassword}}.Encode() + "&pad="
			body += strings.Repeat("x", tt.size-len(body))
			req := tc.newRequest(t, http.MethodPost, "/login", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res := tc.do(t, req)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if tt.wantStatus == http.StatusRequestEntityTooLarge {
				if got, want := res.text(`[data-testid="error"] .code`), "413"; got != want {
					t.Errorf("error page code = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	ts := newTestServer(t)
	otherToken := ts.anonymous(t).csrf
	tests := []struct {
		name       string
		path       string
		form       url.Values // _csrf is the client's valid token unless set
		headers    []string
		wantStatus int
	}{
		{"OK", "/lang", url.Values{}, nil, http.StatusSeeOther},
		{"OKHeaderToken", "/lang", url.Values{"_csrf": {""}}, []string{"X-CSRF-Token", "$token"}, http.StatusSeeOther},
		{"OKSameOriginBrowser", "/lang", url.Values{"_csrf": {""}}, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusSeeOther},
		{"OKOwnOrigin", "/lang", url.Values{}, []string{"Origin", "$origin"}, http.StatusSeeOther},
		{"ErrNoTokenNoFetchMetadata", "/lang", url.Values{"_csrf": {""}}, nil, http.StatusForbidden},
		{"ErrNoTokenNoFetchMetadataLogout", "/logout", url.Values{"_csrf": {""}}, nil, http.StatusForbidden},
		{"ErrNoTokenLogin", "/login", url.Values{"_csrf": {""}, "username": {"admin"}, "password": {testPassword}}, nil, http.StatusForbidden},
		{"ErrWrongToken", "/lang", url.Values{"_csrf": {"not-the-token-not-the-token-1234"}}, nil, http.StatusForbidden},
		{"ErrAnotherBrowsersToken", "/lang", url.Values{"_csrf": {otherToken}}, nil, http.StatusForbidden},
		{"ErrCrossSite", "/lang", url.Values{}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"ErrCrossSiteNoToken", "/logout", url.Values{"_csrf": {""}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"ErrSameSiteNoToken", "/lang", url.Values{"_csrf": {""}}, []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"ErrOtherOrigin", "/lang", url.Values{}, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := ts.client(t, store.RoleViewer)
			form := url.Values{"_csrf": {tc.csrf}}
			for k, v := range tt.form {
				form[k] = v
			}
			if form.Get("_csrf") == "" {
				form.Del("_csrf")
			}
			var headers []string
			for i, h := range tt.headers {
				switch {
				case i%2 == 1 && h == "$token":
					h = tc.csrf
				case i%2 == 1 && h == "$origin":
					h = ts.URL
				}
				headers = append(headers, h)
			}
			res := tc.postRaw(t, tt.path, form, headers...)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if tt.wantStatus == http.StatusForbidden {
				if got, want := res.text(`[data-testid="error"] .code`), "403"; got != want {
					t.Errorf("error page code = %q, want %q", got, want)
				}
				// Nothing happened: the person is still signed in.
				if got, want := tc.signedIn(t), true; got != want {
					t.Errorf("signed in after a refused POST = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestCSRFExempt(t *testing.T) {
	ts := newTestServer(t, withDeps(func(d *testWiring) { d.CSRFExempt = []string{"/sandbox/api/"} }))
	tests := []struct {
		path string
		want bool
	}{
		{"/notify/payscore", true},
		{"/sandbox/api/x", true},
		{"/login", false},
		{"/notify/payscore/x", false},
		{"/sandbox/panel", false},
	}
	for _, tt := range tests {
		if got, want := ts.h.exempt(tt.path), tt.want; got != want {
			t.Errorf("exempt(%q) = %v, want %v", tt.path, got, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, mode := range []struct {
		name     string
		opts     []serverOption
		wantHSTS bool
	}{{"HTTP", nil, false}, {"HTTPS", []serverOption{withHTTPS()}, true}} {
		t.Run(mode.name, func(t *testing.T) {
			ts := newTestServer(t, append(mode.opts, withRoutes(func(e *echo.Echo) {
				e.Logger.SetOutput(io.Discard) // Echo's Recover prints every goroutine's stack there
				e.GET("/test/panic", func(echo.Context) error { panic("secret detail of a panic") })
				e.GET("/test/error", func(echo.Context) error { return errInternal(fmt.Errorf("secret detail of an error")) })
			}))...)
			viewer := ts.client(t, store.RoleViewer)
			anon := ts.anonymous(t)
			tests := []struct {
				name       string
				do         func(t *testing.T) *response
				wantStatus int
			}{
				{"OK200", func(t *testing.T) *response { return anon.get(t, "/login") }, http.StatusOK},
				{"OK303", func(t *testing.T) *response { return anon.get(t, "/") }, http.StatusSeeOther},
				{"OKStatic", func(t *testing.T) *response { return anon.get(t, static.URL("app.css")) }, http.StatusOK},
				{"OKHealthz", func(t *testing.T) *response { return anon.get(t, "/healthz") }, http.StatusOK},
				{"Err404", func(t *testing.T) *response { return anon.get(t, "/no/such/page") }, http.StatusNotFound},
				{"Err403Role", func(t *testing.T) *response { return viewer.get(t, "/users") }, http.StatusForbidden},
				{"Err403CSRF", func(t *testing.T) *response { return viewer.postRaw(t, "/logout", nil) }, http.StatusForbidden},
				{"Err405", func(t *testing.T) *response { return viewer.get(t, "/logout") }, http.StatusMethodNotAllowed},
				{"Err500Panic", func(t *testing.T) *response { return viewer.get(t, "/test/panic") }, http.StatusInternalServerError},
				{"Err500", func(t *testing.T) *response { return viewer.get(t, "/test/error") }, http.StatusInternalServerError},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := tt.do(t)
					if got, want := res.status, tt.wantStatus; got != want {
						t.Fatalf("status = %d, want %d", got, want)
					}
					csp := res.header.Get("Content-Security-Policy")
					for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
						if !strings.Contains(csp, want) {
							t.Errorf("CSP %q lacks %q", csp, want)
						}
					}
					if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
						t.Errorf("CSP %q allows unsafe script", csp)
					}
					if got, want := res.header.Get("X-Content-Type-Options"), "nosniff"; got != want {
						t.Errorf("X-Content-Type-Options = %q, want %q", got, want)
					}
					if got, want := res.header.Get("Referrer-Policy"), "strict-origin-when-cross-origin"; got != want {
						t.Errorf("Referrer-Policy = %q, want %q", got, want)
					}
					hsts := res.header.Get("Strict-Transport-Security")
					if got, want := hsts != "", mode.wantHSTS; got != want {
						t.Errorf("HSTS present = %v (%q), want %v", got, hsts, want)
					}
					if mode.wantHSTS && !strings.HasPrefix(hsts, "max-age=31536000") {
						t.Errorf("HSTS = %q, want max-age of at least a year", hsts)
					}
					if res.header.Get("X-Request-Id") == "" {
						t.Error("no X-Request-Id")
					}
					if res.status >= 400 {
						if got, want := res.text(`[data-testid="error"] .code`), strconv.Itoa(res.status); got != want {
							t.Errorf("error page code = %q, want %q", got, want)
						}
						if strings.Contains(res.body, "secret detail") {
							t.Error("the error page shows the internal error")
						}
					}
				})
			}
			if !strings.Contains(ts.logs.String(), "secret detail of a panic") {
				t.Error("the panic was not logged")
			}
		})
	}
}

// TestLoginRateLimit: the per-IP limit on POST /login keys on the connection's
// address; a client's X-Forwarded-For is believed only from TRUST_PROXY.
func TestLoginRateLimit(t *testing.T) {
	tests := []struct {
		name     string
		opts     []serverOption
		want429s bool
	}{
		// Each request claims another address; with no trusted proxy that is
		// ignored, and the one real address runs out of its burst.
		{"ErrSpoofedXFFIgnored", []serverOption{withoutTrustedProxy()}, true},
		// Behind a trusted proxy each forwarded address has its own budget.
		{"OKTrustedProxy", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts...)
			tc := ts.anonymous(t)
			limited := 0
			for i := 0; i < 25; i++ {
				res := tc.post(t, "/login", url.Values{"username": {""}}, "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
				switch res.status {
				case http.StatusTooManyRequests:
					limited++
				case http.StatusUnprocessableEntity:
				default:
					t.Fatalf("request %d: status %d", i, res.status)
				}
			}
			if got, want := limited > 0, tt.want429s; got != want {
				t.Errorf("got %d × 429, want some = %v", limited, want)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	res := tc.get(t, "/healthz")
	if got, want := res.status, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	// The body says more since /healthz reports the last notification and
	// the last API call (TestHealthzReports); status and db stay as they were.
	var body map[string]any
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || body["status"] != "ok" || body["db"] != "ok" {
		t.Errorf("body = %s (%v), want status and db ok", res.body, err)
	}
	metrics := tc.get(t, "/metrics", metricsAuth...)
	if want := `http_requests_total{method="GET",route="/healthz",status="200"} 1`; !strings.Contains(metrics.body, want) {
		t.Errorf("metrics lack %s", want)
	}
	ts.db.Close()
	res = tc.get(t, "/healthz")
	if got, want := res.status, http.StatusServiceUnavailable; got != want {
		t.Errorf("closed DB: status = %d, want %d", got, want)
	}
}
