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
	next := safeNext(c.QueryParam("next"))
	var target string
	var flow service.OIDCFlow
	var err error
	if id := currentIdentity(c); c.QueryParam("stepup") == "1" && id != nil && id.User.SSOSubject != "" {
		target, flow, err = o.BeginStepUp(c.Request().Context(), id.User, next)
	} else {
		target, flow, err = o.Begin(c.Request().Context(), next)
	}
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
	cb := service.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
	if id := currentIdentity(c); flow.StepUp && id != nil {
		// A step-up: the session stays, its authentication is renewed.
		if err := o.CompleteStepUp(c.Request().Context(), actor(c), id.User, hashID(id.Session.ID), flow, cb); err != nil {
			return h.ssoRefused(c, err)
		}
		return c.Redirect(http.StatusSeeOther, safeNext(flow.Next))
	}
	user, err := o.Complete(c.Request().Context(), c.RealIP(), flow, cb)
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

// ssoStepUpHref is where a signed-in single sign-on user confirms who they
// are at the provider before a dangerous act, coming back to back; "" for
// anyone else (they give a code or their password).
func (h *Handler) ssoStepUpHref(c echo.Context, back string) string {
	id := currentIdentity(c)
	if h.Services.OIDC == nil || id == nil || id.User.SSOSubject == "" {
		return ""
	}
	return "/login/oidc?stepup=1&next=" + url.QueryEscape(safeNext(back))
}

// refererPath is the path (and query) of the same-origin page a request
// came from, or "/".
func (h *Handler) refererPath(c echo.Context) string {
	u, err := url.Parse(c.Request().Referer())
	if err != nil || h.BaseURL == nil || u.Host != h.BaseURL.Host {
		return "/"
	}
	return safeNext(u.RequestURI())
}
