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

// landing is the end user's page. Its branches, in order (the service
// decides the first ones): paused (503), unknown slug (404), already on (a
// clean "已开启"), ended (410: the authorization was closed), not WeChat (a
// phone: copy the link into WeChat; a desktop: this page's QR), WeChat below
// 7.0.5 (upgrade), an expired token (renewed on the spot by the service,
// unless switched off or just tried: 410 / 503 saying what to do), and
// WeChat ≥ 7.0.5: a wx.config signed for this exact URL (503 if the ticket
// cannot be had). Every branch names the merchant. The funnel counts the
// open and the version check's outcome.
func (h *Handler) landing(c echo.Context) error {
	rctx := c.Request().Context()
	visit, err := h.Services.Landing.Visit(rctx, c.Param("slug"))
	if err != nil {
		return errInternal(err)
	}
	var v views.LandingView
	l := visit.Link
	if l != nil {
		v.MerchantName = l.SubMerchantName
	}
	switch visit.Mode {
	case service.LandingPaused:
		v.Mode = views.LandingPaused
		return h.renderLanding(c, http.StatusServiceUnavailable, v)
	case service.LandingNotFound:
		v.Mode = views.LandingNotFound
		return h.renderLanding(c, http.StatusNotFound, v)
	case service.LandingDisabled:
		// A disabled sub-merchant issues nothing: no token, no JS-SDK.
		v.Mode = views.LandingDisabled
		return h.renderLanding(c, http.StatusForbidden, v)
	}
	h.funnelStep(c, l.ID, store.FunnelOpened)
	switch visit.Mode {
	case service.LandingDone:
		v.Mode = views.LandingDone
		return h.renderLanding(c, http.StatusOK, v)
	case service.LandingEnded:
		v.Mode = views.LandingEnded
		if l.RenewedTo != 0 {
			if next, err := h.Services.Links.ByID(rctx, l.RenewedTo); err == nil {
				v.NextURL = "/h5/" + next.Slug
			}
		}
		return h.renderLanding(c, http.StatusGone, v)
	}
	self := "/h5/" + l.Slug
	ua := c.Request().UserAgent()
	inWeChat, supported := payscore.OpenBusinessViewSupported(ua)
	if !inWeChat {
		h.funnelStep(c, l.ID, store.FunnelCheckOutside)
		v.Mode, v.QRURL, v.Phone, v.PageURL = views.LandingOutside, self+"/qr.png", isPhone(ua), h.landingURL(l.Slug)
		return h.renderLanding(c, http.StatusOK, v)
	}
	if !supported {
		h.funnelStep(c, l.ID, store.FunnelCheckOld)
		v.Mode = views.LandingUpgrade
		return h.renderLanding(c, http.StatusOK, v)
	}
	h.funnelStep(c, l.ID, store.FunnelCheckOK)
	opened := l
	if l, err = h.Services.AutoRenew.OnOpen(rctx, l); err != nil {
		v.Mode, v.ExpiredKey = views.LandingExpired, "landing.expired.merchant"
		status := http.StatusGone
		switch {
		case errors.Is(err, service.ErrAutoRenewLimited):
			v.ExpiredKey, status = "landing.expired.retry", http.StatusServiceUnavailable
		case service.KindOf(err) == service.Upstream:
			v.ExpiredKey, status = "landing.expired.upstream", http.StatusServiceUnavailable
		case service.KindOf(err) == service.Internal:
			h.Logger.Error("landing page: renewal failed", "link", l.ID, "err", err)
			v.ExpiredKey, status = "landing.expired.upstream", http.StatusServiceUnavailable
		}
		return h.renderLanding(c, status, v)
	}
	if l.ID != opened.ID {
		// Renewed with a new code (one code, one user): its own page.
		return c.Redirect(http.StatusSeeOther, "/h5/"+l.Slug)
	}
	if h.JSSDK == nil {
		h.Logger.Error("landing page: no JS-SDK signer configured")
		v.Mode = views.LandingUnavailable
		return h.renderLanding(c, http.StatusServiceUnavailable, v)
	}
	// The exact URL the browser shows, as WeChat checks it: BASE_URL and the
	// request URI (query included), without a fragment.
	pageURL := h.baseURL() + c.Request().RequestURI
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	cfg, err := h.JSSDK.Config(rctx, pageURL)
	if err != nil {
		h.Logger.Error("landing page: JS-SDK configuration failed", "link", l.ID, "err", err)
		v.Mode = views.LandingUnavailable
		return h.renderLanding(c, http.StatusServiceUnavailable, v)
	}
	v.Mode, v.Token = views.LandingReady, l.Token
	v.Config = views.LandingConfig{AppID: cfg.AppID, Timestamp: cfg.Timestamp, NonceStr: cfg.NonceStr,
		Signature: cfg.Signature, JSAPIList: jsAPIList}
	v.JSSDKURL, v.StatusURL, v.EventURL = h.JSSDKURL, self+"/status", self+"/event"
	if v.BeaconToken, err = h.Services.Funnel.BeaconToken(rctx, l.ID, h.Now()); err != nil {
		h.Logger.Error("landing page: beacon token", "link", l.ID, "err", err) // the page works without its counts
	}
	return h.renderLanding(c, http.StatusOK, v)
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
