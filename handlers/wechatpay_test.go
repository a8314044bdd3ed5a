package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
)

// wechatPay is the sandbox a test server talks to, with the real client,
// verifier and JS-SDK signing configured from its credentials, as main.go
// wires them in sandbox mode.
type wechatPay struct {
	sb     *sandbox.Sandbox
	client *payscore.Client
	creds  sandbox.Credentials
}

// withWeChatPay mounts the sandbox on the test server and points the
// console's PayScore client, notification receiver and JS-SDK at it over
// loopback HTTP. The sandbox and the SDK check signatures against the real
// clock, so they run on time.Now, not on the test's fake clock.
// Notifications are delivered when the test calls wp.deliver.
func withWeChatPay(t testing.TB, wp *wechatPay) serverOption {
	return func(c *serverConfig) {
		prev := c.deps
		c.sandbox = true
		c.deps = func(d *testWiring) {
			if prev != nil {
				prev(d)
			}
			ctx := context.Background()
			db := d.Store
			sb, err := sandbox.New(ctx, sandbox.Options{DBPath: db.Path, Logger: slog.New(slog.DiscardHandler),
				HTTPClient: &http.Client{Timeout: 5 * time.Second},
				CSRFToken:  func(c echo.Context) string { tok, _ := c.Get("csrf").(string); return tok }})
			if err != nil {
				t.Fatalf("sandbox.New: %v", err)
			}
			t.Cleanup(func() { sb.Close() })
			cr := sb.Credentials()
			self := d.BaseURL.String()
			cfg := payscore.Config{
				MchID: cr.MchID, CertSerial: cr.CertSerial, PrivateKey: cr.MerchantKey, APIv3Key: cr.APIv3Key,
				PublicKey: cr.PublicKey, PublicKeyID: cr.PublicKeyID, APIBase: self + "/sandbox",
				ServiceID: cr.ServiceID, ChannelID: cr.ChannelID, AppID: cr.AppID,
				// Short time-outs keep fault-injection tests quick.
				AttemptTimeout: 2 * time.Second, OverallTimeout: 6 * time.Second, BaseBackoff: 10 * time.Millisecond,
			}
			client, err := payscore.NewClient(cfg)
			if err != nil {
				t.Fatalf("payscore.NewClient: %v", err)
			}
			verifier, err := payscore.NewNotifyVerifier(cfg)
			if err != nil {
				t.Fatalf("payscore.NewNotifyVerifier: %v", err)
			}
			tickets, err := payscore.NewTicketSource(payscore.TicketConfig{APIBase: self + "/sandbox", AppID: cr.MPAppID, Secret: cr.MPSecret})
			if err != nil {
				t.Fatalf("payscore.NewTicketSource: %v", err)
			}
			*wp = wechatPay{sb: sb, client: client, creds: cr}
			d.PayScore = client
			d.JSSDK = tickets
			d.JSSDKURL = self + "/sandbox/jweixin.js"
			d.Receiver = Receiver{Parser: verifier, Store: db, MchID: cr.MchID, ServiceID: cr.ServiceID}
			d.MountSandbox = sb.Mount
			d.CSRFExempt = append(d.CSRFExempt, "/sandbox/v3/", "/sandbox/jssdk/verify")
			if d.CodePrefix == "" {
				d.CodePrefix = "T"
			}
		}
	}
}

// deliver sends every notification the sandbox has due now.
func (wp *wechatPay) deliver(t testing.TB) int {
	t.Helper()
	n, err := wp.sb.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}
