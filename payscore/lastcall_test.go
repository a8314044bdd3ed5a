package payscore

import (
	"context"
	"testing"
)

// TestLastCall: the client remembers whether WeChat Pay answered its last
// call — a success or a signed refusal is an answer; an unsigned one is
// not; a call refused before sending is no call.
func TestLastCall(t *testing.T) {
	ctx := context.Background()
	f := newFakeWxPay(t,
		signedReply(204, ""),
		signedReply(400, `{"code":"INVALID_ORDER_STATE","message":"单据状态错误"}`),
		unsignedReply(200, `{"authorization_state":"AVAILABLE"}`),
	)
	c := newTestClient(t, f, func(cfg *Config) { cfg.MaxAttempts = 1 })
	if _, ok := c.LastCall(); ok {
		t.Fatal("a last call before any call")
	}
	req := TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "用户申请解除"}
	steps := []struct {
		call     func() error
		answered bool
		outcome  string
	}{
		{func() error { _, err := c.Terminate(ctx, req); return err }, true, OutcomeOK},
		{func() error { _, err := c.Terminate(ctx, req); return err }, true, OutcomeAPIError},
		{func() error {
			_, err := c.Query(ctx, QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
			return err
		}, false, OutcomeBadSignature},
	}
	for i, s := range steps {
		_ = s.call()
		lc, ok := c.LastCall()
		if !ok || lc.Answered != s.answered || lc.Outcome != s.outcome || lc.At.IsZero() {
			t.Errorf("step %d: last call = %+v, %v; want answered=%v outcome=%s", i, lc, ok, s.answered, s.outcome)
		}
	}
	before, _ := c.LastCall()
	if _, err := c.Query(ctx, QueryRequest{AuthorizationCode: "", SubMchID: testSubMchID}); err == nil {
		t.Fatal("an empty code was sent")
	}
	if after, _ := c.LastCall(); after != before {
		t.Errorf("a call refused before sending changed the last call: %+v", after)
	}
}
