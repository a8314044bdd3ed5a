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

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestLogScreensRoleAccess checks who may open each log screen: the
// callback log and the overview are for every role, the audit log for
// admins only; signed-out browsers are sent to sign in.
func TestLogScreensRoleAccess(t *testing.T) {
	ts := newTestServer(t)
	ts.record(t, logNotification("N1", store.EventOpen, "CODE1", "1900000001", "oA", "", ts.clock.Now()))
	cbs, err := ts.db.Callbacks(context.Background(), store.CallbackFilter{})
	if err != nil || len(cbs) != 1 {
		t.Fatalf("Callbacks: %v, %v", cbs, err)
	}
	detail := fmt.Sprintf("/callbacks/%d", cbs[0].ID)
	everyone := map[string]int{store.RoleAdmin: 200, store.RoleOperator: 200, store.RoleSupport: 200, store.RoleViewer: 200}
	adminOnly := map[string]int{store.RoleAdmin: 200, store.RoleOperator: 403, store.RoleSupport: 403, store.RoleViewer: 403}
	tests := []struct {
		path string
		want map[string]int
		nav  string // the navigation entry it has, if any
	}{
		{"/", everyone, "/"},
		{"/callbacks", everyone, "/callbacks"},
		{"/callbacks?outcome=refused", everyone, ""},
		{detail, everyone, ""},
		{"/callbacks.csv", everyone, ""},
		{"/audit", adminOnly, "/audit"},
		{"/audit.csv", adminOnly, ""},
	}
	clients := map[string]*testClient{}
	for _, role := range allRoles {
		clients[role] = ts.client(t, role)
	}
	for _, tt := range tests {
		for _, role := range allRoles {
			t.Run(strings.TrimPrefix(tt.path, "/")+"/"+roleName(role), func(t *testing.T) {
				res := clients[role].get(t, tt.path)
				want, ok := tt.want[role]
				if !ok {
					want = http.StatusSeeOther
				}
				if res.status != want {
					t.Fatalf("status %d, want %d", res.status, want)
				}
				switch want {
				case http.StatusSeeOther:
					if loc := res.header.Get("Location"); !strings.HasPrefix(loc, "/login?next=") {
						t.Errorf("Location = %q", loc)
					}
				case http.StatusForbidden:
					if !res.has(`[data-testid="error"]`) {
						t.Error("no error page")
					}
				case http.StatusOK:
					if tt.nav != "" && !res.has(`[data-testid="nav"] a[href="`+tt.nav+`"][aria-current="page"]`) {
						t.Errorf("navigation does not mark %s", tt.nav)
					}
				}
			})
		}
	}
	t.Run("NavByRole", func(t *testing.T) {
		for _, role := range store.Roles {
			res := clients[role].get(t, "/callbacks")
			if !res.has(`[data-testid="nav"] a[href="/callbacks"]`) {
				t.Errorf("%s: no callbacks entry", role)
			}
			if got, want := res.has(`[data-testid="nav"] a[href="/audit"]`), role == store.RoleAdmin; got != want {
				t.Errorf("%s: audit entry shown = %v, want %v", role, got, want)
			}
		}
	})
}

// auditTargets lists the targets of the audit rows shown.
func auditTargets(doc *goquery.Document) []string {
	var out []string
	doc.Find(`[data-testid="audit-row"] [data-testid="audit-target"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Text()))
	})
	return out
}

func TestAuditLog(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	audit := func(e store.AuditEntry) {
		t.Helper()
		if err := ts.db.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Day 1 (2026-03-01 in Shanghai).
	audit(store.AuditEntry{Username: "operator", IP: "10.1.1.1", Action: "link.create", Target: "code:A1", Result: "ok", RequestID: "REQ-A1"})
	audit(store.AuditEntry{Username: "support", IP: "10.1.1.2", Action: "authorization.terminate", Target: "code:A1", Reason: "用户要求", Result: "requested"})
	ts.clock.Advance(24 * time.Hour)
	// Day 2.
	audit(store.AuditEntry{Username: "support", IP: "10.1.1.2", Action: "authorization.terminate", Target: "code:B2", Reason: "=cmd|' /C calc'!A0", Result: "failed", RequestID: "REQ-B2"})
	audit(store.AuditEntry{Username: "admin", IP: "10.1.1.3", Action: "user.create", Target: "user:new", Result: "ok"})
	admin := ts.client(t, store.RoleAdmin) // signing in audits nothing; the four above are all

	tests := []struct {
		name, query string
		want        []string
	}{
		{"All", "", []string{"user:new", "code:B2", "code:A1", "code:A1"}},
		{"Username", "username=support", []string{"code:B2", "code:A1"}},
		{"Action", "action=authorization.terminate", []string{"code:B2", "code:A1"}},
		{"Target", "target=code:A1", []string{"code:A1", "code:A1"}},
		{"From", "from=2026-03-02", []string{"user:new", "code:B2"}},
		{"To", "to=2026-03-01", []string{"code:A1", "code:A1"}},
		{"Combined", "username=support&from=2026-03-02&to=2026-03-02", []string{"code:B2"}},
		{"NothingMatches", "username=nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := admin.get(t, "/audit?"+tt.query)
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			got := auditTargets(res.doc)
			// Sign-in may add entries of its own elsewhere; compare only
			// the seeded targets.
			got = slices.DeleteFunc(got, func(s string) bool { return !strings.HasPrefix(s, "code:") && !strings.HasPrefix(s, "user:new") })
			if !slices.Equal(got, tt.want) {
				t.Errorf("targets = %v, want %v", got, tt.want)
			}
			q, _ := url.ParseQuery(tt.query)
			for name, vals := range q {
				field := res.doc.Find(`form[data-testid="audit-filters"] [name="` + name + `"]`)
				if field.Is("select") { // the action filter is a choice of the known actions
					field = field.Find("option[selected]")
				}
				if got := field.AttrOr("value", ""); got != vals[0] {
					t.Errorf("filter %s not kept: %q", name, got)
				}
			}
		})
	}
	t.Run("RowShowsEverything", func(t *testing.T) {
		res := admin.get(t, "/audit?target=code:B2")
		row := res.doc.Find(`[data-testid="audit-row"]`)
		for sel, want := range map[string]string{"audit-user": "support", "audit-action": "authorization.terminate", "audit-reason": "=cmd|' /C calc'!A0",
			"audit-request-id": "REQ-B2", "audit-ip": "10.1.1.2"} {
			if got := strings.TrimSpace(row.Find(`[data-testid="` + sel + `"]`).Text()); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		// The result in words, its name kept for the CSV and filters.
		result := row.Find(`[data-testid="audit-result"] .badge`)
		if got, want := strings.TrimSpace(result.Text()), views.Tr(views.LangZH, "audit.result.failed"); got != want || result.AttrOr("data-result", "") != "failed" {
			t.Errorf("result = %q (data-result %q), want %q (failed)", got, result.AttrOr("data-result", ""), want)
		}
		if got, want := strings.TrimSpace(row.Find(`[data-testid="audit-action-words"]`).Text()), views.Tr(views.LangZH, "audit.action.authorization.terminate"); got != want {
			t.Errorf("action in words = %q, want %q", got, want)
		}
	})
	for _, tt := range []struct{ name, query, field string }{
		{"ErrFrom", "from=2026-02-30", "from"},
		{"ErrRangeReversed", "from=2026-03-02&to=2026-03-01", "to"},
		{"ErrUsernameTooLong", "username=" + strings.Repeat("u", 65), "username"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := admin.get(t, "/audit?"+tt.query)
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.status)
			}
			if !res.has(`[data-testid="error-` + tt.field + `"]`) {
				t.Errorf("no message for %s", tt.field)
			}
			q, _ := url.ParseQuery(tt.query)
			if got := res.doc.Find(`[name="`+tt.field+`"]`).AttrOr("value", ""); got != q.Get(tt.field) {
				t.Errorf("typed value not kept: %q", got)
			}
		})
	}
	t.Run("CSV", func(t *testing.T) {
		records := csvRecords(t, admin.get(t, "/audit.csv?username=support"))
		if got, want := records[0][:5], []string{"id", "at", "username", "ip", "action"}; !slices.Equal(got, want) {
			t.Errorf("header = %v", records[0])
		}
		if got, want := len(records), 3; got != want {
			t.Fatalf("%d records, want %d", got, want)
		}
		if got, want := records[1][6], "'=cmd|' /C calc'!A0"; got != want {
			t.Errorf("reason cell = %q, want %q", got, want)
		}
		if got, want := records[2][6], "用户要求"; got != want {
			t.Errorf("Chinese reason = %q, want %q", got, want)
		}
	})
}

func TestAuditLogKeysetPages(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	const n = logPageSize + 13
	for i := range n {
		if err := ts.db.Audit(ctx, store.AuditEntry{Username: "bot", Action: "test.page", Target: fmt.Sprintf("t:%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	admin := ts.client(t, store.RoleAdmin)
	seen := map[string]bool{}
	path, pages := "/audit?action=test.page", 0
	for path != "" && pages < 5 {
		res := admin.get(t, path)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.status)
		}
		pages++
		for _, target := range auditTargets(res.doc) {
			if seen[target] {
				t.Fatalf("%s twice", target)
			}
			seen[target] = true
		}
		path = res.doc.Find(`[data-testid="next-page"]`).AttrOr("href", "")
		if path != "" && !strings.Contains(path, "action=test.page") {
			t.Errorf("next link %q lost the filter", path)
		}
	}
	if len(seen) != n || pages != 2 {
		t.Errorf("%d rows over %d pages, want %d over 2", len(seen), pages, n)
	}
}
