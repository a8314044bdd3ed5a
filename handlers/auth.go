package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// page builds the layout's model for the request.
func (h *Handler) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Path: c.Request().URL.Path, Sandbox: h.Sandbox, CSRF: csrfToken(c)}
	if id := currentIdentity(c); id != nil {
		p.User = &views.Me{Username: id.User.Username, Role: id.User.Role}
		p.Nav = h.navFor(id.User.Role)
		// The emergency pause, on every page of every role while it is on.
		p.Pause = h.pauseBanner(c)
		if !isFragment(c) {
			// A fragment has no flash area: the messages wait for a page.
			p.Flashes = h.takeFlashes(c, id.Session)
		}
	}
	return p
}

func (h *Handler) loginPage(c echo.Context) error {
	if currentIdentity(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	ctx := h.langContext(c)
	form := h.ssoOffer(views.LoginForm{Next: safeNext(c.QueryParam("next"))})
	p := h.page(c, views.T(ctx, "login.title"))
	if c.QueryParam("bye") != "" {
		// Signed out: the session that could carry a flash is gone.
		p.Flashes = append(p.Flashes, views.Flash{Kind: "info", Text: views.T(ctx, "logout.done")})
	}
	if c.QueryParam("changed") != "" {
		p.Flashes = append(p.Flashes, views.Flash{Kind: "success", Text: views.T(ctx, "account.password.changed")})
	}
	return h.render(c, http.StatusOK, views.LoginPage(p, form))
}

// login checks the password. Unknown user and wrong password answer alike
// (same message, same argon2id work); failures are counted per username.
func (h *Handler) login(c echo.Context) error {
	ctx := h.langContext(c)
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	form := h.ssoOffer(views.LoginForm{Username: username, Next: safeNext(c.FormValue("next"))})
	fail := func(msg string) error {
		form.Error = msg
		return h.render(c, http.StatusUnprocessableEntity, views.LoginPage(h.page(c, views.T(ctx, "login.title")), form))
	}
	if username == "" || password == "" {
		return fail(views.T(ctx, "login.required"))
	}
	user, err := h.Services.Auth.SignIn(c.Request().Context(), username, password, c.RealIP())
	var locked *service.LockedError
	switch {
	case errors.As(err, &locked):
		return fail(views.Tf(ctx, "login.locked", views.FormatTime(locked.Until)))
	case errors.Is(err, service.ErrSignInFailed):
		return fail(views.T(ctx, "login.failed"))
	case err != nil:
		return errInternal(err)
	}
	if user.MFA {
		// No session yet: the password is held as a pending first factor
		// in a short-lived sealed cookie until the code is right.
		return h.beginSecondStep(c, user, form.Next)
	}
	return h.startSession(c, user, form.Next)
}

// startSession signs user in, whichever way they proved who they are (a
// password and, if they have one, a second factor here; the identity
// provider in oidc.go): a new session, with a new id, replaces whatever the
// browser had (session fixation). A person whose role needs two-factor and
// who has none goes to enrol first.
func (h *Handler) startSession(c echo.Context, user *store.User, next string) error {
	if id := currentIdentity(c); id != nil {
		id.Session.Options.MaxAge = -1
		_ = id.Session.Save(c.Request(), c.Response())
	}
	sess := sessions.NewSession(h.Sessions, h.Sessions.Name())
	opts := h.Sessions.options
	sess.Options = &opts
	sess.IsNew = true
	sess.Values[valUserID] = user.ID
	sess.Values[valIP] = c.RealIP()
	sess.Values[valUA] = truncateRunes(c.Request().UserAgent(), maxUserAgent)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return errInternal(err)
	}
	if h.mustEnrol(user) {
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (h *Handler) logout(c echo.Context) error {
	if id := currentIdentity(c); id != nil {
		// The session row goes with its audit entry (auth.logout), in one
		// transaction; then the cookie.
		if id.Session.ID != "" {
			if err := h.Services.Auth.SignOut(c.Request().Context(), actor(c), hashID(id.Session.ID)); err != nil {
				return errInternal(err)
			}
			id.Session.ID = ""
		}
		id.Session.Options.MaxAge = -1
		if err := id.Session.Save(c.Request(), c.Response()); err != nil {
			return errInternal(err)
		}
	}
	return c.Redirect(http.StatusSeeOther, "/login?bye=1")
}

// setLang switches the language and goes back where the person was.
func (h *Handler) setLang(c echo.Context) error {
	lang := views.LangZH
	if c.FormValue("lang") == views.LangEN {
		lang = views.LangEN
	}
	c.SetCookie(&http.Cookie{Name: "lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	return c.Redirect(http.StatusSeeOther, safeNext(c.FormValue("next")))
}

// safeNext keeps a redirect target on this site: a local path only. Control
// characters are refused anywhere: url.Parse lets them through in the
// fragment, and a Location header must not carry them.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

// addFlash queues a message for the next page and saves the session now,
// before any response is written.
func (h *Handler) addFlash(c echo.Context, kind, text string) {
	id := currentIdentity(c)
	if id == nil {
		return
	}
	list, _ := id.Session.Values["flashes"].([]any)
	id.Session.Values["flashes"] = append(list, map[string]any{"kind": kind, "text": text})
	id.Session.Values["_dirty"] = true
	if err := id.Session.Save(c.Request(), c.Response()); err != nil {
		h.Logger.Error("save flash", "err", err)
	}
}

// takeFlashes returns and clears the session's queued messages.
func (h *Handler) takeFlashes(c echo.Context, sess *sessions.Session) []views.Flash {
	list, _ := sess.Values["flashes"].([]any)
	if len(list) == 0 {
		return nil
	}
	var out []views.Flash
	for _, item := range list {
		m, _ := item.(map[string]any)
		kind, _ := m["kind"].(string)
		text, _ := m["text"].(string)
		out = append(out, views.Flash{Kind: kind, Text: text})
	}
	delete(sess.Values, "flashes")
	sess.Values["_dirty"] = true
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		h.Logger.Error("clear flashes", "err", err)
	}
	return out
}
