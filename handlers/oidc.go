package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/views"
)

// Single sign-on (OIDC): GET /login/oidc sends the browser to the identity
// provider with a fresh state, nonce and PKCE challenge; the three secrets
// wait in a signed, HttpOnly, SameSite=Lax cookie bound to this browser for
// at most service.OIDCFlowTTL. GET /login/oidc/callback takes the browser
// back: the service checks the state against the cookie's, exchanges the
// code, verifies the ID token and its nonce and finds or creates the user;
// then the sign-in ends in startSession, the same as a password's.

// oidcCookie is the flow cookie's name.
func (h *Handler) oidcCookie() string {
	if h.secure() {
		return "__Host-oidc"
	}
	return "oidc"
}

// ssoOffer adds the single sign-on offer to the sign-in form.
func (h *Handler) ssoOffer(f views.LoginForm) views.LoginForm {
	if h.Services == nil {
		return f
	}
	if h.Services.Auth != nil {
		f.LocalLoginOff = h.Services.Auth.LocalLoginOff
	}
	if o := h.Services.OIDC; o != nil {
		href := "/login/oidc"
		if f.Next != "/" && f.Next != "" {
			href += "?next=" + url.QueryEscape(f.Next)
		}
		f.SSO = &views.SSOOption{Name: o.ProviderName(), Href: href}
	}
	return f
}

// oidcStart begins a single sign-on.
func (h *Handler) oidcStart(c echo.Context) error {
	o := h.Services.OIDC
	if o == nil {
		return echo.ErrNotFound
	}
	target, flow, err := o.Begin(c.Request().Context(), safeNext(c.QueryParam("next")))
	if err != nil {
		return h.ssoRefused(c, err)
	}
	encoded, err := h.Sessions.codec.Encode(h.oidcCookie(), flow)
	if err != nil {
		return errInternal(err)
	}
	writeCookie(c.Response(), &http.Cookie{Name: h.oidcCookie(), Value: encoded, Path: "/",
		MaxAge: int(service.OIDCFlowTTL.Seconds()), HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}

// oidcCallback finishes a single sign-on. The flow cookie is used once:
// it is cleared whatever the outcome.
func (h *Handler) oidcCallback(c echo.Context) error {
	o := h.Services.OIDC
	if o == nil {
		return echo.ErrNotFound
	}
	var flow service.OIDCFlow
	if ck, err := c.Cookie(h.oidcCookie()); err == nil {
		if err := h.Sessions.codec.Decode(h.oidcCookie(), ck.Value, &flow); err != nil {
			flow = service.OIDCFlow{}
		}
	}
	writeCookie(c.Response(), &http.Cookie{Name: h.oidcCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	q := c.QueryParams()
	user, err := o.Complete(c.Request().Context(), c.RealIP(), flow, service.Callback{
		State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"), ErrorDescription: q.Get("error_description")})
	if err != nil {
		return h.ssoRefused(c, err)
	}
	return h.startSession(c, user, safeNext(flow.Next))
}

// ssoRefused renders why single sign-on did not sign the person in: 400
// for a flow this browser did not start (or that expired), 502 when the
// provider cannot be reached, 403 otherwise.
func (h *Handler) ssoRefused(c echo.Context, err error) error {
	var r *service.SSORefusal
	if !errors.As(err, &r) {
		return errInternal(err)
	}
	status := http.StatusForbidden
	switch r.Reason {
	case service.SSOReasonState:
		status = http.StatusBadRequest
	case service.SSOReasonProvider:
		status = http.StatusBadGateway
	}
	ctx := h.langContext(c)
	p := h.page(c, views.T(ctx, "sso.refused.title"))
	return h.render(c, status, views.SSORefusedPage(p, views.SSORefusedView{Reason: r.Reason, Message: views.T(ctx, service.KeyOf(err))}))
}
