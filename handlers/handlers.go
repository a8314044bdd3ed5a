// Package handlers is the console's HTTP layer: Echo handlers and
// middleware, one file per screen or endpoint, routes in one table.
package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
)

// Pinger checks that the database answers (GET /healthz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the handlers are built from; main.go fills it.
type Deps struct {
	// Services hold the domain rules; handlers call one method per request.
	Services *service.Services
	// Logs serves the read-only screens.
	Logs LogStore
	// Health checks the database for /healthz.
	Health Pinger
	// Notifications says when the last notification arrived (/healthz,
	// overview); nil: not shown.
	Notifications NotificationClock
	// APICalls reports WeChat Pay's answer to the latest call (/healthz,
	// overview); nil: not shown.
	APICalls APICalls
	Sessions *SessionStore
	Logger   *slog.Logger
	Now      func() time.Time
	// BaseURL is the console's public URL (BASE_URL).
	BaseURL *url.URL
	// Sandbox is true in sandbox mode: the banner shows on every page.
	Sandbox bool
	// MountSandbox mounts the simulator under /sandbox; nil in live mode.
	MountSandbox func(g *echo.Group, requireAdmin echo.MiddlewareFunc)
	// CSRFExempt lists path prefixes that take no CSRF token: server-to-server
	// endpoints that authenticate by signature.
	CSRFExempt []string
	// TrustProxy lists reverse proxies whose X-Forwarded-For is believed.
	TrustProxy []*net.IPNet
	// Registry collects the console's metrics; /metrics serves it.
	Registry *prometheus.Registry
	// MetricsToken, when set, is the bearer token /metrics requires
	// (METRICS_TOKEN). Without it /metrics is open in sandbox mode and not
	// served in live mode.
	MetricsToken string
	// Receiver configures POST /notify/payscore.
	Receiver Receiver
	// JSSDK signs wx.config for the landing page.
	JSSDK JSSDK
	// JSSDKURL is the JS-SDK script the landing page loads (WECHAT_JSSDK_URL).
	JSSDKURL string
	// Keys are WeChat Pay's keys the console verifies with, for the
	// overview: which one signed the notifications, when certificates
	// expire.
	Keys VerifyKeys
}

// VerifyKeys are the WeChat Pay keys the console verifies answers and
// notifications with.
type VerifyKeys struct {
	// PublicKeyID is the WeChat Pay public key's id (PUB_KEY_ID_…); ""
	// when not configured.
	PublicKeyID string
	// Certificates are the platform certificates, configured and
	// downloaded; nil in public-key mode.
	Certificates interface {
		Status() payscore.CertificateStatus
	}
}

// JSSDK signs the JS-SDK configuration for a page URL (payscore.TicketSource).
type JSSDK interface {
	Config(ctx context.Context, url string) (payscore.JSConfig, error)
}

// Handler serves the console.
type Handler struct {
	Deps
	metrics       *httpMetrics
	notifyMetrics *notifyMetrics
	// loginLimit throttles POST /login per client IP; built once so that
	// its counts persist across requests.
	loginLimit echo.MiddlewareFunc
	// beaconLimit throttles the landing page's funnel beacons per address.
	beaconLimit echo.MiddlewareFunc
	// refusalBudget limits the refused notification attempts of each
	// client address (notify_budget.go).
	refusalBudget refusalBudget
	// senders puts addresses not yet known to send signed notifications
	// in a lane of their own (notify_budget.go).
	senders senderLanes
}

// New builds the handlers.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	h := &Handler{Deps: d, metrics: newHTTPMetrics(d.Registry), notifyMetrics: newNotifyMetrics(d.Registry)}
	h.loginLimit = middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		// Keyed by RealIP, which believes X-Forwarded-For only from TRUST_PROXY.
		Store:        middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{Rate: rate.Limit(1), Burst: 10}),
		ErrorHandler: func(c echo.Context, err error) error { return &Error{Status: http.StatusForbidden, Err: err} },
		DenyHandler: func(c echo.Context, id string, err error) error {
			return &Error{Status: http.StatusTooManyRequests, Err: err}
		},
	})
	h.beaconLimit = newBeaconLimit()
	return h
}

// secure reports whether the console is served over https.
func (h *Handler) secure() bool { return h.BaseURL != nil && h.BaseURL.Scheme == "https" }
