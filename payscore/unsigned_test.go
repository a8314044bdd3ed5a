package payscore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

// gatewayReply answers like WeChat Pay's gateway when it does not sign: no
// Wechatpay-* header, but a Request-ID and WeChat's JSON error body.
func gatewayReply(status int, body string, extra ...string) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Request-ID", "gw-req-1")
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// Issue 9, item 1: only an unsigned 2xx is a forgery. An unsigned 4xx/5xx is
// WeChat's (or its gateway's) answer: its code, message and Request-ID are
// kept and it is marked unsigned.
func TestUnsignedErrorAnswers(t *testing.T) {
	ctx := context.Background()
	terminate := func(c *Client) error {
		_, err := c.Terminate(ctx, TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		return err
	}

	t.Run("ErrSignError401IsWeChatsAnswer", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(401, `{"code":"SIGN_ERROR","message":"签名错误，请检查后再试"}`))
		c := newTestClient(t, f, nil)
		err := terminate(c)
		if errors.Is(err, ErrBadSignature) {
			t.Fatalf("err %v: an unsigned 401 is not a forged answer", err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Unsigned || ae.Status != 401 || ae.Code != CodeSignError ||
			ae.Message != "签名错误，请检查后再试" || ae.RequestID != "gw-req-1" {
			t.Fatalf("err %#v, want an unsigned *APIError 401 SIGN_ERROR with message and Request-ID", err)
		}
		f2 := Classify(err)
		if f2.Kind != FailureRefused || f2.Signed || f2.Code != CodeSignError || f2.RequestID != "gw-req-1" || !f2.Answered() {
			t.Errorf("Classify = %+v, want refused, unsigned, answered", f2)
		}
		// The remedy in words is views.UpstreamAnswer's (TestUpstreamAnswerSpecCodes).
		if got := len(f.requests()); got != 1 {
			t.Errorf("%d requests, want 1 (a refusal is not retried)", got)
		}
	})

	t.Run("ErrUnsigned404KeepsCode", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(404, `{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`))
		c := newTestClient(t, f, nil)
		_, err := c.Query(ctx, QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
		f2 := Classify(err)
		if errors.Is(err, ErrBadSignature) || f2.Kind != FailureRefused || f2.Signed || f2.Code != CodeOrderNotExist || f2.Status != 404 {
			t.Fatalf("err %v → %+v, want an unsigned refusal ORDER_NOT_EXIST", err, f2)
		}
	})

	t.Run("OKUnsigned429RetriedLikeSigned", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`), signedReply(204, ""))
		c := newTestClient(t, f, nil)
		if err := terminate(c); err != nil {
			t.Fatalf("err %v, want the retry's success", err)
		}
		if got := len(f.requests()); got != 2 {
			t.Errorf("%d requests, want 2", got)
		}
	})

	t.Run("ErrUnsigned429ExhaustsRetries", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`))
		c := newTestClient(t, f, nil)
		err := terminate(c)
		f2 := Classify(err)
		if f2.Kind != FailureRateLimited || f2.Signed || f2.RequestID != "gw-req-1" {
			t.Fatalf("err %v → %+v, want an unsigned rate limit", err, f2)
		}
		if got := len(f.requests()); got != 3 {
			t.Errorf("%d requests, want 3 (backs off and retries like a signed 429)", got)
		}
	})

	t.Run("ErrUnsigned429NoBody", func(t *testing.T) {
		// A gateway's 429 may have no WeChat body at all: still a rate limit.
		f := newFakeWxPay(t, gatewayReply(429, ``))
		c := newTestClient(t, f, nil)
		f2 := Classify(terminate(c))
		if f2.Kind != FailureRateLimited || f2.Signed {
			t.Fatalf("%+v, want an unsigned rate limit", f2)
		}
		if got := len(f.requests()); got != 3 {
			t.Errorf("%d requests, want 3", got)
		}
	})

	t.Run("ErrUnsigned503WithCodeRetried", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(503, `{"code":"SYSTEM_ERROR","message":"系统繁忙"}`))
		c := newTestClient(t, f, nil)
		err := terminate(c)
		f2 := Classify(err)
		if f2.Kind != FailureUnknown || f2.Signed || f2.Code != CodeSystemError || !f2.Answered() {
			t.Fatalf("err %v → %+v, want an unknown outcome that shows WeChat's unsigned answer", err, f2)
		}
		if got := len(f.requests()); got != 3 {
			t.Errorf("%d requests, want 3", got)
		}
	})

	t.Run("ErrUnsigned2xxStaysForged", func(t *testing.T) {
		f := newFakeWxPay(t, gatewayReply(200, `{"authorization_state":"AVAILABLE"}`))
		c := newTestClient(t, f, nil)
		_, err := c.Query(ctx, QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
		if !errors.Is(err, ErrBadSignature) || Classify(err).Kind != FailureForged {
			t.Fatalf("err %v, want a forgery", err)
		}
	})

	t.Run("ErrPartialSignatureHeadersForged", func(t *testing.T) {
		// An answer that names a key but carries no valid signature is not
		// "unsigned": it claims a signature and fails it.
		f := newFakeWxPay(t, gatewayReply(401, `{"code":"SIGN_ERROR","message":"x"}`, "Wechatpay-Serial", testPubKeyID))
		c := newTestClient(t, f, nil)
		if err := terminate(c); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err %v, want ErrBadSignature", err)
		}
	})
}
