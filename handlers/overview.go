package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/views"
)

func (h *Handler) overview(c echo.Context) error {
	ctx := h.langContext(c)
	id := currentIdentity(c)
	return h.render(c, http.StatusOK, views.OverviewPage(h.page(c, views.T(ctx, "overview.title")), views.OverviewView{Username: id.User.Username}))
}
