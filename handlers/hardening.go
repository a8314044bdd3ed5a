package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// allowedMethods are the methods the routes use. Anything else is answered
// before the request reaches logging, metrics or the router: a made-up
// method must not become a new metrics series or a log line.
const allowedMethods = "GET, POST"

// knownMethods are the standard methods the console does not serve: they
// answer 405. Any other method is unknown to us and answers 501 (RFC 9110
// §9.1).
var knownMethods = map[string]bool{
	http.MethodHead: true, http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
	http.MethodOptions: true, http.MethodTrace: true, http.MethodConnect: true,
}

// allowMethods refuses every method the routes do not use. It is a Pre
// middleware, so the request logger and the metrics never see the request.
func allowMethods(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch m := c.Request().Method; {
		case m == http.MethodGet || m == http.MethodPost:
			return next(c)
		case knownMethods[m]:
			c.Response().Header().Set("Allow", allowedMethods)
			return c.NoContent(http.StatusMethodNotAllowed)
		default:
			return c.NoContent(http.StatusNotImplemented)
		}
	}
}

// fromTrustedProxy reports whether the connection's peer is one of the
// TRUST_PROXY networks: only such a peer's forwarding headers are believed.
func (h *Handler) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range h.TrustProxy {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ipExtractor believes X-Forwarded-For exactly from the TRUST_PROXY networks:
// Echo's extractor otherwise also trusts every loopback, link-local and
// private address, so anyone on the same network could choose their IP.
func (h *Handler) ipExtractor() echo.IPExtractor {
	if len(h.TrustProxy) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range h.TrustProxy {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// requestID gives every request an id (X-Request-Id, in the logs and the
// answer). A client's own X-Request-Id is kept only from a trusted proxy,
// and only when it is short and plain; otherwise a fresh id is made.
func (h *Handler) requestID() echo.MiddlewareFunc {
	rid := middleware.RequestID()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		inner := rid(next)
		return func(c echo.Context) error {
			req := c.Request()
			if v := req.Header.Get(echo.HeaderXRequestID); v != "" && (!h.fromTrustedProxy(req) || !plainID(v)) {
				req.Header.Del(echo.HeaderXRequestID)
			}
			return inner(c)
		}
	}
}

// plainID reports whether a forwarded request id is 1–128 characters of
// letters, digits and -_.:
func plainID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return false
		}
	}
	return true
}

// metricsAllowed decides who may read /metrics: with METRICS_TOKEN set, a
// request bearing it (compared in constant time); without one, anyone in
// sandbox mode and no one in live mode. It answers the status to refuse
// with, or 0.
func (h *Handler) metricsAllowed(r *http.Request) int {
	if h.MetricsToken == "" {
		if h.Sandbox {
			return 0
		}
		return http.StatusNotFound
	}
	got, ok := strings.CutPrefix(r.Header.Get(echo.HeaderAuthorization), "Bearer ")
	// Hash both sides so the comparison takes the same time whatever the
	// length of the guess.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.MetricsToken))
	if !ok || subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return http.StatusUnauthorized
	}
	return 0
}
