package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/views"
)

// setAutoRenew switches a link's renewal on opening: field auto_renew = 1
// or 0. Audited by the service; 303 back to the link.
func (h *Handler) setAutoRenew(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	var on bool
	switch c.FormValue("auto_renew") {
	case "1":
		on = true
	case "0":
	default:
		return errBadRequest()
	}
	if err := h.Services.AutoRenew.Set(c.Request().Context(), actor(c), id, on); err != nil {
		return err
	}
	key := "links.autorenew.ok.off"
	if on {
		key = "links.autorenew.ok.on"
	}
	h.addFlash(c, "success", views.T(ctx, key))
	return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(id, 10))
}
