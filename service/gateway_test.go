package service

import (
	"context"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// Issue 9, item 1: answers WeChat Pay does not sign.
func TestReconcileUnsignedAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		err  error
	}{
		// The gateway's unsigned 429 is a rate limit like a signed one.
		{"OKUnsigned429Stops", &payscore.APIError{Status: 429, Code: payscore.CodeFrequencyLimited, Unsigned: true}},
		// A request WeChat Pay cannot authenticate: every other would fail too.
		{"OKSignErrorStops", &payscore.APIError{Status: 401, Code: payscore.CodeSignError, Message: "签名错误", Unsigned: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, code := range []string{"REC-1", "REC-2", "REC-3"} {
				if _, err := e.svc.Links.Create(ctx, alice, "1900000101", code); err != nil {
					t.Fatal(err)
				}
			}
			queries := 0
			e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
				queries++
				return nil, tt.err
			}
			e.now = e.now.Add(2 * time.Hour)
			if n, err := e.svc.Reconciler.Reconcile(ctx, 24*time.Hour); err != nil || n != 0 {
				t.Fatalf("Reconcile = %d, %v; want 0", n, err)
			}
			if queries != 1 {
				t.Errorf("queries = %d, want 1: the run stops on %v", queries, tt.err)
			}
		})
	}
}

// An unsigned 401 SIGN_ERROR to a terminate is WeChat's refusal: the
// termination failed with that code and its Request-ID, no query needed.
func TestTerminateSignError(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "SIGNERR-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "SIGNERR-1", SubMchID: "1900000101",
		State: store.StateAvailable, StateTime: e.now, Source: SourceQuery}); err != nil {
		t.Fatal(err)
	}
	e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
		return nil, &payscore.APIError{Status: 401, Code: payscore.CodeSignError, Unsigned: true, RequestID: "REQ-401"}
	}
	e.ps.terminate = func(payscore.TerminateRequest) (string, error) {
		return "", &payscore.APIError{Status: 401, Code: payscore.CodeSignError, Message: "签名错误", RequestID: "REQ-401", Unsigned: true}
	}
	_, _ = e.svc.Terminations.Terminate(ctx, alice, "SIGNERR-1", "1900000101", "test")
	terms, err := e.db.TerminationsByCode(ctx, "SIGNERR-1")
	if err != nil || len(terms) != 1 {
		t.Fatalf("terminations = %+v, %v", terms, err)
	}
	if got := terms[0]; got.Status != store.TerminationFailed || got.ErrorCode != payscore.CodeSignError || got.RequestID != "REQ-401" {
		t.Errorf("termination = %+v, want failed with SIGN_ERROR and REQ-401", got)
	}
}
