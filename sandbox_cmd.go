package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/payscore-console/payscore-console/sandbox"
)

// sandboxConfig configures `payscore-console sandbox`: the WeChat Pay
// simulator alone, for a partner team's own system. Each setting is a
// SANDBOX_* variable and a flag of the same name (SANDBOX_NOTIFY_URL →
// -notify-url); the admin token is a variable only.
type sandboxConfig struct {
	Addr           string
	DBPath         string
	ExportDir      string
	NotifyURL      string
	BaseURL        string
	FrameAncestors string
	AdminToken     string
	ResetToken     bool
}

// loadSandboxConfig reads the SANDBOX_* variables, then the flags in args.
func loadSandboxConfig(args []string, getenv func(string) string, out io.Writer) (*sandboxConfig, error) {
	c := &sandboxConfig{AdminToken: getenv("SANDBOX_ADMIN_TOKEN")}
	fs := flag.NewFlagSet("payscore-console sandbox", flag.ContinueOnError)
	fs.SetOutput(out)
	str := func(p *string, name, env, def, usage string) {
		fs.StringVar(p, name, or(getenv(env), def), usage+" ($"+env+")")
	}
	str(&c.Addr, "addr", "SANDBOX_ADDR", "127.0.0.1:8090", "listen address (loopback by default: see README before exposing it)")
	str(&c.DBPath, "db-path", "SANDBOX_DB_PATH", "sandbox.db", "the sandbox's own SQLite file (keys, authorizations, notifications)")
	str(&c.ExportDir, "export-dir", "SANDBOX_EXPORT_DIR", "sandbox-keys", "directory the keys and .env are written to (files 0600)")
	str(&c.NotifyURL, "notify-url", "SANDBOX_NOTIFY_URL", "", "where notifications go (default: each pre-authorize's notify_url)")
	str(&c.BaseURL, "base-url", "SANDBOX_BASE_URL", "", "the sandbox's URL as the partner's system reaches it (default http://ADDR); written to .env")
	str(&c.FrameAncestors, "frame-ancestors", "SANDBOX_FRAME_ANCESTORS", "*", "origins whose pages may frame the consent page (CSP frame-ancestors)")
	fs.BoolVar(&c.ResetToken, "reset-admin-token", false, "make a new control-page admin token and print it once")
	fs.Usage = func() {
		fmt.Fprintln(out, "payscore-console sandbox: the WeChat Pay simulator alone (API, notifications, official account, consent and control pages)")
		fs.PrintDefaults()
		fmt.Fprintln(out, "\n  SANDBOX_ADMIN_TOKEN\n    \tthe control page's admin token (HTTP basic auth, user admin); default: generated on first start and printed once")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if c.NotifyURL != "" {
		if u, err := url.Parse(c.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("SANDBOX_NOTIFY_URL: %q is not an absolute http(s) URL", c.NotifyURL))
		}
	}
	if c.BaseURL != "" {
		// No path: requests are signed over their path, which must be
		// WeChat's own (/v3/…) when it reaches the sandbox.
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("SANDBOX_BASE_URL: %q is not an absolute http(s) URL without a path", c.BaseURL))
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("SANDBOX_ADMIN_TOKEN: must be at least 16 characters"))
	}
	return c, errors.Join(errs...)
}

// sandboxCommand runs `payscore-console sandbox` until ctx ends.
func sandboxCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) int {
	cfg, err := loadSandboxConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		logConfigError(logger, err)
		return exitConfig
	}
	if err := serveSandbox(ctx, cfg, logger); err != nil {
		logger.Error("stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// serveSandbox listens, exports the keys, and serves the simulator at the
// root of its own server until ctx ends.
func serveSandbox(ctx context.Context, cfg *sandboxConfig, logger *slog.Logger) error {
	sb, err := sandbox.New(ctx, sandbox.Options{
		DBPath: cfg.DBPath, Logger: logger.With("component", "sandbox"), NotifyURL: cfg.NotifyURL,
		FrameAncestors: cfg.FrameAncestors,
		CSRFToken:      func(c echo.Context) string { t, _ := c.Get("csrf").(string); return t },
	})
	if err != nil {
		return err
	}
	defer sb.Close()
	if cfg.AdminToken == "" {
		token, err := sb.EnsureAdminToken(ctx, cfg.ResetToken)
		if err != nil {
			return err
		}
		if token != "" {
			// Shown once: only its hash is kept.
			logger.Warn("sandbox control page: generated admin token (shown once; HTTP basic auth, user admin; -reset-admin-token makes a new one)",
				"username", "admin", "token", token)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	base := cfg.BaseURL
	if base == "" {
		base = listenURL(ln)
	}
	base = strings.TrimRight(base, "/")
	files, err := sb.ExportFiles(cfg.ExportDir, sandbox.ExportOptions{APIBase: base})
	if err != nil {
		ln.Close()
		return err
	}
	e := newSandboxEcho(sb, cfg, logger)
	srv := newHTTPServer(e, logger)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go sb.Run(runCtx)
	notify := cfg.NotifyURL
	if notify == "" {
		notify = "(each pre-authorize's notify_url)"
	}
	logger.Warn("STANDALONE SANDBOX: a simulated WeChat Pay for testing; test keys, no real money, no real users",
		"addr", ln.Addr().String(), "api_base", base, "control_page", base+"/", "db", cfg.DBPath,
		"export", files, "notify_url", notify)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	stopRun()
	logger.Info("stopped")
	return nil
}

// listenURL is http:// and the listener's address, a wildcard host read as
// loopback (the partner's system on this machine reaches it there).
func listenURL(ln net.Listener) string {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// sandboxServerPaths are called by the partner's servers (or, for
// /jssdk/verify, by its pages' script from their own origin): signed or
// public, never a browser form, so no CSRF token.
var sandboxServerPaths = []string{"/v3/", "/cgi-bin/", "/jssdk/verify"}

func isServerPath(p string) bool {
	for _, prefix := range sandboxServerPaths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// isControlPath reports whether p is the control page or one of its forms.
func isControlPath(p string) bool { return p == "/" || strings.HasPrefix(p, "/control/") }

// newSandboxEcho is the standalone server: the simulator mounted at the
// root, so WeChat Pay's paths are exactly WeChat's. The control page takes
// HTTP basic auth (user admin, the admin token) and a CSRF token; browser
// POSTs must come from the sandbox's own pages; /jssdk/verify answers the
// partner's pages on other origins (CORS).
func newSandboxEcho(sb *sandbox.Sandbox, cfg *sandboxConfig, logger *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			if !isServerPath(c.Request().URL.Path) {
				// The consent page replaces both with its own (framable).
				h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
				h.Set("X-Frame-Options", "DENY")
			}
			return next(c)
		}
	})
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:      func(c echo.Context) bool { return c.Request().URL.Path != "/jssdk/verify" },
		AllowOrigins: []string{"*"},
		AllowMethods: []string{http.MethodPost},
		AllowHeaders: []string{echo.HeaderContentType},
	}))
	cop := http.NewCrossOriginProtection()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if isServerPath(c.Request().URL.Path) {
				return next(c)
			}
			if err := cop.Check(c.Request()); err != nil {
				return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
			}
			return next(c)
		}
	})
	// The token check only guards the control page: the consent page is
	// framed by partner pages on other origins, where a SameSite cookie
	// would not come back (cross-origin protection covers it).
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper:        func(c echo.Context) bool { return !isControlPath(c.Request().URL.Path) },
		TokenLookup:    "form:_csrf",
		CookieName:     "_sandbox_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
	}))
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	admin := middleware.BasicAuthWithConfig(middleware.BasicAuthConfig{
		Realm: "payscore sandbox control",
		Validator: func(user, pass string, c echo.Context) (bool, error) {
			if subtle.ConstantTimeCompare([]byte(user), []byte("admin")) != 1 {
				return false, nil
			}
			if cfg.AdminToken != "" {
				return subtle.ConstantTimeCompare([]byte(pass), []byte(cfg.AdminToken)) == 1, nil
			}
			return sb.AdminTokenOK(c.Request().Context(), pass)
		},
	})
	sb.Mount(e.Group(""), admin)
	return e
}
