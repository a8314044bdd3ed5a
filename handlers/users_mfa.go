package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// userParam is the :id of a /users/:id route.
func userParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return 0, errNotFound()
	}
	return id, nil
}

// resetMFA is POST /users/:id/mfa-reset: an admin removes another user's
// two-factor (lost phone); their sessions end and they enrol again at the
// next sign-in. Behind step-up; audited auth.mfa_reset.
func (h *Handler) resetMFA(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := userParam(c)
	if err != nil {
		return err
	}
	u, err := h.Services.MFA.Reset(c.Request().Context(), actor(c), id)
	if err != nil {
		if service.KindOf(err) == service.Internal {
			return errInternal(err)
		}
		return err
	}
	h.addFlash(c, "success", views.Tf(ctx, "users.mfa.reset.ok", u.Username))
	return c.Redirect(http.StatusSeeOther, "/users")
}

// revokeUserSession is POST /users/:id/sessions/:sid/revoke.
func (h *Handler) revokeUserSession(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := userParam(c)
	if err != nil {
		return err
	}
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	if err := h.Services.Sessions.Revoke(c.Request().Context(), actor(c), id, sid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound()
		}
		return errInternal(err)
	}
	h.addFlash(c, "success", views.T(ctx, "sessions.revoked"))
	return c.Redirect(http.StatusSeeOther, "/users")
}

// revokeUserSessions is POST /users/:id/sessions/revoke-all: every session
// of the user ends (the admin's own included, when it is their own).
func (h *Handler) revokeUserSessions(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := userParam(c)
	if err != nil {
		return err
	}
	n, err := h.Services.Sessions.RevokeAll(c.Request().Context(), actor(c), id, "")
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound()
		}
		return errInternal(err)
	}
	h.addFlash(c, "success", views.Tn(ctx, "sessions.revoked.others", int(n)))
	return c.Redirect(http.StatusSeeOther, "/users")
}
