package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/wiring"
)

// wechatPay is the sandbox a test server talks to, with the real client,
// verifier and JS-SDK signing configured from its credentials, as main.go
// wires them in sandbox mode.
type wechatPay struct {
	sb     *sandbox.Sandbox
	client *payscore.Client
	creds  sandbox.Credentials
	// certs are the platform certificates (the console runs the sandbox in
	// combined mode); tests call Refresh where serve runs Run.
	certs *payscore.PlatformCertificates
}

// withWeChatPay mounts the sandbox on the test server and points the
// console's PayScore client, notification receiver and JS-SDK at it over
// loopback HTTP, built by wiring.NewWeChatPay exactly as serve builds them
// in sandbox mode. The sandbox and the SDK check signatures against the real
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
			self := d.BaseURL.String()
			w, err := wiring.NewWeChatPay(context.Background(), wiring.Options{
				DB: d.Store,
				// Short time-outs keep fault-injection tests quick.
				PayScore: payscore.Config{AttemptTimeout: 2 * time.Second, OverallTimeout: 6 * time.Second, BaseBackoff: 10 * time.Millisecond},
				Sandbox:  true, SelfURL: self, BaseURL: self,
				Logger:            slog.New(slog.DiscardHandler),
				SandboxHTTPClient: &http.Client{Timeout: 5 * time.Second},
			})
			if err != nil {
				t.Fatalf("wiring.NewWeChatPay: %v", err)
			}
			t.Cleanup(func() { w.Sandbox.Close() })
			*wp = wechatPay{sb: w.Sandbox, client: w.Client, creds: w.Sandbox.Credentials(), certs: w.Certificates}
			d.Keys = VerifyKeys{PublicKeyID: w.Config.PublicKeyID}
			if w.Certificates != nil {
				d.Keys.Certificates = w.Certificates
			}
			d.PayScore = w.Client
			d.JSSDK = w.Tickets
			d.JSSDKURL = w.JSSDKURL
			d.Receiver = Receiver{Parser: w.Verifier}
			d.MchID, d.ServiceID, d.AppID = w.Config.MchID, w.Config.ServiceID, w.Config.AppID
			d.MountSandbox = w.Sandbox.Mount
			d.CSRFExempt = append(d.CSRFExempt, w.CSRFExempt...)
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
