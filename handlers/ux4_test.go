package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/static"
	"github.com/payscore-console/payscore-console/store"
)

// rawGet fetches path without the client's transparent gzip handling.
func rawGet(t *testing.T, tc *testClient, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req := tc.newRequest(t, http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := tc.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// TestStaticGzip: text assets go gzipped to a client that accepts it, as
// they are to one that does not; images are not compressed again; the
// cache headers and the ETag survive, and a revalidation answers 304.
func TestStaticGzip(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	// (favicon.svg is below the 256-byte threshold: it goes as it is.)
	for _, name := range []string{"app.css", static.HTMXFile, "app.js", "landing.css"} {
		t.Run(name, func(t *testing.T) {
			want, err := static.FS.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			plainWant, _ := io.ReadAll(want)
			res, body := rawGet(t, tc, static.URL(name), "Accept-Encoding", "gzip")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Encoding"); got != "gzip" {
				t.Fatalf("Content-Encoding = %q, want gzip", got)
			}
			if got := strings.Join(res.Header.Values("Vary"), ", "); !strings.Contains(got, "Accept-Encoding") {
				t.Errorf("Vary = %q, want Accept-Encoding", got)
			}
			if got, want := res.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			etag := res.Header.Get("ETag")
			if etag != `W/"`+static.Versions[name]+`"` {
				t.Errorf("ETag = %q, want the weak content hash", etag)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, plainWant) {
				t.Error("gunzipped body is not the asset")
			}
			if len(body) >= len(plainWant) {
				t.Errorf("gzipped %d bytes, plain %d: not smaller", len(body), len(plainWant))
			}

			res, body = rawGet(t, tc, static.URL(name), "Accept-Encoding", "identity")
			if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, plainWant) {
				t.Errorf("without gzip: Content-Encoding %q, %d bytes, want the plain %d", res.Header.Get("Content-Encoding"), len(body), len(plainWant))
			}

			res, body = rawGet(t, tc, static.URL(name), "Accept-Encoding", "gzip", "If-None-Match", etag)
			if res.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("revalidation: status %d with %d bytes, want 304 and no body", res.StatusCode, len(body))
			}
			if got := res.Header.Get("Content-Encoding"); got != "" {
				t.Errorf("304 with Content-Encoding %q", got)
			}
		})
	}
}

// TestFavicon: /favicon.ico is an icon; the layout and the landing page
// link the SVG one.
func TestFavicon(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.anonymous(t)
	res, body := rawGet(t, tc, "/favicon.ico")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/x-icon" {
		t.Fatalf("GET /favicon.ico: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !bytes.HasPrefix(body, []byte{0, 0, 1, 0}) {
		t.Errorf("not an ICO file: % x", body[:8])
	}
	res, _ = rawGet(t, tc, "/favicon.ico", "If-None-Match", res.Header.Get("ETag"))
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", res.StatusCode)
	}
	if got := tc.get(t, "/login").doc.Find(`link[rel="icon"]`).AttrOr("href", ""); got != static.URL("favicon.svg") {
		t.Errorf("layout icon = %q", got)
	}
	res2, body := rawGet(t, tc, static.URL("favicon.svg"))
	if res2.StatusCode != http.StatusOK || !strings.HasPrefix(res2.Header.Get("Content-Type"), "image/svg+xml") || !bytes.Contains(body, []byte("<svg")) {
		t.Errorf("favicon.svg: %d %q", res2.StatusCode, res2.Header.Get("Content-Type"))
	}
}

// TestLangSwitchKeepsPage: the switch's next is the page with its query; a
// page rendered by a POST (a confirm step) leads back to the page the form
// was sent from; anything not a local path goes to /.
func TestLangSwitchKeepsPage(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleAdmin)
	page := tc.get(t, "/callbacks?outcome=refused&sub_mchid=1900000101")
	next := page.doc.Find(`[data-testid="lang-switch"]`).Closest("form").Find(`input[name="next"]`).AttrOr("value", "")
	if want := "/callbacks?outcome=refused&sub_mchid=1900000101"; next != want {
		t.Errorf("next = %q, want %q", next, want)
	}
	if from := page.doc.Find(`form[action="/lang"] input[name="_from"]`).AttrOr("value", ""); from != next {
		t.Errorf("_from = %q, want the page %q", from, next)
	}
	res := tc.post(t, "/lang", url.Values{"lang": {"en"}, "next": {next}})
	if got := res.header.Get("Location"); got != next {
		t.Errorf("Location = %q, want %q", got, next)
	}

	// A POST-rendered page: the user form refused (422) keeps the GET page
	// it came from as next.
	res = tc.post(t, "/users", url.Values{"username": {""}, "_from": {"/users?x=1"}})
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /users: %d", res.status)
	}
	if got := res.doc.Find(`[data-testid="lang-switch"]`).Closest("form").Find(`input[name="next"]`).AttrOr("value", ""); got != "/users?x=1" {
		t.Errorf("after a POST: next = %q, want /users?x=1", got)
	}
	// A foreign _from is not taken.
	res = tc.post(t, "/users", url.Values{"username": {""}, "_from": {"//evil.example/x"}})
	if got := res.doc.Find(`[data-testid="lang-switch"]`).Closest("form").Find(`input[name="next"]`).AttrOr("value", ""); got != "/users" {
		t.Errorf("with a foreign _from: next = %q, want /users", got)
	}

	for _, bad := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "/x\r\nSet-Cookie: a=b"} {
		res := tc.post(t, "/lang", url.Values{"lang": {"zh"}, "next": {bad}})
		if got := res.header.Get("Location"); got != "/" {
			t.Errorf("next %q: Location = %q, want /", bad, got)
		}
	}
}
