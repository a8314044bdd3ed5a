package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// agreed records code as AVAILABLE locally, as a notification would.
func agreed(t *testing.T, e *env, code, sub string) {
	t.Helper()
	at := e.now.Add(-time.Hour)
	if _, err := e.db.SaveAuthorization(context.Background(), store.Authorization{AuthorizationCode: code, SubMchID: sub,
		State: store.StateAvailable, SuccessTime: &at, StateTime: at, Source: "notification"}); err != nil {
		t.Fatal(err)
	}
}

// TestTerminateStateErrorAfterUnknown: the first attempt ended the
// authorization but its answer was lost; the client's retry met
// INVALID_ORDER_STATE. A query settles it: the termination succeeded,
// "confirmed by query" — never failed.
func TestTerminateStateErrorAfterUnknown(t *testing.T) {
	ctx := context.Background()
	for _, code := range []string{payscore.CodeInvalidOrderState, payscore.CodeOrderCanceled, payscore.CodeOrderDone} {
		t.Run("OK"+code, func(t *testing.T) {
			e := newEnv(t)
			agreed(t, e, "LATE-1", "1900000101")
			e.ps.terminate = func(payscore.TerminateRequest) (string, error) {
				return "", &payscore.AfterUnknownError{Attempts: 2, Err: &payscore.APIError{Status: 400, Code: code, RequestID: "REQ-RETRY"}}
			}
			cancel := e.now.Add(-time.Second)
			e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
				return &payscore.Authorization{State: payscore.StateUnavailable, CancelAuthorizationTime: &cancel, RequestID: "REQ-Q"}, nil
			}
			res, err := e.svc.Terminations.Terminate(ctx, alice, "LATE-1", "1900000101", "风险控制")
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != store.TerminationSucceeded || !res.Confirmed || res.State != store.StateUnavailable {
				t.Fatalf("result = %+v, want succeeded, confirmed by query", res)
			}
			terms, _ := e.db.TerminationsByCode(ctx, "LATE-1")
			if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded || terms[0].RequestID != "REQ-Q" {
				t.Errorf("terminations = %+v, want one succeeded with the query's Request-ID", terms)
			}
			results := e.audit(t, store.AuditFilter{Target: "LATE-1", Action: AuditTerminateResult})
			if len(results) != 1 || results[0].Result != store.TerminationSucceeded || results[0].Detail != "confirmed by query" {
				t.Errorf("audit = %+v, want succeeded, confirmed by query", results)
			}
		})
	}
	t.Run("OKStillAvailableIsFailed", func(t *testing.T) {
		e := newEnv(t)
		agreed(t, e, "LATE-2", "1900000101")
		e.ps.terminate = func(payscore.TerminateRequest) (string, error) {
			return "", &payscore.AfterUnknownError{Attempts: 2, Err: &payscore.APIError{Status: 400, Code: payscore.CodeInvalidOrderState}}
		}
		e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
			return &payscore.Authorization{State: payscore.StateAvailable, RequestID: "REQ-Q"}, nil
		}
		res, err := e.svc.Terminations.Terminate(ctx, alice, "LATE-2", "1900000101", "风险控制")
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != store.TerminationFailed || res.Confirmed {
			t.Errorf("result = %+v, want failed", res)
		}
	})
}

// TestTerminateAlreadyOver: no terminate call for an authorization WeChat
// Pay shows UNAVAILABLE; the result says when and how it ended.
func TestTerminateAlreadyOver(t *testing.T) {
	ctx := context.Background()
	cancel := testStart.Add(-30 * time.Minute)
	unavailable := func(payscore.QueryRequest) (*payscore.Authorization, error) {
		return &payscore.Authorization{State: payscore.StateUnavailable, CancelAuthorizationTime: &cancel, RequestID: "REQ-Q"}, nil
	}
	t.Run("OKUserClosed", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "OVER-1"); err != nil {
			t.Fatal(err)
		}
		e.ps.query = unavailable
		res, err := e.svc.Terminations.Terminate(ctx, alice, "OVER-1", "1900000101", "风险控制")
		if err != nil {
			t.Fatal(err)
		}
		if e.ps.terminates != 0 {
			t.Errorf("terminate calls = %d, want none", e.ps.terminates)
		}
		if res.Ended == nil || res.Ended.How != EndedByUser || res.Ended.At == nil || !res.Ended.At.Equal(cancel) {
			t.Fatalf("result = %+v (ended %+v), want ended by the user at %v", res, res.Ended, cancel)
		}
		if terms, _ := e.db.TerminationsByCode(ctx, "OVER-1"); len(terms) != 0 {
			t.Errorf("terminations = %+v, want none recorded", terms)
		}
		skipped := e.audit(t, store.AuditFilter{Target: "OVER-1", Action: AuditTerminateSkipped})
		if len(skipped) != 1 || skipped[0].Username != "alice" || !strings.Contains(skipped[0].Detail, "user") {
			t.Errorf("audit = %+v, want one terminate.skipped by alice", skipped)
		}
		if a, _ := e.db.AuthorizationByCode(ctx, "OVER-1"); a.State != store.StateUnavailable {
			t.Errorf("local state = %s, want the queried UNAVAILABLE", a.State)
		}
	})
	t.Run("OKSecondSubmitAfterSuccess", func(t *testing.T) {
		e := newEnv(t)
		agreed(t, e, "OVER-2", "1900000101")
		bob := Actor{Username: "bob"}
		e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
			at := e.now
			return &payscore.Authorization{State: payscore.StateUnavailable, CancelAuthorizationTime: &at, RequestID: "REQ-Q"}, nil
		}
		if res, err := e.svc.Terminations.Terminate(ctx, bob, "OVER-2", "1900000101", "风险控制"); err != nil || res.Status != store.TerminationSucceeded {
			t.Fatalf("first: %+v, %v", res, err)
		}
		e.now = e.now.Add(time.Minute)
		res, err := e.svc.Terminations.Terminate(ctx, alice, "OVER-2", "1900000101", "风险控制")
		if err != nil {
			t.Fatal(err)
		}
		if e.ps.terminates != 1 {
			t.Errorf("terminate calls = %d, want 1 (none for the second submit)", e.ps.terminates)
		}
		if res.Ended == nil || res.Ended.How != EndedByTerminated {
			t.Fatalf("ended = %+v, want terminated", res.Ended)
		}
		if terms, _ := e.db.TerminationsByCode(ctx, "OVER-2"); len(terms) != 1 || terms[0].Status != store.TerminationSucceeded {
			t.Errorf("terminations = %+v, want the one success only", terms)
		}
	})
	t.Run("OKQueryFailsCallsAnyway", func(t *testing.T) {
		e := newEnv(t)
		e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) { return nil, errors.New("down") }
		res, err := e.svc.Terminations.Terminate(ctx, alice, "OVER-3", "1900000101", "风险控制")
		if err != nil || res.Ended != nil || e.ps.terminates != 1 {
			t.Errorf("res %+v err %v calls %d: want the call made", res, err, e.ps.terminates)
		}
	})
	t.Run("OKAvailableLocallyNoQueryFirst", func(t *testing.T) {
		e := newEnv(t)
		agreed(t, e, "OVER-4", "1900000101")
		queries := 0
		e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
			queries++
			return &payscore.Authorization{State: payscore.StateUnavailable}, nil
		}
		if _, err := e.svc.Terminations.Terminate(ctx, alice, "OVER-4", "1900000101", "风险控制"); err != nil {
			t.Fatal(err)
		}
		if e.ps.terminates != 1 || queries != 1 {
			t.Errorf("calls: terminate %d, query %d; want the call, then one query of the new state", e.ps.terminates, queries)
		}
	})
}
