// Package wiring builds the console's side of WeChat Pay and its services
// from configuration: in sandbox mode the simulator first, whose
// credentials then configure the very same Pay Score client, notification
// verifier and JS-SDK signing as live mode. The root package's wire()
// builds through it, and so do the handlers' tests: they run the real
// wiring, not a copy. It never imports handlers (their tests import it);
// the root package puts what it builds into handlers.Deps.
package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// Options are what the WeChat Pay side is built from.
type Options struct {
	// DB is the console's database; the sandbox keeps its tables in the
	// same file.
	DB *store.DB
	// PayScore is the live configuration of the client and the verifier.
	// In sandbox mode the simulator's merchant, keys, channel profile and
	// API base replace those fields; the rest (time-outs, Registerer,
	// RequireHTTPSNotify) is kept.
	PayScore payscore.Config
	// Tickets is the live JS-SDK ticket configuration (sandbox mode: the
	// simulator's official account replaces it).
	Tickets payscore.TicketConfig
	// JSSDKURL is the JS-SDK script the landing page loads
	// (WECHAT_JSSDK_URL; sandbox mode: the simulator's shim).
	JSSDKURL string

	// Sandbox builds the simulator and configures everything against it.
	Sandbox bool
	// SandboxDBPath is the simulator's own SQLite file when the console's
	// database is PostgreSQL (on SQLite it shares DB.Path).
	SandboxDBPath string
	// SelfURL is how the console reaches itself (the listener, over
	// loopback): the client finds the simulator there, under /sandbox.
	SelfURL string
	// BaseURL is the console's public URL (BASE_URL): browsers load the
	// simulator's JS-SDK shim from it.
	BaseURL string
	// Logger receives the simulator's log (its component "sandbox").
	Logger *slog.Logger
	// SandboxHTTPClient delivers the simulator's notifications (nil: its
	// default).
	SandboxHTTPClient *http.Client
}

// WeChatPay is the console's side of WeChat Pay, as configured.
type WeChatPay struct {
	// Config is the client's and verifier's configuration after the
	// sandbox's credentials went in: its MchID and ServiceID are ours.
	Config   payscore.Config
	Client   *payscore.Client
	Verifier *payscore.NotifyVerifier
	Tickets  *payscore.TicketSource
	JSSDKURL string
	// Certificates downloads and refreshes the platform certificates
	// whenever some are configured (platform-certificate or combined
	// mode; in sandbox mode always): run its Run beside the server. Nil in
	// public-key mode.
	Certificates *payscore.PlatformCertificates
	// Sandbox is the simulator; nil in live mode. Mount it under /sandbox
	// and Close it after use.
	Sandbox *sandbox.Sandbox
	// CSRFExempt lists the simulator's server-to-server paths (none in
	// live mode): they authenticate by signature, not by CSRF token.
	CSRFExempt []string
}

// csrfToken is the token Echo's CSRF middleware left in the context (its
// default context key), for the simulator's forms.
func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// NewWeChatPay builds the client, the notification verifier and the
// JS-SDK ticket source for o; in sandbox mode the simulator first.
func NewWeChatPay(ctx context.Context, o Options) (*WeChatPay, error) {
	pcfg, tcfg := o.PayScore, o.Tickets
	pcfg.APIBase = strings.TrimRight(pcfg.APIBase, "/")
	tcfg.APIBase = strings.TrimRight(tcfg.APIBase, "/")
	w := &WeChatPay{JSSDKURL: o.JSSDKURL}
	if o.Sandbox {
		logger := o.Logger
		if logger == nil {
			logger = slog.Default()
		}
		sbPath := o.DB.Path
		if sbPath == "" {
			// PostgreSQL: the simulator keeps its own SQLite file.
			sbPath = o.SandboxDBPath
		}
		sb, err := sandbox.New(ctx, sandbox.Options{DBPath: sbPath, Logger: logger.With("component", "sandbox"),
			HTTPClient: o.SandboxHTTPClient, CSRFToken: csrfToken})
		if err != nil {
			return nil, err
		}
		cr := sb.Credentials()
		pcfg.MchID, pcfg.CertSerial, pcfg.PrivateKey, pcfg.APIv3Key = cr.MchID, cr.CertSerial, cr.MerchantKey, cr.APIv3Key
		// Combined (migration) mode, as a merchant moving from platform
		// certificates to the public key runs: the simulator signs with
		// either, as its control page says.
		pcfg.PublicKey, pcfg.PublicKeyID, pcfg.PlatformCerts = cr.PublicKey, cr.PublicKeyID, cr.PlatformCerts
		pcfg.ServiceID, pcfg.ChannelID, pcfg.AppID = cr.ServiceID, cr.ChannelID, cr.AppID
		pcfg.APIBase = o.SelfURL + "/sandbox"
		tcfg = payscore.TicketConfig{APIBase: o.SelfURL + "/sandbox", AppID: cr.MPAppID, Secret: cr.MPSecret}
		w.JSSDKURL = strings.TrimRight(o.BaseURL, "/") + "/sandbox/jweixin.js"
		w.CSRFExempt = []string{"/sandbox/v3/", "/sandbox/cgi-bin/", "/sandbox/jssdk/verify"}
		w.Sandbox = sb
	}
	fail := func(what string, err error) (*WeChatPay, error) {
		if w.Sandbox != nil {
			w.Sandbox.Close()
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var err error
	if len(pcfg.PlatformCerts) > 0 {
		// Platform-certificate mode: the configured certificates, plus
		// those downloaded from WeChat Pay, so that a rotated certificate
		// is accepted without a restart.
		if w.Certificates, err = payscore.NewPlatformCertificates(pcfg); err != nil {
			return fail("platform certificates", err)
		}
		pcfg.Certificates = w.Certificates
	}
	if w.Client, err = payscore.NewClient(pcfg); err != nil {
		return fail("payscore client", err)
	}
	if w.Verifier, err = payscore.NewNotifyVerifier(pcfg); err != nil {
		return fail("notification verifier", err)
	}
	if w.Tickets, err = payscore.NewTicketSource(tcfg); err != nil {
		return fail("JS-SDK tickets", err)
	}
	w.Config = pcfg
	return w, nil
}

// ServiceOptions are what the services are built from besides the store
// and the Pay Score client.
type ServiceOptions struct {
	// BaseURL is the console's public URL: WeChat Pay sends notifications
	// to BaseURL/notify/payscore.
	BaseURL string
	// CodePrefix starts generated authorization codes.
	CodePrefix string
	// MchID, ServiceID and AppID are ours (WeChatPay.Config's).
	MchID, ServiceID, AppID string
	Now                     func() time.Time // nil: time.Now
	Logger                  *slog.Logger
	Registerer              prometheus.Registerer
	// SessionKey (SESSION_KEY) keys the sealing of TOTP secrets.
	SessionKey []byte
	// MFARequiredRoles must sign in with two-factor (MFA_REQUIRED_ROLES).
	MFARequiredRoles []string
	// BulkRate is the calls per second bulk jobs make to WeChat Pay
	// (BULK_RATE; 0: service.DefaultBulkRate).
	BulkRate float64
	// Instance is this process's id (INSTANCE_ID; "": random).
	Instance string
}

// NewServices builds the services over db and pay (the WeChatPay's Client;
// tests may pass a fake or a wrapped one).
func NewServices(db *store.DB, pay service.PayScore, o ServiceOptions) *service.Services {
	return service.New(service.Config{
		Store:      db,
		PayScore:   pay,
		Now:        o.Now,
		Logger:     o.Logger,
		CodePrefix: o.CodePrefix,
		NotifyURL:  strings.TrimRight(o.BaseURL, "/") + "/notify/payscore",
		Registerer: o.Registerer,
		MchID:      o.MchID,
		ServiceID:  o.ServiceID,
		AppID:      o.AppID,
		SessionKey: o.SessionKey,
		// MFARequiredRoles must sign in with two-factor.
		MFARequiredRoles: o.MFARequiredRoles,
		BulkRate:         o.BulkRate,
		Instance:         o.Instance,
	})
}
