package sandbox

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// FaultKind is a failure the sandbox can inject into its next API answers.
type FaultKind int

// The injectable faults.
const (
	// FaultSystemError answers 500 SYSTEM_ERROR without doing anything.
	FaultSystemError FaultKind = iota + 1
	// FaultFrequencyLimited answers 429 FREQUENCY_LIMITED with Retry-After: 1
	// without doing anything.
	FaultFrequencyLimited
	// FaultSlow holds the answer back for Options.SlowDelay, past the
	// client's attempt time-out, but still does the work: the caller cannot
	// know whether it happened.
	FaultSlow
	// FaultBadSignature does the work and answers normally, but signs the
	// answer with a wrong key: the client must treat it as forged.
	FaultBadSignature
	// FaultUnsigned401 answers 401 SIGN_ERROR without any Wechatpay-*
	// header and without doing anything, as WeChat Pay answers a request it
	// cannot authenticate (wrong merchant serial or key, clock skew).
	FaultUnsigned401
	// FaultUnsigned429 answers 429 FREQUENCY_LIMITED (Retry-After: 1)
	// without any Wechatpay-* header and without doing anything, as WeChat
	// Pay's gateway may.
	FaultUnsigned429
	// FaultLate ("answer late") does the work at once and answers after
	// the delay given to InjectLateAnswer (the control page's seconds),
	// unless the caller hung up first: past the client's attempt time-out,
	// the client retries a call that already took effect.
	FaultLate
)

// FaultKinds lists every kind, in the order the control page offers them.
var FaultKinds = []FaultKind{FaultSystemError, FaultFrequencyLimited, FaultSlow, FaultBadSignature, FaultUnsigned401, FaultUnsigned429, FaultLate}

// DefaultLateDelay is a FaultLate's delay when none is given: past the
// client's default 5 s attempt time-out.
const DefaultLateDelay = 6 * time.Second

// String returns the kind's form value, e.g. "system_error".
func (k FaultKind) String() string {
	switch k {
	case FaultSystemError:
		return "system_error"
	case FaultFrequencyLimited:
		return "frequency_limited"
	case FaultSlow:
		return "slow"
	case FaultBadSignature:
		return "bad_signature"
	case FaultUnsigned401:
		return "unsigned_401"
	case FaultUnsigned429:
		return "unsigned_429"
	case FaultLate:
		return "late"
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// ParseFaultKind is the inverse of FaultKind.String.
func ParseFaultKind(s string) (FaultKind, bool) {
	for _, k := range FaultKinds {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// InjectFault makes the next n calls of the three WeChat Pay API endpoints
// fail with kind, after any faults already queued.
func (s *Sandbox) InjectFault(kind FaultKind, n int) {
	delay := time.Duration(0)
	if kind == FaultLate {
		delay = DefaultLateDelay
	}
	s.injectFault(kind, delay, n)
}

// InjectLateAnswer makes the next n API calls do their work at once and
// answer after delay (FaultLate), after any faults already queued.
func (s *Sandbox) InjectLateAnswer(delay time.Duration, n int) {
	if delay <= 0 {
		delay = DefaultLateDelay
	}
	s.injectFault(FaultLate, delay, n)
}

func (s *Sandbox) injectFault(kind FaultKind, delay time.Duration, n int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{kind: kind, delay: delay})
	}
}

// fault is a queued fault; delay is a FaultLate's.
type fault struct {
	kind  FaultKind
	delay time.Duration
}

// PendingFaults returns the queued faults, the next one first.
func (s *Sandbox) PendingFaults() []FaultKind {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := make([]FaultKind, len(s.faults))
	for i, f := range s.faults {
		out[i] = f.kind
	}
	return out
}

// ClearFaults drops every queued fault.
func (s *Sandbox) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
}

func (s *Sandbox) takeFault() fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if len(s.faults) == 0 {
		return fault{}
	}
	k := s.faults[0]
	s.faults = s.faults[1:]
	return k
}

// apiError is an error answer of the API: {"code":…,"message":…}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func paramError(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "PARAM_ERROR", fmt.Sprintf(format, args...)}
}

func noAuth(msg string) *apiError { return &apiError{http.StatusForbidden, "NO_AUTH", msg} }

var (
	errOrderNotExist     = &apiError{http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在"}
	errInvalidOrderState = &apiError{http.StatusBadRequest, "INVALID_ORDER_STATE", "单据状态错误，当前状态不允许解除授权"}
	errInvalidRequest    = &apiError{http.StatusBadRequest, "INVALID_REQUEST", "相同授权协议号已使用不同的参数"}
	errCodeAgreed        = &apiError{http.StatusBadRequest, "INVALID_REQUEST", "该授权协议号已有用户授权，多个用户授权不能重复使用同一授权协议号"}
)

// maxBody bounds request bodies; the largest legal one is well under 2 KB.
const maxBody = 64 << 10

// errSignError is WeChat Pay's answer to a request it cannot authenticate.
func errSignError(why string) *apiError {
	return &apiError{http.StatusUnauthorized, "SIGN_ERROR", "签名错误: " + why}
}

// apiHandler wraps an endpoint with what every WeChat Pay API call shares:
// injected faults, the merchant signature check, and a signed answer (signed
// in the current mode, see answerKey).
func (s *Sandbox) apiHandler(h func(c echo.Context, body []byte) (int, any, error)) echo.HandlerFunc {
	return s.apiHandlerSignedBy(h, s.answerKey)
}

// apiHandlerSignedBy is apiHandler with the key that signs its answers
// chosen by keyFor.
func (s *Sandbox) apiHandlerSignedBy(h func(c echo.Context, body []byte) (int, any, error), keyFor func(context.Context) signingKey) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Read the body first: a slow answer must still have it after the
		// caller hung up.
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
		// Until the caller is authenticated, WeChat Pay signs nothing: its
		// answers carry no Wechatpay-* header (only Request-ID).
		if err != nil {
			return s.writeUnsigned(c, paramError("读取请求失败"))
		}
		if len(body) > maxBody {
			return s.writeUnsigned(c, paramError("请求体过大"))
		}
		// Only a correctly signed call takes an injected fault, so that
		// anonymous requests cannot use up the faults an admin queued.
		if err := s.verifyRequest(c.Request(), body); err != nil {
			return s.writeUnsigned(c, errSignError(err.Error()))
		}
		if err := s.logCall(c, body); err != nil {
			return err
		}
		key := keyFor(c.Request().Context())
		f := s.takeFault()
		switch f.kind {
		case FaultSystemError:
			return s.writeAPIError(c, key, &apiError{http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误"})
		case FaultFrequencyLimited:
			c.Response().Header().Set("Retry-After", "1")
			return s.writeAPIError(c, key, &apiError{http.StatusTooManyRequests, "FREQUENCY_LIMITED", "频率超限"})
		case FaultUnsigned401:
			return s.writeUnsigned(c, errSignError("商户证书序列号或签名不正确（模拟）"))
		case FaultUnsigned429:
			c.Response().Header().Set("Retry-After", "1")
			return s.writeUnsigned(c, &apiError{http.StatusTooManyRequests, "FREQUENCY_LIMITED", "频率超限"})
		case FaultSlow:
			// The work is done at once and only the answer is late: that is
			// what makes a time-out's outcome unknown to the caller.
			c.Response().Writer = &slowWriter{ResponseWriter: c.Response().Writer, done: c.Request().Context().Done()}
			defer s.holdAnswer(c, s.slowDelay)
		case FaultLate:
			// Like FaultSlow, with the delay the control asked for.
			c.Response().Writer = &slowWriter{ResponseWriter: c.Response().Writer, done: c.Request().Context().Done()}
			defer s.holdAnswer(c, f.delay)
		case FaultBadSignature:
			key.key = s.id.forgerKey
		}
		// WeChat Pay finishes what it started even if the caller hung up (a
		// time-out's outcome is unknown to the caller, not undone).
		c.SetRequest(c.Request().WithContext(context.WithoutCancel(c.Request().Context())))
		status, resp, err := h(c, body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				s.log.Error("sandbox: api", "path", c.Request().URL.Path, "err", err)
				ae = &apiError{http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误"}
			}
			return s.writeAPIError(c, key, ae)
		}
		var out []byte
		if resp != nil {
			if out, err = marshalJSON(resp); err != nil {
				return err
			}
		}
		return s.writeSigned(c, key, status, out)
	}
}

// holdAnswer delays a slow answer until delay has passed or the caller
// hung up. The answer itself is buffered until then (see slowWriter).
func (s *Sandbox) holdAnswer(c echo.Context, delay time.Duration) {
	w, ok := c.Response().Writer.(*slowWriter)
	if !ok {
		return
	}
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-w.done:
		t.Stop()
	}
	w.flush()
}

// slowWriter buffers an answer so that the work behind it can finish (and
// commit) before the caller may see anything.
type slowWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	done   <-chan struct{}
}

func (w *slowWriter) WriteHeader(status int)      { w.status = status }
func (w *slowWriter) Write(b []byte) (int, error) { return w.buf.Write(b) }

func (w *slowWriter) flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(w.buf.Bytes())
}

func (s *Sandbox) writeAPIError(c echo.Context, key signingKey, e *apiError) error {
	out, err := marshalJSON(e)
	if err != nil {
		return err
	}
	return s.writeSigned(c, key, e.Status, out)
}

// writeUnsigned answers an error as WeChat Pay does when it signs nothing:
// a request it could not authenticate, or its gateway's 429. No Wechatpay-*
// header; a Request-ID all the same.
func (s *Sandbox) writeUnsigned(c echo.Context, e *apiError) error {
	out, err := marshalJSON(e)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Request-ID", strings.ToUpper(randString(32, "0123456789abcdef")))
	h.Set("Content-Type", "application/json; charset=utf-8")
	c.Response().WriteHeader(e.Status)
	_, err = c.Response().Write(out)
	return err
}

// writeSigned answers like WeChat Pay to an authenticated caller: every
// answer, errors included, is signed over "timestamp\nnonce\nbody\n" with
// key and names it by its serial (PUB_KEY_ID_… or a certificate serial).
func (s *Sandbox) writeSigned(c echo.Context, key signingKey, status int, body []byte) error {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := randString(32, alnum)
	sig, err := signSHA256(key.key, ts+"\n"+nonce+"\n"+string(body)+"\n")
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Wechatpay-Serial", key.serial)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Request-ID", strings.ToUpper(randString(32, "0123456789abcdef")))
	if len(body) > 0 {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(body)
	return err
}

// marshalJSON encodes without Go's HTML escaping (WeChat Pay sends "&" as is)
// and without the encoder's trailing newline, which would be signed too.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func signSHA256(key *rsa.PrivateKey, msg string) (string, error) {
	h := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("sandbox: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifyRequest checks the merchant's Authorization header the way WeChat Pay
// does: scheme, mchid, certificate serial, timestamp within 5 minutes, and a
// SHA256withRSA signature over "METHOD\nURI\ntimestamp\nnonce\nbody\n" where
// URI is the request target exactly as sent (path and query as signed,
// "/sandbox" prefix included).
func (s *Sandbox) verifyRequest(r *http.Request, body []byte) error {
	scheme, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if scheme != "WECHATPAY2-SHA256-RSA2048" {
		return errors.New("Authorization 类型应为 WECHATPAY2-SHA256-RSA2048")
	}
	p := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		p[k] = strings.Trim(v, `"`)
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if p[k] == "" {
			return fmt.Errorf("Authorization 缺少 %s", k)
		}
	}
	if p["mchid"] != mchID {
		return errors.New("mchid 与商户不符")
	}
	if !strings.EqualFold(p["serial_no"], s.id.certSerial) {
		return errors.New("serial_no 不是商户证书序列号")
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil {
		return errors.New("timestamp 格式错误")
	}
	if d := s.now().Unix() - ts; d > 300 || d < -300 {
		return errors.New("timestamp 与当前时间相差超过 5 分钟")
	}
	sig, err := base64.StdEncoding.DecodeString(p["signature"])
	if err != nil {
		return errors.New("signature 不是 base64")
	}
	msg := r.Method + "\n" + r.RequestURI + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(body) + "\n"
	h := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(&s.id.merchantKey.PublicKey, crypto.SHA256, h[:], sig); err != nil {
		return errors.New("验签失败")
	}
	return nil
}

// authorizationCodeRE is the spec's rule: digits, letters and _-|*, 1 to 32.
var authorizationCodeRE = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{1,32}$`)

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// checkString enforces string[min,max] (in characters) and presence.
func checkString(field, v string, max int, required bool) *apiError {
	n := utf8.RuneCountInString(v)
	if n == 0 {
		if required {
			return paramError("%s 为必填项", field)
		}
		return nil
	}
	if n > max {
		return paramError("%s 长度不能超过 %d", field, max)
	}
	return nil
}

// checkChannel applies the identity rules shared by the three calls.
func checkChannel(svc, channel, subMchID string) error {
	for _, f := range []struct {
		name, v string
	}{{"service_id", svc}, {"channel_id", channel}, {"sub_mchid", subMchID}} {
		if e := checkString(f.name, f.v, 32, true); e != nil {
			return e
		}
	}
	if !digitsRE.MatchString(subMchID) {
		return paramError("sub_mchid 应为数字")
	}
	if svc != serviceID {
		return noAuth("商户无权使用该服务ID")
	}
	if channel != channelID {
		return noAuth("渠道商商户号与商户不匹配")
	}
	return nil
}

// decodeBody parses a JSON object strictly enough to catch a number sent for
// a string, as WeChat Pay's schema check does.
func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return paramError("请求体不是合法的 JSON: %v", err)
	}
	return nil
}

type preAuthorizeRequest struct {
	ServiceID         string `json:"service_id"`
	ChannelID         string `json:"channel_id"`
	AppID             string `json:"appid"`
	SubAppID          string `json:"sub_appid"`
	SubMchID          string `json:"sub_mchid"`
	AuthorizationCode string `json:"authorization_code"`
	NotifyURL         string `json:"notify_url"`
}

// tokenLifetime is how long an apply_permissions_token can be used.
const tokenLifetime = time.Hour

// preAuthorize is POST /v3/payscore/acquiringbank/permissions.
func (s *Sandbox) preAuthorize(c echo.Context, body []byte) (int, any, error) {
	var req preAuthorizeRequest
	if err := decodeBody(body, &req); err != nil {
		return 0, nil, err
	}
	if e := checkString("appid", req.AppID, 32, true); e != nil {
		return 0, nil, e
	}
	if e := checkString("sub_appid", req.SubAppID, 32, false); e != nil {
		return 0, nil, e
	}
	if e := checkString("authorization_code", req.AuthorizationCode, 32, true); e != nil {
		return 0, nil, e
	}
	if !authorizationCodeRE.MatchString(req.AuthorizationCode) {
		return 0, nil, paramError("authorization_code 只能由数字、大小写字母_-|*组成")
	}
	if e := checkString("notify_url", req.NotifyURL, 255, false); e != nil {
		return 0, nil, e
	}
	if req.NotifyURL != "" {
		u, err := url.Parse(req.NotifyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return 0, nil, paramError("notify_url 应为 http(s) 绝对地址")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return 0, nil, paramError("notify_url 不能携带参数")
		}
	}
	if err := checkChannel(req.ServiceID, req.ChannelID, req.SubMchID); err != nil {
		return 0, nil, err
	}
	if req.AppID != appID {
		return 0, nil, paramError("appid 和 mchid 不匹配")
	}
	token := newToken()
	err := s.update(c.Request().Context(), func(tx *sql.Tx, now time.Time) error {
		a, err := findAuthorization(c.Request().Context(), tx, req.AuthorizationCode)
		switch {
		case errors.Is(err, ErrNotFound):
			err = insertAuthorization(c.Request().Context(), tx, Authorization{Code: req.AuthorizationCode, AppID: req.AppID,
				ServiceID: req.ServiceID, ChannelID: req.ChannelID, SubMchID: req.SubMchID, SubAppID: req.SubAppID, NotifyURL: req.NotifyURL}, now)
			if err != nil {
				return err
			}
		case err != nil:
			return err
		case a.AppID != req.AppID || a.ServiceID != req.ServiceID || a.ChannelID != req.ChannelID ||
			a.SubMchID != req.SubMchID || a.SubAppID != req.SubAppID || a.NotifyURL != req.NotifyURL:
			// The same code with other parameters is a business-rule error;
			// with the same parameters a fresh token is issued (a renewal).
			return errInvalidRequest
		case a.State == StateAvailable || !a.SuccessTime.IsZero():
			// One authorization_code, one user: a code a user agreed to is
			// never pre-authorized again (多个用户授权不能重复使用同一授权协议号).
			return errCodeAgreed
		}
		return insertToken(c.Request().Context(), tx, token, req.AuthorizationCode, now, now.Add(tokenLifetime))
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"apply_permissions_token": token}, nil
}

// newToken returns an apply_permissions_token. WeChat Pay's are
// base64-like: this one is standard base64 of 33 to 35 random bytes (44 to
// 48 characters), so that "+", "/" and "=" padding turn up as they do live
// and every place that carries a token in a URL must encode it.
func newToken() string {
	n, err := rand.Int(rand.Reader, big.NewInt(3))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b := make([]byte, 33+n.Int64())
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// pathCode returns the authorization_code path parameter, unescaped: Echo
// routes on the raw path when the request escaped something (as "|" is), and
// then hands out the parameter still escaped.
func pathCode(c echo.Context) (string, error) {
	code := c.Param("authorization_code")
	if c.Request().URL.RawPath != "" {
		var err error
		if code, err = url.PathUnescape(code); err != nil {
			return "", paramError("authorization_code 编码错误")
		}
	}
	if !authorizationCodeRE.MatchString(code) {
		return "", paramError("authorization_code 只能由数字、大小写字母_-|*组成,长度 1 到 32")
	}
	return code, nil
}

// queryResponse is the answer of the query call, field names as the spec.
type queryResponse struct {
	AppID                    string `json:"appid"`
	MchID                    string `json:"mchid"`
	ServiceID                string `json:"service_id"`
	ChannelID                string `json:"channel_id,omitempty"`
	SubMchID                 string `json:"sub_mchid,omitempty"`
	SubAppID                 string `json:"sub_appid,omitempty"`
	AuthorizationCode        string `json:"authorization_code,omitempty"`
	AuthorizationState       string `json:"authorization_state"`
	NotifyURL                string `json:"notify_url,omitempty"`
	OpenID                   string `json:"openid,omitempty"`
	SubOpenID                string `json:"sub_openid,omitempty"`
	UserLabel                string `json:"user_label,omitempty"`
	AuthorizationSuccessTime string `json:"authorization_success_time,omitempty"`
	CancelAuthorizationTime  string `json:"cancel_authorization_time,omitempty"`
}

// query is GET …/permissions/authorization-code/{authorization_code}.
func (s *Sandbox) query(c echo.Context, _ []byte) (int, any, error) {
	code, err := pathCode(c)
	if err != nil {
		return 0, nil, err
	}
	q := c.QueryParams()
	if err := checkChannel(q.Get("service_id"), q.Get("channel_id"), q.Get("sub_mchid")); err != nil {
		return 0, nil, err
	}
	a, err := s.Authorization(c.Request().Context(), code)
	if errors.Is(err, ErrNotFound) || (err == nil && a.SubMchID != q.Get("sub_mchid")) {
		// Another sub-merchant's code does not exist for this caller.
		return 0, nil, errOrderNotExist
	}
	if err != nil {
		return 0, nil, err
	}
	r := queryResponse{
		AppID: a.AppID, MchID: mchID, ServiceID: a.ServiceID, ChannelID: a.ChannelID,
		SubMchID: a.SubMchID, SubAppID: a.SubAppID, AuthorizationCode: a.Code,
		AuthorizationState: a.State, NotifyURL: a.NotifyURL,
		AuthorizationSuccessTime: rfc3339(a.SuccessTime), CancelAuthorizationTime: rfc3339(a.CancelTime),
	}
	// Only one of openid / sub_openid: sub_openid when a sub_appid was given.
	if a.SubAppID != "" {
		r.SubOpenID = a.OpenID
	} else {
		r.OpenID = a.OpenID
	}
	// "仅授权成功时返回": the label only while the authorization stands.
	if a.State == StateAvailable {
		r.UserLabel = a.UserLabel
	}
	return http.StatusOK, r, nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(beijing).Format(time.RFC3339)
}

type terminateRequest struct {
	ServiceID string `json:"service_id"`
	ChannelID string `json:"channel_id"`
	SubMchID  string `json:"sub_mchid"`
	Reason    string `json:"reason"`
}

// terminate is POST …/authorization-code/{authorization_code}/terminate.
func (s *Sandbox) terminate(c echo.Context, body []byte) (int, any, error) {
	code, err := pathCode(c)
	if err != nil {
		return 0, nil, err
	}
	var req terminateRequest
	if err := decodeBody(body, &req); err != nil {
		return 0, nil, err
	}
	if err := checkChannel(req.ServiceID, req.ChannelID, req.SubMchID); err != nil {
		return 0, nil, err
	}
	if e := checkString("reason", req.Reason, 50, true); e != nil {
		return 0, nil, e
	}
	err = s.close(c.Request().Context(), code, req.SubMchID, req.Reason)
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil, errOrderNotExist
	case errors.Is(err, ErrInvalidState):
		return 0, nil, errInvalidOrderState
	case err != nil:
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// close ends an AVAILABLE authorization and queues its close notification;
// subMchID "" skips the ownership check (the user closing it in WeChat).
func (s *Sandbox) close(ctx context.Context, code, subMchID, reason string) error {
	err := s.update(ctx, func(tx *sql.Tx, now time.Time) error {
		a, err := findAuthorization(ctx, tx, code)
		if err != nil {
			return err
		}
		if subMchID != "" && a.SubMchID != subMchID {
			return ErrNotFound
		}
		if a.State != StateAvailable {
			return ErrInvalidState
		}
		if err := setClosed(ctx, tx, code, reason, now); err != nil {
			return err
		}
		a.State, a.CancelTime = StateUnavailable, now
		_, err = s.queueNotification(ctx, tx, now, a, eventClose)
		return err
	})
	if err == nil {
		s.poke()
	}
	return err
}

// logCall records a verified call on arrival.
func (s *Sandbox) logCall(c echo.Context, body []byte) error {
	code, _ := pathCode(c)
	if code == "" {
		var b struct {
			Code string `json:"authorization_code"`
		}
		_ = json.Unmarshal(body, &b)
		code = b.Code
	}
	return s.update(c.Request().Context(), func(tx *sql.Tx, now time.Time) error {
		return insertCall(c.Request().Context(), tx, Call{At: now, Method: c.Request().Method, Path: c.Request().URL.Path, AuthorizationCode: code})
	})
}

// Call is one verified API call the simulator received.
type Call struct {
	At                time.Time
	Method, Path      string
	AuthorizationCode string
}

// Calls lists the verified API calls for an authorization_code, oldest first.
func (s *Sandbox) Calls(ctx context.Context, code string) ([]Call, error) {
	return s.db.listCalls(ctx, code)
}
