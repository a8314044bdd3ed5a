package service

import (
	"context"
	"errors"
	"testing"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TestTerminateUnknownSettledAtOnce (issue 13, "feedback and safety"): a
// termination whose answer is lost is settled by the query made at once, so
// that the person sees one outcome; it stays pending ("处理中") only when
// that query fails too. The query is one call: the client's own back-off
// honours a rate limit within it, and nothing more is sent.
func TestTerminateUnknownSettledAtOnce(t *testing.T) {
	ctx := context.Background()
	lost := func(payscore.TerminateRequest) (string, error) {
		return "", &payscore.TransportError{Timeout: true, Err: context.DeadlineExceeded}
	}
	tests := []struct {
		name        string
		query       func(payscore.QueryRequest) (*payscore.Authorization, error)
		wantStatus  string
		wantNotDone bool
		wantState   string
		wantCode    string
		wantQueries int
	}{
		{"OKStillOnIsNotDone", func(payscore.QueryRequest) (*payscore.Authorization, error) {
			return &payscore.Authorization{State: payscore.StateAvailable, RequestID: "REQ-Q"}, nil
		}, store.TerminationFailed, true, "AVAILABLE", "NO_ANSWER", 1},
		{"OKUnknownToWeChatIsFailed", func(payscore.QueryRequest) (*payscore.Authorization, error) {
			return nil, &payscore.APIError{Status: 404, Code: payscore.CodeOrderNotExist, RequestID: "REQ-404"}
		}, store.TerminationFailed, false, "AVAILABLE", payscore.CodeOrderNotExist, 1},
		{"OKRateLimitedQueryLeftPending", func(payscore.QueryRequest) (*payscore.Authorization, error) {
			return nil, &payscore.APIError{Status: 429, Code: payscore.CodeFrequencyLimited}
		}, store.TerminationPending, false, "AVAILABLE", "", 1},
		{"OKUnsignedNotExistLeftPending", func(payscore.QueryRequest) (*payscore.Authorization, error) {
			// A gateway's unsigned answer is not WeChat Pay's word.
			return nil, &payscore.APIError{Status: 404, Code: payscore.CodeOrderNotExist, Unsigned: true}
		}, store.TerminationPending, false, "AVAILABLE", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			queries := 0
			e.ps.terminate = lost
			e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
				queries++
				return tt.query(r)
			}
			code := "UX2-" + tt.name
			agreed(t, e, code, "1900000101")
			res, err := e.svc.Terminations.Terminate(ctx, alice, code, "1900000101", "风险控制")
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus || res.NotDone != tt.wantNotDone || res.State != tt.wantState {
				t.Errorf("result = %+v, want %s notDone=%v state %s", res, tt.wantStatus, tt.wantNotDone, tt.wantState)
			}
			if queries != tt.wantQueries {
				t.Errorf("queries = %d, want %d", queries, tt.wantQueries)
			}
			terms, _ := e.db.TerminationsByCode(ctx, code)
			if len(terms) != 1 || terms[0].Status != tt.wantStatus || terms[0].ErrorCode != tt.wantCode {
				t.Errorf("terminations = %+v, want one %s %q", terms, tt.wantStatus, tt.wantCode)
			}
			wantResults := 1
			if tt.wantStatus == store.TerminationPending {
				wantResults = 0
			}
			if got := e.audit(t, store.AuditFilter{Target: code, Action: AuditTerminateResult}); len(got) != wantResults {
				t.Errorf("result entries = %d, want %d", len(got), wantResults)
			}
		})
	}
}

// TestLinksRefusedWhilePaused (issue 13): while the emergency pause is on,
// no link is created or renewed; the refusal is Conflict links.err.paused
// (ErrLandingPaused), audited, and nothing is sent to WeChat Pay.
func TestLinksRefusedWhilePaused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "PAUSE-OLD")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Emergency.Set(ctx, alice, true, "微信审核"); err != nil {
		t.Fatal(err)
	}
	before := e.ps.preauths
	_, err = e.svc.Links.Create(ctx, alice, "1900000101", "PAUSE-NEW")
	if KindOf(err) != Conflict || KeyOf(err) != "links.err.paused" || !errors.Is(err, ErrLandingPaused) {
		t.Errorf("create: err = %v, want Conflict links.err.paused", err)
	}
	e.now = e.now.Add(2 * TokenLifetime)
	if _, err := e.svc.Links.Renew(ctx, alice, att.Link.ID); !errors.Is(err, ErrLandingPaused) {
		t.Errorf("renew: err = %v, want ErrLandingPaused", err)
	}
	if e.ps.preauths != before {
		t.Errorf("pre-authorizations while paused = %d, want none", e.ps.preauths-before)
	}
	for _, target := range []string{"PAUSE-NEW", "PAUSE-OLD"} {
		got := e.audit(t, store.AuditFilter{Target: target})
		if len(got) == 0 || got[0].Result != "refused: paused" || got[0].Reason != "微信审核" {
			t.Errorf("%s: audit = %+v, want a refusal while paused", target, got)
		}
	}
	if err := e.svc.Emergency.Set(ctx, alice, false, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "PAUSE-NEW"); err != nil {
		t.Errorf("after resuming: %v", err)
	}
}
