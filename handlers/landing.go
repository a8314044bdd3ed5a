package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// minWeChatVersion is the oldest WeChat whose JSAPI has openBusinessView
// (the spec: "要求用户微信版本>=7.0.5").
const minWeChatVersion = "7.0.5"

// jsAPIList is what the landing page's wx.config asks for.
var jsAPIList = []string{"checkJsApi", "openBusinessView"}

// wechatUA finds WeChat's version in a User-Agent, as the spec's example does.
var wechatUA = regexp.MustCompile(`(?i)MicroMessenger/([0-9][0-9.]*)`)

// slugPattern is what randomSlug makes; anything else is not looked up.
var slugPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// wechatVersion returns the WeChat version in a User-Agent, and whether the
// browser is WeChat's at all.
func wechatVersion(ua string) (string, bool) {
	m := wechatUA.FindStringSubmatch(ua)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// compareVersions compares dotted versions numerically part by part (7.0.10
// is above 7.0.5); a missing or empty part counts as 0.
func compareVersions(a, b string) int {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(x), len(y)); i++ {
		var p, q int
		if i < len(x) {
			p, _ = strconv.Atoi(x[i])
		}
		if i < len(y) {
			q, _ = strconv.Atoi(y[i])
		}
		if p != q {
			if p > q {
				return 1
			}
			return -1
		}
	}
	return 0
}

// landingCSP is the landing page's policy: the console's, plus the JS-SDK's
// origin for scripts and our own frames (the sandbox's consent page opens in
// one). No inline script, so no nonce.
func (h *Handler) landingCSP() string {
	script := "script-src 'self'"
	if origin := scriptOrigin(h.JSSDKURL); origin != "" {
		script += " " + origin
	}
	return "default-src 'self'; " + script + "; connect-src 'self'; frame-src 'self'; img-src 'self' data:; " +
		"style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
}

// scriptOrigin is scheme://host of an absolute URL, or "".
func scriptOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// renderLanding writes the landing page in Chinese (its users are in
// WeChat on a phone) with its own CSP, never cached: its wx.config
// signature and token are of the moment.
func (h *Handler) renderLanding(c echo.Context, status int, v views.LandingView) error {
	var buf bytes.Buffer
	ctx := views.WithLang(c.Request().Context(), views.LangZH)
	if err := views.LandingPage(v).Render(ctx, &buf); err != nil {
		return errInternal(err)
	}
	hd := c.Response().Header()
	hd.Set("Content-Security-Policy", h.landingCSP())
	hd.Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// landingPaused reports whether the emergency switch is on.
func (h *Handler) landingPaused(c echo.Context) (bool, error) {
	p, err := h.Services.Emergency.State(c.Request().Context())
	return p.Paused, err
}

// landingLink finds the link of the :slug parameter; ErrNotFound if none.
func (h *Handler) landingLink(c echo.Context) (*store.Link, error) {
	slug := c.Param("slug")
	if !slugPattern.MatchString(slug) {
		return nil, store.ErrNotFound
	}
	return h.Services.Links.BySlug(c.Request().Context(), slug)
}

// landing is the end user's page. Its branches, in order: paused (503),
// unknown slug (404), already on, expired token (410: ask for a new link),
// not WeChat (open it there: this page's QR), WeChat below 7.0.5 (upgrade),
// and WeChat ≥ 7.0.5: a wx.config signed for this exact URL (503 if the
// ticket cannot be had). Only the last one calls into WeChat.
func (h *Handler) landing(c echo.Context) error {
	paused, err := h.landingPaused(c)
	if err != nil {
		return errInternal(err)
	}
	if paused {
		return h.renderLanding(c, http.StatusServiceUnavailable, views.LandingView{Mode: views.LandingPaused})
	}
	l, err := h.landingLink(c)
	if errors.Is(err, store.ErrNotFound) {
		return h.renderLanding(c, http.StatusNotFound, views.LandingView{Mode: views.LandingNotFound})
	}
	if err != nil {
		return errInternal(err)
	}
	if err := h.Services.Links.Opened(c.Request().Context(), l.ID); err != nil {
		// Counting is a nicety: the user still gets the page.
		h.Logger.Error("count link open", "link", l.ID, "err", err)
	}
	self := "/h5/" + l.Slug
	switch {
	case l.State == store.StateAvailable:
		return h.renderLanding(c, http.StatusOK, views.LandingView{Mode: views.LandingDone})
	case !h.Now().Before(l.TokenExpiresAt):
		return h.renderLanding(c, http.StatusGone, views.LandingView{Mode: views.LandingExpired})
	}
	version, inWeChat := wechatVersion(c.Request().UserAgent())
	if !inWeChat {
		return h.renderLanding(c, http.StatusOK, views.LandingView{Mode: views.LandingOutside, QRURL: self + "/qr.png"})
	}
	if compareVersions(version, minWeChatVersion) < 0 {
		return h.renderLanding(c, http.StatusOK, views.LandingView{Mode: views.LandingUpgrade})
	}
	if h.JSSDK == nil {
		h.Logger.Error("landing page: no JS-SDK signer configured")
		return h.renderLanding(c, http.StatusServiceUnavailable, views.LandingView{Mode: views.LandingUnavailable})
	}
	// The exact URL the browser shows, as WeChat checks it: BASE_URL and the
	// request URI (query included), without a fragment.
	pageURL := h.baseURL() + c.Request().RequestURI
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	cfg, err := h.JSSDK.Config(c.Request().Context(), pageURL)
	if err != nil {
		h.Logger.Error("landing page: JS-SDK configuration failed", "link", l.ID, "err", err)
		return h.renderLanding(c, http.StatusServiceUnavailable, views.LandingView{Mode: views.LandingUnavailable})
	}
	return h.renderLanding(c, http.StatusOK, views.LandingView{
		Mode:  views.LandingReady,
		Token: l.Token,
		Config: views.LandingConfig{AppID: cfg.AppID, Timestamp: cfg.Timestamp, NonceStr: cfg.NonceStr,
			Signature: cfg.Signature, JSAPIList: jsAPIList},
		JSSDKURL:  h.JSSDKURL,
		StatusURL: self + "/status",
	})
}

// landingStatus is the authorization's state for the landing page's
// polling: {"state": "UNBINDUSER" | "AVAILABLE" | "UNAVAILABLE"}.
func (h *Handler) landingStatus(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	l, err := h.landingLink(c)
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusNotFound, map[string]string{"state": ""})
	}
	if err != nil {
		return errInternal(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"state": l.State})
}

// landingQR is the QR code of a landing page, shown on it when it is
// opened outside WeChat.
func (h *Handler) landingQR(c echo.Context) error {
	l, err := h.landingLink(c)
	if errors.Is(err, store.ErrNotFound) {
		return c.NoContent(http.StatusNotFound)
	}
	if err != nil {
		return errInternal(err)
	}
	return h.qrPNG(c, h.landingURL(l.Slug), "public, max-age=86400")
}
