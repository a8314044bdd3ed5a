package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

var csvTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$`)

// TestCSVTimesCarryOffset: every time in every CSV export (callbacks,
// refusals, audit; the job CSV uses the same csvTime) is Beijing time with
// "+08:00".
func TestCSVTimesCarryOffset(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: "bad_signature", Serial: "S", NotificationID: "NR"})
	if err := ts.db.Audit(context.Background(), store.AuditEntry{Username: "admin", Action: "user.create", Target: "user:x", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	admin := ts.client(t, store.RoleAdmin)
	for _, path := range []string{"/callbacks.csv", "/callbacks.csv?outcome=refused", "/audit.csv"} {
		t.Run(path, func(t *testing.T) {
			records := csvRecords(t, admin.get(t, path))
			if len(records) < 2 {
				t.Fatalf("%d records", len(records))
			}
			timeCols := 0
			for i, h := range records[0] {
				h = strings.TrimPrefix(h, "\uFEFF")
				if h != "at" && !strings.HasSuffix(h, "_at") && !strings.HasSuffix(h, "_time") {
					continue
				}
				timeCols++
				for _, r := range records[1:] {
					if r[i] != "" && !csvTimeRE.MatchString(r[i]) {
						t.Errorf("%s = %q, want 2006-01-02T15:04:05+08:00", h, r[i])
					}
				}
			}
			if timeCols == 0 {
				t.Errorf("no time column in %v", records[0])
			}
		})
	}
	t.Run("OKFunctions", func(t *testing.T) {
		at := time.Date(2026, 12, 1, 16, 27, 38, 0, time.UTC)
		if got, want := csvTime(at), "2026-12-02T00:27:38+08:00"; got != want {
			t.Errorf("csvTime = %q, want %q", got, want)
		}
		if got, want := csvTimeText("2026-12-01T16:27:38Z"), "2026-12-02T00:27:38+08:00"; got != want {
			t.Errorf("csvTimeText = %q, want %q", got, want)
		}
		if got := csvTime(time.Time{}); got != "" {
			t.Errorf("zero time = %q", got)
		}
	})
}

// TestCallbackLogInWords: the callback log's filters are labelled in the
// page's language, refusal reasons are words (the key kept in data-reason),
// invalid filters say so above the empty list, the refused view offers only
// the filters that apply, and the live indicator is there for a script to
// show.
func TestCallbackLogInWords(t *testing.T) {
	ts := newTestServer(t)
	seedCallbackLog(t, ts)
	ts.refuse(t, store.Refusal{RemoteAddr: "203.0.113.5", Reason: "bad_signature", Serial: "S", NotificationID: "NR"})
	viewer := ts.client(t, store.RoleViewer)

	t.Run("OKRefusedInWordsOnlyItsFilters", func(t *testing.T) {
		res := viewer.get(t, "/callbacks?outcome=refused")
		reason := res.doc.Find(`[data-testid="refusal-reason"]`).First()
		if got, want := strings.TrimSpace(reason.Text()), views.Tr(views.LangZH, "refusal.reason.bad_signature"); got != want {
			t.Errorf("reason = %q, want %q", got, want)
		}
		if got := reason.AttrOr("data-reason", ""); got != "bad_signature" {
			t.Errorf("data-reason = %q", got)
		}
		form := res.doc.Find(`form[data-testid="callback-filters"]`)
		for _, name := range []string{"outcome", "from", "to"} {
			if form.Find(`[name="`+name+`"]`).Length() != 1 {
				t.Errorf("refused view lacks the %s filter", name)
			}
		}
		for _, name := range []string{"event_type", "authorization_code", "sub_mchid", "openid"} {
			if form.Find(`[name="`+name+`"]`).Length() != 0 {
				t.Errorf("refused view offers the %s filter, which does not apply to refusals", name)
			}
		}
	})
	t.Run("OKNotificationsOfferEveryFilter", func(t *testing.T) {
		form := viewer.get(t, "/callbacks").doc.Find(`form[data-testid="callback-filters"]`)
		for _, name := range []string{"event_type", "outcome", "authorization_code", "sub_mchid", "openid", "from", "to"} {
			if form.Find(`[name="`+name+`"]`).Length() != 1 {
				t.Errorf("no %s filter", name)
			}
		}
	})
	t.Run("OKLabelsInEnglish", func(t *testing.T) {
		en := ts.client(t, store.RoleViewer)
		en.post(t, "/lang", url.Values{"lang": {"en"}, "next": {"/"}})
		res := en.get(t, "/callbacks")
		for id, key := range map[string]string{"f-sub_mchid": "field.sub_mchid", "f-authorization_code": "field.authorization_code", "f-openid": "field.openid_any", "f-event_type": "callbacks.col.event"} {
			if got, want := strings.TrimSpace(res.doc.Find(`label[for="`+id+`"]`).Text()), views.Tr(views.LangEN, key); got != want {
				t.Errorf("label %s = %q, want %q", id, got, want)
			}
		}
	})
	t.Run("ErrInvalidFilterSaysSo", func(t *testing.T) {
		for _, q := range []string{"from=2026-02-30", "outcome=maybe", "event_type=NOPE"} {
			res := viewer.get(t, "/callbacks?"+q)
			if res.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", q, res.status)
			}
			if got, want := res.text(`[data-testid="filter-errors"]`), views.Tr(views.LangZH, "logs.err.filters"); got != want {
				t.Errorf("%s: message = %q, want %q", q, got, want)
			}
			if res.has(`[data-testid="callback-row"]`) {
				t.Errorf("%s: rows listed for an invalid filter", q)
			}
		}
	})
	t.Run("OKLiveIndicator", func(t *testing.T) {
		poller := viewer.get(t, "/callbacks").doc.Find(`[data-testid="callback-poller"]`)
		if _, live := poller.Attr("data-live"); !live {
			t.Error("the poller is not marked data-live")
		}
		if _, hidden := poller.Attr("hidden"); !hidden {
			t.Error("the live indicator shows without a script to make it live")
		}
		if got, want := strings.TrimSpace(poller.Text()), views.Tr(views.LangZH, "callbacks.live.on"); got != want {
			t.Errorf("indicator = %q, want %q", got, want)
		}
	})
}

// TestAuditLogInWords: actions and results in words, action names kept in
// the CSV and as the filter's values; the action filter is a choice of the
// known actions.
func TestAuditLogInWords(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for _, e := range []store.AuditEntry{
		{Username: "operator", Action: "link.create", Target: "code:W1", Result: "ok"},
		{Username: "admin", Action: "landing.pause", Target: "landing", Result: "ok"},
		{Username: "admin", Action: "sandbox.faults", Target: "sandbox", Result: "ok"},
	} {
		if err := ts.db.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	admin := ts.client(t, store.RoleAdmin)
	res := admin.get(t, "/audit")
	sel := res.doc.Find(`select[name="action"]`)
	if sel.Length() != 1 {
		t.Fatal("the action filter is not a choice")
	}
	for _, a := range views.AuditActions {
		opt := sel.Find(`option[value="` + a + `"]`)
		if opt.Length() != 1 {
			t.Errorf("no option %s", a)
			continue
		}
		if got := strings.TrimSpace(opt.Text()); got == a || got == "" {
			t.Errorf("option %s is not in words: %q", a, got)
		}
	}
	words := map[string]string{}
	res.doc.Find(`[data-testid="audit-row"]`).Each(func(_ int, row *goquery.Selection) {
		words[strings.TrimSpace(row.Find(`[data-testid="audit-action"]`).Text())] = strings.TrimSpace(row.Find(`[data-testid="audit-action-words"]`).Text())
	})
	for action, want := range map[string]string{"link.create": "创建授权链接", "landing.pause": "紧急暂停所有落地页", "sandbox.faults": "沙箱控制：faults"} {
		if got := words[action]; got != want {
			t.Errorf("%s in words = %q, want %q", action, got, want)
		}
	}
	t.Run("OKFilterByChoice", func(t *testing.T) {
		res := admin.get(t, "/audit?action=landing.pause")
		if got := res.doc.Find(`select[name="action"] option[selected]`).AttrOr("value", ""); got != "landing.pause" {
			t.Errorf("selected = %q", got)
		}
		if got := res.doc.Find(`[data-testid="audit-row"]`).Length(); got != 1 {
			t.Errorf("%d rows, want 1", got)
		}
	})
	t.Run("OKUnlistedActionKept", func(t *testing.T) {
		res := admin.get(t, "/audit?action=sandbox.faults")
		if got := res.doc.Find(`select[name="action"] option[selected]`).AttrOr("value", ""); got != "sandbox.faults" {
			t.Errorf("selected = %q", got)
		}
	})
	t.Run("OKCSVKeepsNames", func(t *testing.T) {
		records := csvRecords(t, admin.get(t, "/audit.csv?action=link.create"))
		if len(records) != 2 || records[1][4] != "link.create" || records[1][7] != "ok" {
			t.Errorf("CSV = %v", records)
		}
	})
}
