package sandbox

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// mpLifetime is how long an access_token or jsapi_ticket lives (expires_in).
const mpLifetime = 7200 * time.Second

// mpError is the official account API's error shape; it comes with HTTP 200.
type mpError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s *Sandbox) mpJSON(c echo.Context, v any) error {
	body, err := marshalJSON(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Type", "application/json; encoding=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(body)
	return err
}

// issueMPToken stores a new access_token or jsapi_ticket valid for 7200 s.
// Several stay valid at once, as WeChat's do while a new one takes over.
func (s *Sandbox) issueMPToken(ctx context.Context, kind string, n int) (string, error) {
	v := randString(n, alnum+"_-")
	err := s.update(ctx, func(tx *sql.Tx, now time.Time) error {
		// Long-expired values are forgotten so the table does not grow forever.
		return insertMPToken(ctx, tx, v, kind, now, now.Add(mpLifetime))
	})
	if err != nil {
		return "", fmt.Errorf("sandbox: issue %s: %w", kind, err)
	}
	return v, nil
}

// mpToken is GET /cgi-bin/token?grant_type=client_credential&appid=&secret=.
func (s *Sandbox) mpToken(c echo.Context) error {
	q := c.QueryParams()
	switch {
	case q.Get("grant_type") != "client_credential":
		return s.mpJSON(c, mpError{40002, "invalid grant_type"})
	case q.Get("appid") != appID:
		return s.mpJSON(c, mpError{40013, "invalid appid"})
	case subtle.ConstantTimeCompare([]byte(q.Get("secret")), []byte(s.id.mpSecret)) != 1:
		return s.mpJSON(c, mpError{40001, "invalid credential, access_token is invalid or not latest"})
	}
	tok, err := s.issueMPToken(c.Request().Context(), "access_token", 136)
	if err != nil {
		return err
	}
	return s.mpJSON(c, map[string]any{"access_token": tok, "expires_in": int(mpLifetime.Seconds())})
}

// Stable access_token rules, as getStableAccessToken documents them.
const (
	// stableRenewAhead: in normal mode the platform renews the token five
	// minutes before it expires (the old one stays valid until then).
	stableRenewAhead = 5 * time.Minute
	// stableForcePerDay and stableForceGap bound force_refresh: 20 a day,
	// 30 s apart.
	stableForcePerDay = 20
	stableForceGap    = 30 * time.Second
)

// stableTokenRequest is the JSON body of POST /cgi-bin/stable_token.
type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh *bool  `json:"force_refresh"`
}

// mpStableToken is POST /cgi-bin/stable_token (getStableAccessToken): JSON
// {grant_type, appid, secret, force_refresh}. Normal mode
// (force_refresh false or absent) answers the same access_token for as long
// as it is valid, with expires_in the seconds it has left, and a new one
// only in its last five minutes (the old one still valid until it expires):
// any number of callers, on any number of servers, share one token and
// never invalidate each other's. force_refresh true revokes it and issues a
// new one, at most 20 times a day and 30 s apart. Its tokens are apart
// from /cgi-bin/token's; /cgi-bin/ticket/getticket accepts both.
func (s *Sandbox) mpStableToken(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 16<<10))
	if err != nil {
		return err
	}
	var req stableTokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return s.mpJSON(c, mpError{47001, "data format error"})
	}
	switch {
	case req.GrantType != "client_credential":
		return s.mpJSON(c, mpError{40002, "invalid grant_type"})
	case req.AppID != appID:
		return s.mpJSON(c, mpError{40013, "invalid appid"})
	case subtle.ConstantTimeCompare([]byte(req.Secret), []byte(s.id.mpSecret)) != 1:
		return s.mpJSON(c, mpError{40125, "invalid appsecret"})
	}
	force := req.ForceRefresh != nil && *req.ForceRefresh
	ctx := c.Request().Context()
	var tok string
	var exp time.Time
	var refused *mpError
	err = s.update(ctx, func(tx *sql.Tx, now time.Time) error {
		if !force {
			v, e, err := stableToken(ctx, tx, now.Add(stableRenewAhead))
			if err == nil {
				tok, exp = v, e
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		} else {
			n, last, err := forcedSince(ctx, tx, now.Add(-24*time.Hour))
			if err != nil {
				return err
			}
			if lt, perr := time.Parse(timeFormat, last); perr == nil && now.Sub(lt) < stableForceGap {
				refused = &mpError{45011, "api minute-quota reach limit  mustslower  retry next minute"}
				return nil
			}
			if n >= stableForcePerDay {
				refused = &mpError{45009, "reach max api daily quota limit"}
				return nil
			}
			if err := revokeStableTokens(ctx, tx); err != nil {
				return err
			}
		}
		tok, exp = randString(136, alnum+"_-"), now.Add(mpLifetime)
		return insertStableToken(ctx, tx, tok, force, now, exp)
	})
	if err != nil {
		return fmt.Errorf("sandbox: stable_token: %w", err)
	}
	if refused != nil {
		return s.mpJSON(c, *refused)
	}
	left := int(exp.Sub(s.now()).Seconds())
	return s.mpJSON(c, map[string]any{"access_token": tok, "expires_in": left})
}

// mpTicket is GET /cgi-bin/ticket/getticket?access_token=&type=jsapi.
func (s *Sandbox) mpTicket(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	at := q.Get("access_token")
	if at == "" {
		return s.mpJSON(c, mpError{41001, "access_token missing"})
	}
	exp, err := s.db.accessTokenExpiry(ctx, at)
	if errors.Is(err, ErrNotFound) {
		return s.mpJSON(c, mpError{40001, "invalid credential, access_token is invalid or not latest"})
	}
	if err != nil {
		return err
	}
	if !s.now().Before(exp) {
		return s.mpJSON(c, mpError{42001, "access_token expired"})
	}
	if q.Get("type") != "jsapi" {
		return s.mpJSON(c, mpError{40097, "invalid args"})
	}
	ticket, err := s.issueMPToken(ctx, "jsapi_ticket", 86)
	if err != nil {
		return err
	}
	return s.mpJSON(c, map[string]any{"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": int(mpLifetime.Seconds())})
}

// jssdkConfig is what the shim's wx.config posts to /jssdk/verify.
type jssdkConfig struct {
	AppID string `json:"appId"`
	// Timestamp may be a number or a string: its text as given is what the
	// page signed.
	Timestamp json.RawMessage `json:"timestamp"`
	NonceStr  string          `json:"nonceStr"`
	Signature string          `json:"signature"`
	URL       string          `json:"url"`
}

// JSSDKResult is the answer of /jssdk/verify to the shim.
type JSSDKResult struct {
	OK     bool   `json:"ok"`
	ErrMsg string `json:"errMsg"`           // "config:ok" or what wx.error receives
	Reason string `json:"reason,omitempty"` // why, for the red banner
}

// VerifyJSSDK checks a wx.config signature as WeChat does: the SHA-1 hex of
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" under any jsapi_ticket still
// valid, where url is the page's address without its fragment.
func (s *Sandbox) VerifyJSSDK(ctx context.Context, appIDArg, timestamp, nonceStr, url, signature string) (JSSDKResult, error) {
	if appIDArg != appID {
		return JSSDKResult{ErrMsg: "config:invalid appid", Reason: "appId 不是沙箱公众号 " + appID}, nil
	}
	if timestamp == "" || nonceStr == "" || signature == "" || url == "" {
		return JSSDKResult{ErrMsg: "config:invalid signature", Reason: "timestamp、nonceStr、signature 均为必填"}, nil
	}
	if i := strings.IndexByte(url, '#'); i >= 0 {
		return JSSDKResult{ErrMsg: "config:invalid url domain", Reason: "url 不能含 #"}, nil
	}
	live, err := s.db.liveTickets(ctx, s.now())
	if err != nil {
		return JSSDKResult{}, err
	}
	tickets := 0
	for _, ticket := range live {
		tickets++
		sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonceStr + "&timestamp=" + timestamp + "&url=" + url))
		if strings.EqualFold(hex.EncodeToString(sum[:]), signature) {
			return JSSDKResult{OK: true, ErrMsg: "config:ok"}, nil
		}
	}
	reason := "签名与任何有效的 jsapi_ticket 都不符(签名串 jsapi_ticket=…&noncestr=" + nonceStr +
		"&timestamp=" + timestamp + "&url=" + url + ")"
	if tickets == 0 {
		reason = "没有有效的 jsapi_ticket:服务端应先调用 /cgi-bin/ticket/getticket"
	}
	return JSSDKResult{ErrMsg: "config:invalid signature", Reason: reason}, nil
}

// jssdkVerify is POST /jssdk/verify, called by the shim's wx.config.
func (s *Sandbox) jssdkVerify(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 16<<10))
	if err != nil {
		return err
	}
	var raw jssdkConfig
	if err := json.Unmarshal(body, &raw); err != nil {
		return c.JSON(http.StatusBadRequest, JSSDKResult{ErrMsg: "config:fail", Reason: "请求不是合法的 JSON"})
	}
	ts := strings.Trim(string(raw.Timestamp), `"`)
	res, err := s.VerifyJSSDK(c.Request().Context(), raw.AppID, ts, raw.NonceStr, raw.URL, raw.Signature)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
