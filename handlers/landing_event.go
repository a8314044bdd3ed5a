package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/payscore-console/payscore-console/service"
)

// isPhone reports whether a User-Agent is a phone's or a tablet's browser:
// outside WeChat such a visitor cannot scan a QR code on their own screen.
func isPhone(ua string) bool {
	for _, m := range []string{"Mobile", "Android", "iPhone", "iPad", "HarmonyOS"} {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// funnelStep counts a step the server sees for the request's visitor;
// counting never stands in the user's way.
func (h *Handler) funnelStep(c echo.Context, linkID int64, step string) {
	if _, err := h.Services.Funnel.Record(c.Request().Context(), linkID, step, visitor(c)); err != nil {
		h.Logger.Error("funnel", "link", linkID, "step", step, "err", err)
	}
}

// visitor is who sent the request, for the funnel's keyed hash.
func visitor(c echo.Context) service.Visitor {
	return service.Visitor{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// newBeaconLimit throttles the landing page's beacons per client address:
// a journey sends two or three, a page reloaded in a loop a few more.
func newBeaconLimit() echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{Rate: rate.Limit(1), Burst: 20}),
		ErrorHandler: func(c echo.Context, err error) error {
			return &Error{Status: http.StatusForbidden, Err: err}
		},
		DenyHandler: func(c echo.Context, id string, err error) error {
			return c.NoContent(http.StatusTooManyRequests)
		},
	})
}

// sameOrigin refuses cross-origin browser requests (Go's cross-origin
// protection: Sec-Fetch-Site, else Origin against Host or BASE_URL). The
// landing pages are outside the console's CSRF token scheme (they set no
// cookie), so their one POST is guarded by this and a page token instead.
func (h *Handler) sameOrigin() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	if h.BaseURL != nil {
		_ = cop.AddTrustedOrigin(h.BaseURL.Scheme + "://" + h.BaseURL.Host)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := cop.Check(c.Request()); err != nil {
				return &Error{Status: http.StatusForbidden, Message: "error.403", Err: err}
			}
			return next(c)
		}
	}
}

// landingEvent is the landing page's funnel beacon: form fields step
// ("invoked" or "answer"), and for an answer the openBusinessView
// callback's err_code and err_msg, with the page's token in X-Beacon-Token.
// Why a public POST without the CSRF cookie is acceptable here: it changes
// no user data — it only adds to counts; it must be same-origin
// (sameOrigin), carry the token of a page of this link rendered in the last
// hours (a keyed hash: counts cannot be posted without loading the page),
// and is rate-limited per address; the service counts a visitor once a
// minute and never a bot. 204; 400 for an unknown step; 403 bad token.
func (h *Handler) landingEvent(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	l, err := h.landingLink(c)
	if err != nil {
		return c.NoContent(http.StatusNotFound)
	}
	ok, err := h.Services.Funnel.CheckBeaconToken(c.Request().Context(), l.ID, c.Request().Header.Get("X-Beacon-Token"))
	if err != nil {
		return errInternal(err)
	}
	if !ok {
		return c.NoContent(http.StatusForbidden)
	}
	_, err = h.Services.Funnel.RecordBeacon(c.Request().Context(), l.ID, c.FormValue("step"),
		truncate(c.FormValue("err_code"), 16), truncate(c.FormValue("err_msg"), 128), visitor(c))
	switch {
	case service.KindOf(err) == service.Invalid:
		return c.NoContent(http.StatusBadRequest)
	case err != nil:
		return errInternal(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
