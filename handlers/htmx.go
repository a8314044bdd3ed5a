package handlers

import "github.com/labstack/echo/v4"

// htmx's request and response headers (https://htmx.org/reference/#headers).
const (
	hxRequest        = "HX-Request"                 // every htmx request: "true"
	hxBoosted        = "HX-Boosted"                 // a boosted link or form: a whole page is wanted
	hxHistoryRestore = "HX-History-Restore-Request" // history cache miss: a whole page is wanted
	hxRedirect       = "HX-Redirect"                // response: htmx navigates the whole page there
)

// isHTMX reports whether htmx sent the request.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get(hxRequest) == "true" }

// isFragment is the one fragment-vs-page decision: an htmx request that is
// neither boosted nor a history restore gets fragments; everything else a
// whole page.
func isFragment(c echo.Context) bool {
	h := c.Request().Header
	return isHTMX(c) && h.Get(hxBoosted) != "true" && h.Get(hxHistoryRestore) != "true"
}

// varyHTMX marks a response as depending on whether htmx asked: caches keep
// the fragment and the page apart.
func varyHTMX(c echo.Context) { c.Response().Header().Add(echo.HeaderVary, hxRequest) }
