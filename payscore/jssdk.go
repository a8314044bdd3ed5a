package payscore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// JSSDKSignature is the wx.config signature: the SHA-1, in lower-case hex, of
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" with the page URL's fragment
// removed, as WeChat's JS-SDK documentation (appendix 1) specifies.
func JSSDKSignature(ticket, nonceStr string, timestamp int64, pageURL string) string {
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	s := "jsapi_ticket=" + ticket + "&noncestr=" + nonceStr + "&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + pageURL
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TicketConfig configures a TicketSource.
type TicketConfig struct {
	// APIBase is the official-account API base without a trailing slash, e.g.
	// https://api.weixin.qq.com or http://127.0.0.1:8080/sandbox.
	APIBase string
	// AppID and Secret are the official account's AppID and AppSecret.
	AppID, Secret string
	// HTTPClient is the HTTP client to use; nil means a new one.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JSConfig is what a page passes to wx.config.
type JSConfig struct {
	AppID     string `json:"appId"`     // the official account
	Timestamp int64  `json:"timestamp"` // Unix seconds, signed
	NonceStr  string `json:"nonceStr"`  // random, signed
	Signature string `json:"signature"` // JSSDKSignature of the above and the page URL
}

// TicketError is an error answer of the official-account API. It never
// contains the secret, the access_token or the ticket.
type TicketError struct {
	// Op is "token" or "getticket".
	Op string
	// ErrCode is WeChat's errcode.
	ErrCode int
	// ErrMsg is WeChat's errmsg, with any credential redacted.
	ErrMsg string
}

// Error implements error.
func (e *TicketError) Error() string {
	return fmt.Sprintf("payscore: jssdk %s: errcode %d: %s", e.Op, e.ErrCode, e.ErrMsg)
}

// Refresh margins and bounds.
const (
	ticketRefreshMargin = 5 * time.Minute
	ticketFetchTimeout  = 10 * time.Second
	maxTicketAnswer     = 64 << 10
)

// TicketSource fetches the JS-SDK jsapi_ticket (the stable access_token
// first, POST /cgi-bin/stable_token) and caches
// both until five minutes before they expire. Concurrent callers share one
// fetch. It is safe for concurrent use.
type TicketSource struct {
	cfg    TicketConfig
	base   string
	client *http.Client
	group  singleflight.Group

	mu           sync.Mutex
	token        string
	tokenExpiry  time.Time
	ticket       string
	ticketExpiry time.Time
}

// NewTicketSource checks cfg and returns a TicketSource.
func NewTicketSource(cfg TicketConfig) (*TicketSource, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("payscore: jssdk config: AppID is required")
	case cfg.Secret == "":
		return nil, errors.New("payscore: jssdk config: Secret is required")
	}
	base := strings.TrimRight(cfg.APIBase, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("payscore: jssdk config: APIBase must be an absolute http(s) URL")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: ticketFetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &TicketSource{cfg: cfg, base: base, client: hc}, nil
}

// Ticket returns a valid jsapi_ticket, from the cache when possible.
func (t *TicketSource) Ticket(ctx context.Context) (string, error) {
	if ticket, ok := t.cached(); ok {
		return ticket, nil
	}
	// One fetch for all waiting callers; it is not cancelled when the first
	// caller gives up, but is bounded by its own time-out.
	ch := t.group.DoChan("jsapi_ticket", func() (any, error) {
		if ticket, ok := t.cached(); ok {
			return ticket, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ticketFetchTimeout)
		defer cancel()
		return t.fetch(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Config returns the wx.config parameters for the page at pageURL (its
// fragment is ignored, as WeChat does).
func (t *TicketSource) Config(ctx context.Context, pageURL string) (JSConfig, error) {
	if pageURL == "" {
		return JSConfig{}, errors.New("payscore: jssdk: page URL is required")
	}
	ticket, err := t.Ticket(ctx)
	if err != nil {
		return JSConfig{}, err
	}
	nonce := rand.Text()[:16]
	ts := t.cfg.Now().Unix()
	return JSConfig{AppID: t.cfg.AppID, Timestamp: ts, NonceStr: nonce, Signature: JSSDKSignature(ticket, nonce, ts, pageURL)}, nil
}

func (t *TicketSource) cached() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ticket != "" && t.cfg.Now().Before(t.ticketExpiry) {
		return t.ticket, true
	}
	return "", false
}

func (t *TicketSource) fetch(ctx context.Context) (string, error) {
	token, err := t.accessToken(ctx)
	if err != nil {
		return "", err
	}
	ticket, expiresIn, err := t.getTicket(ctx, token)
	var te *TicketError
	if errors.As(err, &te) && (te.ErrCode == 40001 || te.ErrCode == 40014 || te.ErrCode == 42001) {
		// The cached access_token was revoked or expired early (someone
		// forced a refresh): ask for the current one, once — still in
		// normal mode, which revokes nobody's.
		t.mu.Lock()
		t.token = ""
		t.mu.Unlock()
		if token, err = t.accessToken(ctx); err != nil {
			return "", err
		}
		ticket, expiresIn, err = t.getTicket(ctx, token)
	}
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	t.ticket, t.ticketExpiry = ticket, t.cfg.Now().Add(time.Duration(expiresIn)*time.Second-ticketRefreshMargin)
	t.mu.Unlock()
	return ticket, nil
}

// accessToken returns the official account's access_token: cached, else
// from POST /cgi-bin/stable_token with force_refresh false. Normal mode
// answers every caller the same token while it is valid (and a fresh one
// only in its last five minutes, the old one still valid), so that several
// console instances — and any other system of the bank using the same
// account — share it and never invalidate each other's, as
// /cgi-bin/token's would. The console never forces a refresh.
func (t *TicketSource) accessToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	if t.token != "" && t.cfg.Now().Before(t.tokenExpiry) {
		tok := t.token
		t.mu.Unlock()
		return tok, nil
	}
	t.mu.Unlock()

	body, err := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": t.cfg.AppID, "secret": t.cfg.Secret, "force_refresh": false})
	if err != nil {
		return "", fmt.Errorf("payscore: jssdk stable_token: cannot build request")
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		ErrCode     int    `json:"errcode"`
		ErrMsg      string `json:"errmsg"`
	}
	if err := t.do(ctx, "token", http.MethodPost, "/cgi-bin/stable_token", body, &out, t.cfg.Secret); err != nil {
		return "", err
	}
	if out.ErrCode != 0 || out.AccessToken == "" {
		return "", &TicketError{Op: "token", ErrCode: out.ErrCode, ErrMsg: t.redact(out.ErrMsg, out.AccessToken)}
	}
	// expires_in is what the token has left: it may be less than 7200 s
	// when another caller got it first. A token with less than the margin
	// left is used for this fetch and not cached.
	t.mu.Lock()
	t.token, t.tokenExpiry = out.AccessToken, t.cfg.Now().Add(time.Duration(out.ExpiresIn)*time.Second-ticketRefreshMargin)
	t.mu.Unlock()
	return out.AccessToken, nil
}

func (t *TicketSource) getTicket(ctx context.Context, token string) (string, int64, error) {
	q := url.Values{"access_token": {token}, "type": {"jsapi"}}
	var out struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
		ErrCode   int    `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
	}
	if err := t.do(ctx, "getticket", http.MethodGet, "/cgi-bin/ticket/getticket?"+q.Encode(), nil, &out, token); err != nil {
		return "", 0, err
	}
	if out.ErrCode != 0 || out.Ticket == "" {
		return "", 0, &TicketError{Op: "getticket", ErrCode: out.ErrCode, ErrMsg: t.redact(out.ErrMsg, token, out.Ticket)}
	}
	return out.Ticket, out.ExpiresIn, nil
}

// do sends a request to base+path (body, when not nil, as JSON) and
// decodes the JSON answer. Errors never carry the URL or the body (they
// hold the secret or the access_token).
func (t *TicketSource) do(ctx context.Context, op, method, path string, body []byte, out any, credential string) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return fmt.Errorf("payscore: jssdk %s: cannot build request", op)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL
		}
		return &jssdkTransportError{op: op, msg: t.redact(err.Error(), credential), err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxTicketAnswer))
	if err != nil {
		return &jssdkTransportError{op: op, msg: t.redact(err.Error(), credential), err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("payscore: jssdk %s: HTTP %d", op, resp.StatusCode)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("payscore: jssdk %s: answer is not the expected JSON", op)
	}
	return nil
}

// redact removes secrets from text WeChat (or the network stack) produced.
func (t *TicketSource) redact(s string, secrets ...string) string {
	for _, x := range append(secrets, t.cfg.Secret) {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

// jssdkTransportError is a network failure whose message has been redacted;
// Unwrap still gives errors.Is access to context errors.
type jssdkTransportError struct {
	op, msg string
	err     error
}

// Error implements error.
func (e *jssdkTransportError) Error() string { return "payscore: jssdk " + e.op + ": " + e.msg }

// Unwrap returns the underlying error.
func (e *jssdkTransportError) Unwrap() error { return e.err }
