package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

func (h *Handler) users(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, views.UserForm{Role: store.RoleOperator})
}

func (h *Handler) renderUsers(c echo.Context, status int, form views.UserForm) error {
	ctx := h.langContext(c)
	users, err := h.Services.Users.List(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	locks, err := h.Services.Auth.Locks(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	v := views.UsersView{Roles: store.Roles, Form: form, Me: currentIdentity(c).User.Username}
	all, err := h.Services.Sessions.Of(c.Request().Context(), 0)
	if err != nil {
		return errInternal(err)
	}
	byUser := map[int64][]views.SessionRow{}
	for _, s := range sessionRows(all, hashID(currentIdentity(c).Session.ID)) {
		byUser[s.UserID] = append(byUser[s.UserID], s)
	}
	for _, u := range users {
		row := views.UserRow{ID: u.ID, Username: u.Username, Role: u.Role, Disabled: u.Disabled, Created: u.CreatedAt,
			MFA: u.MFA, Sessions: byUser[u.ID],
			SSO: u.SSOSubject != "", BreakGlass: u.BreakGlass}
		if l, ok := locks[u.Username]; ok {
			row.LockedAddresses, row.LockedUntil = l.Addresses, l.Until
		}
		v.Users = append(v.Users, row)
	}
	return h.render(c, status, views.UsersPage(h.page(c, views.T(ctx, "users.title")), v))
}

// createUser adds a user; invalid input re-renders the form (422) with the
// typed values kept.
func (h *Handler) createUser(c echo.Context) error {
	ctx := h.langContext(c)
	form := views.UserForm{
		Username: strings.TrimSpace(c.FormValue("username")),
		Role:     c.FormValue("role"),
		Errors:   map[string]string{},
	}
	password := c.FormValue("password")
	// Every field's problem at once; the service checks them again.
	if service.HasInvisible(form.Username) {
		form.Errors["username"] = views.T(ctx, service.KeyInvisible)
	} else if !service.ValidateUsername(form.Username) {
		form.Errors["username"] = views.T(ctx, "users.err.username")
	}
	if !service.ValidRole(form.Role) {
		form.Errors["role"] = views.T(ctx, "users.err.role")
	}
	if err := service.CheckPasswordPolicy(form.Username, password); err != nil {
		form.Errors["password"] = views.T(ctx, service.KeyOf(err))
	}
	if len(form.Errors) > 0 {
		return h.renderUsers(c, http.StatusUnprocessableEntity, form)
	}
	_, err := h.Services.Users.Create(c.Request().Context(), actor(c), form.Username, password, form.Role)
	switch service.KindOf(err) {
	case service.Conflict, service.Invalid:
		field := "username"
		if key := service.KeyOf(err); key == "users.err.role" {
			field = "role"
		} else if slices.Contains(service.PasswordKeys, key) {
			field = "password"
		}
		form.Errors[field] = views.T(ctx, service.KeyOf(err))
		return h.renderUsers(c, http.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return errInternal(err)
	}
	h.addFlash(c, "success", views.Tf(ctx, "users.created.ok", form.Username))
	return c.Redirect(http.StatusSeeOther, "/users")
}

// updateUser changes a role, disables or enables, or resets a password.
// Every change ends the user's sessions (the store does it in the same
// transaction).
func (h *Handler) updateUser(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	if c.FormValue("action") == "unlock" {
		return h.unlockUser(c, id)
	}
	if c.FormValue("action") == "disable" && !confirmed(c) && id != currentIdentity(c).User.ID {
		// The confirm step names the user (the same POST with confirm=1).
		return h.userDisableConfirm(c, id)
	}
	ch := service.UserChange{Action: c.FormValue("action"), Role: c.FormValue("role"), Password: c.FormValue("password"),
		CurrentPassword: c.FormValue("current_password")}
	me := currentIdentity(c).User
	target, err := h.Services.Users.Update(c.Request().Context(), actor(c), id, ch)
	switch kind := service.KindOf(err); {
	case err == nil:
	case kind == service.Invalid && service.KeyOf(err) == "":
		return errBadRequest() // no such action
	case kind == service.Invalid && (slices.Contains(service.PasswordKeys, service.KeyOf(err)) || service.KeyOf(err) == service.KeyCurrentPassword):
		// The list again, with what is wrong with the password.
		form := views.UserForm{Role: store.RoleOperator, Errors: map[string]string{},
			PasswordError: views.T(ctx, service.KeyOf(err)), PasswordErrorFor: id}
		return h.renderUsers(c, http.StatusUnprocessableEntity, form)
	case kind == service.Internal:
		return errInternal(err)
	default:
		return err
	}
	if target.ID == me.ID {
		// The person changed their own password: their sessions, this one
		// included, have ended.
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	h.addFlash(c, "success", views.Tf(ctx, "users.updated.ok", target.Username))
	return c.Redirect(http.StatusSeeOther, "/users")
}

// unlockUser ends every sign-in lockout of a user (from every address),
// audited as auth.unlock.
func (h *Handler) unlockUser(c echo.Context, id int64) error {
	ctx := h.langContext(c)
	target, err := h.Services.Users.ByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if _, err := h.Services.Auth.Unlock(c.Request().Context(), actor(c), target.Username); err != nil {
		return errInternal(err)
	}
	h.addFlash(c, "success", views.Tf(ctx, "users.unlocked.ok", target.Username))
	return c.Redirect(http.StatusSeeOther, "/users")
}
