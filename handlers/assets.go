package handlers

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/payscore-console/payscore-console/static"
)

// staticHeaders sets the caching headers of /static/…: asset URLs carry a
// content hash (static.URL), so a versioned copy never goes stale; every
// answer has a weak ETag from that hash (weak: the gzipped and the plain
// bytes are the same asset), so a revalidation answers 304. Range requests
// are served whole: the assets are small and may be compressed.
func staticHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.QueryParam("v") != "" {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if v, ok := static.Versions[name]; ok {
			c.Response().Header().Set("ETag", `W/"`+v+`"`)
		}
		c.Request().Header.Del("Range")
		return next(c)
	}
}

// staticGzip compresses text assets (scripts, style sheets, SVG) for a
// client that accepts gzip; images already compressed go as they are.
func staticGzip() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 256,
		Skipper: func(c echo.Context) bool {
			switch path.Ext(c.Request().URL.Path) {
			case ".js", ".css", ".svg":
				return false
			}
			return true
		},
	})
}

// favicon serves /favicon.ico, which browsers ask for by themselves; pages
// link the SVG (static/favicon.svg).
func favicon(c echo.Context) error {
	b, err := fs.ReadFile(static.FS, "favicon.ico")
	if err != nil {
		return errInternal(err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("ETag", `"`+static.Versions["favicon.ico"]+`"`)
	if match := c.Request().Header.Get("If-None-Match"); match != "" && strings.Contains(match, h.Get("ETag")) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, "image/x-icon", b)
}
