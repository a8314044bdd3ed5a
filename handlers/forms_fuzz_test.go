package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// FuzzSafeNext: whatever a next parameter holds, the redirect target is
// the input itself or "/", and a local path that no browser reads as
// another site: it starts with one "/" followed by neither "/" nor "\"
// (browsers read both as a network-path reference), even after the
// browser's own clean-up (WHATWG URL drops tabs and newlines), has no
// scheme or host, and no control character (it goes in a Location header).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/", "/users", "/users?x=1#y", "//evil.example/", "https://evil.example/",
		"/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "users",
		"/%2F/evil.example", "/./evil", "///evil", "/a:b", "/?next=//evil", "http:/evil", "/\x00", "／／evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := safeNext(in)
		if got != in && got != "/" {
			t.Fatalf("safeNext(%q) = %q: neither the input nor /", in, got)
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(got)
		if !strings.HasPrefix(browser, "/") || strings.HasPrefix(browser, "//") || strings.HasPrefix(browser, "/\\") {
			t.Fatalf("safeNext(%q) = %q: not a local path", in, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("safeNext(%q) = %q: parses as %#v, %v", in, got, u, err)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("safeNext(%q) = %q: a control character cannot go in a Location header", in, got)
		}
	})
}

// callbackFields are the callback log's filter fields, in query order.
var callbackFields = []string{"event_type", "outcome", "authorization_code", "sub_mchid", "openid", "from", "to"}

// Reference rules of the callback log's filters, written apart from the
// handler's (the spec's charset for authorization_code; sub_mchid digits).
var (
	refCodePattern   = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{1,32}$`)
	refSubMchPattern = regexp.MustCompile(`^[0-9]{1,32}$`)
	refDayPattern    = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})$`)
)

// refDay reads yyyy-mm-dd as a calendar day: the numbers must name a day
// that exists (time.Date normalises 02-30 to March).
func refDay(s string) (time.Time, bool) {
	m := refDayPattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	return t, t.Year() == y && int(t.Month()) == mo && t.Day() == d
}

// refCallbackErrors says which filter fields are invalid.
func refCallbackErrors(v map[string]string) map[string]bool {
	bad := map[string]bool{}
	if e := v["event_type"]; e != "" && e != store.EventOpen && e != store.EventClose {
		bad["event_type"] = true
	}
	if o := v["outcome"]; o != "" && !slices.Contains([]string{"accepted", "duplicate", "stale", "refused"}, o) {
		bad["outcome"] = true
	}
	if c := v["authorization_code"]; c != "" && !refCodePattern.MatchString(c) {
		bad["authorization_code"] = true
	}
	if s := v["sub_mchid"]; s != "" && !refSubMchPattern.MatchString(s) {
		bad["sub_mchid"] = true
	}
	if len(v["openid"]) > 128 {
		bad["openid"] = true
	}
	from, okFrom := refDay(v["from"])
	to, okTo := refDay(v["to"])
	if v["from"] != "" && !okFrom {
		bad["from"] = true
	}
	if v["to"] != "" && !okTo {
		bad["to"] = true
	}
	if okFrom && okTo && to.Before(from) {
		bad["to"] = true
	}
	return bad
}

// FuzzCallbackFilters: the callback log's filter parsing
// (parseCallbackQuery) never panics; it flags exactly the fields an
// independent reading finds invalid, by field name with a translated
// message; accepted values are the trimmed input and round-trip through
// the query string it builds. The whole page (HTML, htmx fragment, CSV)
// answers 200, 204 (a poll with nothing new), 400 (a bad cursor) or 422,
// never a 5xx.
func FuzzCallbackFilters(f *testing.F) {
	var w panicWatch
	ts := newTestServer(f, withDeps(withPanicWatch(&w)))
	ctx := context.Background()
	if err := ts.db.SeedCallbacks(ctx, 120, []string{"1900000001", "1900000002"}, ts.clock.Now()); err != nil {
		f.Fatal(err)
	}
	viewer := ts.client(f, store.RoleViewer)
	session := viewer.sessionCookie()
	if session == nil {
		f.Fatal("no session cookie")
	}

	f.Add("", "", "", "", "", "", "", "", "", false, false)
	f.Add(store.EventOpen, "accepted", "CODE-1", "1900000001", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "2026-02-01", "2026-03-01", "", "", false, false)
	f.Add(" PAYSCORE.USER_CLOSE_SERVICE\t", "refused", "", "", "", "", "", "", "5", true, false)
	f.Add("x", "nope", "bad code!", "19000000a", strings.Repeat("o", 129), "2026-02-30", "2026-13-01", "-1", "x", false, true)
	f.Add("", "duplicate", "A|B*C-D_E", "", "", "2026-03-01", "2026-02-01", "999999999999999999999", "", true, true)
	f.Add("", "stale", "", "", "%", "0000-01-01", "9999-12-31", "1", "0", false, false)
	f.Add("", "", "\u3000CODE\u3000", "１９００", "o\x00id", "+2026-01-01", "2026-1-1", "", "", true, false)

	f.Fuzz(func(t *testing.T, event, outcome, code, sub, openid, from, to, before, after string, hx, csv bool) {
		typed := []string{event, outcome, code, sub, openid, from, to}
		q := url.Values{}
		for i, k := range callbackFields {
			q.Set(k, typed[i])
		}
		parse := func(rawQuery string) callbackQuery {
			c := ts.e.NewContext(httptest.NewRequest(http.MethodGet, "/callbacks?"+rawQuery, nil), httptest.NewRecorder())
			return parseCallbackQuery(ctx, c)
		}
		got := parse(q.Encode())
		form := got.form
		values := []string{form.EventType, form.Outcome, form.AuthorizationCode, form.SubMchID, form.OpenID, form.From, form.To}
		trimmed := map[string]string{}
		for i, k := range callbackFields {
			trimmed[k] = strings.TrimSpace(typed[i])
			if values[i] != trimmed[k] {
				t.Fatalf("%s = %q, want the trimmed input %q", k, values[i], trimmed[k])
			}
		}
		want := refCallbackErrors(trimmed)
		for k, msg := range form.Errors {
			if !slices.Contains(callbackFields, k) {
				t.Fatalf("error on unknown field %q: %q", k, msg)
			}
			if msg == "" || strings.Contains(msg, ".err.") {
				t.Fatalf("error on %s has no translated message: %q", k, msg)
			}
		}
		for _, k := range callbackFields {
			if _, flagged := form.Errors[k]; flagged != want[k] {
				t.Fatalf("%s=%q: flagged %v, reference says invalid=%v (errors %v)", k, trimmed[k], flagged, want[k], form.Errors)
			}
		}
		if len(form.Errors) == 0 {
			fl := got.filter
			if fl.EventType != form.EventType || fl.Outcome != form.Outcome || fl.AuthorizationCode != form.AuthorizationCode ||
				fl.SubMchID != form.SubMchID || fl.OpenID != form.OpenID {
				t.Fatalf("filter %+v does not carry the form %+v", fl, form)
			}
			if got.refused != (form.Outcome == "refused") {
				t.Fatalf("refused = %v for outcome %q", got.refused, form.Outcome)
			}
			if !fl.To.IsZero() && !fl.From.IsZero() && !fl.From.Before(fl.To) {
				t.Fatalf("empty range [%s, %s)", fl.From, fl.To)
			}
			again := parse(got.qs)
			if fmt.Sprint(again.form) != fmt.Sprint(form) || fmt.Sprint(again.filter) != fmt.Sprint(got.filter) || again.qs != got.qs {
				t.Fatalf("round trip through %q:\n got %+v %+v\nwant %+v %+v", got.qs, again.form, again.filter, form, got.filter)
			}
		}

		if before != "" {
			q.Set("before", before)
		}
		if after != "" {
			q.Set("after", after)
		}
		path := "/callbacks"
		if csv {
			path = "/callbacks.csv"
		}
		req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", viewer.ip)
		req.AddCookie(session)
		if hx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		w.check(t)
		switch rec.Code {
		case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("GET %s: status %d", req.URL, rec.Code)
		}
		if rec.Code == http.StatusUnprocessableEntity && len(form.Errors) == 0 {
			t.Fatalf("GET %s: 422 for valid filters", req.URL)
		}
		if rec.Code == http.StatusOK && len(form.Errors) > 0 {
			t.Fatalf("GET %s: 200 for invalid filters %v", req.URL, form.Errors)
		}
	})
}

// FuzzLoginForm posts fuzzed credentials to POST /login (with a valid CSRF
// token and a fresh client address each time, so that neither the token
// check nor the per-address rate limit answers first). Invariants: no
// panic, no 5xx, only 303 or 422; a 303 only for an existing user's right
// password, and then to safeNext(next) with a session cookie.
func FuzzLoginForm(f *testing.F) {
	var w panicWatch
	ts := newTestServer(f, withDeps(withPanicWatch(&w)))
	const csrf = "fuzz-csrf-token-fuzz-csrf-token-"
	var ip atomic.Uint32

	f.Add("admin", testPassword, "")
	f.Add(" viewer\t", testPassword, "/callbacks?x=1")
	f.Add("admin", testPassword+" ", "//evil.example")
	f.Add("admin", "", "/")
	f.Add("", testPassword, "")
	f.Add("nobody", testPassword, "https://evil.example/")
	f.Add("ADMIN", testPassword, "")
	f.Add("admin\x00", testPassword, "")
	f.Add("管理员", "密码", "/\\evil")
	f.Add(strings.Repeat("a", 300), strings.Repeat("p", 1000), "")

	f.Fuzz(func(t *testing.T, username, password, next string) {
		form := url.Values{"username": {username}, "password": {password}, "next": {next}, "_csrf": {csrf}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "_csrf", Value: csrf})
		req.RemoteAddr = "127.0.0.1:40000"
		n := ip.Add(1)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		w.check(t)
		switch rec.Code {
		case http.StatusSeeOther:
			name := strings.TrimSpace(username)
			if ts.users[name] == nil || password != testPassword {
				t.Fatalf("303 for username %q, password %q", username, password)
			}
			if got, want := rec.Header().Get("Location"), safeNext(next); got != want {
				t.Fatalf("redirect to %q, want %q", got, want)
			}
			signed := false
			for _, c := range rec.Result().Cookies() {
				signed = signed || (c.Name == ts.h.Sessions.Name() && c.Value != "")
			}
			if !signed {
				t.Fatal("303 without a session cookie")
			}
		case http.StatusUnprocessableEntity:
			if !strings.Contains(rec.Body.String(), `data-testid="login-error"`) {
				t.Fatal("422 without the sign-in error")
			}
		default:
			t.Fatalf("status %d for username %q, password %q", rec.Code, username, password)
		}
	})
}
