package sandbox_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
)

// TestLateAnswer: "answer late" does the work at once and answers after the
// delay given; a client that gave up retries into a call that already took
// effect, and a repeated terminate is refused INVALID_ORDER_STATE, as WeChat
// Pay does.
func TestLateAnswer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.mustToken(t, "LATE-1", "1230000109", "")
	if _, err := e.sb.Agree(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.sb.InjectLateAnswer(1500*time.Millisecond, 1)
	if got := e.sb.PendingFaults(); len(got) != 1 || got[0] != sandbox.FaultLate || got[0].String() != "late" {
		t.Fatalf("pending = %v, want one late", got)
	}
	fast := e.sdkClient(t, e.creds.MerchantKey, 300*time.Millisecond)
	start := time.Now()
	_, err := e.terminate(fast, "LATE-1", "1230000109", "风险控制")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a client time-out", err)
	}
	if d := time.Since(start); d > 1400*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
	// The work was done although the answer never came.
	if a, err := e.sb.Authorization(ctx, "LATE-1"); err != nil || a.State != sandbox.StateUnavailable {
		t.Fatalf("after the late call: %+v, %v; want UNAVAILABLE", a, err)
	}
	// The retry: a repeated terminate is a state error.
	res, err := e.terminate(e.client, "LATE-1", "1230000109", "风险控制")
	e.wantAPIError(t, res, err, http.StatusBadRequest, "INVALID_ORDER_STATE")

	t.Run("OKPatientClientGetsTheAnswerLate", func(t *testing.T) {
		e.sb.InjectLateAnswer(time.Second, 1)
		start := time.Now()
		if _, err := e.query(e.client, "LATE-1", "1230000109"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("answered after %v, want ≥ 1 s", d)
		}
	})
	t.Run("OKControlForm", func(t *testing.T) {
		e.sb.ClearFaults()
		if got := e.sb.PendingFaults(); len(got) != 0 {
			t.Fatalf("pending %v", got)
		}
		e.sb.InjectFault(sandbox.FaultLate, 2) // the default delay
		if got := e.sb.PendingFaults(); len(got) != 2 || got[1] != sandbox.FaultLate {
			t.Errorf("pending = %v", got)
		}
		e.sb.ClearFaults()
	})
}

// TestPreAuthorizeAgreedCode: one authorization_code, one user. A code a
// user agreed to — still on, or closed since — is never pre-authorized
// again; a code nobody agreed to may be renewed.
func TestPreAuthorizeAgreedCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustToken(t, "NOBODY", "1230000109", "")
	e.mustToken(t, "NOBODY", "1230000109", "") // renewal of an unused code: fine

	tok := e.mustToken(t, "AGREED", "1230000109", "")
	if _, err := e.sb.Agree(ctx, tok); err != nil {
		t.Fatal(err)
	}
	res, err := e.preAuthorize(e.client, e.preAuthBody("AGREED", "1230000109", ""))
	e.wantAPIError(t, res, err, http.StatusBadRequest, "INVALID_REQUEST")

	if err := e.sb.UserClose(ctx, "AGREED"); err != nil {
		t.Fatal(err)
	}
	res, err = e.preAuthorize(e.client, e.preAuthBody("AGREED", "1230000109", ""))
	e.wantAPIError(t, res, err, http.StatusBadRequest, "INVALID_REQUEST")
	if a, _ := e.sb.Authorization(ctx, "AGREED"); a.LatestToken != tok {
		t.Errorf("a refused pre-authorization issued a token")
	}
}
