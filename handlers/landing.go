package handlers

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// jsAPIList is what the landing page's wx.config asks for.
var jsAPIList = []string{"checkJsApi", "openBusinessView"}

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

// landingLink finds the link of the :slug parameter; ErrNotFound if none.
func (h *Handler) landingLink(c echo.Context) (*store.Link, error) {
	return h.Services.Landing.Link(c.Request().Context(), c.Param("slug"))
}

// landing is the end user's page. Its branches, in order: paused (503),
// unknown slug (404), already on, expired token (410: ask for a new link),
// not WeChat (open it there: this page's QR), WeChat below 7.0.5 (upgrade),
// and WeChat ≥ 7.0.5: a wx.config signed for this exact URL (503 if the
// ticket cannot be had). Only the last one calls into WeChat.
func (h *Handler) landing(c echo.Context) error {
	visit, err := h.Services.Landing.Visit(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return errInternal(err)
	}
	switch visit.Mode {
	case service.LandingPaused:
		return h.renderLanding(c, http.StatusServiceUnavailable, views.LandingView{Mode: views.LandingPaused})
	case service.LandingNotFound:
		return h.renderLanding(c, http.StatusNotFound, views.LandingView{Mode: views.LandingNotFound})
	case service.LandingDisabled:
		// A disabled sub-merchant issues nothing: no token, no JS-SDK.
		return h.renderLanding(c, http.StatusForbidden, views.LandingView{Mode: views.LandingDisabled})
	case service.LandingDone:
		return h.renderLanding(c, http.StatusOK, views.LandingView{Mode: views.LandingDone})
	case service.LandingExpired:
		return h.renderLanding(c, http.StatusGone, views.LandingView{Mode: views.LandingExpired})
	}
	l := visit.Link
	self := "/h5/" + l.Slug
	inWeChat, supported := payscore.OpenBusinessViewSupported(c.Request().UserAgent())
	if !inWeChat {
		return h.renderLanding(c, http.StatusOK, views.LandingView{Mode: views.LandingOutside, QRURL: self + "/qr.png"})
	}
	if !supported {
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
