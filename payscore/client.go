// Package payscore is the client of WeChat Pay Score's acquiring-bank
// (从业机构) authorization APIs: pre-authorize, query and terminate, with
// request validation, typed errors, retries and metrics; the verification and
// decryption of Pay Score notifications; and the JS-SDK signature the landing
// page needs for wx.config.
//
// Signing, response verification, notification verification and decryption
// are done by the official SDK, github.com/wechatpay-apiv3/wechatpay-go. The
// package knows no HTTP handler and no database.
package payscore

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// DefaultAPIBase is WeChat Pay's API host, used when Config.APIBase is empty.
const DefaultAPIBase = consts.WechatPayAPIServer

// Retry defaults, used when the corresponding Config field is zero.
const (
	DefaultAttemptTimeout   = 5 * time.Second
	DefaultOverallTimeout   = 15 * time.Second
	DefaultMaxAttempts      = 3
	DefaultBaseBackoff      = 200 * time.Millisecond
	DefaultRateLimitBackoff = time.Second
)

// maxResponseBytes bounds what is read of any answer; the real ones are a few
// hundred bytes.
const maxResponseBytes = 1 << 20

// Config configures a Client and a NotifyVerifier. Fields a component does not
// use are ignored by it.
type Config struct {
	// MchID is our merchant id, the caller of the API.
	MchID string
	// CertSerial is the serial number of the merchant API certificate.
	CertSerial string
	// PrivateKey is the merchant API private key that signs requests.
	PrivateKey *rsa.PrivateKey
	// APIv3Key is the 32-byte API v3 key that decrypts notifications.
	APIv3Key string

	// PublicKey is WeChat Pay's public key (public-key mode).
	PublicKey *rsa.PublicKey
	// PublicKeyID is the public key's id, PUB_KEY_ID_…, sent as Wechatpay-Serial.
	PublicKeyID string
	// PlatformCerts are WeChat Pay platform certificates (platform-certificate
	// mode). Both modes may be set at once while migrating: the key is then
	// chosen by the Wechatpay-Serial of each answer or notification.
	PlatformCerts []*x509.Certificate
	// Certificates, when set, replaces PlatformCerts with a store that also
	// holds the certificates downloaded from WeChat Pay and refreshes them
	// when a serial is not yet known (see NewPlatformCertificates; built
	// from the same Config, it includes PlatformCerts).
	Certificates *PlatformCertificates

	// APIBase is the API's base URL without a trailing slash, e.g.
	// https://api.mch.weixin.qq.com or http://127.0.0.1:8080/sandbox.
	APIBase string
	// ServiceID, ChannelID and AppID are the channel profile sent in every call.
	ServiceID, ChannelID, AppID string
	// RequireHTTPSNotify makes notify_url values other than https invalid (live mode).
	RequireHTTPSNotify bool

	// HTTPClient is the HTTP client to use; nil means a new one. Its Timeout
	// should be zero or larger than OverallTimeout: the client applies its own
	// deadlines.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registerer receives the client's metrics; nil means they are not registered.
	Registerer prometheus.Registerer

	// AttemptTimeout bounds one HTTP attempt (default 5 s).
	AttemptTimeout time.Duration
	// OverallTimeout bounds a whole call, retries and back-off included (default 15 s).
	OverallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call (default 3).
	MaxAttempts int
	// BaseBackoff is the first back-off after a 5xx or transport failure; it
	// doubles per attempt and is randomized (default 200 ms).
	BaseBackoff time.Duration
	// RateLimitBackoff is the first back-off after a 429 without Retry-After;
	// it doubles per attempt and is randomized (default 1 s).
	RateLimitBackoff time.Duration
}

func (cfg Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// verifier builds the SDK verifier for the configured mode and the test of
// the serials it can verify. With Certificates set, an unknown serial makes
// it download the platform certificates first.
func (cfg Config) verifier() (auth.Verifier, func(context.Context, string) bool, error) {
	if (cfg.PublicKey == nil) != (cfg.PublicKeyID == "") {
		return nil, nil, errors.New("payscore: config: PublicKey and PublicKeyID must be set together")
	}
	var getter core.CertificateGetter
	switch {
	case cfg.Certificates != nil:
		getter = cfg.Certificates
	case len(cfg.PlatformCerts) > 0:
		serials := map[string]bool{}
		for i, c := range cfg.PlatformCerts {
			if c == nil {
				return nil, nil, fmt.Errorf("payscore: config: PlatformCerts[%d] is nil", i)
			}
			// The SDK type-asserts the key and would panic on anything else.
			if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
				return nil, nil, fmt.Errorf("payscore: config: PlatformCerts[%d] has no RSA public key", i)
			}
			serials[utils.GetCertificateSerialNumber(*c)] = true
		}
		if serials[cfg.PublicKeyID] {
			return nil, nil, errors.New("payscore: config: PublicKeyID equals a platform certificate serial")
		}
		getter = core.NewCertificateMapWithList(cfg.PlatformCerts)
	}
	known := func(ctx context.Context, serial string) bool {
		if serial == "" {
			return false
		}
		if cfg.PublicKeyID != "" && serial == cfg.PublicKeyID {
			return true
		}
		if cfg.Certificates != nil {
			return cfg.Certificates.ensure(ctx, serial)
		}
		if getter != nil {
			_, ok := getter.Get(ctx, serial)
			return ok
		}
		return false
	}
	var v auth.Verifier
	switch {
	case cfg.PublicKey != nil && getter != nil:
		v = verifiers.NewSHA256WithRSACombinedVerifier(getter, cfg.PublicKeyID, *cfg.PublicKey)
	case cfg.PublicKey != nil:
		v = verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *cfg.PublicKey)
	case getter != nil:
		v = verifiers.NewSHA256WithRSAVerifier(getter)
	default:
		return nil, nil, errors.New("payscore: config: a WeChat Pay public key (PublicKey, PublicKeyID) or PlatformCerts is required")
	}
	if cfg.Certificates != nil {
		v = refreshingVerifier{Verifier: v, known: known}
	}
	return v, known, nil
}

// refreshingVerifier asks known (which downloads the platform certificates
// when the serial is new) before verifying, so that an answer or a
// notification signed with a rotated certificate verifies at once.
type refreshingVerifier struct {
	auth.Verifier
	known func(context.Context, string) bool
}

// Verify implements auth.Verifier.
func (v refreshingVerifier) Verify(ctx context.Context, serial, message, signature string) error {
	v.known(ctx, serial)
	return v.Verifier.Verify(ctx, serial, message, signature)
}

// Client calls the three acquiring-bank Pay Score APIs. It is safe for
// concurrent use.
type Client struct {
	cfg       Config
	base      string
	sdk       *core.Client
	validator *validators.WechatPayResponseValidator
	metrics   *metrics
	last      lastCall
}

// NewClient checks cfg and builds a Client on the SDK's core.Client.
func NewClient(cfg Config) (*Client, error) {
	switch {
	case cfg.MchID == "":
		return nil, errors.New("payscore: config: MchID is required")
	case cfg.CertSerial == "":
		return nil, errors.New("payscore: config: CertSerial is required")
	case cfg.PrivateKey == nil:
		return nil, errors.New("payscore: config: PrivateKey is required")
	}
	for _, check := range []func() error{
		func() error { return ValidateServiceID(cfg.ServiceID) },
		func() error { return ValidateChannelID(cfg.ChannelID) },
		func() error { return ValidateAppID(cfg.AppID) },
	} {
		if err := check(); err != nil {
			return nil, fmt.Errorf("payscore: config: %w", err)
		}
	}
	base := strings.TrimRight(cfg.APIBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("payscore: config: APIBase must be an absolute http(s) URL without query")
	}
	verifier, _, err := cfg.verifier()
	if err != nil {
		return nil, err
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.OverallTimeout <= 0 {
		cfg.OverallTimeout = DefaultOverallTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.RateLimitBackoff <= 0 {
		cfg.RateLimitBackoff = DefaultRateLimitBackoff
	}

	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	hc.Transport = &trackingTransport{base: hc.Transport}

	sdk, err := core.NewClient(context.Background(),
		option.WithMerchantCredential(cfg.MchID, cfg.CertSerial, cfg.PrivateKey),
		option.WithVerifier(verifier),
		option.WithHTTPClient(hc),
	)
	if err != nil {
		return nil, fmt.Errorf("payscore: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("payscore: register metrics: %w", err)
	}
	return &Client{
		cfg:  cfg,
		base: base,
		sdk:  sdk,
		// core.Client verifies only 2xx answers; this validator, over the same
		// verifier, checks error answers before they are believed.
		validator: validators.NewWechatPayResponseValidator(verifier),
		metrics:   m,
	}, nil
}

// PreAuthorizeRequest is the per-call part of a pre-authorization; service_id,
// channel_id and appid come from the Config.
type PreAuthorizeRequest struct {
	SubMchID          string // sub_mchid, required
	SubAppID          string // sub_appid, optional
	AuthorizationCode string // authorization_code, required
	NotifyURL         string // notify_url, optional
}

// PreAuthorizeResult is the answer to a pre-authorization.
type PreAuthorizeResult struct {
	// Token is apply_permissions_token, valid for about an hour, passed to the
	// Pay Score mini program.
	Token string
	// RequestID is WeChat Pay's Request-ID header.
	RequestID string
}

// QueryRequest identifies an authorization to look up.
type QueryRequest struct {
	AuthorizationCode string // authorization_code, required
	SubMchID          string // sub_mchid, required
}

// TerminateRequest identifies an authorization to terminate and says why.
type TerminateRequest struct {
	AuthorizationCode string // authorization_code, required
	SubMchID          string // sub_mchid, required
	Reason            string // reason, 1–50 characters
}

// AuthorizationState is the authorization_state of a queried authorization.
type AuthorizationState string

// The authorization states of the spec.
const (
	// StateAvailable: the user has authorized the service.
	StateAvailable AuthorizationState = "AVAILABLE"
	// StateUnavailable: the user has not authorized the service (or has revoked it).
	StateUnavailable AuthorizationState = "UNAVAILABLE"
	// StateUnbindUser: pre-authorized, but the user has not completed authorization yet.
	StateUnbindUser AuthorizationState = "UNBINDUSER"
)

// Known reports whether s is one of the spec's three states.
func (s AuthorizationState) Known() bool {
	return s == StateAvailable || s == StateUnavailable || s == StateUnbindUser
}

// Authorization is the answer to a query, with every field of the spec.
type Authorization struct {
	ServiceID                string             `json:"service_id"`                           // 服务ID
	AppID                    string             `json:"appid"`                                // 公众号ID
	MchID                    string             `json:"mchid"`                                // 商户号 (the caller)
	OpenID                   string             `json:"openid,omitempty"`                     // user id under appid
	AuthorizationCode        string             `json:"authorization_code,omitempty"`         // 授权协议号
	State                    AuthorizationState `json:"authorization_state"`                  // 授权状态
	NotifyURL                string             `json:"notify_url,omitempty"`                 // 授权通知地址
	CancelAuthorizationTime  *time.Time         `json:"cancel_authorization_time,omitempty"`  // last revocation, nil if none
	AuthorizationSuccessTime *time.Time         `json:"authorization_success_time,omitempty"` // last authorization, nil if none
	SubMchID                 string             `json:"sub_mchid,omitempty"`                  // 子商户商户号
	SubAppID                 string             `json:"sub_appid,omitempty"`                  // 子商户的公众号ID
	SubOpenID                string             `json:"sub_openid,omitempty"`                 // user id under sub_appid
	UserLabel                string             `json:"user_label,omitempty"`                 // A, B or C (A>B>C), not always given
	ChannelID                string             `json:"channel_id,omitempty"`                 // 渠道商商户号
	// RequestID is WeChat Pay's Request-ID header; it is not part of the body.
	RequestID string `json:"-"`
}

// UnmarshalJSON decodes the query answer; the two times are RFC 3339 strings,
// absent or empty meaning nil.
func (a *Authorization) UnmarshalJSON(b []byte) error {
	type plain Authorization
	var raw struct {
		plain
		CancelAuthorizationTime  string `json:"cancel_authorization_time"`
		AuthorizationSuccessTime string `json:"authorization_success_time"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := Authorization(raw.plain)
	var err error
	if out.CancelAuthorizationTime, err = parseOptionalRFC3339("cancel_authorization_time", raw.CancelAuthorizationTime); err != nil {
		return err
	}
	if out.AuthorizationSuccessTime, err = parseOptionalRFC3339("authorization_success_time", raw.AuthorizationSuccessTime); err != nil {
		return err
	}
	*a = out
	return nil
}

func parseOptionalRFC3339(field, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("%s is not an RFC 3339 time", field)
	}
	return &t, nil
}

// PreAuthorize asks WeChat Pay for an apply_permissions_token
// (POST /v3/payscore/acquiringbank/permissions).
func (c *Client) PreAuthorize(ctx context.Context, req PreAuthorizeRequest) (res PreAuthorizeResult, err error) {
	defer c.observe(CallPreAuthorize, time.Now(), &err)
	if err := req.Validate(c.cfg.RequireHTTPSNotify); err != nil {
		return PreAuthorizeResult{}, err
	}
	body, err := json.Marshal(struct {
		ServiceID         string `json:"service_id"`
		ChannelID         string `json:"channel_id"`
		AppID             string `json:"appid"`
		SubAppID          string `json:"sub_appid,omitempty"`
		SubMchID          string `json:"sub_mchid"`
		AuthorizationCode string `json:"authorization_code"`
		NotifyURL         string `json:"notify_url,omitempty"`
	}{c.cfg.ServiceID, c.cfg.ChannelID, c.cfg.AppID, req.SubAppID, req.SubMchID, req.AuthorizationCode, req.NotifyURL})
	if err != nil {
		return PreAuthorizeResult{}, fmt.Errorf("payscore: preauthorize: %w", err)
	}
	resp, err := c.do(ctx, CallPreAuthorize, http.MethodPost, c.base+"/v3/payscore/acquiringbank/permissions", body)
	if err != nil {
		return PreAuthorizeResult{}, err
	}
	var out struct {
		Token string `json:"apply_permissions_token"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return PreAuthorizeResult{}, resp.malformed(CallPreAuthorize, "body is not the expected JSON")
	}
	if out.Token == "" || len(out.Token) > 300 {
		return PreAuthorizeResult{}, resp.malformed(CallPreAuthorize, "apply_permissions_token missing or longer than 300")
	}
	return PreAuthorizeResult{Token: out.Token, RequestID: resp.requestID}, nil
}

// Query looks an authorization up
// (GET /v3/payscore/acquiringbank/permissions/authorization-code/{code}).
func (c *Client) Query(ctx context.Context, req QueryRequest) (a *Authorization, err error) {
	defer c.observe(CallQuery, time.Now(), &err)
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// Parameters in the spec's order; the same string is sent on every retry.
	u := c.codeURL(req.AuthorizationCode) + "?service_id=" + url.QueryEscape(c.cfg.ServiceID) +
		"&channel_id=" + url.QueryEscape(c.cfg.ChannelID) + "&sub_mchid=" + url.QueryEscape(req.SubMchID)
	resp, err := c.do(ctx, CallQuery, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	var out Authorization
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, resp.malformed(CallQuery, "body is not the expected JSON")
	}
	if out.State == "" {
		return nil, resp.malformed(CallQuery, "authorization_state missing")
	}
	out.RequestID = resp.requestID
	return &out, nil
}

// Terminate ends an authorization
// (POST /v3/payscore/acquiringbank/permissions/authorization-code/{code}/terminate,
// answered 204 without body). It returns WeChat Pay's Request-ID.
func (c *Client) Terminate(ctx context.Context, req TerminateRequest) (requestID string, err error) {
	defer c.observe(CallTerminate, time.Now(), &err)
	if err := req.Validate(); err != nil {
		return "", err
	}
	body, err := json.Marshal(struct {
		ServiceID string `json:"service_id"`
		ChannelID string `json:"channel_id"`
		SubMchID  string `json:"sub_mchid"`
		Reason    string `json:"reason"`
	}{c.cfg.ServiceID, c.cfg.ChannelID, req.SubMchID, req.Reason})
	if err != nil {
		return "", fmt.Errorf("payscore: terminate: %w", err)
	}
	resp, err := c.do(ctx, CallTerminate, http.MethodPost, c.codeURL(req.AuthorizationCode)+"/terminate", body)
	if err != nil {
		return "", err
	}
	return resp.requestID, nil
}

func (c *Client) codeURL(code string) string {
	return c.base + "/v3/payscore/acquiringbank/permissions/authorization-code/" + url.PathEscape(code)
}

func (c *Client) observe(call string, start time.Time, errp *error) {
	c.metrics.duration.WithLabelValues(call, outcome(*errp)).Observe(time.Since(start).Seconds())
	c.last.record(call, *errp, time.Now())
}

func outcome(err error) string {
	var (
		ve *ValidationError
		ae *APIError
		te *TransportError
	)
	switch {
	case err == nil:
		return OutcomeOK
	case errors.As(err, &ve):
		return OutcomeValidation
	case errors.Is(err, ErrBadSignature):
		return OutcomeBadSignature
	case errors.As(err, &ae):
		return OutcomeAPIError
	case errors.As(err, &te):
		return OutcomeTransport
	}
	// A signed 2xx we cannot read is WeChat Pay's answer, not a network problem.
	return OutcomeAPIError
}

// response is a verified 2xx answer.
type response struct {
	status    int
	body      []byte
	requestID string
}

func (r *response) malformed(call, what string) error {
	return fmt.Errorf("payscore: %s: malformed answer from WeChat Pay (HTTP %d, Request-ID %s): %s",
		call, r.status, r.requestID, what)
}

// attemptResult is what one HTTP attempt produced. Exactly one of resp and err
// is set.
type attemptResult struct {
	resp   *response
	err    error
	status string // metrics label: HTTP status, "timeout", "network" or "error"
	// retry says whether the same request may succeed later.
	retry bool
	// rateLimited marks a 429, which backs off longer; retryAfter is the wait
	// the server asked for, if any.
	rateLimited bool
	retryAfter  time.Duration
}

// do sends one call with retries. body is sent byte for byte on every attempt;
// only the signature (timestamp, nonce) changes.
func (c *Client) do(ctx context.Context, call, method, reqURL string, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OverallTimeout)
	defer cancel()

	var last attemptResult
	// unknown is set once an attempt's outcome is unknown (time-out, network,
	// 5xx): WeChat Pay may have acted on it, whatever later attempts hear.
	// A 429 is not: the request was turned away before any work.
	unknown := false
	for attempt := 1; ; attempt++ {
		last = c.attempt(ctx, method, reqURL, body)
		c.metrics.attempts.WithLabelValues(call, last.status).Inc()
		if last.err == nil {
			return last.resp, nil
		}
		if !last.retry || attempt >= c.cfg.MaxAttempts || ctx.Err() != nil {
			return nil, c.finalError(ctx, call, attempt, last, unknown)
		}
		if !last.rateLimited {
			unknown = true
		}
		wait := c.backoff(attempt, last)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			// Waiting would use up the deadline: give the last answer now.
			return nil, c.finalError(ctx, call, attempt, last, unknown)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.finalError(ctx, call, attempt, last, unknown)
		}
	}
}

// finalError is the error a call returns after its last attempt. When an
// earlier attempt's outcome was unknown and the last one was answered, the
// answer is wrapped in an *AfterUnknownError: the caller must not take it
// as the whole story (a state error may be the first attempt's effect).
func (c *Client) finalError(ctx context.Context, call string, attempts int, last attemptResult, earlierUnknown bool) error {
	var te *TransportError
	if errors.As(last.err, &te) {
		te.Call, te.Attempts = call, attempts
		if ctx.Err() != nil && !te.Timeout && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			te.Timeout = true
		}
		return te
	}
	if earlierUnknown {
		return &AfterUnknownError{Attempts: attempts, Err: last.err}
	}
	return last.err
}

// backoff is exponential with "equal jitter": half fixed, half random.
func (c *Client) backoff(attempt int, last attemptResult) time.Duration {
	base := c.cfg.BaseBackoff
	if last.rateLimited {
		if last.retryAfter > 0 {
			return last.retryAfter
		}
		base = c.cfg.RateLimitBackoff
	}
	d := base << (attempt - 1)
	return d/2 + rand.N(d/2+1)
}

// attempt sends one signed request under the per-attempt deadline and
// classifies the outcome.
func (c *Client) attempt(ctx context.Context, method, reqURL string, body []byte) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	track := &tracker{}
	actx = context.WithValue(actx, trackerKey{}, track)
	defer track.close()

	var (
		result *core.APIResult
		err    error
	)
	if method == http.MethodGet {
		result, err = c.sdk.Get(actx, reqURL)
	} else {
		result, err = c.sdk.Post(actx, reqURL, body)
	}

	if result == nil {
		// The SDK failed before sending (bad URL, signing failure): not retryable.
		return attemptResult{err: &TransportError{Err: err}, status: "error"}
	}
	if result.Response == nil {
		return c.transportFailure(actx, err)
	}
	resp := result.Response
	status := strconv.Itoa(resp.StatusCode)
	requestID := resp.Header.Get(consts.RequestID)
	if track.err != nil && !errors.Is(track.err, errResponseTooLarge) {
		// The body could not be read completely: a network problem, not a forgery.
		return c.transportFailure(actx, track.err)
	}

	var apiErr *core.APIError
	switch {
	case err == nil:
		// core.Client has verified the signature of this 2xx answer.
		b, rerr := io.ReadAll(resp.Body)
		if rerr != nil {
			return c.transportFailure(actx, rerr)
		}
		return attemptResult{status: status, resp: &response{status: resp.StatusCode, body: b, requestID: requestID}}

	case errors.As(err, &apiErr):
		// core.Client does not verify non-2xx answers: do it here, over the
		// body it kept, before believing the code.
		e := &APIError{Status: resp.StatusCode, Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID}
		if verr := c.validator.Validate(actx, resp); verr != nil {
			if hasWechatPayHeaders(resp.Header) {
				// Signed, but not by a key of ours (or tampered with): forged.
				return attemptResult{status: status, err: badSignature(resp.StatusCode, requestID, verr)}
			}
			// No Wechatpay-* header at all: WeChat Pay does not sign the
			// answers to requests it could not authenticate (401
			// SIGN_ERROR), nor does its gateway sign some 429s and 5xx. Such
			// an answer can only ever make a call fail, so it is kept as
			// WeChat's answer, marked unsigned.
			if apiErr.Code == "" && resp.StatusCode >= 500 {
				// Not WeChat Pay's JSON (a proxy's error page): like a
				// network failure, retried with the same request.
				return attemptResult{status: status, retry: true,
					err: &TransportError{Status: resp.StatusCode, Err: errors.New("answer carries no WeChat Pay signature")}}
			}
			e.Unsigned = true
		}
		r := attemptResult{status: status, err: e}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			r.retry, r.rateLimited = true, true
			r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		case resp.StatusCode >= 500:
			r.retry = true
		}
		return r

	default:
		// A 2xx whose signature the SDK refused (or a body over the limit).
		return attemptResult{status: status, err: badSignature(resp.StatusCode, requestID, err)}
	}
}

// hasWechatPayHeaders reports whether any Wechatpay-* header came with an
// answer: an answer that names a signature must carry a valid one.
func hasWechatPayHeaders(h http.Header) bool {
	for k := range h {
		if len(k) >= len("Wechatpay-") && strings.EqualFold(k[:len("Wechatpay-")], "Wechatpay-") {
			return true
		}
	}
	return false
}

func badSignature(status int, requestID string, cause error) error {
	return fmt.Errorf("%w (HTTP %d, Request-ID %q): %v", ErrBadSignature, status, requestID, cause)
}

func (c *Client) transportFailure(actx context.Context, err error) attemptResult {
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(actx.Err(), context.DeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	status := "network"
	if timeout {
		status = "timeout"
	}
	// A cancelled caller is not retried; the loop sees ctx.Err() and stops.
	return attemptResult{status: status, retry: true, err: &TransportError{Timeout: timeout, Err: err}}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when absent
// or unusable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 3600 {
			secs = 3600
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}

var errResponseTooLarge = errors.New("payscore: answer larger than 1 MiB")

// trackingTransport wraps the answer body of each attempt so the client can
// tell a body that failed to arrive (retryable) from one that failed
// verification (not), bound its size, and close it whatever the SDK did.
type trackingTransport struct{ base http.RoundTripper }

type trackerKey struct{}

type tracker struct {
	body *trackedBody
	err  error
}

func (t *tracker) close() {
	if t.body != nil {
		_ = t.body.rc.Close()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *trackingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	if tr, ok := req.Context().Value(trackerKey{}).(*tracker); ok {
		b := &trackedBody{rc: resp.Body, t: tr}
		tr.body = b
		resp.Body = b
	}
	return resp, nil
}

type trackedBody struct {
	rc io.ReadCloser
	t  *tracker
	n  int64
}

// Read reads the answer, remembering a failure and enforcing the size bound.
func (b *trackedBody) Read(p []byte) (int, error) {
	if b.t.err != nil {
		return 0, b.t.err
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > maxResponseBytes {
		b.t.err = errResponseTooLarge
		return n, b.t.err
	}
	if err != nil && err != io.EOF {
		b.t.err = err
	}
	return n, err
}

// Close closes the underlying body.
func (b *trackedBody) Close() error { return b.rc.Close() }
