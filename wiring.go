package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payscore-console/payscore-console/handlers"
	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/wiring"
)

// app is the wired console: its handlers and the background work that runs
// beside them.
type app struct {
	handler  *handlers.Handler
	services *service.Services
	sandbox  *sandbox.Sandbox // nil in live mode
	client   *payscore.Client
	// certs downloads and refreshes the platform certificates
	// (platform-certificate or combined mode); nil in public-key mode.
	certs *payscore.PlatformCertificates
}

// wire builds the console for cfg: the WeChat Pay side and the services
// through package wiring (in sandbox mode the simulator is created first and
// its credentials configure the very same client, verifier and JS-SDK
// signing as live mode; the client reaches it over loopback at selfURL, the
// listener, while browsers load its JS-SDK shim from BASE_URL), then the
// handlers.
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
	wp, err := wiring.NewWeChatPay(ctx, wiring.Options{
		DB: db, SandboxDBPath: cfg.SandboxDBPath,
		PayScore: payscore.Config{
			MchID: cfg.WeChatPayMchID, CertSerial: cfg.WeChatPayCertSerial, PrivateKey: cfg.privateKey,
			APIv3Key: cfg.WeChatPayAPIv3Key, PublicKey: cfg.publicKey, PublicKeyID: cfg.WeChatPayPublicKeyID,
			PlatformCerts: cfg.platformCerts, APIBase: cfg.WeChatPayAPIBase,
			ServiceID: cfg.PayscoreServiceID, ChannelID: cfg.PayscoreChannelID, AppID: cfg.PayscoreAppID,
			RequireHTTPSNotify: !cfg.Sandbox(), Registerer: reg,
		},
		Tickets:  payscore.TicketConfig{APIBase: cfg.WeChatAPIBase, AppID: cfg.WeChatMPAppID, Secret: cfg.WeChatMPSecret},
		JSSDKURL: cfg.WeChatJSSDKURL,
		Sandbox:  cfg.Sandbox(),
		SelfURL:  selfURL,
		BaseURL:  cfg.BaseURL,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	a := &app{sandbox: wp.Sandbox, client: wp.Client, certs: wp.Certificates}
	a.services = wiring.NewServices(db, wp.Client, wiring.ServiceOptions{
		BaseURL: base.String(), CodePrefix: cfg.AuthorizationCodePrefix,
		MchID: wp.Config.MchID, ServiceID: wp.Config.ServiceID, AppID: wp.Config.AppID, Logger: logger, Registerer: reg,
		// TOTP secrets are sealed under a key derived from the session key.
		SessionKey: key, MFARequiredRoles: cfg.MFARoles(),
		BulkRate: cfg.bulkRate, Instance: cfg.InstanceID,
	})
	cfg.applyOIDC(a.services, db, base, logger)
	coord := a.services.Coordinator
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "payscore_worker_lease",
		Help: "1 while this instance holds the worker lease (runs the resolver, the reconciler and bulk jobs), else 0; summed over the instances it is 1."},
		func() float64 {
			if coord.Leader() {
				return 1
			}
			return 0
		})); err != nil {
		return nil, fmt.Errorf("lease metric: %w", err)
	}
	deps := handlers.Deps{
		Services:      a.services,
		Logs:          db,
		Health:        db,
		Notifications: db,
		APICalls:      wp.Client,
		Sessions:      handlers.NewSessionStore(db, key, base.Scheme == "https", time.Now),
		Logger:        logger,
		BaseURL:       base,
		Sandbox:       cfg.Sandbox(),
		CSRFExempt:    wp.CSRFExempt,
		TrustProxy:    trust,
		MetricsToken:  cfg.MetricsToken,
		Registry:      reg,
		Receiver:      handlers.Receiver{Parser: wp.Verifier},
		JSSDK:         wp.Tickets,
		JSSDKURL:      wp.JSSDKURL,
	}
	deps.Keys.PublicKeyID = wp.Config.PublicKeyID
	if a.certs != nil {
		deps.Keys.Certificates = a.certs
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
