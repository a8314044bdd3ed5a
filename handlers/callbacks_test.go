package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// logNotification is a notification as the receiver would record it.
func logNotification(id, event, code, subMchID, openID, subOpenID string, at time.Time) store.Notification {
	return store.Notification{
		NotificationID: id, EventType: event, AuthorizationCode: code, SubMchID: subMchID, OpenID: openID, SubOpenID: subOpenID,
		OpenOrCloseTime: at, CreateTime: at.Format(time.RFC3339), Serial: "PUB_KEY_ID_0000000000000024101100397200000006",
		Envelope:   []byte(`{"id":"` + id + `","event_type":"` + event + `","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"…"}}`),
		Payload:    []byte(`{"authorization_code":"` + code + `","sub_mchid":"` + subMchID + `","openid":"` + openID + `"}`),
		RemoteAddr: "198.51.100.7",
	}
}

// record stores a notification through the store's own path.
func (ts *testServer) record(t testing.TB, n store.Notification) string {
	t.Helper()
	outcome, err := ts.db.RecordNotification(context.Background(), n)
	if err != nil {
		t.Fatalf("RecordNotification %s: %v", n.NotificationID, err)
	}
	return outcome
}

// refuse stores a refused attempt.
func (ts *testServer) refuse(t testing.TB, r store.Refusal) {
	t.Helper()
	if err := ts.db.RecordRefusal(context.Background(), r); err != nil {
		t.Fatalf("RecordRefusal: %v", err)
	}
}

// notificationIDs lists the notification ids of the callback rows shown.
func notificationIDs(doc *goquery.Document) []string {
	var out []string
	doc.Find(`[data-testid="callback-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-notification-id", ""))
	})
	return out
}

// rowsFragment parses a fragment of table rows: an HTML parser drops <tr>
// outside a table, as a browser would outside a <template>.
func rowsFragment(t testing.TB, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + body + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// assertFragment checks an htmx answer is a fragment, not a page.
func assertFragment(t testing.TB, res *response) {
	t.Helper()
	if strings.Contains(strings.ToLower(res.body), "<html") || strings.Contains(res.body, "<nav") {
		t.Errorf("fragment holds a full page:\n%s", res.body)
	}
	if !slices.Contains(res.header.Values("Vary"), "HX-Request") {
		t.Errorf("Vary = %q, want HX-Request", res.header.Values("Vary"))
	}
}

// seedCallbackLog records five notifications over three Shanghai days
// (2026-03-01, -02 and -03): an open and a close of CODE1 on day 1, two
// opens on day 2 (CODE2 through sub_openid, CODE3 delivered twice), and on
// day 3 an open of CODE1 older than its close (stale).
func seedCallbackLog(t *testing.T, ts *testServer) {
	t.Helper()
	t0 := ts.clock.Now()
	ts.record(t, logNotification("N1", store.EventOpen, "CODE1", "1900000001", "oA", "", t0))
	ts.clock.Advance(time.Minute)
	ts.record(t, logNotification("N2", store.EventClose, "CODE1", "1900000001", "oA", "", t0.Add(time.Minute)))
	ts.clock.Advance(24 * time.Hour)
	ts.record(t, logNotification("N3", store.EventOpen, "CODE2", "1900000002", "", "soB", ts.clock.Now()))
	ts.record(t, logNotification("N4", store.EventOpen, "CODE3", "1900000002", "oC", "", ts.clock.Now()))
	if got := ts.record(t, logNotification("N4", store.EventOpen, "CODE3", "1900000002", "oC", "", ts.clock.Now())); got != store.OutcomeDuplicate {
		t.Fatalf("second N4 = %s, want duplicate", got)
	}
	ts.clock.Advance(24 * time.Hour)
	if got := ts.record(t, logNotification("N5", store.EventOpen, "CODE1", "1900000001", "oA", "", t0)); got != store.OutcomeStale {
		t.Fatalf("N5 = %s, want stale", got)
	}
}

func TestCallbackLogFilters(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	viewer := ts.client(t, store.RoleViewer)
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"All", "", []string{"N5", "N4", "N3", "N2", "N1"}},
		{"EventType", "event_type=PAYSCORE.USER_CLOSE_SERVICE", []string{"N2"}},
		{"OutcomeAccepted", "outcome=accepted", []string{"N4", "N3", "N2", "N1"}},
		{"OutcomeDuplicate", "outcome=duplicate", []string{"N4"}},
		{"OutcomeStale", "outcome=stale", []string{"N5"}},
		{"AuthorizationCode", "authorization_code=CODE1", []string{"N5", "N2", "N1"}},
		{"SubMchID", "sub_mchid=1900000002", []string{"N4", "N3"}},
		{"OpenID", "openid=oA", []string{"N5", "N2", "N1"}},
		{"SubOpenID", "openid=soB", []string{"N3"}},
		{"From", "from=2026-03-02", []string{"N5", "N4", "N3"}},
		{"To", "to=2026-03-01", []string{"N2", "N1"}},
		{"OneDay", "from=2026-03-02&to=2026-03-02", []string{"N4", "N3"}},
		{"Combined", "event_type=PAYSCORE.USER_OPEN_SERVICE&sub_mchid=1900000001", []string{"N5", "N1"}},
		{"NothingMatches", "authorization_code=NOPE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := viewer.get(t, "/callbacks?"+tt.query)
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			if got := notificationIDs(res.doc); !slices.Equal(got, tt.want) {
				t.Errorf("rows = %v, want %v", got, tt.want)
			}
			if len(tt.want) == 0 && !res.has(`[data-testid="empty"]`) {
				t.Error("no empty-list message")
			}
			// The filter is kept in the form, the CSV link and the poller.
			q, _ := url.ParseQuery(tt.query)
			for name, vals := range q {
				if got := res.doc.Find(`form[data-testid="callback-filters"] [name="`+name+`"]`).AttrOr("value", ""); got != vals[0] &&
					res.doc.Find(`[name="`+name+`"] option[selected]`).AttrOr("value", "") != vals[0] {
					t.Errorf("filter %s not kept: %q", name, got)
				}
				for _, sel := range []string{`[data-testid="csv-link"]`, `[data-testid="callback-poller"]`} {
					attr := "href"
					if strings.Contains(sel, "poller") {
						attr = "hx-get"
					}
					u, _ := url.Parse(res.doc.Find(sel).AttrOr(attr, ""))
					if u == nil || u.Query().Get(name) != vals[0] {
						t.Errorf("%s %s does not carry %s=%s", sel, attr, name, vals[0])
					}
				}
			}
		})
	}
	t.Run("RowShowsItsFields", func(t *testing.T) {
		res := viewer.get(t, "/callbacks?authorization_code=CODE3")
		row := res.doc.Find(`[data-testid="callback-row"]`)
		if got, want := strings.TrimSpace(row.Find(`[data-testid="callback-deliveries"]`).Text()), "2"; got != want {
			t.Errorf("deliveries = %q, want %q", got, want)
		}
		if !row.Find(`[data-testid="duplicate-badge"]`).Is("*") {
			t.Error("no duplicate badge")
		}
		if got, want := row.Find(`[data-testid="callback-code"]`).AttrOr("href", ""), "/authorizations?authorization_code=CODE3"; got != want {
			t.Errorf("code link = %q, want %q", got, want)
		}
		if got, want := strings.TrimSpace(row.Find(`[data-testid="event-badge"]`).AttrOr("title", "")), store.EventOpen; got != want {
			t.Errorf("event badge = %q, want %q", got, want)
		}
		if got := row.Find(`[data-testid="callback-sub-mchid"]`).Text(); got != "1900000002" {
			t.Errorf("sub_mchid cell = %q", got)
		}
	})
}

func TestCallbackLogInvalidFilters(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	viewer := ts.client(t, store.RoleViewer)
	tests := []struct {
		name, field, value string
		extra              string
	}{
		{"ErrEventType", "event_type", "PAYSCORE.SOMETHING", ""},
		{"ErrOutcome", "outcome", "maybe", ""},
		{"ErrAuthorizationCode", "authorization_code", "bad code!", ""},
		{"ErrAuthorizationCodeTooLong", "authorization_code", strings.Repeat("A", 33), ""},
		{"ErrSubMchID", "sub_mchid", "abc", ""},
		{"ErrOpenIDTooLong", "openid", strings.Repeat("o", 129), ""},
		{"ErrFrom", "from", "2026-13-01", ""},
		{"ErrTo", "to", "yesterday", ""},
		{"ErrRangeReversed", "to", "2026-03-01", "from=2026-03-02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{tt.field: {tt.value}}
			if tt.extra != "" {
				extra, _ := url.ParseQuery(tt.extra)
				for k, v := range extra {
					q[k] = v
				}
			}
			for _, path := range []string{"/callbacks?", "/callbacks.csv?"} {
				res := viewer.get(t, path+q.Encode())
				if res.status != http.StatusUnprocessableEntity {
					t.Fatalf("%s: status %d, want 422", path, res.status)
				}
				if !res.has(`[data-testid="error-` + tt.field + `"]`) {
					t.Errorf("%s: no message for %s", path, tt.field)
				}
				if got := len(notificationIDs(res.doc)); got != 0 {
					t.Errorf("%s: %d rows shown for an invalid filter", path, got)
				}
				if res.doc.Find(`select[name="`+tt.field+`"]`).Length() == 0 {
					if got := res.doc.Find(`input[name="`+tt.field+`"]`).AttrOr("value", ""); got != tt.value {
						t.Errorf("%s: typed value not kept: %q", path, got)
					}
				}
			}
		})
	}
	t.Run("ErrCursor", func(t *testing.T) {
		if got := viewer.get(t, "/callbacks?before=x").status; got != http.StatusBadRequest {
			t.Errorf("status %d, want 400", got)
		}
	})
}

// seedCallbacksFast inserts n callbacks, one a second from start, in one
// transaction (one delivery row each, though one in a thousand counts two
// deliveries and one in five hundred is stale), bypassing the receiver: for tests and benchmarks that need
// volume rather than the receiver's path.
func seedCallbacksFast(t testing.TB, db *store.DB, n int, start time.Time) {
	t.Helper()
	tx, err := openSQL(t, db).Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var maxID int64
	if err := tx.QueryRow(`SELECT coalesce(max(id), 0) FROM callbacks`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	cb, err := tx.Prepare(`INSERT INTO callbacks (id, notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
		openorclose_time, create_time, serial, envelope, payload, applied, deliveries, first_received_at, last_received_at)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, 'PUB_KEY_ID_0000000000000024101100397200000006', ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := tx.Prepare(`INSERT INTO callback_deliveries (callback_id, received_at, remote_addr, serial, outcome) VALUES (?, ?, '198.51.100.7', 'PUB_KEY_ID_0000000000000024101100397200000006', 'accepted')`)
	if err != nil {
		t.Fatal(err)
	}
	const layout = "2006-01-02T15:04:05.000000000Z"
	for i := range n {
		id := maxID + int64(i) + 1
		at := start.Add(time.Duration(i) * time.Second).UTC()
		ev := store.EventOpen
		if i%4 == 3 {
			ev = store.EventClose
		}
		code := fmt.Sprintf("BENCH%08d", i/2)
		sub := fmt.Sprintf("19000%05d", i%50)
		openid := fmt.Sprintf("o%027d", i/2)
		payload := `{"authorization_code":"` + code + `","sub_mchid":"` + sub + `","openid":"` + openid + `","openorclose_time":"` + at.Format("20060102150405") + `"}`
		env := `{"id":"EV-` + strconv.FormatInt(id, 10) + `","create_time":"` + at.Format(time.RFC3339) + `","event_type":"` + ev +
			`","resource_type":"encrypt-resource","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"` + strings.Repeat("x", 300) + `","nonce":"abcdefghijkl","associated_data":"payscore"}}`
		// One in a thousand was delivered twice; one in five hundred was stale.
		applied, deliveries := 1, 1
		if i%1000 == 999 {
			deliveries = 2
		}
		if i%500 == 1 {
			applied = 0
		}
		if _, err := cb.Exec(id, fmt.Sprintf("EV-%d", id), ev, code, sub, openid, at.Format(layout), at.Format(time.RFC3339), env, payload,
			applied, deliveries, at.Format(layout), at.Format(layout)); err != nil {
			t.Fatal(err)
		}
		if _, err := dl.Exec(id, at.Format(layout)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestCallbackLogKeysetPages(t *testing.T) {
	ts := newTestServer(t)
	const n = 2*logPageSize + 7
	seedCallbacksFast(t, ts.db, n, ts.clock.Now().Add(-time.Hour))
	viewer := ts.client(t, store.RoleViewer)
	seen := map[string]bool{}
	path := "/callbacks?sub_mchid=" // an empty filter is left out of every link
	pages := 0
	for path != "" {
		res := viewer.get(t, path)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, res.status)
		}
		pages++
		for _, id := range notificationIDs(res.doc) {
			if seen[id] {
				t.Fatalf("page %d shows %s again", pages, id)
			}
			seen[id] = true
		}
		if pages > 1 != res.has(`[data-testid="first-page"]`) {
			t.Errorf("page %d: newest-page link shown = %v", pages, res.has(`[data-testid="first-page"]`))
		}
		if pages > 1 && res.has(`[data-testid="callback-poller"]`) {
			t.Errorf("page %d polls; only the newest page should", pages)
		}
		next, _ := res.doc.Find(`[data-testid="next-page"]`).Attr("href")
		if strings.Contains(next, "offset") {
			t.Fatalf("next link uses an offset: %s", next)
		}
		path = next
		if pages > 10 {
			t.Fatal("pages never end")
		}
	}
	if got, want := len(seen), n; got != want {
		t.Errorf("pages showed %d rows, want %d", got, want)
	}
	if got, want := pages, 3; got != want {
		t.Errorf("%d pages, want %d", got, want)
	}
}

func TestCallbackLogPolling(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	viewer := ts.client(t, store.RoleViewer)

	page := viewer.get(t, "/callbacks")
	poller := page.doc.Find(`[data-testid="callback-poller"]`)
	pollURL := poller.AttrOr("hx-get", "")
	if got, want := poller.AttrOr("hx-trigger", ""), "every 3s"; got != want {
		t.Errorf("hx-trigger = %q, want %q", got, want)
	}
	if got, want := poller.AttrOr("hx-swap", ""), "afterbegin"; got != want {
		t.Errorf("hx-swap = %q, want %q", got, want)
	}
	if got, want := poller.AttrOr("hx-target", ""), "#callback-rows"; got != want {
		t.Errorf("hx-target = %q, want %q", got, want)
	}
	if !page.has(`tbody#callback-rows`) {
		t.Fatal("no tbody#callback-rows to prepend into")
	}
	newest := page.doc.Find(`[data-testid="callback-row"]`).First().AttrOr("data-id", "")
	if u, _ := url.Parse(pollURL); u == nil || u.Path != "/callbacks" || u.Query().Get("after") != newest {
		t.Fatalf("poll URL %q does not ask for rows after the newest, %s", pollURL, newest)
	}

	t.Run("NothingNewIs204", func(t *testing.T) {
		res := viewer.get(t, pollURL, "HX-Request", "true")
		if res.status != http.StatusNoContent {
			t.Fatalf("status %d, want 204", res.status)
		}
		if !slices.Contains(res.header.Values("Vary"), "HX-Request") {
			t.Errorf("Vary = %q", res.header.Values("Vary"))
		}
	})

	ts.record(t, logNotification("N6", store.EventClose, "CODE2", "1900000002", "", "soB", ts.clock.Now()))
	ts.record(t, logNotification("N7", store.EventOpen, "CODE9", "1900000009", "oZ", "", ts.clock.Now()))

	t.Run("NewRowsOnly", func(t *testing.T) {
		res := viewer.get(t, pollURL, "HX-Request", "true")
		if res.status != http.StatusOK {
			t.Fatalf("status %d", res.status)
		}
		assertFragment(t, res)
		doc := rowsFragment(t, res.body)
		if got, want := notificationIDs(doc), []string{"N7", "N6"}; !slices.Equal(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
		// The rows come first, then the partial that replaces the poller:
		// the rows are the main swap, prepended into the tbody.
		if i, j := strings.Index(res.body, "<tr"), strings.Index(res.body, "<hx-partial"); i < 0 || j < i {
			t.Errorf("want rows then <hx-partial>, got:\n%s", res.body)
		}
		partial := doc.Find(`[data-testid="poller-partial"]`)
		if got, want := partial.AttrOr("hx-target", ""), "#callback-poller"; got != want {
			t.Errorf("partial hx-target = %q, want %q", got, want)
		}
		if got, want := partial.AttrOr("hx-swap", ""), "outerHTML"; got != want {
			t.Errorf("partial hx-swap = %q, want %q", got, want)
		}
		next := partial.Find(`#callback-poller`).AttrOr("hx-get", "")
		newest := doc.Find(`[data-testid="callback-row"]`).First().AttrOr("data-id", "")
		if u, _ := url.Parse(next); u == nil || u.Query().Get("after") != newest {
			t.Fatalf("new poller URL %q, want after=%s", next, newest)
		}
		if res := viewer.get(t, next, "HX-Request", "true"); res.status != http.StatusNoContent {
			t.Errorf("polling again: status %d, want 204", res.status)
		}
	})

	t.Run("FilteredPollSkipsOthers", func(t *testing.T) {
		page := viewer.get(t, "/callbacks?sub_mchid=1900000002")
		pollURL := page.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
		if u, _ := url.Parse(pollURL); u.Query().Get("sub_mchid") != "1900000002" {
			t.Fatalf("poll URL %q lost the filter", pollURL)
		}
		ts.record(t, logNotification("N8", store.EventOpen, "CODE8", "1900000001", "oY", "", ts.clock.Now()))
		ts.record(t, logNotification("N9", store.EventOpen, "CODE7", "1900000002", "oX", "", ts.clock.Now()))
		res := viewer.get(t, pollURL, "HX-Request", "true")
		if got, want := notificationIDs(rowsFragment(t, res.body)), []string{"N9"}; !slices.Equal(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
	})

	t.Run("WithoutHTMXIsThePage", func(t *testing.T) {
		res := viewer.get(t, pollURL)
		if res.status != http.StatusOK || !res.has(`[data-testid="nav"]`) {
			t.Fatalf("status %d; want the full page", res.status)
		}
		if !slices.Contains(res.header.Values("Vary"), "HX-Request") {
			t.Errorf("Vary = %q", res.header.Values("Vary"))
		}
	})
}

func TestCallbackLogRefused(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts) // day 3 now
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: payscore.ReasonBadSignature, Serial: "PUB_KEY_ID_X", NotificationID: "N4"})
	ts.clock.Advance(24 * time.Hour) // day 4
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.6", Reason: "not_owner", Serial: "PUB_KEY_ID_Y", NotificationID: "NX"})
	viewer := ts.client(t, store.RoleViewer)

	res := viewer.get(t, "/callbacks?outcome=refused")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	rows := res.doc.Find(`[data-testid="refusal-row"]`)
	if got, want := rows.Length(), 2; got != want {
		t.Fatalf("%d refusal rows, want %d", got, want)
	}
	first := rows.First()
	for sel, want := range map[string]string{"refusal-remote": "203.0.113.6", "refusal-reason": "not_owner", "refusal-notification-id": "NX"} {
		if got := strings.TrimSpace(first.Find(`[data-testid="` + sel + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if len(notificationIDs(res.doc)) != 0 {
		t.Error("notifications listed among refusals")
	}
	if got := viewer.get(t, "/callbacks?outcome=refused&to=2026-03-03").doc.Find(`[data-testid="refusal-row"]`).Length(); got != 1 {
		t.Errorf("refusals up to day 3 = %d, want 1", got)
	}

	t.Run("Polling", func(t *testing.T) {
		pollURL := res.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
		if got := res.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-target", ""); got != "#refusal-rows" {
			t.Errorf("hx-target = %q", got)
		}
		ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.7", Reason: "bad_timestamp"})
		poll := viewer.get(t, pollURL, "HX-Request", "true")
		assertFragment(t, poll)
		doc := rowsFragment(t, poll.body)
		if got := doc.Find(`[data-testid="refusal-row"]`).Length(); got != 1 {
			t.Errorf("polled %d refusals, want 1:\n%s", got, poll.body)
		}
	})
}

func TestCallbackDetail(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: payscore.ReasonBadSignature, NotificationID: "N4"})
	// A payload with markup: shown as text, never as HTML.
	n := logNotification("N-XSS", store.EventOpen, "CODEX", "1900000001", "oQ", "", ts.clock.Now())
	n.Payload = []byte(`{"user_label":"<script>alert(1)</script>","authorization_code":"CODEX"}`)
	ts.record(t, n)
	viewer := ts.client(t, store.RoleViewer)

	list := viewer.get(t, "/callbacks?sub_mchid=1900000002")
	link := list.doc.Find(`[data-notification-id="N4"] [data-testid="callback-link"]`).AttrOr("href", "")
	if !strings.HasPrefix(link, "/callbacks/") {
		t.Fatalf("detail link = %q", link)
	}

	t.Run("OK", func(t *testing.T) {
		res := viewer.get(t, link)
		if res.status != http.StatusOK {
			t.Fatalf("status %d", res.status)
		}
		if got, want := res.text(`[data-testid="notification-id"]`), "N4"; got != want {
			t.Errorf("notification id = %q, want %q", got, want)
		}
		payload := res.doc.Find(`pre[data-testid="payload"]`).Text()
		if !strings.Contains(payload, "{\n  \"authorization_code\": \"CODE3\",") {
			t.Errorf("payload not pretty-printed:\n%s", payload)
		}
		if env := res.doc.Find(`pre[data-testid="envelope"]`).Text(); !strings.Contains(env, "\n  \"event_type\": \"PAYSCORE.USER_OPEN_SERVICE\"") {
			t.Errorf("envelope not pretty-printed:\n%s", env)
		}
		deliveries := res.doc.Find(`[data-testid="delivery-row"]`)
		if got, want := deliveries.Length(), 2; got != want {
			t.Fatalf("%d deliveries, want %d", got, want)
		}
		if got := deliveries.Eq(1).Text(); !strings.Contains(got, "198.51.100.7") || !strings.Contains(got, "PUB_KEY_ID_") {
			t.Errorf("delivery row lacks address or serial: %q", got)
		}
		outcomes := []string{deliveries.Eq(0).Find(`[data-testid="outcome-badge"]`).Text(), deliveries.Eq(1).Find(`[data-testid="outcome-badge"]`).Text()}
		if outcomes[0] == outcomes[1] {
			t.Errorf("first and repeated delivery show the same outcome %q", outcomes[0])
		}
		if got := res.doc.Find(`[data-testid="detail-refusals"] [data-testid="refusal-row"]`).Length(); got != 1 {
			t.Errorf("%d refusals with this notification id, want 1", got)
		}
		back, _ := url.Parse(res.doc.Find(`[data-testid="back"]`).AttrOr("href", ""))
		if back.Path != "/callbacks" || back.Query().Get("sub_mchid") != "1900000002" {
			t.Errorf("back link %v loses the filter", back)
		}
	})
	t.Run("PayloadEscaped", func(t *testing.T) {
		list := viewer.get(t, "/callbacks?authorization_code=CODEX")
		res := viewer.get(t, list.doc.Find(`[data-testid="callback-link"]`).AttrOr("href", ""))
		if res.doc.Find(`pre[data-testid="payload"] script`).Length() != 0 || strings.Contains(res.body, "<script>alert") {
			t.Error("payload markup rendered as HTML")
		}
		if !strings.Contains(res.doc.Find(`pre[data-testid="payload"]`).Text(), "<script>alert(1)</script>") {
			t.Error("payload text missing")
		}
	})
	for name, path := range map[string]string{"ErrUnknownID": "/callbacks/999999", "ErrNotANumber": "/callbacks/abc", "ErrZero": "/callbacks/0"} {
		t.Run(name, func(t *testing.T) {
			res := viewer.get(t, path)
			if res.status != http.StatusNotFound {
				t.Fatalf("status %d, want 404", res.status)
			}
			if !res.has(`[data-testid="error"]`) {
				t.Error("no error page")
			}
		})
	}
}

// csvRecords checks the download's framing and parses it.
func csvRecords(t *testing.T, res *response) [][]string {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if got := res.header.Get("Content-Type"); !strings.HasPrefix(got, "text/csv") {
		t.Errorf("Content-Type = %q", got)
	}
	if got := res.header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") || !strings.Contains(got, ".csv") {
		t.Errorf("Content-Disposition = %q", got)
	}
	if got := res.header.Get("Content-Length"); got != "" {
		t.Errorf("Content-Length %s: a streamed download has none", got)
	}
	body := []byte(res.body)
	if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
		t.Fatal("no UTF-8 byte order mark")
	}
	records, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	return records
}

func TestCallbacksCSV(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	ts.record(t, logNotification("N-FORMULA", store.EventOpen, "CODEF", "1900000003", "=HYPERLINK(\"http://evil\")", "", ts.clock.Now()))
	ts.record(t, logNotification("N-中文", store.EventOpen, "CODEZ", "1900000003", "+cmd", "", ts.clock.Now()))
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: "bad_signature", Serial: "-serial", NotificationID: "@SUM(A1)"})
	viewer := ts.client(t, store.RoleViewer)

	t.Run("OK", func(t *testing.T) {
		records := csvRecords(t, viewer.get(t, "/callbacks.csv"))
		if got, want := records[0][:4], []string{"id", "notification_id", "event_type", "outcome"}; !slices.Equal(got, want) {
			t.Errorf("header = %v", records[0])
		}
		if got, want := len(records), 1+7; got != want {
			t.Fatalf("%d records, want %d", got, want)
		}
		byID := map[string][]string{}
		for _, r := range records[1:] {
			byID[r[1]] = r
		}
		if got, want := byID["N-FORMULA"][6], "'=HYPERLINK(\"http://evil\")"; got != want {
			t.Errorf("formula cell = %q, want %q", got, want)
		}
		if got, want := byID["N-中文"][6], "'+cmd"; got != want {
			t.Errorf("plus cell = %q, want %q", got, want)
		}
		if got, want := byID["N4"][10], "2"; got != want {
			t.Errorf("N4 deliveries = %q, want %q", got, want)
		}
		if got, want := byID["N5"][3], store.OutcomeStale; got != want {
			t.Errorf("N5 outcome = %q, want %q", got, want)
		}
	})
	t.Run("Filtered", func(t *testing.T) {
		records := csvRecords(t, viewer.get(t, "/callbacks.csv?authorization_code=CODE1"))
		var ids []string
		for _, r := range records[1:] {
			ids = append(ids, r[1])
		}
		if want := []string{"N5", "N2", "N1"}; !slices.Equal(ids, want) {
			t.Errorf("ids = %v, want %v", ids, want)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		records := csvRecords(t, viewer.get(t, "/callbacks.csv?outcome=refused"))
		if got, want := len(records), 2; got != want {
			t.Fatalf("%d records, want %d", got, want)
		}
		if got, want := records[1][4], "'-serial"; got != want {
			t.Errorf("serial cell = %q, want %q", got, want)
		}
		if got, want := records[1][5], "'@SUM(A1)"; got != want {
			t.Errorf("notification id cell = %q, want %q", got, want)
		}
	})
	t.Run("ManyPages", func(t *testing.T) {
		ts := newTestServer(t)
		const n = 2*csvPageSize + 17
		seedCallbacksFast(t, ts.db, n, ts.clock.Now().Add(-24*time.Hour))
		records := csvRecords(t, ts.client(t, store.RoleViewer).get(t, "/callbacks.csv"))
		if got, want := len(records), n+1; got != want {
			t.Fatalf("%d records, want %d", got, want)
		}
		seen := map[string]bool{}
		for _, r := range records[1:] {
			if seen[r[0]] {
				t.Fatalf("row %s twice", r[0])
			}
			seen[r[0]] = true
		}
	})
}

func TestCSVSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"plain", "plain"}, {"=1+1", "'=1+1"}, {"+86", "'+86"}, {"-1", "'-1"}, {"@x", "'@x"},
		{"\tx", "'\tx"}, {"\rx", "'\rx"}, {"a=b", "a=b"}, {"中文", "中文"},
	}
	for _, tt := range tests {
		if got := csvSafe(tt.in); got != tt.want {
			t.Errorf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCallbackLogEndToEnd runs the real path: pre-authorize against the
// sandbox, the user agrees, the sandbox delivers the signed notification to
// /notify/payscore, and the callback shows in the log and in a poll.
func TestCallbackLogEndToEnd(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	const subMchID = "1900000109"
	if _, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "测试门店"}); err != nil {
		t.Fatal(err)
	}
	viewer := ts.client(t, store.RoleViewer)
	page := viewer.get(t, "/callbacks")
	pollURL := page.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
	if pollURL == "" {
		t.Fatal("no poller on the empty log")
	}

	const code = "E2E-CODE-1"
	res, err := wp.client.PreAuthorize(ctx, payscore.PreAuthorizeRequest{SubMchID: subMchID, AuthorizationCode: code, NotifyURL: ts.URL + "/notify/payscore"})
	if err != nil {
		t.Fatalf("PreAuthorize: %v", err)
	}
	if _, err := wp.sb.Agree(ctx, res.Token); err != nil {
		t.Fatalf("Agree: %v", err)
	}
	if got := wp.deliver(t); got != 1 {
		t.Fatalf("delivered %d notifications, want 1", got)
	}

	poll := viewer.get(t, pollURL, "HX-Request", "true")
	if poll.status != http.StatusOK {
		t.Fatalf("poll: status %d:\n%s", poll.status, poll.body)
	}
	assertFragment(t, poll)
	row := rowsFragment(t, poll.body).Find(`[data-testid="callback-row"]`)
	if row.Length() != 1 || !strings.Contains(row.Find(`[data-testid="callback-code"]`).Text(), code) {
		t.Fatalf("poll rows:\n%s", poll.body)
	}

	list := viewer.get(t, "/callbacks?authorization_code="+code)
	rows := list.doc.Find(`[data-testid="callback-row"]`)
	if rows.Length() != 1 {
		t.Fatalf("%d rows for %s, want 1", rows.Length(), code)
	}
	if got := rows.Find(`[data-testid="outcome-badge"]`).Text(); !strings.Contains(got, "已受理") {
		t.Errorf("outcome = %q, want accepted", got)
	}
	detail := viewer.get(t, rows.Find(`[data-testid="callback-link"]`).AttrOr("href", ""))
	payload := detail.doc.Find(`pre[data-testid="payload"]`).Text()
	if !strings.Contains(payload, `"authorization_code": "`+code+`"`) {
		t.Errorf("decrypted payload not shown:\n%s", payload)
	}
	if got := detail.doc.Find(`[data-testid="delivery-row"]`).Length(); got != 1 {
		t.Errorf("%d deliveries, want 1", got)
	}
}
