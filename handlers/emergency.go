package handlers

import (
	"context"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// maxPauseReason is the limit of the emergency switch's reason, in runes.
const maxPauseReason = 200

// emergencyView is the emergency switch's state, for views.EmergencySwitch
// wherever it is placed (the overview).
func (h *Handler) emergencyView(ctx context.Context) (views.EmergencyView, error) {
	p, err := h.Store.LandingPause(ctx)
	if err != nil {
		return views.EmergencyView{}, err
	}
	return views.EmergencyView{Paused: p.Paused, Reason: p.Reason, By: p.By, At: p.At}, nil
}

// emergency pauses every landing page (paused=1) or switches them back on
// (paused=0). Pausing needs a reason; both are audited. A refused switch is
// shown again with its message (422).
func (h *Handler) emergency(c echo.Context) error {
	ctx := h.langContext(c)
	paused := c.FormValue("paused")
	reason := strings.TrimSpace(c.FormValue("reason"))
	errs := map[string]string{}
	if paused != "1" && paused != "0" {
		errs["paused"] = views.T(ctx, "emergency.err.paused")
	}
	if (paused == "1" && reason == "") || !validReason(reason) {
		errs["reason"] = views.T(ctx, "emergency.err.reason")
	}
	if len(errs) > 0 {
		v, err := h.emergencyView(c.Request().Context())
		if err != nil {
			return errInternal(err)
		}
		v.FormReason, v.Errors = reason, errs
		return h.render(c, http.StatusUnprocessableEntity, views.EmergencyPage(h.page(c, views.T(ctx, "emergency.title")), v))
	}
	me := currentIdentity(c).User
	if err := h.Store.SetLandingPause(c.Request().Context(), paused == "1", reason, me.Username); err != nil {
		return errInternal(err)
	}
	action, flash := "landing.resume", "emergency.resumed.ok"
	if paused == "1" {
		action, flash = "landing.pause", "emergency.paused.ok"
	}
	h.audit(c, store.AuditEntry{Action: action, Target: "landing", Reason: reason, Result: "ok"})
	h.Logger.Warn("emergency switch", "action", action, "by", me.Username, "reason", reason)
	h.addFlash(c, "success", views.T(ctx, flash))
	next := safeNext(c.FormValue("next"))
	if next == "/emergency" {
		next = "/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// validReason: at most maxPauseReason runes, valid UTF-8, no control characters.
func validReason(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxPauseReason {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
