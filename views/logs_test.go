package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// renderLogDoc renders a component in lang and parses it; table rows are
// parsed inside a table, as a browser would inside htmx's <template>.
func renderLogDoc(t *testing.T, lang string, c templ.Component, fragments ...any) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	ctx := WithLang(context.Background(), lang)
	var err error
	if len(fragments) > 0 {
		err = templ.RenderFragments(ctx, &buf, c, fragments...)
	} else {
		err = c.Render(ctx, &buf)
	}
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	src := html
	if len(fragments) > 0 {
		src = "<table><tbody>" + html + "</tbody></table>"
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, html
}

var logTime = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

func callbacksFixture() CallbacksView {
	return CallbacksView{
		Filter:     CallbackFilterForm{EventType: "PAYSCORE.USER_CLOSE_SERVICE", Outcome: "duplicate", SubMchID: "1900000001", Errors: map[string]string{}},
		EventTypes: []string{"PAYSCORE.USER_OPEN_SERVICE", "PAYSCORE.USER_CLOSE_SERVICE"},
		Outcomes:   []string{"accepted", "duplicate", "stale", "refused"},
		Rows: []CallbackRow{
			{ID: 7, Href: "/callbacks/7?sub_mchid=1900000001", NotificationID: "N7", EventType: "PAYSCORE.USER_CLOSE_SERVICE", Outcome: "accepted",
				AuthorizationCode: "A|B*c", SubMchID: "1900000001", SubOpenID: "so-1", OpenOrCloseTime: logTime, Deliveries: 3, FirstReceived: logTime},
			{ID: 6, Href: "/callbacks/6", NotificationID: "N6", EventType: "PAYSCORE.USER_OPEN_SERVICE", Outcome: "stale",
				AuthorizationCode: "C1", SubMchID: "1900000001", OpenID: "o-1", Deliveries: 1, FirstReceived: logTime},
		},
		NextURL:  "/callbacks?sub_mchid=1900000001&before=6",
		PollURL:  "/callbacks?sub_mchid=1900000001&after=7",
		CSVURL:   "/callbacks.csv?sub_mchid=1900000001",
		FirstURL: "",
	}
}

func TestCallbacksPage(t *testing.T) {
	p := Page{Title: "Callbacks", Path: "/callbacks", User: &Me{Username: "v", Role: "viewer"}}
	doc, _ := renderLogDoc(t, LangEN, CallbacksPage(p, callbacksFixture()))
	rows := doc.Find(`[data-testid="callback-row"]`)
	if got, want := rows.Length(), 2; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}
	first := rows.First()
	if got, want := first.Find(`[data-testid="callback-code"]`).AttrOr("href", ""), "/authorizations?authorization_code=A%7CB%2Ac"; got != want {
		t.Errorf("code link = %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(first.Find(`[data-testid="event-badge"]`).Text()), "Service closed"; got != want {
		t.Errorf("event badge = %q, want %q", got, want)
	}
	if !first.Find(`[data-testid="duplicate-badge"]`).Is("*") || rows.Eq(1).Find(`[data-testid="duplicate-badge"]`).Is("*") {
		t.Error("duplicate badge on the wrong rows")
	}
	if got := first.Find(`[data-testid="callback-openid"]`).Text(); !strings.Contains(got, "so-1") || !strings.Contains(got, "sub_openid") {
		t.Errorf("openid cell = %q, want the sub_openid marked", got)
	}
	if got, want := first.Find(`[data-testid="callback-link"]`).Text(), "2026-03-01 10:00:00"; got != want {
		t.Errorf("received = %q, want %q (Asia/Shanghai)", got, want)
	}
	poller := doc.Find(`#callback-poller`)
	for attr, want := range map[string]string{"hx-get": "/callbacks?sub_mchid=1900000001&after=7", "hx-trigger": "every 3s",
		"hx-target": "#callback-rows", "hx-swap": "afterbegin"} {
		if got := poller.AttrOr(attr, ""); got != want {
			t.Errorf("poller %s = %q, want %q", attr, got, want)
		}
	}
	if !doc.Find(`select[name="outcome"] option[value="duplicate"]`).Is("[selected]") {
		t.Error("outcome filter not kept")
	}
	if got := doc.Find(`input[name="sub_mchid"]`).AttrOr("value", ""); got != "1900000001" {
		t.Errorf("sub_mchid filter = %q", got)
	}
	if got := doc.Find(`[data-testid="next-page"]`).AttrOr("href", ""); got != "/callbacks?sub_mchid=1900000001&before=6" {
		t.Errorf("next = %q", got)
	}
	if doc.Find(`[data-testid="first-page"]`).Length() != 0 {
		t.Error("newest-page link on the newest page")
	}
	if doc.Find(`hx-partial`).Length() != 0 {
		t.Error("the full page carries the poll answer's partial")
	}

	t.Run("NoPollerOnOlderPages", func(t *testing.T) {
		v := callbacksFixture()
		v.PollURL, v.FirstURL = "", "/callbacks"
		doc, _ := renderLogDoc(t, LangEN, CallbacksPage(p, v))
		if doc.Find(`#callback-poller`).Length() != 0 {
			t.Error("poller on an older page")
		}
		if doc.Find(`[data-testid="first-page"]`).Length() != 1 {
			t.Error("no newest-page link")
		}
	})
	t.Run("PollAnswerIsRowsThenPartial", func(t *testing.T) {
		v := callbacksFixture()
		v.Polling = true
		doc, html := renderLogDoc(t, LangZH, CallbacksPage(Page{}, v), "callback-rows")
		if strings.Contains(html, "<html") || strings.Contains(html, "<form") || strings.Contains(html, "<thead") {
			t.Fatalf("poll answer is more than rows:\n%s", html)
		}
		if got := doc.Find(`[data-testid="callback-row"]`).Length(); got != 2 {
			t.Errorf("%d rows", got)
		}
		if i, j := strings.LastIndex(html, "</tr>"), strings.Index(html, "<hx-partial"); j < i {
			t.Errorf("partial before the rows:\n%s", html)
		}
		partial := doc.Find(`hx-partial`)
		if partial.AttrOr("hx-target", "") != "#callback-poller" || partial.AttrOr("hx-swap", "") != "outerHTML" {
			t.Errorf("partial = %v", partial.Nodes)
		}
		if got := partial.Find(`#callback-poller`).AttrOr("hx-get", ""); got != v.PollURL {
			t.Errorf("new poller URL = %q", got)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		v := callbacksFixture()
		v.Refused, v.Rows = true, nil
		v.Refusals = []RefusalRow{{ID: 3, ReceivedAt: logTime, RemoteAddr: "203.0.113.5", Reason: "bad_signature", Serial: "PUB_KEY_ID_1", NotificationID: "N9"}}
		doc, _ := renderLogDoc(t, LangZH, CallbacksPage(p, v))
		if doc.Find(`table[data-testid="callbacks"]`).Length() != 0 || doc.Find(`[data-testid="refusal-row"]`).Length() != 1 {
			t.Error("refused list shows the wrong table")
		}
		if got := doc.Find(`#callback-poller`).AttrOr("hx-target", ""); got != "#refusal-rows" {
			t.Errorf("poller target = %q", got)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		v := callbacksFixture()
		v.Rows, v.PollURL, v.CSVURL, v.NextURL = nil, "", "", ""
		v.Filter.From, v.Filter.Errors = "2026-13-01", map[string]string{"from": "bad date"}
		doc, _ := renderLogDoc(t, LangEN, CallbacksPage(p, v))
		if got := text(doc, `[data-testid="error-from"]`); got != "bad date" {
			t.Errorf("message = %q", got)
		}
		if doc.Find(`input[name="from"]`).AttrOr("aria-invalid", "") != "true" || doc.Find(`input[name="from"]`).AttrOr("value", "") != "2026-13-01" {
			t.Error("field not marked or value not kept")
		}
		if has(doc, `[data-testid="empty"]`) || has(doc, `[data-testid="csv-link"]`) {
			t.Error("an invalid filter shows an empty list or an export")
		}
	})
}

func TestCallbackDetailPage(t *testing.T) {
	v := CallbackDetailView{
		Row:        CallbackRow{ID: 7, NotificationID: "N7", EventType: "PAYSCORE.USER_OPEN_SERVICE", Outcome: "accepted", AuthorizationCode: "C1", SubMchID: "1900000001", OpenID: "o-1", Deliveries: 2, FirstReceived: logTime},
		Envelope:   "{\n  \"id\": \"N7\"\n}",
		Payload:    "{\n  \"user_label\": \"<img src=x onerror=alert(1)>\"\n}",
		Deliveries: []DeliveryRow{{ReceivedAt: logTime, RemoteAddr: "198.51.100.7", Serial: "S1", Outcome: "accepted"}, {ReceivedAt: logTime.Add(15 * time.Second), RemoteAddr: "198.51.100.8", Serial: "S1", Outcome: "duplicate"}},
		BackURL:    "/callbacks?sub_mchid=1900000001",
	}
	doc, html := renderLogDoc(t, LangEN, CallbackDetailPage(Page{Title: "N7"}, v))
	if doc.Find(`pre[data-testid="payload"] img`).Length() != 0 || strings.Contains(html, "<img src=x") {
		t.Error("payload rendered as markup")
	}
	if got := doc.Find(`pre[data-testid="payload"]`).Text(); got != v.Payload {
		t.Errorf("payload = %q, want it as given", got)
	}
	if got := doc.Find(`[data-testid="delivery-row"]`).Length(); got != 2 {
		t.Errorf("%d delivery rows", got)
	}
	if got := doc.Find(`[data-testid="back"]`).AttrOr("href", ""); got != v.BackURL {
		t.Errorf("back = %q", got)
	}
	if has(doc, `[data-testid="detail-refusals"]`) {
		t.Error("refusals table without refusals")
	}
}

func TestAuditPage(t *testing.T) {
	v := AuditView{
		Filter: AuditFilterForm{Username: "support", Errors: map[string]string{}},
		Rows: []AuditRow{
			{ID: 2, At: logTime, Username: "support", IP: "10.0.0.1", Action: "authorization.terminate", Target: "code:C1", Reason: "用户要求", Result: "failed", RequestID: "REQ-1"},
			{ID: 1, At: logTime, Action: "reconcile", Target: "code:C2", Result: "ok"},
		},
		CSVURL: "/audit.csv?username=support",
	}
	doc, _ := renderLogDoc(t, LangZH, AuditPage(Page{Title: "审计"}, v))
	rows := doc.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("%d rows", rows.Length())
	}
	for sel, want := range map[string]string{"audit-user": "support", "audit-reason": "用户要求", "audit-request-id": "REQ-1", "audit-ip": "10.0.0.1"} {
		if got := strings.TrimSpace(rows.First().Find(`[data-testid="` + sel + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := strings.TrimSpace(rows.Eq(1).Find(`[data-testid="audit-user"]`).Text()); got != "系统" {
		t.Errorf("system entry shows %q", got)
	}
	if !rows.First().Find(`.badge.bad`).Is("*") || !rows.Eq(1).Find(`.badge.ok`).Is("*") {
		t.Error("results not coloured by outcome")
	}
	if got := doc.Find(`[data-testid="csv-link"]`).AttrOr("href", ""); got != v.CSVURL {
		t.Errorf("csv = %q", got)
	}
}

func TestOverviewPage(t *testing.T) {
	v := OverviewView{Username: "admin", ActiveAuthorizations: 12, AwaitingUser: 3, Callbacks24h: 40, Refusals24h: 2, TerminatedToday: 1,
		LatestCallbacks:    []CallbackRow{{ID: 1, Href: "/callbacks/1", NotificationID: "N1", EventType: "PAYSCORE.USER_OPEN_SERVICE", Outcome: "accepted", Deliveries: 1}},
		RecentTerminations: []TerminationRow{{AuthorizationCode: "C1", Status: "failed", Username: "support", CreatedAt: logTime}},
	}
	for _, role := range []string{"admin", "viewer"} {
		t.Run(role, func(t *testing.T) {
			doc, _ := renderLogDoc(t, LangEN, OverviewPage(Page{Title: "Overview", User: &Me{Username: "x", Role: role}}, v))
			for id, want := range map[string]string{"overview-active": "12", "overview-awaiting": "3", "overview-callbacks-24h": "40",
				"overview-refusals-24h": "2", "overview-terminated-today": "1"} {
				if got := text(doc, `[data-testid="`+id+`"]`); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			if got := text(doc, `[data-testid="termination-status"]`); got != "Failed" {
				t.Errorf("termination status = %q", got)
			}
			if got, want := has(doc, `[data-testid="emergency-switch"]`), role == "admin"; got != want {
				t.Errorf("emergency switch shown = %v, want %v", got, want)
			}
		})
	}
}

// TestLogStringsComplete checks every log string has both languages.
func TestLogStringsComplete(t *testing.T) {
	for k, e := range logStrings {
		if strings.TrimSpace(e.zh) == "" || strings.TrimSpace(e.en) == "" {
			t.Errorf("%s lacks a language", k)
		}
	}
	for _, o := range []string{"accepted", "duplicate", "stale", "refused"} {
		if _, ok := logStrings["callbacks.outcome."+o]; !ok {
			t.Errorf("no label for outcome %s", o)
		}
	}
}
