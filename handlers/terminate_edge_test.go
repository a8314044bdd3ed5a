package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestTerminateAnswerLate: the first attempt ends the authorization, its
// answer comes after the client's attempt time-out, the client's retry gets
// INVALID_ORDER_STATE. A query settles it: the record says succeeded
// ("confirmed by query") and so does the screen.
func TestTerminateAnswerLate(t *testing.T) {
	s := newSupportServer(t)
	s.active(t, "LATE-1")
	tc := s.client(t, store.RoleSupport)
	// The test client's attempt time-out is 2 s (withWeChatPay).
	s.wp.sb.InjectLateAnswer(3*time.Second, 1)
	defer s.wp.sb.ClearFaults()
	res := tc.post(t, terminatePath("LATE-1"), confirmForm("风险控制"))
	if got, want := res.status, http.StatusSeeOther; got != want {
		t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
	}
	calls, err := s.wp.sb.Calls(context.Background(), "LATE-1")
	if err != nil {
		t.Fatal(err)
	}
	terminates := 0
	for _, c := range calls {
		if strings.HasSuffix(c.Path, "/terminate") {
			terminates++
		}
	}
	if terminates != 2 {
		t.Errorf("terminate calls seen by the sandbox = %d, want 2 (the late one and the retry)", terminates)
	}
	terms, _ := s.db.TerminationsByCode(context.Background(), "LATE-1")
	if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded {
		t.Fatalf("terminations = %+v, want one succeeded", terms)
	}
	entries, _ := s.db.AuditLog(context.Background(), store.AuditFilter{Target: "LATE-1", Action: service.AuditTerminateResult})
	if len(entries) != 1 || entries[0].Result != store.TerminationSucceeded || entries[0].Detail != "confirmed by query" {
		t.Errorf("audit = %+v, want succeeded, confirmed by query", entries)
	}
	page := tc.get(t, res.header.Get("Location"))
	want := views.Tr(views.LangZH, "support.terminate.done.confirmed")
	if got := page.text(`[data-testid="flash"]`); !strings.HasPrefix(got, want[:strings.Index(want, "%s")]) || !strings.Contains(got, "LATE-1") {
		t.Errorf("flash = %q, want it to say a query confirmed it", got)
	}
	if got, want := page.text(`[data-testid="termination-status"]`), "成功"; got != want {
		t.Errorf("termination in history = %q, want %q", got, want)
	}
}

// TestTerminateAlreadyOver: a code whose user closed the service, or that
// was terminated already, gets no terminate call; the screen says it
// already ended, when and how.
func TestTerminateAlreadyOver(t *testing.T) {
	s := newSupportServer(t)
	terminateCalls := func(code string) int {
		calls, err := s.wp.sb.Calls(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range calls {
			if strings.HasSuffix(c.Path, "/terminate") {
				n++
			}
		}
		return n
	}
	t.Run("OKUserClosed", func(t *testing.T) {
		s.active(t, "OVER-1")
		if err := s.wp.sb.UserClose(context.Background(), "OVER-1"); err != nil {
			t.Fatal(err)
		}
		// The close notification arrives: locally it is UNAVAILABLE.
		s.wp.deliver(t)
		tc := s.client(t, store.RoleSupport)
		res := tc.post(t, terminatePath("OVER-1"), confirmForm("风险控制"))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
		}
		if n := terminateCalls("OVER-1"); n != 0 {
			t.Errorf("terminate calls = %d, want 0", n)
		}
		page := tc.get(t, res.header.Get("Location"))
		flash := page.text(`[data-testid="flash"]`)
		cancel := s.sandboxState(t, "OVER-1").CancelTime
		if !strings.Contains(flash, "用户") || !strings.Contains(flash, views.FormatTime(cancel)) || !strings.Contains(flash, "OVER-1") {
			t.Errorf("flash = %q, want it to say the user closed it at %s", flash, views.FormatTime(cancel))
		}
		if terms, _ := s.db.TerminationsByCode(context.Background(), "OVER-1"); len(terms) != 0 {
			t.Errorf("terminations = %+v, want none", terms)
		}
		if got := s.auditActions(t, "OVER-1")[service.AuditTerminateSkipped]; got != 1 {
			t.Errorf("terminate.skipped entries = %d, want 1", got)
		}
	})
	t.Run("OKSecondSubmitAfterSuccess", func(t *testing.T) {
		s.active(t, "OVER-2")
		first := s.client(t, store.RoleAdmin)
		if res := first.post(t, terminatePath("OVER-2"), confirmForm("风险控制")); res.status != http.StatusSeeOther {
			t.Fatalf("first: status %d", res.status)
		}
		tc := s.client(t, store.RoleSupport)
		res := tc.post(t, terminatePath("OVER-2"), confirmForm("风险控制"))
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d; page: %s", got, want, res.text("main"))
		}
		if n := terminateCalls("OVER-2"); n != 1 {
			t.Errorf("terminate calls = %d, want 1 (the first submit only)", n)
		}
		page := tc.get(t, res.header.Get("Location"))
		if flash := page.text(`[data-testid="flash"]`); !strings.Contains(flash, store.RoleAdmin) || !strings.Contains(flash, "解除") {
			t.Errorf("flash = %q, want it to say %s terminated it", flash, store.RoleAdmin)
		}
		if got, _ := s.db.TerminationsByCode(context.Background(), "OVER-2"); len(got) != 1 {
			t.Errorf("terminations = %d, want 1", len(got))
		}
	})
}
