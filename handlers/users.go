package handlers

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,32}$`)

// ValidateUsername reports whether a username is acceptable.
func ValidateUsername(s string) bool { return usernamePattern.MatchString(s) }

func (h *Handler) users(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, views.UserForm{Role: store.RoleOperator})
}

func (h *Handler) renderUsers(c echo.Context, status int, form views.UserForm) error {
	ctx := h.langContext(c)
	users, err := h.Store.Users(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	v := views.UsersView{Roles: store.Roles, Form: form, Me: currentIdentity(c).User.Username}
	for _, u := range users {
		v.Users = append(v.Users, views.UserRow{ID: u.ID, Username: u.Username, Role: u.Role, Disabled: u.Disabled, Created: u.CreatedAt})
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
	if !ValidateUsername(form.Username) {
		form.Errors["username"] = views.T(ctx, "users.err.username")
	}
	if !slices.Contains(store.Roles, form.Role) {
		form.Errors["role"] = views.T(ctx, "users.err.role")
	}
	hash, err := HashPassword(password)
	if errors.Is(err, ErrPasswordTooShort) {
		form.Errors["password"] = views.T(ctx, "users.err.password")
	} else if err != nil {
		return errInternal(err)
	}
	if len(form.Errors) > 0 {
		return h.renderUsers(c, http.StatusUnprocessableEntity, form)
	}
	if _, err := h.Store.CreateUser(c.Request().Context(), form.Username, hash, form.Role); errors.Is(err, store.ErrConflict) {
		form.Errors["username"] = views.T(ctx, "users.err.taken")
		return h.renderUsers(c, http.StatusUnprocessableEntity, form)
	} else if err != nil {
		return errInternal(err)
	}
	h.audit(c, store.AuditEntry{Action: "user.create", Target: "user:" + form.Username, Result: "ok", Detail: "role=" + form.Role})
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
	target, err := h.Store.UserByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	me := currentIdentity(c).User
	var ch store.UserChange
	action := c.FormValue("action")
	detail := ""
	switch action {
	case "role":
		role := c.FormValue("role")
		if !slices.Contains(store.Roles, role) {
			return &Error{Status: http.StatusUnprocessableEntity, Message: "users.err.role"}
		}
		ch.Role, detail = &role, "role="+role
	case "disable", "enable":
		v := action == "disable"
		ch.Disabled = &v
	case "password":
		hash, err := HashPassword(c.FormValue("password"))
		if errors.Is(err, ErrPasswordTooShort) {
			return &Error{Status: http.StatusUnprocessableEntity, Message: "users.err.password"}
		} else if err != nil {
			return errInternal(err)
		}
		ch.PasswordHash = &hash
	default:
		return errBadRequest()
	}
	if target.ID == me.ID && action != "password" {
		return &Error{Status: http.StatusUnprocessableEntity, Message: "users.err.self"}
	}
	if _, err := h.Store.UpdateUser(c.Request().Context(), id, ch); err != nil {
		return err
	}
	h.audit(c, store.AuditEntry{Action: "user." + action, Target: "user:" + target.Username, Result: "ok", Detail: detail})
	if target.ID == me.ID {
		// The person changed their own password: their sessions, this one
		// included, have ended.
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	h.addFlash(c, "success", views.Tf(ctx, "users.updated.ok", target.Username))
	return c.Redirect(http.StatusSeeOther, "/users")
}

// audit appends an entry for the signed-in person; a failure to audit is
// logged loudly (the action itself already happened).
func (h *Handler) audit(c echo.Context, e store.AuditEntry) {
	if id := currentIdentity(c); id != nil {
		e.UserID, e.Username = id.User.ID, id.User.Username
	}
	e.IP = c.RealIP()
	if err := h.Store.Audit(c.Request().Context(), e); err != nil {
		h.Logger.Error("audit failed", "action", e.Action, "err", err)
	}
}
