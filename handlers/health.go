package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers 200 when the database answers a query.
func (h *Handler) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.Health.Ping(ctx); err != nil {
		h.Logger.Error("health check failed", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "db": "error"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "db": "ok"})
}

// metricsPage serves the Prometheus text format to whom metricsAllowed lets in.
func (h *Handler) metricsPage(c echo.Context) error {
	switch h.metricsAllowed(c.Request()) {
	case http.StatusNotFound:
		return errNotFound()
	case http.StatusUnauthorized:
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		return &Error{Status: http.StatusUnauthorized}
	}
	promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}
