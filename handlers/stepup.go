package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/views"
)

// heldForm is a form held across a step-up: sealed (encrypted and signed)
// into the step-up page, so that what was typed — a new user's password
// included — is neither shown nor kept on the server, and comes back only
// to the person and path it was sent from, within service.ReauthAfter.
type heldForm struct {
	UserID int64
	Path   string
	At     time.Time
	Values url.Values
}

const heldFormName = "stepup-form"

// needsReauth reports whether the person last authenticated (signed in or
// stepped up) longer ago than service.ReauthAfter.
func (h *Handler) needsReauth(c echo.Context) bool {
	id := currentIdentity(c)
	authAt, _ := id.Session.Values[valAuthAt].(time.Time)
	return authAt.IsZero() || h.Now().Sub(authAt) > service.ReauthAfter
}

// checkStepUp checks the request's fresh credential — field code (TOTP or
// recovery code) for a person with two-factor, password otherwise — and
// renews the session's authentication time when it is right. A wrong one is
// audited (failedAction for a password, auth.mfa_failed for a code) against
// target; too many end the session (ended), which is then signed out.
func (h *Handler) checkStepUp(c echo.Context, failedAction, target string) (ok, ended bool, err error) {
	id := currentIdentity(c)
	ok, ended, err = h.Services.MFA.StepUp(c.Request().Context(), actor(c), id.User, hashID(id.Session.ID),
		failedAction, target, c.FormValue("password"), c.FormValue("code"))
	if err != nil {
		return false, false, errInternal(err)
	}
	if ok {
		id.Session.Values[valAuthAt] = h.Now()
	}
	if ended {
		id.Session.Options.MaxAge = -1
		if err := id.Session.Save(c.Request(), c.Response()); err != nil {
			return false, false, errInternal(err)
		}
	}
	return ok, ended, nil
}

// stepUp guards a dangerous POST (users and roles, the emergency switch,
// sub-merchants): when the person's last authentication is older than
// service.ReauthAfter, the form is held and a step-up page asks for a
// fresh TOTP code (or the password, without two-factor); once it is
// right, the held form goes on to the handler as if just sent. Within
// service.ReauthAfter nothing is asked.
func (h *Handler) stepUp(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := currentIdentity(c)
		req := c.Request()
		if id == nil || req.Method != http.MethodPost {
			return next(c)
		}
		if c.FormValue("_stepup") != "1" {
			if !h.needsReauth(c) {
				return next(c)
			}
			if err := req.ParseForm(); err != nil {
				return errBadRequest()
			}
			vals := url.Values{}
			for k, v := range req.PostForm {
				if k != "_csrf" {
					vals[k] = append([]string(nil), v...)
				}
			}
			sealed, err := h.Sessions.Seal(heldFormName, heldForm{UserID: id.User.ID, Path: req.URL.Path, At: h.Now(), Values: vals})
			if err != nil {
				return errInternal(err)
			}
			return h.renderStepUp(c, http.StatusOK, sealed, "")
		}
		sealed := c.FormValue("_form")
		var held heldForm
		if err := h.Sessions.Unseal(heldFormName, sealed, &held); err != nil || held.UserID != id.User.ID ||
			held.Path != req.URL.Path || h.Now().Sub(held.At) > service.ReauthAfter || held.At.After(h.Now().Add(time.Minute)) {
			return &Error{Status: http.StatusBadRequest, Message: "stepup.err.expired"}
		}
		if h.needsReauth(c) {
			ok, ended, err := h.checkStepUp(c, service.AuditStepUpFailed, req.URL.Path)
			if err != nil {
				return err
			}
			if ended {
				return c.Redirect(http.StatusSeeOther, "/login")
			}
			if !ok {
				key := "stepup.err.password"
				if id.User.MFA {
					key = "stepup.err.code"
				}
				return h.renderStepUp(c, http.StatusUnprocessableEntity, sealed, views.T(h.langContext(c), key))
			}
		}
		// The held form goes on as the request's form; the URL's query
		// stays as it was.
		form := url.Values{}
		for k, v := range req.URL.Query() {
			form[k] = v
		}
		for k, v := range held.Values {
			form[k] = append(form[k], v...)
		}
		req.PostForm, req.Form = held.Values, form
		return next(c)
	}
}

func (h *Handler) renderStepUp(c echo.Context, status int, sealed, errText string) error {
	ctx := h.langContext(c)
	v := views.StepUpView{Action: c.Request().URL.Path, Held: sealed, NeedCode: currentIdentity(c).User.MFA, Error: errText,
		SSOHref: h.ssoStepUpHref(c, h.refererPath(c))}
	return h.render(c, status, views.StepUpPage(h.page(c, views.T(ctx, "stepup.title")), v))
}
