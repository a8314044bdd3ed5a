package sandbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/payscore-console/payscore-console/sandbox"
)

// TestAPILifecycle drives the three calls with the official SDK's client
// through UNBINDUSER → AVAILABLE → UNAVAILABLE; the SDK validates every
// answer's signature itself.
func TestAPILifecycle(t *testing.T) {
	for _, tc := range []struct {
		name, subAppID, idField, otherIDField string
	}{
		{"OpenIDWithoutSubAppID", "", "openid", "sub_openid"},
		{"SubOpenIDWithSubAppID", "wx1234567890abcdef", "sub_openid", "openid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// "|" and "*" are legal in a code and must survive the path.
			code := "AC-" + tc.name[:4] + "_1|2*3"
			token := e.mustToken(t, code, "1230000109", tc.subAppID)

			res, err := e.query(e.client, code, "1230000109")
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			var q map[string]any
			decodeResult(t, res, &q)
			want := map[string]any{
				"appid": e.creds.AppID, "mchid": e.creds.MchID, "service_id": e.creds.ServiceID,
				"channel_id": e.creds.ChannelID, "sub_mchid": "1230000109", "authorization_code": code,
				"authorization_state": "UNBINDUSER", "notify_url": e.recv.srv.URL + "/notify/payscore",
			}
			if tc.subAppID != "" {
				want["sub_appid"] = tc.subAppID
			}
			for k, v := range want {
				if q[k] != v {
					t.Errorf("UNBINDUSER %s: got %v, want %v", k, q[k], v)
				}
			}
			for _, k := range []string{"openid", "sub_openid", "user_label", "authorization_success_time", "cancel_authorization_time"} {
				if _, ok := q[k]; ok {
					t.Errorf("UNBINDUSER: %s present, want absent", k)
				}
			}

			a, err := e.sb.Agree(context.Background(), token)
			if err != nil {
				t.Fatalf("agree: %v", err)
			}
			res, err = e.query(e.client, code, "1230000109")
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			q = nil
			decodeResult(t, res, &q)
			if got, want := q["authorization_state"], "AVAILABLE"; got != want {
				t.Errorf("state: got %v, want %v", got, want)
			}
			if got := q[tc.idField]; got != a.OpenID || !regexp.MustCompile(`^o[0-9A-Za-z_-]{27}$`).MatchString(a.OpenID) {
				t.Errorf("%s: got %v, want a 28-character o… id %q", tc.idField, got, a.OpenID)
			}
			if _, ok := q[tc.otherIDField]; ok {
				t.Errorf("%s present beside %s", tc.otherIDField, tc.idField)
			}
			if l, _ := q["user_label"].(string); !strings.Contains("ABC", l) || l == "" {
				t.Errorf("user_label: got %q, want A, B or C", l)
			}
			rfc := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$`)
			if s, _ := q["authorization_success_time"].(string); !rfc.MatchString(s) {
				t.Errorf("authorization_success_time: got %q, want RFC 3339 +08:00", s)
			}

			res, err = e.terminate(e.client, code, "1230000109", "用户要求解除授权")
			if err != nil {
				t.Fatalf("terminate: %v", err)
			}
			if got, want := res.Response.StatusCode, http.StatusNoContent; got != want {
				t.Errorf("terminate status: got %d, want %d", got, want)
			}
			res, err = e.query(e.client, code, "1230000109")
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			q = nil
			decodeResult(t, res, &q)
			if got, want := q["authorization_state"], "UNAVAILABLE"; got != want {
				t.Errorf("state: got %v, want %v", got, want)
			}
			if s, _ := q["cancel_authorization_time"].(string); !rfc.MatchString(s) {
				t.Errorf("cancel_authorization_time: got %q", s)
			}
			if _, ok := q["user_label"]; ok {
				t.Error("user_label present after the authorization ended")
			}
			if q[tc.idField] != a.OpenID {
				t.Errorf("%s lost after termination", tc.idField)
			}
		})
	}
}

// TestAPIErrors shows each error code of the spec that the sandbox produces,
// every error answer signed like a success.
func TestAPIErrors(t *testing.T) {
	e := newEnv(t)
	e.mustToken(t, "EXISTING", "1230000109", "")

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherClient := e.sdkClient(t, other, 5*time.Second)

	with := func(k string, v any) map[string]any {
		b := e.preAuthBody("NEWCODE1", "1230000109", "")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	type call func() (*core.APIResult, error)
	pre := func(b any) call { return func() (*core.APIResult, error) { return e.preAuthorize(e.client, b) } }
	for _, tc := range []struct {
		name   string
		call   call
		status int
		code   string
	}{
		{"ErrAppIDMissing", pre(with("appid", nil)), 400, "PARAM_ERROR"},
		{"ErrSubMchIDMissing", pre(with("sub_mchid", nil)), 400, "PARAM_ERROR"},
		{"ErrCodeCharset", pre(with("authorization_code", "abc!def")), 400, "PARAM_ERROR"},
		{"ErrCodeTooLong", pre(with("authorization_code", strings.Repeat("a", 33))), 400, "PARAM_ERROR"},
		{"ErrNotifyURLWithQuery", pre(with("notify_url", "https://example.com/n?x=1")), 400, "PARAM_ERROR"},
		{"ErrNotifyURLTooLong", pre(with("notify_url", "https://example.com/"+strings.Repeat("a", 240))), 400, "PARAM_ERROR"},
		{"ErrServiceIDNotString", pre(with("service_id", 500001)), 400, "PARAM_ERROR"},
		{"ErrAppIDNotOurs", pre(with("appid", "wx0000000000000000")), 400, "PARAM_ERROR"},
		{"ErrServiceIDNotOurs", pre(with("service_id", "500001")), 403, "NO_AUTH"},
		{"ErrChannelIDNotOurs", pre(with("channel_id", "1999999999")), 403, "NO_AUTH"},
		{"ErrSameCodeOtherParams", pre(e.preAuthBody("EXISTING", "1230000110", "")), 400, "INVALID_REQUEST"},
		{"ErrSameCodeOtherNotifyURL", pre(map[string]any{
			"service_id": e.creds.ServiceID, "channel_id": e.creds.ChannelID, "appid": e.creds.AppID,
			"sub_mchid": "1230000109", "authorization_code": "EXISTING", "notify_url": "https://example.com/other",
		}), 400, "INVALID_REQUEST"},
		{"ErrQueryUnknown", func() (*core.APIResult, error) { return e.query(e.client, "NOSUCHCODE", "1230000109") }, 404, "ORDER_NOT_EXIST"},
		{"ErrQueryOtherSubMerchant", func() (*core.APIResult, error) { return e.query(e.client, "EXISTING", "1230000110") }, 404, "ORDER_NOT_EXIST"},
		{"ErrQueryBadCode", func() (*core.APIResult, error) { return e.query(e.client, "bad!code", "1230000109") }, 400, "PARAM_ERROR"},
		{"ErrTerminateUnknown", func() (*core.APIResult, error) { return e.terminate(e.client, "NOSUCHCODE", "1230000109", "原因") }, 404, "ORDER_NOT_EXIST"},
		{"ErrTerminateNotAvailable", func() (*core.APIResult, error) { return e.terminate(e.client, "EXISTING", "1230000109", "原因") }, 400, "INVALID_ORDER_STATE"},
		{"ErrReasonTooLong", func() (*core.APIResult, error) {
			return e.terminate(e.client, "EXISTING", "1230000109", strings.Repeat("原", 51))
		}, 400, "PARAM_ERROR"},
		{"ErrReasonMissing", func() (*core.APIResult, error) { return e.terminate(e.client, "EXISTING", "1230000109", "") }, 400, "PARAM_ERROR"},
		{"ErrSignedWithAnotherKeyPost", func() (*core.APIResult, error) {
			return e.preAuthorize(otherClient, e.preAuthBody("NEWCODE2", "1230000109", ""))
		}, 401, "SIGN_ERROR"},
		{"ErrSignedWithAnotherKeyGet", func() (*core.APIResult, error) { return e.query(otherClient, "EXISTING", "1230000109") }, 401, "SIGN_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.call()
			e.wantAPIError(t, res, err, tc.status, tc.code)
		})
	}

	t.Run("OKReasonOf50Runes", func(t *testing.T) {
		tok := e.mustToken(t, "FIFTY", "1230000109", "")
		if _, err := e.sb.Agree(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if _, err := e.terminate(e.client, "FIFTY", "1230000109", strings.Repeat("原", 50)); err != nil {
			t.Fatalf("terminate with a 50-rune reason: %v", err)
		}
	})
	t.Run("OKSameParamsRenewsToken", func(t *testing.T) {
		t1 := e.mustToken(t, "RENEW", "1230000109", "")
		t2 := e.mustToken(t, "RENEW", "1230000109", "")
		if t1 == t2 {
			t.Error("a renewal returned the same token")
		}
		if _, err := e.sb.Agree(context.Background(), t2); err != nil {
			t.Errorf("agree with the renewed token: %v", err)
		}
	})
	t.Run("ErrNoSideEffects", func(t *testing.T) {
		for _, code := range []string{"NEWCODE1", "NEWCODE2"} {
			if _, err := e.sb.Authorization(context.Background(), code); !errors.Is(err, sandbox.ErrNotFound) {
				t.Errorf("%s: refused call left a record (err %v)", code, err)
			}
		}
	})
}

// TestRequestSignatureChecks covers what the SDK client cannot be made to
// send wrong: a missing header, a wrong mchid or serial, a stale timestamp.
func TestRequestSignatureChecks(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		auth string
	}{
		{"ErrNoAuthorization", ""},
		{"ErrOtherScheme", `WECHATPAY2-SM2-WITH-SM3 mchid="1900000109"`},
		{"ErrMissingSignature", `WECHATPAY2-SHA256-RSA2048 mchid="` + e.creds.MchID + `",nonce_str="n",timestamp="1",serial_no="` + e.creds.CertSerial + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(t, http.MethodPost, permsPath, strings.NewReader(`{}`), map[string]string{"Authorization": tc.auth})
			if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
				t.Errorf("status: got %d, want %d", got, want)
			}
			// WeChat Pay signs nothing for a caller it could not authenticate.
			e.checkUnsigned(t, &core.APIResult{Response: resp})
		})
	}
	t.Run("ErrStaleTimestamp", func(t *testing.T) {
		// The client signs with the real time; the sandbox's clock is 6
		// minutes ahead, past WeChat Pay's 5-minute tolerance.
		e.clock.Add(6 * time.Minute)
		defer e.clock.Add(-6 * time.Minute)
		res, err := e.preAuthorize(e.client, e.preAuthBody("STALE", "1230000109", ""))
		var ae *core.APIError
		if !errors.As(err, &ae) || ae.Code != "SIGN_ERROR" {
			t.Fatalf("got %v, want SIGN_ERROR", err)
		}
		if got, want := res.Response.StatusCode, http.StatusUnauthorized; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
	})
	t.Run("OKWithin5Minutes", func(t *testing.T) {
		e.clock.Add(4 * time.Minute)
		defer e.clock.Add(-4 * time.Minute)
		// The SDK checks the answer's timestamp against the real time too:
		// 4 minutes is within both tolerances.
		if _, err := e.preAuthorize(e.client, e.preAuthBody("SKEW4", "1230000109", "")); err != nil {
			t.Fatalf("got %v, want success", err)
		}
	})
}

// TestFaults injects each fault and observes it through the SDK client.
func TestFaults(t *testing.T) {
	e := newEnv(t, func(o *sandbox.Options) { o.SlowDelay = 2 * time.Second })
	ctx := context.Background()

	t.Run("SystemError", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultSystemError, 1)
		res, err := e.preAuthorize(e.client, e.preAuthBody("FAULT500", "1230000109", ""))
		e.wantAPIError(t, res, err, 500, "SYSTEM_ERROR")
		if _, err := e.sb.Authorization(ctx, "FAULT500"); !errors.Is(err, sandbox.ErrNotFound) {
			t.Error("a 500 did the work")
		}
		// Consumed: the same call now succeeds (the client's retry).
		e.mustToken(t, "FAULT500", "1230000109", "")
	})
	t.Run("FrequencyLimited", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultFrequencyLimited, 2)
		for range 2 {
			res, err := e.query(e.client, "FAULT500", "1230000109")
			ae := e.wantAPIError(t, res, err, 429, "FREQUENCY_LIMITED")
			if got, want := ae.Header.Get("Retry-After"), "1"; got != want {
				t.Errorf("Retry-After: got %q, want %q", got, want)
			}
		}
		if _, err := e.query(e.client, "FAULT500", "1230000109"); err != nil {
			t.Errorf("after 2 faults: %v", err)
		}
	})
	t.Run("BadSignature", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultBadSignature, 1)
		_, err := e.preAuthorize(e.client, e.preAuthBody("FAULTSIG", "1230000109", ""))
		var ae *core.APIError
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("got %v, want the SDK's signature validation error", err)
		}
		if !strings.Contains(err.Error(), "verify") {
			t.Errorf("error %q does not speak of verification", err)
		}
		// The work was done: only the answer was untrustworthy.
		if _, err := e.sb.Authorization(ctx, "FAULTSIG"); err != nil {
			t.Errorf("bad-signature call did not do the work: %v", err)
		}
	})
	t.Run("Slow", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultSlow, 1)
		fast := e.sdkClient(t, e.creds.MerchantKey, 300*time.Millisecond)
		start := time.Now()
		_, err := e.preAuthorize(fast, e.preAuthBody("FAULTSLOW", "1230000109", ""))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("got %v, want a client time-out", err)
		}
		if d := time.Since(start); d < 300*time.Millisecond || d > 1900*time.Millisecond {
			t.Errorf("time-out after %v", d)
		}
		// The outcome is unknown to the client, but the call went through.
		deadline := time.Now().Add(3 * time.Second)
		for {
			if _, err := e.sb.Authorization(ctx, "FAULTSLOW"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("slow call never did the work")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("SlowWithPatientClient", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultSlow, 1)
		start := time.Now()
		if _, err := e.query(e.client, "FAULT500", "1230000109"); err != nil {
			t.Fatalf("slow query: %v", err)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("answered after %v, want at least the 2 s SlowDelay", d)
		}
	})
	t.Run("Queue", func(t *testing.T) {
		e.sb.InjectFault(sandbox.FaultSystemError, 1)
		e.sb.InjectFault(sandbox.FaultBadSignature, 2)
		got := e.sb.PendingFaults()
		want := []sandbox.FaultKind{sandbox.FaultSystemError, sandbox.FaultBadSignature, sandbox.FaultBadSignature}
		if len(got) != len(want) {
			t.Fatalf("pending: got %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("pending[%d]: got %v, want %v", i, got[i], want[i])
			}
		}
		e.sb.ClearFaults()
		if n := len(e.sb.PendingFaults()); n != 0 {
			t.Errorf("after clear: %d pending", n)
		}
	})
}
