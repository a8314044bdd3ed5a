package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/store"
)

// pollParam marks the requests a page makes by itself (htmx polling):
// they neither count as activity nor take flash messages.
const pollParam = "poll"

// identity is the signed-in person of a request.
type identity struct {
	User    *store.User
	Session *sessions.Session
}

type identityKey struct{}

// currentIdentity returns the request's signed-in person, or nil.
func currentIdentity(c echo.Context) *identity {
	id, _ := c.Request().Context().Value(identityKey{}).(*identity)
	return id
}

func setContext(c echo.Context, key, val any) {
	c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), key, val)))
}

// consoleCSP allows scripts and styles from the console itself only.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// permissionsPolicy turns off the browser features no page uses.
const permissionsPolicy = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), " +
	"microphone=(), payment=(), usb=()"

// securityHeaders sets the headers every response carries, errors included:
// they are set before the handler runs, so an error page has them too.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", consoleCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		hd.Set("X-Frame-Options", "DENY")
		// No page of the console needs a powerful feature; no other
		// window keeps a handle on ours; no other site embeds our
		// resources (the landing page's JS-SDK comes from another origin:
		// that is its CORP, not ours).
		hd.Set("Permissions-Policy", permissionsPolicy)
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if h.secure() {
			hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// exempt reports whether a path takes no CSRF token.
func (h *Handler) exempt(path string) bool {
	if path == "/notify/payscore" || strings.HasPrefix(path, "/h5/") {
		// The receiver authenticates by signature; landing pages are
		// public, read-only, and need no token cookie.
		return true
	}
	for _, p := range h.CSRFExempt {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// csrf protects every state change twice: Go's cross-origin protection
// refuses cross-site browser requests by Sec-Fetch-Site / Origin, and Echo's
// CSRF middleware checks the double-submit token. Echo skips its token check
// for Sec-Fetch-Site: same-origin (already proven same-origin); a request
// with no Sec-Fetch-Site needs the token. Both refusals answer 403.
func (h *Handler) csrf() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	if h.BaseURL != nil {
		_ = cop.AddTrustedOrigin(h.BaseURL.Scheme + "://" + h.BaseURL.Host)
	}
	cookieName := "_csrf"
	if h.secure() {
		cookieName = "__Host-csrf"
	}
	token := middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper:        func(c echo.Context) bool { return h.exempt(c.Request().URL.Path) },
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     cookieName,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   h.secure(),
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return &Error{Status: http.StatusForbidden, Message: "error.403", Err: fmt.Errorf("csrf: %w", err)}
		},
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		guarded := token(next)
		return func(c echo.Context) error {
			if h.exempt(c.Request().URL.Path) {
				return next(c)
			}
			if err := cop.Check(c.Request()); err != nil {
				return &Error{Status: http.StatusForbidden, Message: "error.403", Err: fmt.Errorf("csrf: %w", err)}
			}
			return guarded(c)
		}
	}
}

// csrfToken is the token forms and htmx send back.
func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// loadIdentity finds the signed-in person, if any, and records activity.
func (h *Handler) loadIdentity(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.exempt(c.Request().URL.Path) && !strings.HasPrefix(c.Request().URL.Path, "/sandbox") {
			return next(c)
		}
		if _, err := c.Cookie(h.Sessions.Name()); err != nil {
			return next(c)
		}
		sess, err := h.Sessions.Get(c.Request(), h.Sessions.Name())
		if err != nil {
			return errInternal(err)
		}
		if sess.IsNew {
			// The cookie named a session that has ended: clear it.
			sess.Options.MaxAge = -1
			_ = sess.Save(c.Request(), c.Response())
			return next(c)
		}
		uid, _ := sess.Values[valUserID].(int64)
		user, err := h.Services.Auth.User(c.Request().Context(), uid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return errInternal(err)
		}
		if user == nil || user.Disabled {
			sess.Options.MaxAge = -1
			_ = sess.Save(c.Request(), c.Response())
			return next(c)
		}
		// A page polling by itself is not the person being active: it must
		// not hold the session open past the idle timeout.
		if c.QueryParam(pollParam) != "1" {
			if err := sess.Save(c.Request(), c.Response()); err != nil {
				return errInternal(err)
			}
		}
		setContext(c, identityKey{}, &identity{User: user, Session: sess})
		// What a signed-in person sees (tokens on link pages, openids on
		// callback pages) stays out of every cache.
		c.Response().Header().Set("Cache-Control", "no-store")
		if h.mustEnrol(user) && !enrolmentAllowed(c.Request().URL.Path) {
			// MFA_REQUIRED_ROLES: nothing else until two-factor is set up.
			if c.Request().Header.Get("HX-Request") == "true" {
				c.Response().Header().Set("HX-Redirect", "/account")
				return c.NoContent(http.StatusUnauthorized)
			}
			return c.Redirect(http.StatusSeeOther, "/account")
		}
		return next(c)
	}
}

// Who may use a route.
var (
	public   []string // nil: anyone, signed in or not
	signedIn = store.Roles
	admin    = []string{store.RoleAdmin}
	operator = []string{store.RoleAdmin, store.RoleOperator}
	support  = []string{store.RoleAdmin, store.RoleSupport}
)

// requireRoles lets through signed-in people whose role is in roles. A
// signed-out browser asking for a page is sent to sign in.
func requireRoles(roles []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := currentIdentity(c)
			if id == nil {
				if c.Request().Method == http.MethodGet {
					target := "/login?next=" + url.QueryEscape(c.Request().URL.RequestURI())
					if isHTMX(c) {
						c.Response().Header().Set(hxRedirect, target)
						return c.NoContent(http.StatusUnauthorized)
					}
					return c.Redirect(http.StatusSeeOther, target)
				}
				return &Error{Status: http.StatusUnauthorized}
			}
			if !slices.Contains(roles, id.User.Role) {
				return errForbidden()
			}
			return next(c)
		}
	}
}

// httpMetrics counts requests by route and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (h *Handler) measure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the error response now, so its status is counted
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		h.metrics.requests.WithLabelValues(route, c.Request().Method, itoa(c.Response().Status)).Inc()
		h.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// logRequests writes one structured line per request, with its request id.
func (h *Handler) logRequests() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRemoteIP: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			h.Logger.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", v.RequestID), slog.String("method", v.Method),
				slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("ip", v.RemoteIP))
			return nil
		},
	})
}
