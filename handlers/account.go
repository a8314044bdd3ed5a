package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// account is GET /account: one's own password, two-factor and sessions.
func (h *Handler) account(c echo.Context) error {
	return h.renderAccount(c, http.StatusOK, views.AccountForms{Errors: map[string]string{}})
}

func (h *Handler) renderAccount(c echo.Context, status int, forms views.AccountForms) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	id := currentIdentity(c)
	st, err := h.Services.MFA.Status(rctx, id.User)
	if err != nil {
		return errInternal(err)
	}
	v := views.AccountView{
		Username: id.User.Username,
		Role:     id.User.Role,
		MFA: views.MFAStatus{Enabled: st.Enabled, Required: st.Required, EnabledAt: st.EnabledAt,
			RecoveryLeft: st.RecoveryLeft},
		Forms: forms,
	}
	if st.Pending != nil {
		png, err := views.QRPNG(st.Pending.URI)
		if err != nil {
			return errInternal(err)
		}
		v.MFA.Pending = &views.MFAEnrolment{URI: st.Pending.URI, Secret: st.Pending.Secret,
			QRDataURI: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}
	}
	rows, err := h.Services.Sessions.Of(rctx, id.User.ID)
	if err != nil {
		return errInternal(err)
	}
	v.Sessions = sessionRows(rows, hashID(id.Session.ID))
	return h.render(c, status, views.AccountPage(h.page(c, views.T(ctx, "account.title")), v))
}

// sessionRows shows sessions, marking the one whose id hashes to current.
func sessionRows(rows []store.Session, current string) []views.SessionRow {
	out := make([]views.SessionRow, 0, len(rows))
	for _, s := range rows {
		out = append(out, views.SessionRow{ID: s.ID, UserID: s.UserID, IP: s.IP, Browser: views.BrowserName(s.UserAgent),
			UserAgent: s.UserAgent, Started: s.CreatedAt, LastSeen: s.LastSeenAt, Current: s.IDHash == current})
	}
	return out
}

// changeOwnPassword is POST /account/password: current_password and the
// new password. Every session ends, this one too: sign in again.
func (h *Handler) changeOwnPassword(c echo.Context) error {
	ctx := h.langContext(c)
	err := h.Services.Users.ChangeOwnPassword(c.Request().Context(), actor(c), c.FormValue("current_password"), c.FormValue("password"))
	if service.KindOf(err) == service.Invalid && service.KeyOf(err) != "" {
		field := "password"
		if service.KeyOf(err) == "account.err.current" {
			field = "current_password"
		}
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountForms{Errors: map[string]string{field: views.T(ctx, service.KeyOf(err))}})
	}
	if err != nil {
		return errInternal(err)
	}
	return c.Redirect(http.StatusSeeOther, "/login?changed=1")
}

// beginMFA is POST /account/mfa/start: a new secret to scan.
func (h *Handler) beginMFA(c echo.Context) error {
	_, err := h.Services.MFA.Begin(c.Request().Context(), currentIdentity(c).User)
	if service.KindOf(err) == service.Conflict {
		return err
	}
	if err != nil {
		return errInternal(err)
	}
	return c.Redirect(http.StatusSeeOther, "/account#mfa")
}

// confirmMFA is POST /account/mfa: the first code from the app. The
// recovery codes are shown on this answer, once; only hashes are kept.
func (h *Handler) confirmMFA(c echo.Context) error {
	ctx := h.langContext(c)
	id := currentIdentity(c)
	codes, err := h.Services.MFA.Confirm(c.Request().Context(), actor(c), id.User, strings.TrimSpace(c.FormValue("code")))
	switch service.KindOf(err) {
	case service.Invalid:
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountForms{Errors: map[string]string{"code": views.T(ctx, service.KeyOf(err))}})
	case service.Conflict:
		return err
	}
	if err != nil {
		return errInternal(err)
	}
	id.User.MFA = true // for the navigation of this very answer
	return h.render(c, http.StatusOK, views.RecoveryCodesPage(h.page(c, views.T(ctx, "mfa.recovery.title")), views.RecoveryCodesView{Codes: codes}))
}

// revokeOwnSession is POST /account/sessions/:sid/revoke. Revoking the
// session in use signs out.
func (h *Handler) revokeOwnSession(c echo.Context) error {
	ctx := h.langContext(c)
	id := currentIdentity(c)
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	rows, err := h.Services.Sessions.Of(c.Request().Context(), id.User.ID)
	if err != nil {
		return errInternal(err)
	}
	current := false
	for _, s := range rows {
		current = current || s.ID == sid && s.IDHash == hashID(id.Session.ID)
	}
	if err := h.Services.Sessions.Revoke(c.Request().Context(), actor(c), id.User.ID, sid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound()
		}
		return errInternal(err)
	}
	if current {
		return c.Redirect(http.StatusSeeOther, "/login?bye=1")
	}
	h.addFlash(c, "success", views.T(ctx, "sessions.revoked"))
	return c.Redirect(http.StatusSeeOther, "/account#sessions")
}

// revokeOwnOtherSessions is POST /account/sessions/revoke-others: every
// session but this one ends.
func (h *Handler) revokeOwnOtherSessions(c echo.Context) error {
	ctx := h.langContext(c)
	id := currentIdentity(c)
	n, err := h.Services.Sessions.RevokeAll(c.Request().Context(), actor(c), id.User.ID, hashID(id.Session.ID))
	if err != nil {
		return errInternal(err)
	}
	h.addFlash(c, "success", views.Tn(ctx, "sessions.revoked.others", int(n)))
	return c.Redirect(http.StatusSeeOther, "/account#sessions")
}
