package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/payscore-console/payscore-console/static"
	"github.com/payscore-console/payscore-console/views"
)

// route is one line of the route table: the single place that says who may
// use what. The navigation is derived from it too.
type route struct {
	method  string
	path    string
	roles   []string // nil: public
	handler echo.HandlerFunc
	nav     string // catalog key when the route is a navigation entry
	extra   []echo.MiddlewareFunc
}

// routes is the route table; it matches DESIGN.md's URL list.
func (h *Handler) routes() []route {
	loginLimit := middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		// Keyed by RealIP, which believes X-Forwarded-For only from TRUST_PROXY.
		Store:        middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{Rate: rate.Limit(1), Burst: 10}),
		ErrorHandler: func(c echo.Context, err error) error { return &Error{Status: http.StatusForbidden, Err: err} },
		DenyHandler: func(c echo.Context, id string, err error) error {
			return &Error{Status: http.StatusTooManyRequests, Err: err}
		},
	})
	return []route{
		{method: http.MethodGet, path: "/login", roles: public, handler: h.loginPage},
		{method: http.MethodPost, path: "/login", roles: public, handler: h.login, extra: []echo.MiddlewareFunc{loginLimit}},
		{method: http.MethodPost, path: "/logout", roles: signedIn, handler: h.logout},
		{method: http.MethodPost, path: "/lang", roles: public, handler: h.setLang},
		{method: http.MethodGet, path: "/", roles: signedIn, handler: h.overview, nav: "nav.overview"},
		{method: http.MethodGet, path: "/users", roles: admin, handler: h.users, nav: "nav.users"},
		{method: http.MethodPost, path: "/users", roles: admin, handler: h.createUser},
		{method: http.MethodPost, path: "/users/:id", roles: admin, handler: h.updateUser},
		{method: http.MethodPost, path: "/notify/payscore", roles: public, handler: h.notify},
		{method: http.MethodGet, path: "/healthz", roles: public, handler: h.healthz},
		{method: http.MethodGet, path: "/metrics", roles: public, handler: h.metricsPage},
	}
}

// navFor lists the navigation entries a role may use, in table order.
func (h *Handler) navFor(role string) []views.NavItem {
	var out []views.NavItem
	for _, r := range h.routes() {
		if r.nav == "" || r.method != http.MethodGet {
			continue
		}
		for _, allowed := range r.roles {
			if allowed == role {
				out = append(out, views.NavItem{Label: r.nav, Href: r.path})
				break
			}
		}
	}
	if h.MountSandbox != nil && role == "admin" {
		out = append(out, views.NavItem{Label: "nav.sandbox", Href: "/sandbox"})
	}
	return out
}

// Echo builds the server: middleware, routes, static assets, error handler.
func (h *Handler) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(h.TrustProxy) > 0 {
		var opts []echo.TrustOption
		for _, n := range h.TrustProxy {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.Use(middleware.RequestID())
	e.Use(h.logRequests())
	e.Use(h.securityHeaders)
	e.Use(h.measure)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit:   "1M",
		Skipper: func(c echo.Context) bool { return c.Request().URL.Path == "/notify/payscore" },
	}))
	e.Use(h.csrf())
	e.Use(h.loadIdentity)

	for _, r := range h.routes() {
		mw := append([]echo.MiddlewareFunc{}, r.extra...)
		if r.roles != nil {
			mw = append([]echo.MiddlewareFunc{requireRoles(r.roles)}, mw...)
		}
		e.Add(r.method, r.path, r.handler, mw...)
	}
	assets := e.Group("/static", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Asset URLs carry a content hash (static.URL), so a copy never goes stale.
			if c.QueryParam("v") != "" {
				c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			return next(c)
		}
	})
	assets.StaticFS("/", static.FS)
	if h.MountSandbox != nil {
		h.MountSandbox(e.Group("/sandbox"), requireRoles(admin))
	}
	return e
}
