package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
	// Dangerous acts ask for a fresh second look (stepup.go).
	stepUp := []echo.MiddlewareFunc{h.stepUp}
	return []route{
		{method: http.MethodGet, path: "/login", roles: public, handler: h.loginPage},
		{method: http.MethodPost, path: "/login", roles: public, handler: h.login, extra: []echo.MiddlewareFunc{h.loginLimit}},
		{method: http.MethodGet, path: "/login/code", roles: public, handler: h.loginCodePage},
		{method: http.MethodPost, path: "/login/code", roles: public, handler: h.loginCode, extra: []echo.MiddlewareFunc{h.loginLimit}},
		// Single sign-on (oidc.go): GETs without a CSRF token; the callback's
		// state must match the flow cookie's. 404 without OIDC_ISSUER.
		{method: http.MethodGet, path: "/login/oidc", roles: public, handler: h.oidcStart, extra: []echo.MiddlewareFunc{h.loginLimit}},
		{method: http.MethodGet, path: "/login/oidc/callback", roles: public, handler: h.oidcCallback, extra: []echo.MiddlewareFunc{h.loginLimit}},
		{method: http.MethodPost, path: "/logout", roles: public, handler: h.logout},
		{method: http.MethodPost, path: "/lang", roles: public, handler: h.setLang},
		{method: http.MethodGet, path: "/", roles: signedIn, handler: h.overview, nav: "nav.overview"},
		{method: http.MethodGet, path: "/sub-merchants", roles: admin, handler: h.subMerchants, nav: "nav.submerchants"},
		{method: http.MethodPost, path: "/sub-merchants", roles: admin, handler: h.createSubMerchant, extra: stepUp},
		{method: http.MethodPost, path: "/sub-merchants/:id", roles: admin, handler: h.updateSubMerchant, extra: stepUp},
		{method: http.MethodGet, path: "/sub-merchants/:id", roles: signedIn, handler: h.subMerchantPage},
		{method: http.MethodGet, path: "/stats.csv", roles: signedIn, handler: h.statsCSV},
		{method: http.MethodGet, path: "/links", roles: operator, handler: h.links, nav: "nav.links"},
		{method: http.MethodGet, path: "/links/new", roles: operator, handler: h.newLink},
		{method: http.MethodPost, path: "/links", roles: operator, handler: h.createLinkPost},
		{method: http.MethodGet, path: "/links/:id", roles: operator, handler: h.link},
		{method: http.MethodGet, path: "/links/:id/qr.png", roles: operator, handler: h.linkQR},
		{method: http.MethodPost, path: "/links/:id/renew", roles: operator, handler: h.renewLink},
		{method: http.MethodGet, path: "/links/:id/poster.png", roles: operator, handler: h.linkPoster},
		{method: http.MethodPost, path: "/links/:id/auto-renew", roles: operator, handler: h.setAutoRenew},
		{method: http.MethodPost, path: "/emergency", roles: admin, handler: h.emergency, extra: stepUp},
		{method: http.MethodGet, path: "/h5/:slug", roles: public, handler: h.landing},
		{method: http.MethodGet, path: "/h5/:slug/status", roles: public, handler: h.landingStatus},
		{method: http.MethodGet, path: "/h5/:slug/qr.png", roles: public, handler: h.landingQR},
		{method: http.MethodPost, path: "/h5/:slug/event", roles: public, handler: h.landingEvent, extra: []echo.MiddlewareFunc{h.sameOrigin(), h.beaconLimit}},
		{method: http.MethodGet, path: "/authorizations", roles: signedIn, handler: h.lookupAuthorization, nav: "nav.authorizations"},
		{method: http.MethodGet, path: "/authorizations/:code", roles: signedIn, handler: h.authorizationPage},
		{method: http.MethodPost, path: "/authorizations/:code/terminate", roles: support, handler: h.terminateAuthorization},
		{method: http.MethodGet, path: "/bulk", roles: signedIn, handler: h.bulkPage, nav: "nav.bulk"},
		{method: http.MethodPost, path: "/bulk/lookup", roles: signedIn, handler: h.bulkLookup,
			extra: []echo.MiddlewareFunc{middleware.BodyLimit(strconv.Itoa(bulkLookupMax+64<<10) + "B")}},
		{method: http.MethodGet, path: offboardRoute, roles: support, handler: h.offboardPage},
		{method: http.MethodPost, path: offboardRoute, roles: support, handler: h.startOffboard, extra: stepUp},
		// GET /jobs/{id}.csv too: Echo has no suffix after a parameter.
		{method: http.MethodGet, path: "/jobs/:id", roles: signedIn, handler: h.job},
		{method: http.MethodPost, path: "/jobs/:id/cancel", roles: signedIn, handler: h.cancelJob},
		{method: http.MethodGet, path: "/callbacks", roles: signedIn, handler: h.callbacks, nav: "nav.callbacks"},
		{method: http.MethodGet, path: "/callbacks.csv", roles: signedIn, handler: h.callbacksCSV},
		{method: http.MethodGet, path: "/callbacks/:id", roles: signedIn, handler: h.callback},
		{method: http.MethodGet, path: "/callbacks/refusals/:id", roles: signedIn, handler: h.refusal},
		{method: http.MethodPost, path: "/callbacks/refusals/:id/reverify", roles: admin, handler: h.reverify, extra: stepUp},
		{method: http.MethodGet, path: "/audit", roles: admin, handler: h.auditLog, nav: "nav.audit"},
		{method: http.MethodGet, path: "/audit.csv", roles: admin, handler: h.auditCSV},
		{method: http.MethodGet, path: "/users", roles: admin, handler: h.users, nav: "nav.users"},
		{method: http.MethodPost, path: "/users", roles: admin, handler: h.createUser, extra: stepUp},
		{method: http.MethodPost, path: "/users/:id", roles: admin, handler: h.updateUser, extra: stepUp},
		{method: http.MethodPost, path: "/users/:id/mfa-reset", roles: admin, handler: h.resetMFA, extra: stepUp},
		{method: http.MethodPost, path: "/users/:id/sessions/:sid/revoke", roles: admin, handler: h.revokeUserSession, extra: stepUp},
		{method: http.MethodPost, path: "/users/:id/sessions/revoke-all", roles: admin, handler: h.revokeUserSessions, extra: stepUp},
		{method: http.MethodGet, path: "/account", roles: signedIn, handler: h.account},
		{method: http.MethodPost, path: "/account/password", roles: signedIn, handler: h.changeOwnPassword},
		{method: http.MethodPost, path: "/account/mfa/start", roles: signedIn, handler: h.beginMFA},
		{method: http.MethodPost, path: "/account/mfa", roles: signedIn, handler: h.confirmMFA},
		{method: http.MethodPost, path: "/account/sessions/:sid/revoke", roles: signedIn, handler: h.revokeOwnSession},
		{method: http.MethodPost, path: "/account/sessions/revoke-others", roles: signedIn, handler: h.revokeOwnOtherSessions},
		{method: http.MethodPost, path: "/notify/payscore", roles: public, handler: h.notify},
		{method: http.MethodGet, path: "/healthz", roles: public, handler: h.healthz},
		{method: http.MethodGet, path: "/metrics", roles: public, handler: h.metricsPage},
		{method: http.MethodGet, path: "/favicon.ico", roles: public, handler: favicon},
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
	e.IPExtractor = h.ipExtractor()
	// Before routing, logging and metrics: every answer carries the
	// security headers, and a method no route uses costs nothing more.
	e.Pre(h.securityHeaders, allowMethods)
	e.Use(h.requestID())
	e.Use(h.logRequests())
	e.Use(h.measure)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		// One panic, one structured log line; not every goroutine's stack on stdout.
		DisableStackAll: true, DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			h.Logger.Error("panic", "err", err, "path", c.Request().URL.Path, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: "1MiB",
		// The notification receiver bounds its own body; a bulk look-up's
		// list has its own, larger, limit (its route's).
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/notify/payscore" || p == "/bulk/lookup"
		},
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
	assets := e.Group("/static", staticHeaders, staticGzip())
	assets.StaticFS("/", static.FS)
	if h.MountSandbox != nil {
		// Admins only; each control used is audited (sandbox.<control>).
		requireAdmin := requireRoles(admin)
		h.MountSandbox(e.Group("/sandbox"), func(next echo.HandlerFunc) echo.HandlerFunc {
			return requireAdmin(h.auditSandboxControl(next))
		})
	}
	return e
}
