package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

func (h *Handler) subMerchants(c echo.Context) error {
	return h.renderSubMerchants(c, http.StatusOK, views.SubMerchantForm{}, 0, nil)
}

// renderSubMerchants renders the list; add is the add form's state, and a
// refused edit of row editID keeps its typed values and errors.
func (h *Handler) renderSubMerchants(c echo.Context, status int, add views.SubMerchantForm, editID int64, edit *views.SubMerchantForm) error {
	ctx := h.langContext(c)
	list, err := h.Services.SubMerchants.List(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	v := views.SubMerchantsView{Form: add}
	for _, m := range list {
		row := views.SubMerchantRow{ID: m.ID, SubMchID: m.SubMchID, Disabled: m.Disabled, Created: m.CreatedAt,
			Edit: views.SubMerchantForm{SubMchID: m.SubMchID, SubAppID: m.SubAppID, Name: m.Name}}
		if edit != nil && m.ID == editID {
			row.Edit = *edit
		}
		v.Rows = append(v.Rows, row)
	}
	return h.render(c, status, views.SubMerchantsPage(h.page(c, views.T(ctx, "submerchants.title")), v))
}

// fieldErrors translates a service's field errors (catalog keys) into errs.
func fieldErrors(ctx context.Context, keys map[string]string, errs map[string]string) {
	for field, key := range keys {
		errs[field] = views.T(ctx, key)
	}
}

// createSubMerchant registers a sub-merchant. Invalid input and a sub_mchid
// already registered re-render the form (422) with the typed values.
func (h *Handler) createSubMerchant(c echo.Context) error {
	ctx := h.langContext(c)
	form := views.SubMerchantForm{
		SubMchID: strings.TrimSpace(c.FormValue("sub_mchid")),
		SubAppID: strings.TrimSpace(c.FormValue("sub_appid")),
		Name:     strings.TrimSpace(c.FormValue("name")),
		Errors:   map[string]string{},
	}
	m, err := h.Services.SubMerchants.Create(c.Request().Context(), actor(c),
		store.SubMerchant{SubMchID: form.SubMchID, SubAppID: form.SubAppID, Name: form.Name})
	var fe *service.FieldsError
	switch {
	case errors.As(err, &fe):
		fieldErrors(ctx, fe.Fields, form.Errors)
		return h.renderSubMerchants(c, http.StatusUnprocessableEntity, form, 0, nil)
	case service.KindOf(err) == service.Conflict:
		form.Errors["sub_mchid"] = views.Tf(ctx, "submerchants.err.taken", form.SubMchID)
		return h.renderSubMerchants(c, http.StatusUnprocessableEntity, form, 0, nil)
	case err != nil:
		return errInternal(err)
	}
	h.addFlash(c, "success", views.Tf(ctx, "submerchants.created.ok", m.SubMchID))
	return c.Redirect(http.StatusSeeOther, "/sub-merchants")
}

// subMerchantFlash is the message of each action's success.
var subMerchantFlash = map[string]string{
	service.SubMerchantEdit:    "submerchants.updated.ok",
	service.SubMerchantDisable: "submerchants.disabled.ok",
	service.SubMerchantEnable:  "submerchants.enabled.ok",
}

// updateSubMerchant edits a sub-merchant's name and sub_appid (action
// "edit"), or disables / enables it. The sub_mchid never changes: links and
// callbacks refer to it.
func (h *Handler) updateSubMerchant(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	if c.FormValue("action") == service.SubMerchantDisable && !confirmed(c) {
		// The confirm step names the sub-merchant (the same POST with confirm=1).
		return h.subMerchantDisableConfirm(c, id)
	}
	ch := service.SubMerchantChange{Action: c.FormValue("action"),
		SubAppID: strings.TrimSpace(c.FormValue("sub_appid")), Name: strings.TrimSpace(c.FormValue("name"))}
	m, err := h.Services.SubMerchants.Update(c.Request().Context(), actor(c), id, ch)
	var fe *service.FieldsError
	switch {
	case errors.As(err, &fe):
		form := views.SubMerchantForm{SubMchID: m.SubMchID, SubAppID: ch.SubAppID, Name: ch.Name, Errors: map[string]string{}}
		fieldErrors(ctx, fe.Fields, form.Errors)
		return h.renderSubMerchants(c, http.StatusUnprocessableEntity, views.SubMerchantForm{}, m.ID, &form)
	case service.KindOf(err) == service.Invalid:
		return errBadRequest() // no such action
	case err != nil:
		return err
	}
	h.addFlash(c, "success", views.Tf(ctx, subMerchantFlash[ch.Action], m.SubMchID))
	return c.Redirect(http.StatusSeeOther, "/sub-merchants")
}
