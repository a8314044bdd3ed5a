package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// PendingLoginTTL is how long a right password waits for its second step.
const PendingLoginTTL = 5 * time.Minute

// maxUserAgent bounds the browser string a session keeps.
const maxUserAgent = 256

// pendingLogin is a first factor passed: who, when, and where to go after.
// It lives only in a sealed cookie; no session exists until the code is
// right.
type pendingLogin struct {
	UserID int64
	At     time.Time
	Next   string
}

// pendingCookieName is the pending first factor's cookie.
func (h *Handler) pendingCookieName() string {
	if h.secure() {
		return "__Host-login_pending"
	}
	return "login_pending"
}

func (h *Handler) pendingCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: h.pendingCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode}
}

// beginSecondStep holds user's right password and asks for the code.
func (h *Handler) beginSecondStep(c echo.Context, user *store.User, next string) error {
	v, err := h.Sessions.Seal(h.pendingCookieName(), pendingLogin{UserID: user.ID, At: h.Now(), Next: next})
	if err != nil {
		return errInternal(err)
	}
	writeCookie(c.Response(), h.pendingCookie(v, int(PendingLoginTTL/time.Second)))
	return c.Redirect(http.StatusSeeOther, "/login/code")
}

// pending reads the request's pending first factor and its user; nil when
// there is none, it is too old, or the user can no longer sign in.
func (h *Handler) pending(c echo.Context) (*pendingLogin, *store.User, error) {
	ck, err := c.Cookie(h.pendingCookieName())
	if err != nil {
		return nil, nil, nil
	}
	var p pendingLogin
	if err := h.Sessions.Unseal(h.pendingCookieName(), ck.Value, &p); err != nil {
		return nil, nil, nil
	}
	if age := h.Now().Sub(p.At); age > PendingLoginTTL || age < -time.Minute {
		return nil, nil, nil
	}
	u, err := h.Services.Auth.User(c.Request().Context(), p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled || !u.MFA {
		return nil, nil, nil
	}
	return &p, u, nil
}

// loginCodePage is GET /login/code: the second step's form.
func (h *Handler) loginCodePage(c echo.Context) error {
	p, _, err := h.pending(c)
	if err != nil {
		return errInternal(err)
	}
	if p == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return h.renderLoginCode(c, http.StatusOK, "")
}

// loginCode is POST /login/code: a TOTP code or a recovery code. Wrong
// codes count toward the same lockout as wrong passwords; a code is
// accepted once. Only a right code starts a session.
func (h *Handler) loginCode(c echo.Context) error {
	ctx := h.langContext(c)
	p, user, err := h.pending(c)
	if err != nil {
		return errInternal(err)
	}
	if p == nil {
		pg := h.page(c, views.T(ctx, "login.title"))
		return h.render(c, http.StatusUnprocessableEntity, views.LoginPage(pg, views.LoginForm{Error: views.T(ctx, "mfa.pending.expired"), Next: "/"}))
	}
	code := strings.TrimSpace(c.FormValue("code"))
	if code == "" || utf8.RuneCountInString(code) > 32 {
		return h.renderLoginCode(c, http.StatusUnprocessableEntity, views.T(ctx, "mfa.err.code.required"))
	}
	who := service.Actor{UserID: user.ID, Username: user.Username, IP: c.RealIP()}
	err = h.Services.MFA.SecondFactor(c.Request().Context(), who, user, code)
	var locked *service.LockedError
	switch {
	case errors.As(err, &locked):
		return h.renderLoginCode(c, http.StatusUnprocessableEntity, views.Tf(ctx, "login.locked", views.FormatTime(locked.Until)))
	case errors.Is(err, service.ErrCodeWrong):
		return h.renderLoginCode(c, http.StatusUnprocessableEntity, views.T(ctx, "mfa.err.code"))
	case err != nil:
		return errInternal(err)
	}
	writeCookie(c.Response(), h.pendingCookie("", -1))
	return h.startSession(c, user, safeNext(p.Next))
}

func (h *Handler) renderLoginCode(c echo.Context, status int, errText string) error {
	ctx := h.langContext(c)
	return h.render(c, status, views.LoginCodePage(h.page(c, views.T(ctx, "mfa.step.title")), views.LoginCodeForm{Error: errText}))
}

// mustEnrol reports whether user's role needs two-factor they do not have
// yet: every page but /account (and signing out) sends them there.
func (h *Handler) mustEnrol(user *store.User) bool {
	return !user.MFA && h.Services.MFA.Required(user)
}

// enrolmentPaths are what a person who must enrol may still use.
func enrolmentAllowed(path string) bool {
	return path == "/account" || strings.HasPrefix(path, "/account/") || path == "/logout" || path == "/lang" ||
		strings.HasPrefix(path, "/static/") || path == "/healthz" || path == "/metrics"
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
