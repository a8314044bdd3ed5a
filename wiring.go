package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payscore-console/payscore-console/handlers"
	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// app is the wired console: its handlers and the background work that runs
// beside them.
type app struct {
	handler  *handlers.Handler
	services *service.Services
	sandbox  *sandbox.Sandbox // nil in live mode
	client   *payscore.Client
}

// wire builds the console for cfg. In sandbox mode the simulator is created
// first and its credentials configure the very same client, verifier and
// JS-SDK signing as live mode; the client reaches it over loopback at
// selfURL (the listener), while browsers load its JS-SDK shim from BASE_URL.
func wire(ctx context.Context, cfg *Config, db *store.DB, logger *slog.Logger, reg *prometheus.Registry, selfURL string) (*app, error) {
	base, _ := url.Parse(cfg.BaseURL)
	trust, err := parseCIDRs(cfg.TrustProxy)
	if err != nil {
		return nil, fmt.Errorf("TRUST_PROXY: %w", err)
	}
	key, err := sessionKey(ctx, db, cfg)
	if err != nil {
		return nil, err
	}
	// The database's gauges (last notification, links awaiting their user,
	// pending terminations) and its error counter: docs/alerts.yml.
	if err := reg.Register(db.Collector()); err != nil {
		return nil, fmt.Errorf("database metrics: %w", err)
	}
	pcfg := payscore.Config{
		MchID: cfg.WeChatPayMchID, CertSerial: cfg.WeChatPayCertSerial, PrivateKey: cfg.privateKey,
		APIv3Key: cfg.WeChatPayAPIv3Key, PublicKey: cfg.publicKey, PublicKeyID: cfg.WeChatPayPublicKeyID,
		PlatformCerts: cfg.platformCerts, APIBase: strings.TrimRight(cfg.WeChatPayAPIBase, "/"),
		ServiceID: cfg.PayscoreServiceID, ChannelID: cfg.PayscoreChannelID, AppID: cfg.PayscoreAppID,
		RequireHTTPSNotify: !cfg.Sandbox(), Registerer: reg,
	}
	tcfg := payscore.TicketConfig{APIBase: strings.TrimRight(cfg.WeChatAPIBase, "/"), AppID: cfg.WeChatMPAppID, Secret: cfg.WeChatMPSecret}
	jssdkURL := cfg.WeChatJSSDKURL
	a := &app{}
	var csrfExempt []string
	if cfg.Sandbox() {
		sb, err := sandbox.New(ctx, sandbox.Options{DBPath: db.Path, Logger: logger.With("component", "sandbox"),
			CSRFToken: func(c echo.Context) string { t, _ := c.Get("csrf").(string); return t }})
		if err != nil {
			return nil, err
		}
		cr := sb.Credentials()
		pcfg.MchID, pcfg.CertSerial, pcfg.PrivateKey, pcfg.APIv3Key = cr.MchID, cr.CertSerial, cr.MerchantKey, cr.APIv3Key
		pcfg.PublicKey, pcfg.PublicKeyID = cr.PublicKey, cr.PublicKeyID
		pcfg.ServiceID, pcfg.ChannelID, pcfg.AppID = cr.ServiceID, cr.ChannelID, cr.AppID
		pcfg.APIBase = selfURL + "/sandbox"
		tcfg = payscore.TicketConfig{APIBase: selfURL + "/sandbox", AppID: cr.MPAppID, Secret: cr.MPSecret}
		jssdkURL = strings.TrimRight(cfg.BaseURL, "/") + "/sandbox/jweixin.js"
		csrfExempt = []string{"/sandbox/v3/", "/sandbox/jssdk/verify"}
		a.sandbox = sb
	}
	client, err := payscore.NewClient(pcfg)
	if err != nil {
		return nil, fmt.Errorf("payscore client: %w", err)
	}
	verifier, err := payscore.NewNotifyVerifier(pcfg)
	if err != nil {
		return nil, fmt.Errorf("notification verifier: %w", err)
	}
	tickets, err := payscore.NewTicketSource(tcfg)
	if err != nil {
		return nil, fmt.Errorf("JS-SDK tickets: %w", err)
	}
	a.client = client
	a.services = service.New(service.Config{
		Store:      db,
		PayScore:   client,
		Logger:     logger,
		CodePrefix: cfg.AuthorizationCodePrefix,
		NotifyURL:  strings.TrimRight(base.String(), "/") + "/notify/payscore",
		Registerer: reg,
	})
	deps := handlers.Deps{
		Services:     a.services,
		Logs:         db,
		Health:       db,
		Sessions:     handlers.NewSessionStore(db, key, base.Scheme == "https", time.Now),
		Logger:       logger,
		BaseURL:      base,
		Sandbox:      cfg.Sandbox(),
		CSRFExempt:   csrfExempt,
		TrustProxy:   trust,
		MetricsToken: cfg.MetricsToken,
		Registry:     reg,
		Receiver:     handlers.Receiver{Parser: verifier, Store: db, MchID: pcfg.MchID, ServiceID: pcfg.ServiceID},
		JSSDK:        tickets,
		JSSDKURL:     jssdkURL,
	}
	if a.sandbox != nil {
		deps.MountSandbox = a.sandbox.Mount
	}
	a.handler = handlers.New(deps)
	return a, nil
}

// newRegistry is the registry /metrics serves: the Go runtime's and the
// process's collectors; wire adds the console's own.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// loopbackURL is how the console reaches itself: the listener's port on
// the loopback address, whatever interface ADDR names.
func loopbackURL(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://127.0.0.1:" + port
}
