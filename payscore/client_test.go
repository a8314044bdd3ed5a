package payscore

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newTestClient points a public-key-mode client at f with tiny back-offs.
func newTestClient(t *testing.T, f *fakeWxPay, mutate func(*Config)) *Client {
	t.Helper()
	cfg := baseConfig(t)
	cfg.APIBase = f.base()
	cfg.BaseBackoff = 5 * time.Millisecond
	cfg.RateLimitBackoff = 20 * time.Millisecond
	cfg.AttemptTimeout = 2 * time.Second
	cfg.OverallTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("request body\n got %s\nwant %s", gb, wb)
	}
}

func TestPreAuthorize(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"apply_permissions_token":"zyx53Nkey8o4bHpxTQvd8m7e92nG5mG2"}`))
		c := newTestClient(t, f, nil)
		res, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{
			SubMchID: testSubMchID, SubAppID: "wxd678efh567hg6788", AuthorizationCode: testCode,
			NotifyURL: "https://console.example.com/notify/payscore",
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Token, "zyx53Nkey8o4bHpxTQvd8m7e92nG5mG2"; got != want {
			t.Errorf("token %q, want %q", got, want)
		}
		if got, want := res.RequestID, "req-200"; got != want {
			t.Errorf("request id %q, want %q", got, want)
		}
		f.checkAuth(t)
		reqs := f.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests, want 1", len(reqs))
		}
		r := reqs[0]
		if got, want := r.Method+" "+r.URI, "POST /sandbox/v3/payscore/acquiringbank/permissions"; got != want {
			t.Errorf("request %q, want %q", got, want)
		}
		if got, want := r.Serial, testPubKeyID; got != want {
			t.Errorf("Wechatpay-Serial %q, want %q", got, want)
		}
		jsonEqual(t, r.Body, `{"service_id":"`+testServiceID+`","channel_id":"`+testChannelID+`","appid":"`+testAppID+`",
			"sub_appid":"wxd678efh567hg6788","sub_mchid":"`+testSubMchID+`","authorization_code":"`+testCode+`",
			"notify_url":"https://console.example.com/notify/payscore"}`)
	})
	t.Run("OptionalFieldsOmitted", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"apply_permissions_token":"t"}`))
		c := newTestClient(t, f, nil)
		if _, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode}); err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, f.requests()[0].Body, `{"service_id":"`+testServiceID+`","channel_id":"`+testChannelID+`","appid":"`+testAppID+`",
			"sub_mchid":"`+testSubMchID+`","authorization_code":"`+testCode+`"}`)
	})
	t.Run("ErrMissingToken", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{}`))
		c := newTestClient(t, f, nil)
		_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode})
		if err == nil || !strings.Contains(err.Error(), "apply_permissions_token") {
			t.Fatalf("err %v, want a malformed-answer error", err)
		}
	})
}

func TestQuery(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"appid":"wxd678efh567hg6787","authorization_code":"1234323JKHDFE1243252",
			"authorization_state":"AVAILABLE","authorization_success_time":"2015-05-20T13:29:35+08:00",
			"cancel_authorization_time":"2015-05-21T13:29:35+08:00","channel_id":"1230000109","mchid":"1900000109",
			"notify_url":"https://www.weixin.com","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","service_id":"2002000000000558128851361561536",
			"sub_appid":"wxd678efh567hg6787","sub_mchid":"1230000110","sub_openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6p","user_label":"A"}`))
		c := newTestClient(t, f, nil)
		a, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
		if err != nil {
			t.Fatal(err)
		}
		f.checkAuth(t)
		r := f.requests()[0]
		want := "GET /sandbox/v3/payscore/acquiringbank/permissions/authorization-code/" + testCode +
			"?service_id=" + testServiceID + "&channel_id=" + testChannelID + "&sub_mchid=" + testSubMchID
		if got := r.Method + " " + r.URI; got != want {
			t.Errorf("request\n got %q\nwant %q", got, want)
		}
		success := time.Date(2015, 5, 20, 5, 29, 35, 0, time.UTC)
		if a.State != StateAvailable || !a.State.Known() {
			t.Errorf("state %q", a.State)
		}
		if a.AuthorizationSuccessTime == nil || !a.AuthorizationSuccessTime.Equal(success) {
			t.Errorf("authorization_success_time %v, want %v", a.AuthorizationSuccessTime, success)
		}
		if a.CancelAuthorizationTime == nil || !a.CancelAuthorizationTime.Equal(success.Add(24*time.Hour)) {
			t.Errorf("cancel_authorization_time %v", a.CancelAuthorizationTime)
		}
		got := *a
		got.AuthorizationSuccessTime, got.CancelAuthorizationTime = nil, nil
		wantA := Authorization{ServiceID: testServiceID, AppID: testAppID, MchID: testMchID, OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
			AuthorizationCode: testCode, State: StateAvailable, NotifyURL: "https://www.weixin.com", SubMchID: testSubMchID,
			SubAppID: "wxd678efh567hg6787", SubOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6p", UserLabel: "A", ChannelID: testChannelID,
			RequestID: "req-200"}
		if got != wantA {
			t.Errorf("authorization\n got %+v\nwant %+v", got, wantA)
		}
	})
	t.Run("OKOptionalTimesAbsent", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"appid":"wxd678efh567hg6787","authorization_state":"UNBINDUSER","mchid":"1900000109","service_id":"1"}`))
		c := newTestClient(t, f, nil)
		a, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: "a|b*c-d_e", SubMchID: testSubMchID})
		if err != nil {
			t.Fatal(err)
		}
		if a.State != StateUnbindUser || a.AuthorizationSuccessTime != nil || a.CancelAuthorizationTime != nil {
			t.Errorf("got %+v", a)
		}
		f.checkAuth(t) // the escaped path is signed exactly as sent
		if got := f.requests()[0].URI; !strings.Contains(got, "/authorization-code/a%7Cb%2Ac-d_e?") {
			t.Errorf("path %q does not escape | and *", got)
		}
	})
	t.Run("ErrBadTime", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"authorization_state":"AVAILABLE","authorization_success_time":"20150520132935"}`))
		c := newTestClient(t, f, nil)
		if _, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID}); err == nil {
			t.Fatal("a non-RFC 3339 time was accepted")
		}
	})
}

func TestTerminate(t *testing.T) {
	f := newFakeWxPay(t, signedReply(204, ""))
	c := newTestClient(t, f, nil)
	id, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "用户要求解除授权"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id, "req-204"; got != want {
		t.Errorf("request id %q, want %q", got, want)
	}
	f.checkAuth(t)
	r := f.requests()[0]
	if got, want := r.Method+" "+r.URI, "POST /sandbox/v3/payscore/acquiringbank/permissions/authorization-code/"+testCode+"/terminate"; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
	jsonEqual(t, r.Body, `{"service_id":"`+testServiceID+`","channel_id":"`+testChannelID+`","sub_mchid":"`+testSubMchID+`","reason":"用户要求解除授权"}`)
}

func TestAPIErrorCodes(t *testing.T) {
	tests := []struct {
		status       int
		code         string
		wantAttempts int
	}{
		{500, "SYSTEM_ERROR", 3},
		{400, "PARAM_ERROR", 1},
		{403, "NO_AUTH", 1},
		{429, "FREQUENCY_LIMITED", 3},
		{400, "INVALID_REQUEST", 1},
		{404, "ORDER_NOT_EXIST", 1},
		{400, "INVALID_ORDER_STATE", 1},
		{400, "ORDER_CANCELED", 1},
		{400, "ORDER_DONE", 1},
		{400, "SOMETHING_NEW", 1},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			f := newFakeWxPay(t, signedReply(tt.status, `{"code":"`+tt.code+`","message":"msg of `+tt.code+`"}`))
			c := newTestClient(t, f, nil)
			_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v (%T), want *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Code != tt.code || ae.Message != "msg of "+tt.code || ae.RequestID == "" {
				t.Errorf("got %+v", ae)
			}
			// What each code means to the console's users is views.UpstreamAnswer's
			// (views/upstream_test.go, TestUpstreamAnswerSpecCodes).
			if got := Classify(err).NormalizedCode(); got != tt.code {
				t.Errorf("NormalizedCode = %q, want %q", got, tt.code)
			}
			if got := len(f.requests()); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	t.Run("OK500Then204", func(t *testing.T) {
		f := newFakeWxPay(t,
			signedReply(500, `{"code":"SYSTEM_ERROR","message":"系统错误"}`),
			signedReply(500, `{"code":"SYSTEM_ERROR","message":"系统错误"}`),
			signedReply(204, ""))
		c := newTestClient(t, f, nil)
		if _, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "撤销原因"}); err != nil {
			t.Fatal(err)
		}
		f.checkAuth(t)
		reqs := f.requests()
		if len(reqs) != 3 {
			t.Fatalf("%d requests, want 3", len(reqs))
		}
		for i, r := range reqs[1:] {
			if !bytes.Equal(r.Body, reqs[0].Body) || r.URI != reqs[0].URI || r.Method != reqs[0].Method {
				t.Errorf("attempt %d differs: %s %s %q vs %q", i+2, r.Method, r.URI, r.Body, reqs[0].Body)
			}
			if r.Auth == reqs[0].Auth {
				t.Errorf("attempt %d reused the signature (nonce/timestamp must be new)", i+2)
			}
		}
	})
	t.Run("OKQueryRetriedSameURL", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(503, `{"code":"SYSTEM_ERROR","message":"busy"}`),
			signedReply(200, `{"authorization_state":"UNAVAILABLE"}`))
		c := newTestClient(t, f, nil)
		if _, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID}); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if len(reqs) != 2 || reqs[0].URI != reqs[1].URI {
			t.Fatalf("requests %+v", reqs)
		}
	})
	t.Run("Err400NotRetried", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(400, `{"code":"PARAM_ERROR","message":"sub_mchid 无效"}`), signedReply(204, ""))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		if !isAPIError(err, "PARAM_ERROR") {
			t.Fatalf("err %v", err)
		}
		if got := len(f.requests()); got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("OK429HonoursRetryAfter", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`, "Retry-After", "1"),
			signedReply(204, ""))
		c := newTestClient(t, f, nil)
		if _, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"}); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 950*time.Millisecond {
			t.Errorf("second attempt %v after the 429, want ≥ 1 s (Retry-After)", gap)
		}
	})
	t.Run("OK429BacksOffLonger", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`), signedReply(204, ""))
		c := newTestClient(t, f, func(cfg *Config) { cfg.RateLimitBackoff = 200 * time.Millisecond })
		if _, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"}); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 100*time.Millisecond {
			t.Errorf("second attempt %v after the 429, want ≥ RateLimitBackoff/2", gap)
		}
	})
	t.Run("Err429RetryAfterBeyondDeadline", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`, "Retry-After", "30"))
		c := newTestClient(t, f, func(cfg *Config) { cfg.OverallTimeout = 2 * time.Second })
		start := time.Now()
		_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		if !isAPIError(err, "FREQUENCY_LIMITED") {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v: a wait past the deadline must not be slept", d)
		}
		if got := len(f.requests()); got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("ErrUnsigned502Retried", func(t *testing.T) {
		f := newFakeWxPay(t, unsignedReply(502, `<html>bad gateway</html>`))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		var te *TransportError
		if !errors.As(err, &te) || te.Status != 502 || te.Attempts != 3 {
			t.Fatalf("err %v, want *TransportError with status 502 after 3 attempts", err)
		}
		if got := len(f.requests()); got != 3 {
			t.Errorf("%d requests, want 3", got)
		}
	})
	t.Run("ErrSlowAnswerWithinDeadline", func(t *testing.T) {
		f := newFakeWxPay(t, slowReply(2*time.Second, signedReply(204, "")))
		c := newTestClient(t, f, func(cfg *Config) {
			cfg.AttemptTimeout = 100 * time.Millisecond
			cfg.OverallTimeout = 250 * time.Millisecond
		})
		start := time.Now()
		_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		elapsed := time.Since(start)
		var te *TransportError
		if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a time-out *TransportError", err)
		}
		if elapsed > 250*time.Millisecond+150*time.Millisecond {
			t.Errorf("returned after %v, past the overall deadline", elapsed)
		}
		if n := len(f.requests()); n < 2 || n > 3 {
			t.Errorf("%d attempts, want 2 or 3 within the deadline", n)
		}
	})
	t.Run("ErrCallerCancelled", func(t *testing.T) {
		f := newFakeWxPay(t, slowReply(2*time.Second, signedReply(204, "")))
		c := newTestClient(t, f, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Terminate(ctx, TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if got := len(f.requests()); got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("ErrNetwork", func(t *testing.T) {
		f := newFakeWxPay(t)
		c := newTestClient(t, f, nil)
		f.srv.Close()
		_, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
		var te *TransportError
		if !errors.As(err, &te) || te.Attempts != 3 || te.Timeout {
			t.Fatalf("err %v, want a network *TransportError after 3 attempts", err)
		}
	})
}

func isAPIError(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

func TestBadSignature(t *testing.T) {
	k := getKeys(t)
	tests := []struct {
		name  string
		reply responder
	}{
		{"ErrWrongKey200", signedBy(k.stranger, testPubKeyID, 200, `{"authorization_state":"AVAILABLE"}`)},
		{"ErrTamperedBody200", tamperedReply(200, `{"authorization_state":"UNAVAILABLE"}`, `{"authorization_state":"AVAILABLE"}`)},
		{"ErrUnsigned200", unsignedReply(200, `{"authorization_state":"AVAILABLE"}`)},
		{"ErrUnknownSerial200", signedBy(k.pubKey, "PUB_KEY_ID_SOMEONE_ELSE", 200, `{"authorization_state":"AVAILABLE"}`)},
		{"ErrWrongKey400", signedBy(k.stranger, testPubKeyID, 400, `{"code":"ORDER_DONE","message":"forged"}`)},
		// An unsigned 4xx is no longer here: it is WeChat's answer to a
		// request it could not authenticate (TestUnsignedErrorAnswers).
		{"ErrBadSignature404", tamperedReply(404, `{"code":"INVALID_ORDER_STATE","message":"x"}`, `{"code":"ORDER_NOT_EXIST","message":"forged"}`)},
		{"ErrWrongKey500", signedBy(k.stranger, testPubKeyID, 500, `{"code":"SYSTEM_ERROR","message":"forged"}`)},
		{"ErrWrongKey429", signedBy(k.stranger, testPubKeyID, 429, `{"code":"FREQUENCY_LIMITED","message":"forged"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWxPay(t, tt.reply, signedReply(200, `{"authorization_state":"AVAILABLE"}`))
			c := newTestClient(t, f, nil)
			a, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode, SubMchID: testSubMchID})
			if !errors.Is(err, ErrBadSignature) || a != nil {
				t.Fatalf("got %+v, %v; want ErrBadSignature", a, err)
			}
			var ae *APIError
			if errors.As(err, &ae) {
				t.Errorf("a forged error answer surfaced as %+v", ae)
			}
			if got := len(f.requests()); got != 1 {
				t.Errorf("%d requests, want 1 (no retry)", got)
			}
		})
	}
	t.Run("ErrUnsigned204", func(t *testing.T) {
		f := newFakeWxPay(t, unsignedReply(204, ""))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("err %v, want ErrBadSignature", err)
		}
	})
}

func TestVerificationModes(t *testing.T) {
	k := getKeys(t)
	pubSigned := signedReply(204, "")
	certSigned := signedBy(k.platform, k.certSerial, 204, "")
	tests := []struct {
		name   string
		mutate func(*Config)
		reply  responder
		ok     bool
	}{
		{"OKPublicKey", nil, pubSigned, true},
		{"ErrPublicKeyModeCertSigned", nil, certSigned, false},
		{"OKPlatformCert", func(c *Config) { c.PublicKey, c.PublicKeyID, c.PlatformCerts = nil, "", []*x509.Certificate{k.cert} }, certSigned, true},
		{"ErrPlatformCertModePubSigned", func(c *Config) { c.PublicKey, c.PublicKeyID, c.PlatformCerts = nil, "", []*x509.Certificate{k.cert} }, pubSigned, false},
		{"OKCombinedPubSigned", func(c *Config) { c.PlatformCerts = []*x509.Certificate{k.cert} }, pubSigned, true},
		{"OKCombinedCertSigned", func(c *Config) { c.PlatformCerts = []*x509.Certificate{k.cert} }, certSigned, true},
		{"ErrCombinedCertSerialPubKey", func(c *Config) { c.PlatformCerts = []*x509.Certificate{k.cert} }, signedBy(k.pubKey, k.certSerial, 204, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWxPay(t, tt.reply)
			c := newTestClient(t, f, tt.mutate)
			_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"})
			if tt.ok && err != nil {
				t.Fatalf("err %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("a", 33)
	tests := []struct {
		name      string
		call      func(c *Client) error
		wantField string
	}{
		{"ErrCodeCharset", func(c *Client) error {
			_, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: "abc/def", SubMchID: testSubMchID})
			return err
		}, "authorization_code"},
		{"ErrCodeSpace", func(c *Client) error {
			_, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: "abc def", SubMchID: testSubMchID})
			return err
		}, "authorization_code"},
		{"ErrCodeLength33", func(c *Client) error {
			_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: long, SubMchID: testSubMchID, Reason: "r"})
			return err
		}, "authorization_code"},
		{"ErrCodeMissing", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID})
			return err
		}, "authorization_code"},
		{"ErrSubMchIDMissing", func(c *Client) error {
			_, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: testCode})
			return err
		}, "sub_mchid"},
		{"ErrSubMchIDLength33", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: long, AuthorizationCode: testCode})
			return err
		}, "sub_mchid"},
		{"ErrSubAppIDLength33", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, SubAppID: long, AuthorizationCode: testCode})
			return err
		}, "sub_appid"},
		{"ErrReason51Runes", func(c *Client) error {
			_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: strings.Repeat("撤", 51)})
			return err
		}, "reason"},
		{"ErrReasonMissing", func(c *Client) error {
			_, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "  "})
			return err
		}, "reason"},
		{"ErrNotifyURLQuery", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode, NotifyURL: "https://a.example/notify?x=1"})
			return err
		}, "notify_url"},
		{"ErrNotifyURLRelative", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode, NotifyURL: "/notify/payscore"})
			return err
		}, "notify_url"},
		{"ErrNotifyURL256", func(c *Client) error {
			_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode,
				NotifyURL: "https://a.example/" + strings.Repeat("n", 256-len("https://a.example/"))})
			return err
		}, "notify_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWxPay(t, signedReply(204, ""))
			c := newTestClient(t, f, nil)
			err := tt.call(c)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("err %v, want a *ValidationError on %s", err, tt.wantField)
			}
			if got := len(f.requests()); got != 0 {
				t.Errorf("%d requests sent for an invalid call", got)
			}
		})
	}
	t.Run("ErrHTTPNotifyURLWhenHTTPSRequired", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"apply_permissions_token":"t"}`))
		c := newTestClient(t, f, func(cfg *Config) { cfg.RequireHTTPSNotify = true })
		_, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode, NotifyURL: "http://a.example/notify/payscore"})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "notify_url" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("OKHTTPNotifyURLInSandbox", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(200, `{"apply_permissions_token":"t"}`))
		c := newTestClient(t, f, nil)
		if _, err := c.PreAuthorize(context.Background(), PreAuthorizeRequest{SubMchID: testSubMchID, AuthorizationCode: testCode, NotifyURL: "http://localhost:8080/notify/payscore"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKChineseReason50Runes", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(204, ""))
		c := newTestClient(t, f, nil)
		reason := strings.Repeat("撤", 50) // 150 bytes
		if _, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: reason}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKCode32WithAllSymbols", func(t *testing.T) {
		if err := ValidateAuthorizationCode("09azAZ_-|*" + strings.Repeat("x", 22)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewClientConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"ErrNoMchID", func(c *Config) { c.MchID = "" }},
		{"ErrNoPrivateKey", func(c *Config) { c.PrivateKey = nil }},
		{"ErrNoVerifier", func(c *Config) { c.PublicKey, c.PublicKeyID = nil, "" }},
		{"ErrKeyWithoutID", func(c *Config) { c.PublicKeyID = "" }},
		{"ErrServiceIDTooLong", func(c *Config) { c.ServiceID = strings.Repeat("1", 33) }},
		{"ErrBadBase", func(c *Config) { c.APIBase = "api.mch.weixin.qq.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tt.mutate(&cfg)
			if _, err := NewClient(cfg); err == nil {
				t.Fatal("NewClient accepted an invalid config")
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFakeWxPay(t, signedReply(500, `{"code":"SYSTEM_ERROR","message":"x"}`), signedReply(204, ""))
	c := newTestClient(t, f, func(cfg *Config) { cfg.Registerer = reg })
	if _, err := c.Terminate(context.Background(), TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), QueryRequest{AuthorizationCode: "bad/code", SubMchID: testSubMchID}); err == nil {
		t.Fatal("invalid code accepted")
	}
	// A second client on the same registry reuses the collectors.
	if _, err := NewClient(Config{MchID: testMchID, CertSerial: testMchSerial, PrivateKey: getKeys(t).merchant,
		PublicKey: &getKeys(t).pubKey.PublicKey, PublicKeyID: testPubKeyID, ServiceID: "1", ChannelID: "1", AppID: "1", Registerer: reg}); err != nil {
		t.Fatalf("second client: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				got[key] = float64(h.GetSampleCount())
			} else {
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"payscore_api_request_duration_seconds,call=terminate,outcome=ok":     1,
		"payscore_api_request_duration_seconds,call=query,outcome=validation": 1,
		"payscore_api_attempts_total,call=terminate,status=500":               1,
		"payscore_api_attempts_total,call=terminate,status=204":               1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}

func TestNormalizedCode(t *testing.T) {
	// The spec's table prints the code with a stray space.
	if got := Classify(&APIError{Status: 404, Code: "ORDER_NOT_ EXIST"}).NormalizedCode(); got != CodeOrderNotExist {
		t.Errorf("got %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"999999", time.Hour},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{now.Add(-3 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestAfterUnknown: a retried call reports that an earlier attempt's outcome
// was unknown, so a state error on the retry can be settled by a query.
func TestAfterUnknown(t *testing.T) {
	req := TerminateRequest{AuthorizationCode: testCode, SubMchID: testSubMchID, Reason: "撤销原因"}
	stateErr := `{"code":"INVALID_ORDER_STATE","message":"单据状态错误"}`
	t.Run("OKTimeoutThenStateError", func(t *testing.T) {
		f := newFakeWxPay(t, slowReply(time.Second, signedReply(204, "")), signedReply(400, stateErr))
		c := newTestClient(t, f, func(cfg *Config) { cfg.AttemptTimeout = 200 * time.Millisecond })
		_, err := c.Terminate(context.Background(), req)
		got := Classify(err)
		if got.Kind != FailureRefused || !got.AfterUnknown || !got.StateError() || got.Code != CodeInvalidOrderState {
			t.Fatalf("Classify = %+v, want a refused state error after an unknown attempt", got)
		}
		if !isAPIError(err, CodeInvalidOrderState) {
			t.Errorf("errors.As finds no APIError in %v", err)
		}
	})
	t.Run("OK500ThenStateError", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(500, `{"code":"SYSTEM_ERROR","message":"x"}`), signedReply(400, stateErr))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), req)
		if got := Classify(err); !got.AfterUnknown || !got.StateError() {
			t.Fatalf("Classify = %+v, want AfterUnknown", got)
		}
	})
	t.Run("OKFirstAttemptStateError", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(400, stateErr))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), req)
		if got := Classify(err); got.AfterUnknown || !got.StateError() {
			t.Fatalf("Classify = %+v, want a plain state error", got)
		}
	})
	t.Run("OK429IsNotUnknown", func(t *testing.T) {
		f := newFakeWxPay(t, signedReply(429, `{"code":"FREQUENCY_LIMITED","message":"x"}`), signedReply(400, stateErr))
		c := newTestClient(t, f, nil)
		_, err := c.Terminate(context.Background(), req)
		if got := Classify(err); got.AfterUnknown {
			t.Fatalf("Classify = %+v: a 429 did nothing, the state error is WeChat's whole answer", got)
		}
	})
}
