package sandbox_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
)

// clock is a settable clock shared by the sandbox and the test. It starts
// at the real time because the SDK checks signature timestamps against
// time.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

const testCSRF = "test-csrf-token"

// env is a sandbox mounted on an Echo server over loopback HTTP, a
// notification receiver, and the official SDK's client configured with the
// sandbox's credentials exactly as live mode would be.
type env struct {
	sb     *sandbox.Sandbox
	db     *store.DB
	clock  *clock
	srv    *httptest.Server
	creds  sandbox.Credentials
	client *core.Client
	recv   *receiver
}

func newEnv(t *testing.T, mod ...func(*sandbox.Options)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Now()}
	opt := sandbox.Options{
		DBPath:    db.Path,
		Now:       clk.Now,
		CSRFToken: func(echo.Context) string { return testCSRF },
	}
	for _, m := range mod {
		m(&opt)
	}
	sb, err := sandbox.New(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	e := echo.New()
	// A stand-in for the console's admin check: the test says who it is.
	requireAdmin := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-Test-Admin") != "yes" {
				return echo.NewHTTPError(http.StatusForbidden)
			}
			return next(c)
		}
	}
	sb.Mount(e.Group("/sandbox"), requireAdmin)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	en := &env{sb: sb, db: db, clock: clk, srv: srv, creds: sb.Credentials(), recv: newReceiver(t)}
	en.client = en.sdkClient(t, en.creds.MerchantKey, 5*time.Second)
	return en
}

// sdkClient is the official SDK's client in public-key mode, signing with key.
func (e *env) sdkClient(t *testing.T, key *rsa.PrivateKey, timeout time.Duration) *core.Client {
	t.Helper()
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(e.creds.MchID, e.creds.CertSerial, key, e.creds.PublicKeyID, e.creds.PublicKey),
		option.WithHTTPClient(&http.Client{Timeout: timeout}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const permsPath = "/sandbox/v3/payscore/acquiringbank/permissions"

// preAuthBody is a valid pre-authorize body for sub-merchant subMchID.
func (e *env) preAuthBody(code, subMchID, subAppID string) map[string]any {
	b := map[string]any{
		"service_id":         e.creds.ServiceID,
		"channel_id":         e.creds.ChannelID,
		"appid":              e.creds.AppID,
		"sub_mchid":          subMchID,
		"authorization_code": code,
		"notify_url":         e.recv.srv.URL + "/notify/payscore",
	}
	if subAppID != "" {
		b["sub_appid"] = subAppID
	}
	return b
}

func (e *env) preAuthorize(c *core.Client, body any) (*core.APIResult, error) {
	return c.Post(context.Background(), e.srv.URL+permsPath, body)
}

func (e *env) query(c *core.Client, code, subMchID string) (*core.APIResult, error) {
	q := url.Values{"service_id": {e.creds.ServiceID}, "channel_id": {e.creds.ChannelID}, "sub_mchid": {subMchID}}
	return c.Get(context.Background(), e.srv.URL+permsPath+"/authorization-code/"+url.PathEscape(code)+"?"+q.Encode())
}

func (e *env) terminate(c *core.Client, code, subMchID, reason string) (*core.APIResult, error) {
	return c.Post(context.Background(), e.srv.URL+permsPath+"/authorization-code/"+url.PathEscape(code)+"/terminate",
		map[string]any{"service_id": e.creds.ServiceID, "channel_id": e.creds.ChannelID, "sub_mchid": subMchID, "reason": reason})
}

// mustToken pre-authorizes code and returns the apply_permissions_token.
func (e *env) mustToken(t *testing.T, code, subMchID, subAppID string) string {
	t.Helper()
	res, err := e.preAuthorize(e.client, e.preAuthBody(code, subMchID, subAppID))
	if err != nil {
		t.Fatalf("pre-authorize %s: %v", code, err)
	}
	var out struct {
		Token string `json:"apply_permissions_token"`
	}
	decodeResult(t, res, &out)
	if out.Token == "" {
		t.Fatal("pre-authorize: empty apply_permissions_token")
	}
	return out.Token
}

func decodeResult(t *testing.T, res *core.APIResult, v any) {
	t.Helper()
	if err := core.UnMarshalResponse(res.Response, v); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
}

// checkSigned runs the SDK's own response validator over an answer; the SDK
// client skips it for error answers, so the test does it for them.
func (e *env) checkSigned(t *testing.T, res *core.APIResult) {
	t.Helper()
	if res == nil || res.Response == nil {
		t.Fatal("no response to validate")
	}
	v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAPubkeyVerifier(e.creds.PublicKeyID, *e.creds.PublicKey))
	if err := v.Validate(context.Background(), res.Response); err != nil {
		t.Errorf("SDK refuses the sandbox's signature: %v", err)
	}
	if res.Response.Header.Get("Request-Id") == "" {
		t.Error("answer has no Request-ID")
	}
}

// checkUnsigned asserts an answer carries no Wechatpay-* header, as WeChat
// Pay answers a request it could not authenticate, but a Request-ID.
func (e *env) checkUnsigned(t *testing.T, res *core.APIResult) {
	t.Helper()
	if res == nil || res.Response == nil {
		t.Fatal("no response")
	}
	for k := range res.Response.Header {
		if strings.HasPrefix(strings.ToLower(k), "wechatpay-") {
			t.Errorf("unsigned answer carries %s", k)
		}
	}
	if res.Response.Header.Get("Request-Id") == "" {
		t.Error("answer has no Request-ID")
	}
}

// wantAPIError asserts err is the SDK's APIError with status and code, and
// that the error answer is signed too — except SIGN_ERROR, which WeChat Pay
// cannot sign for a caller it could not authenticate: that one must be
// unsigned.
func (e *env) wantAPIError(t *testing.T, res *core.APIResult, err error, status int, code string) *core.APIError {
	t.Helper()
	var ae *core.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want APIError %d %s", err, status, code)
	}
	if got, want := ae.StatusCode, status; got != want {
		t.Errorf("status: got %d, want %d (%s)", got, want, ae.Body)
	}
	if got, want := ae.Code, code; got != want {
		t.Errorf("code: got %q, want %q (%s)", got, want, ae.Body)
	}
	if ae.Message == "" {
		t.Error("error answer without message")
	}
	if code == "SIGN_ERROR" {
		e.checkUnsigned(t, res)
	} else {
		e.checkSigned(t, res)
	}
	return ae
}

// delivery is one notification request the receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
}

// request rebuilds it as an *http.Request for the SDK's notify handler.
func (d delivery) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify/payscore", bytes.NewReader(d.Body))
	r.Header = d.Header.Clone()
	return r
}

// receiver is a merchant notify_url: it records every request and answers
// with the queued status codes, then 204.
type receiver struct {
	mu      sync.Mutex
	got     []delivery
	answers []int
	srv     *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), body})
		status := http.StatusNoContent
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if status >= 300 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"code":"FAIL","message":"失败"}`))
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) answer(codes ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, codes...)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// notifyHandler is the SDK's notification handler for the sandbox's keys.
func (e *env) notifyHandler(t *testing.T) *notify.Handler {
	t.Helper()
	h, err := notify.NewRSANotifyHandler(e.creds.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(e.creds.PublicKeyID, *e.creds.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// parse runs a delivery through the SDK and returns the envelope and the
// decrypted payload.
func (e *env) parse(t *testing.T, d delivery) (*notify.Request, map[string]any) {
	t.Helper()
	payload := map[string]any{}
	req, err := e.notifyHandler(t).ParseNotifyRequest(context.Background(), d.request(), &payload)
	if err != nil {
		t.Fatalf("SDK refuses the notification: %v\n%s", err, d.Body)
	}
	return req, payload
}

// do sends a plain HTTP request to the sandbox server.
func (e *env) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func getJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	resp := e.do(t, http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
