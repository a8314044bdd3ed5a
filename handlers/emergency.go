package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/views"
)

// emergencyView is the emergency switch's state, for views.EmergencySwitch
// wherever it is placed (the overview).
func (h *Handler) emergencyView(ctx context.Context) (views.EmergencyView, error) {
	p, err := h.Services.Emergency.State(ctx)
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
	if service.HasInvisible(reason) {
		errs["reason"] = views.T(ctx, service.KeyInvisible)
	} else if !service.ValidPauseReason(paused == "1", reason) {
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
	next := safeNext(c.FormValue("next"))
	if next == "/emergency" {
		next = "/"
	}
	if !confirmed(c) {
		// The confirm step (the same POST with confirm=1): nothing changes.
		return h.emergencyConfirm(c, paused == "1", reason, next)
	}
	if err := h.Services.Emergency.Set(c.Request().Context(), actor(c), paused == "1", reason); err != nil {
		return errInternal(err)
	}
	// Neither is a success to celebrate: a pause is a warning, a resume
	// neutral news.
	if paused == "1" {
		h.addFlash(c, "warn", views.T(ctx, "emergency.paused.ok"))
	} else {
		h.addFlash(c, "info", views.T(ctx, "emergency.resumed.ok"))
	}
	return c.Redirect(http.StatusSeeOther, next)
}
