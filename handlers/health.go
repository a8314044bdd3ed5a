package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/views"
)

// NotificationClock says when the newest notification arrived (store.DB).
type NotificationClock interface {
	LastNotificationAt(ctx context.Context) (*time.Time, error)
}

// APICalls reports the latest call sent to WeChat Pay (payscore.Client).
type APICalls interface {
	LastCall() (payscore.LastCall, bool)
}

// healthz answers 200 when the database answers a query, 503 when it does
// not: that is all its status says. Its body adds, for people and
// dashboards, when the last notification arrived and whether WeChat Pay
// answered the console's last call; neither changes the status (a quiet
// night or WeChat Pay failing is not the console being down: alerts watch
// those through /metrics).
func (h *Handler) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok", "db": "ok"}
	status := http.StatusOK
	if err := h.Health.Ping(ctx); err != nil {
		h.Logger.Error("health check failed", "err", err)
		body["status"], body["db"], status = "unavailable", "error", http.StatusServiceUnavailable
	}
	hv := h.healthView(ctx, status == http.StatusOK)
	var last any
	if hv.LastNotification != nil {
		last = hv.LastNotification.UTC().Format(time.RFC3339)
	}
	body["last_notification_at"] = last
	api := map[string]any{"answered": nil}
	if hv.API != nil {
		api = map[string]any{"answered": hv.API.Answered, "at": hv.API.At.UTC().Format(time.RFC3339),
			"call": hv.API.Call, "outcome": hv.API.Outcome}
	}
	body["wechatpay_api"] = api
	// Which instance answered, and whether it holds the worker lease (runs
	// the resolver, the reconciler and bulk jobs): see docs/DEPLOY.md.
	if h.Services != nil && h.Services.Coordinator != nil {
		body["instance"], body["worker"] = h.Services.Coordinator.Instance, h.Services.Coordinator.Leader()
	}
	return c.JSON(status, body)
}

// healthView is what /healthz and the overview say about notifications and
// WeChat Pay; dbOK false skips the database.
func (h *Handler) healthView(ctx context.Context, dbOK bool) views.HealthView {
	var v views.HealthView
	if dbOK && h.Notifications != nil {
		last, err := h.Notifications.LastNotificationAt(ctx)
		if err != nil {
			h.Logger.Warn("health: last notification", "err", err)
		}
		v.LastNotification = last
	}
	if h.APICalls != nil {
		if lc, ok := h.APICalls.LastCall(); ok {
			v.API = &views.APICallView{At: lc.At, Call: lc.Call, Outcome: lc.Outcome, Answered: lc.Answered}
		}
	}
	return v
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
