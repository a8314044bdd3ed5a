package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// insertLate copies callback row src as row id with another notification
// id, as a writer whose transaction took id earlier but committed now.
func insertLate(t *testing.T, ts *testServer, src, id int64, notificationID string) {
	t.Helper()
	raw := openSQL(t, ts.db)
	rows, err := raw.Query(`SELECT name FROM pragma_table_info('callbacks') WHERE name NOT IN ('id', 'notification_id')`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	list := strings.Join(cols, ", ")
	if _, err := raw.Exec(`INSERT INTO callbacks (id, notification_id, `+list+`) SELECT ?, ?, `+list+` FROM callbacks WHERE id = ?`, id, notificationID, src); err != nil {
		t.Fatal(err)
	}
}

// TestCallbackLogPollingLateCommit: under concurrent writers a row with a
// lower id can become visible after a higher one was shown. The poller
// carries the missing ids below its cursor and shows such a row when it
// arrives, once; an id that never arrives is dropped once rows received
// PollSettle after it exist.
func TestCallbackLogPollingLateCommit(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	viewer := ts.client(t, store.RoleViewer)
	for i := 1; i <= 3; i++ {
		ts.record(t, logNotification(fmt.Sprintf("L%d", i), store.EventOpen, fmt.Sprintf("LCODE%d", i), "1900000001", "oL", "", ts.clock.Now()))
	}
	page := viewer.get(t, "/callbacks")
	pollURL := page.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
	if u, _ := url.Parse(pollURL); u.Query().Get("after") != "3" || u.Query().Has("gaps") {
		t.Fatalf("poll URL %q, want after=3 and no gaps", pollURL)
	}
	// Ids 4 and 5 are taken; 5 commits first.
	insertLate(t, ts, 3, 5, "L5")
	poll := func(u string) (ids []string, next string) {
		t.Helper()
		res := viewer.get(t, u, "HX-Request", "true")
		if res.status == http.StatusNoContent {
			return nil, u
		}
		if res.status != http.StatusOK {
			t.Fatalf("poll %s: status %d", u, res.status)
		}
		doc := rowsFragment(t, res.body)
		return notificationIDs(doc), doc.Find(`[data-testid="poller-partial"] #callback-poller`).AttrOr("hx-get", "")
	}
	got, next := poll(pollURL)
	if !slices.Equal(got, []string{"L5"}) {
		t.Fatalf("rows = %v, want [L5]", got)
	}
	if u, _ := url.Parse(next); u.Query().Get("after") != "5" || u.Query().Get("gaps") != "4" {
		t.Fatalf("next poll %q, want after=5 gaps=4", next)
	}
	if got, _ := poll(next); got != nil {
		t.Errorf("nothing new: rows %v", got)
	}
	// Id 4 commits now, below the cursor: the next poll shows it, once.
	insertLate(t, ts, 3, 4, "L4")
	ts.record(t, logNotification("L6", store.EventOpen, "LCODE6", "1900000001", "oL", "", ts.clock.Now()))
	got, next = poll(next)
	if !slices.Equal(got, []string{"L6", "L4"}) {
		t.Fatalf("rows = %v, want [L6 L4]: the late row joins the new ones", got)
	}
	if u, _ := url.Parse(next); u.Query().Get("after") != "6" || u.Query().Has("gaps") {
		t.Fatalf("next poll %q, want after=6 and no gaps", next)
	}
	if got, _ := poll(next); got != nil {
		t.Errorf("the late row shown twice: %v", got)
	}
	// An id that never commits (rolled back) is dropped once rows received
	// PollSettle later exist.
	insertLate(t, ts, 6, 8, "L8")
	got, next = poll(next)
	if u, _ := url.Parse(next); !slices.Equal(got, []string{"L8"}) || u.Query().Get("gaps") != "7" {
		t.Fatalf("rows %v, next %q; want [L8] and gaps=7", got, next)
	}
	ts.clock.Advance(store.PollSettle + time.Second)
	ts.record(t, logNotification("L9", store.EventOpen, "LCODE9", "1900000001", "oL", "", ts.clock.Now()))
	ts.clock.Advance(store.PollSettle + time.Second)
	got, next = poll(next)
	if u, _ := url.Parse(next); !slices.Equal(got, []string{"L9"}) || u.Query().Has("gaps") {
		t.Fatalf("rows %v, next %q; want [L9] and the dead gap dropped", got, next)
	}
	// A late row the filter excludes is dropped from the gaps, not shown.
	filtered := viewer.get(t, "/callbacks?sub_mchid=1900000001")
	fURL := filtered.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
	raw := openSQL(t, ts.db)
	insertLate(t, ts, 9, 11, "L11")
	if _, err := raw.ExecContext(ctx, `UPDATE callbacks SET first_received_at = ? WHERE id = 11`, ts.clock.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
		t.Fatal(err)
	}
	got, fNext := poll(fURL)
	if u, _ := url.Parse(fNext); !slices.Equal(got, []string{"L11"}) || u.Query().Get("gaps") != "10" {
		t.Fatalf("filtered: rows %v, next %q", got, fNext)
	}
	insertLate(t, ts, 9, 10, "L10")
	if _, err := raw.ExecContext(ctx, `UPDATE callbacks SET sub_mchid = '1900000002' WHERE id = 10`); err != nil {
		t.Fatal(err)
	}
	ts.record(t, logNotification("L12", store.EventOpen, "LCODE12", "1900000001", "oL", "", ts.clock.Now()))
	got, fNext = poll(fNext)
	if u, _ := url.Parse(fNext); !slices.Equal(got, []string{"L12"}) || u.Query().Has("gaps") {
		t.Fatalf("filtered: rows %v, next %q; want [L12], gap 10 settled (filtered out)", got, fNext)
	}
	// Malformed gaps are refused.
	if res := viewer.get(t, "/callbacks?after=3&gaps=x", "HX-Request", "true"); res.status != http.StatusBadRequest {
		t.Errorf("gaps=x: status %d, want 400", res.status)
	}
}

// TestCallbackLogPollingFullPageKeepsLateRow: a poll that brings a full
// page of new rows and a late one below its cursor shows them all; cut to a
// page, the lowest ids (the late row first) would never come again.
func TestCallbackLogPollingFullPageKeepsLateRow(t *testing.T) {
	ts := newTestServer(t)
	viewer := ts.client(t, store.RoleViewer)
	for i := 1; i <= 3; i++ {
		ts.record(t, logNotification(fmt.Sprintf("F%d", i), store.EventOpen, fmt.Sprintf("FCODE%d", i), "1900000001", "oF", "", ts.clock.Now()))
	}
	page := viewer.get(t, "/callbacks")
	pollURL := page.doc.Find(`[data-testid="callback-poller"]`).AttrOr("hx-get", "")
	insertLate(t, ts, 3, 5, "F5") // id 4 taken, not yet committed
	res := viewer.get(t, pollURL, "HX-Request", "true")
	next := rowsFragment(t, res.body).Find(`[data-testid="poller-partial"] #callback-poller`).AttrOr("hx-get", "")
	if u, _ := url.Parse(next); u.Query().Get("gaps") != "4" {
		t.Fatalf("next poll %q, want gaps=4", next)
	}
	insertLate(t, ts, 3, 4, "F4")
	for i := 6; i < 6+logPageSize; i++ {
		ts.record(t, logNotification(fmt.Sprintf("F%d", i), store.EventOpen, fmt.Sprintf("FCODE%d", i), "1900000001", "oF", "", ts.clock.Now()))
	}
	res = viewer.get(t, next, "HX-Request", "true")
	got := notificationIDs(rowsFragment(t, res.body))
	if len(got) != logPageSize+1 || !slices.Contains(got, "F4") || !slices.Contains(got, "F6") {
		t.Errorf("poll showed %d rows (F4 %v, F6 %v); want the %d new ones and the late F4", len(got),
			slices.Contains(got, "F4"), slices.Contains(got, "F6"), logPageSize)
	}
}
