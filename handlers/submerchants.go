package handlers

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// subMchIDPattern: WeChat Pay issues sub-merchant ids as digits; the API
// allows 1–32 characters.
var subMchIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)

// maxSubMerchantName is the limit of a sub-merchant's display name, in runes.
const maxSubMerchantName = 64

func (h *Handler) subMerchants(c echo.Context) error {
	return h.renderSubMerchants(c, http.StatusOK, views.SubMerchantForm{}, 0, nil)
}

// renderSubMerchants renders the list; add is the add form's state, and a
// refused edit of row editID keeps its typed values and errors.
func (h *Handler) renderSubMerchants(c echo.Context, status int, add views.SubMerchantForm, editID int64, edit *views.SubMerchantForm) error {
	ctx := h.langContext(c)
	list, err := h.Store.SubMerchants(c.Request().Context())
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

// validateSubMerchant checks the editable fields; the messages go into errs.
func validateSubMerchant(ctx context.Context, f *views.SubMerchantForm, errs map[string]string) {
	if err := payscore.ValidateSubAppID(f.SubAppID); err != nil {
		errs["sub_appid"] = views.T(ctx, "submerchants.err.sub_appid")
	}
	if !validName(f.Name) {
		errs["name"] = views.T(ctx, "submerchants.err.name")
	}
}

// validName: required, at most 64 runes, valid UTF-8, no control characters.
func validName(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxSubMerchantName {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
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
	if !subMchIDPattern.MatchString(form.SubMchID) {
		form.Errors["sub_mchid"] = views.T(ctx, "submerchants.err.sub_mchid")
	}
	validateSubMerchant(ctx, &form, form.Errors)
	if len(form.Errors) > 0 {
		return h.renderSubMerchants(c, http.StatusUnprocessableEntity, form, 0, nil)
	}
	m, err := h.Store.CreateSubMerchant(c.Request().Context(), store.SubMerchant{SubMchID: form.SubMchID, SubAppID: form.SubAppID, Name: form.Name})
	if errors.Is(err, store.ErrConflict) {
		form.Errors["sub_mchid"] = views.Tf(ctx, "submerchants.err.taken", form.SubMchID)
		return h.renderSubMerchants(c, http.StatusUnprocessableEntity, form, 0, nil)
	}
	if err != nil {
		return errInternal(err)
	}
	h.audit(c, store.AuditEntry{Action: "submerchant.create", Target: subMerchantTarget(m.SubMchID), Result: "ok",
		Detail: "name=" + m.Name + " sub_appid=" + m.SubAppID})
	h.addFlash(c, "success", views.Tf(ctx, "submerchants.created.ok", m.SubMchID))
	return c.Redirect(http.StatusSeeOther, "/sub-merchants")
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
	m, err := h.Store.SubMerchantByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	ch := *m
	var flash, detail string
	action := c.FormValue("action")
	switch action {
	case "edit":
		form := views.SubMerchantForm{
			SubMchID: m.SubMchID,
			SubAppID: strings.TrimSpace(c.FormValue("sub_appid")),
			Name:     strings.TrimSpace(c.FormValue("name")),
			Errors:   map[string]string{},
		}
		validateSubMerchant(ctx, &form, form.Errors)
		if len(form.Errors) > 0 {
			return h.renderSubMerchants(c, http.StatusUnprocessableEntity, views.SubMerchantForm{}, m.ID, &form)
		}
		ch.SubAppID, ch.Name = form.SubAppID, form.Name
		flash, detail = "submerchants.updated.ok", "name="+form.Name+" sub_appid="+form.SubAppID
	case "disable":
		ch.Disabled, flash = true, "submerchants.disabled.ok"
	case "enable":
		ch.Disabled, flash = false, "submerchants.enabled.ok"
	default:
		return errBadRequest()
	}
	if _, err := h.Store.UpdateSubMerchant(c.Request().Context(), ch); err != nil {
		return err
	}
	h.audit(c, store.AuditEntry{Action: "submerchant." + action, Target: subMerchantTarget(m.SubMchID), Result: "ok", Detail: detail})
	h.addFlash(c, "success", views.Tf(ctx, flash, m.SubMchID))
	return c.Redirect(http.StatusSeeOther, "/sub-merchants")
}

// subMerchantTarget names a sub-merchant in the audit log.
func subMerchantTarget(subMchID string) string { return "sub_mchid:" + subMchID }
