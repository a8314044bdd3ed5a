package sandbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/payscore-console/payscore-console/sandbox"
)

// Issue 9, item 7: the sandbox answers like WeChat's gateway.

// TestGatewayUnsignedAnswers: a request WeChat Pay cannot authenticate gets
// 401 SIGN_ERROR with no Wechatpay-* header; the control page's faults
// answer 401 and 429 unsigned, without doing anything.
func TestGatewayUnsignedAnswers(t *testing.T) {
	e := newEnv(t)
	t.Run("ErrWrongKeyUnsigned401", func(t *testing.T) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		other := e.sdkClient(t, key, 0)
		res, err := e.preAuthorize(other, e.preAuthBody("GW-1", "1230000109", ""))
		ae := e.wantAPIError(t, res, err, http.StatusUnauthorized, "SIGN_ERROR")
		if !strings.Contains(ae.Message, "签名") {
			t.Errorf("message %q", ae.Message)
		}
	})
	for _, tc := range []struct {
		kind   sandbox.FaultKind
		status int
		code   string
	}{
		{sandbox.FaultUnsigned401, http.StatusUnauthorized, "SIGN_ERROR"},
		{sandbox.FaultUnsigned429, http.StatusTooManyRequests, "FREQUENCY_LIMITED"},
	} {
		t.Run("ErrFault"+tc.kind.String(), func(t *testing.T) {
			if k, ok := sandbox.ParseFaultKind(tc.kind.String()); !ok || k != tc.kind {
				t.Fatalf("ParseFaultKind(%q) = %v, %v", tc.kind.String(), k, ok)
			}
			e.sb.InjectFault(tc.kind, 1)
			res, err := e.preAuthorize(e.client, e.preAuthBody("GW-"+tc.kind.String(), "1230000109", ""))
			var ae *core.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.status || ae.Code != tc.code {
				t.Fatalf("err %v, want %d %s", err, tc.status, tc.code)
			}
			e.checkUnsigned(t, res)
			if _, err := e.sb.Authorization(context.Background(), "GW-"+tc.kind.String()); !errors.Is(err, sandbox.ErrNotFound) {
				t.Errorf("the refused call did something: %v", err)
			}
			// The next call is answered normally.
			e.mustToken(t, "GW-"+tc.kind.String(), "1230000109", "")
		})
	}
}

// TestTokensNeedEncoding: tokens are base64-like and, over a few dozen,
// contain "+", "/" and "=": the consent page finds a token only when the
// URL carries it encoded, and its own redirect encodes it.
func TestTokensNeedEncoding(t *testing.T) {
	e := newEnv(t)
	seen := map[string]string{}
	for i := 0; i < 60 && len(seen) < 3; i++ {
		tok := e.mustToken(t, "ENC-"+strconv.Itoa(i), "1230000109", "")
		if len(tok) < 44 || len(tok) > 300 {
			t.Fatalf("token %q: length %d", tok, len(tok))
		}
		for _, ch := range []string{"+", "/", "="} {
			if strings.Contains(tok, ch) && seen[ch] == "" {
				seen[ch] = tok
			}
		}
	}
	for _, ch := range []string{"+", "/", "="} {
		if seen[ch] == "" {
			t.Fatalf("no token with %q in 60", ch)
		}
	}
	tok := seen["+"]
	resp := e.do(t, http.MethodGet, "/sandbox/payscore?apply_permissions_token="+url.QueryEscape(tok), nil, nil)
	if got := doc(t, resp).Find(`[data-testid=consent]`).AttrOr("data-stage", ""); resp.StatusCode != http.StatusOK || got != "form" {
		t.Errorf("encoded token: status %d stage %q, want 200 form", resp.StatusCode, got)
	}
	// Unencoded, "+" reads as a space: not the token.
	resp = e.do(t, http.MethodGet, "/sandbox/payscore?apply_permissions_token="+tok, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("raw token with +: status %d, want 404 (the URL must encode it)", resp.StatusCode)
	}
	body, hdr := form("_csrf", testCSRF, "apply_permissions_token", tok, "decision", "agree")
	resp = e.do(t, http.MethodPost, "/sandbox/payscore", body, hdr)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("apply_permissions_token") != tok || loc.Query().Get("result") != "agreed" {
		t.Errorf("redirect %q does not carry the token encoded", resp.Header.Get("Location"))
	}
}

// TestSigningModes: in public-key mode notifications and answers name the
// PUB_KEY_ID_; in platform-certificate mode the newest certificate's serial,
// verifiable with that certificate; after a rotation, the new one's.
func TestSigningModes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	certs := e.creds.PlatformCerts
	if len(certs) != 1 {
		t.Fatalf("%d platform certificates, want 1", len(certs))
	}
	serial := utils.GetCertificateSerialNumber(*certs[0])
	// The merchant's client in combined (migration) mode: public key and
	// platform certificates, as the console configures it.
	certMap := core.NewCertificateMapWithList(certs)
	pkClient := e.client
	e.client = core.NewClientWithValidator(e.client, validators.NewWechatPayResponseValidator(
		verifiers.NewSHA256WithRSACombinedVerifier(certMap, e.creds.PublicKeyID, *e.creds.PublicKey)))

	notifyAndCheck := func(t *testing.T, code, wantSerial string, verifier *verifiers.SHA256WithRSAVerifier) {
		t.Helper()
		tok := e.mustToken(t, code, "1230000109", "")
		if _, err := e.sb.Agree(ctx, tok); err != nil {
			t.Fatal(err)
		}
		before := len(e.recv.deliveries())
		if _, err := e.sb.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		got := e.recv.deliveries()
		if len(got) != before+1 {
			t.Fatalf("%d deliveries, want %d", len(got), before+1)
		}
		d := got[len(got)-1]
		if s := d.Header.Get("Wechatpay-Serial"); s != wantSerial {
			t.Fatalf("Wechatpay-Serial %q, want %q", s, wantSerial)
		}
		if verifier != nil {
			h, err := notify.NewRSANotifyHandler(e.creds.APIv3Key, verifier)
			if err != nil {
				t.Fatal(err)
			}
			var payload map[string]any
			if _, err := h.ParseNotifyRequest(ctx, d.request(), &payload); err != nil {
				t.Fatalf("SDK refuses the certificate-signed notification: %v", err)
			}
			if payload["authorization_code"] != code {
				t.Errorf("payload %v", payload)
			}
		} else {
			e.parse(t, d)
		}
	}

	t.Run("OKPublicKeyByDefault", func(t *testing.T) {
		notifyAndCheck(t, "MODE-PK", e.creds.PublicKeyID, nil)
	})
	t.Run("OKCertificateMode", func(t *testing.T) {
		if err := e.sb.SetSettings(ctx, sandbox.Settings{SignWithCertificate: true}); err != nil {
			t.Fatal(err)
		}
		notifyAndCheck(t, "MODE-CERT", serial, verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(certs)))
		// API answers are signed the same way: a public-key-only client
		// cannot verify them.
		res, err := e.query(pkClient, "MODE-CERT", "1230000109")
		if err == nil {
			t.Error("a public-key-only client verified a certificate-signed answer")
		}
		if res == nil || res.Response == nil || res.Response.Header.Get("Wechatpay-Serial") != serial {
			t.Fatalf("answer serial: want %s", serial)
		}
		v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(certs)))
		if err := v.Validate(ctx, res.Response); err != nil {
			t.Errorf("certificate-signed answer does not verify: %v", err)
		}
	})
	t.Run("OKRotation", func(t *testing.T) {
		newSerial, err := e.sb.RotatePlatformCertificate(ctx)
		if err != nil || newSerial == serial {
			t.Fatalf("rotate = %q, %v", newSerial, err)
		}
		list := e.sb.PlatformCertificates()
		if len(list) != 2 || list[0].Serial != newSerial || !list[0].Current || list[1].Serial != serial {
			t.Fatalf("certificates after rotation = %+v", list)
		}
		// The merchant learns the new certificate (the console downloads it).
		all := map[string]*x509.Certificate{}
		for _, c := range e.sb.Credentials().PlatformCerts {
			all[utils.GetCertificateSerialNumber(*c)] = c
		}
		certMap.Reset(all)
		notifyAndCheck(t, "MODE-ROT", newSerial,
			verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(e.sb.Credentials().PlatformCerts)))
	})
}

// TestCertificatesDownload: GET /v3/certificates answers like WeChat Pay —
// every valid certificate, encrypted with the APIv3 key, the answer signed
// with the newest certificate.
func TestCertificatesDownload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.sb.RotatePlatformCertificate(ctx); err != nil {
		t.Fatal(err)
	}
	want := e.sb.PlatformCertificates()
	// A client that accepts any answer signature, as the SDK's downloader
	// does on its first download (the certificates are authenticated by
	// the APIv3 key's AEAD).
	c := e.sdkClient(t, e.creds.MerchantKey, 0)
	c = core.NewClientWithValidator(c, &validators.NullValidator{})
	res, err := c.Get(ctx, e.srv.URL+"/sandbox/v3/certificates")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Response.Header.Get("Wechatpay-Serial"); got != want[0].Serial {
		t.Errorf("answer signed by %q, want the newest %q", got, want[0].Serial)
	}
	var body struct {
		Data []struct {
			SerialNo           string `json:"serial_no"`
			EffectiveTime      string `json:"effective_time"`
			ExpireTime         string `json:"expire_time"`
			EncryptCertificate struct {
				Algorithm      string `json:"algorithm"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
				Ciphertext     string `json:"ciphertext"`
			} `json:"encrypt_certificate"`
		} `json:"data"`
	}
	if err := core.UnMarshalResponse(res.Response, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Data) != 2 {
		t.Fatalf("%d certificates, want 2", len(body.Data))
	}
	for i, d := range body.Data {
		ec := d.EncryptCertificate
		raw, _ := json.Marshal(d)
		if ec.Algorithm != "AEAD_AES_256_GCM" || ec.AssociatedData != "certificate" || len(ec.Nonce) != 12 {
			t.Errorf("certificate %d: %s", i, raw)
		}
		pemText, err := utils.DecryptAES256GCM(e.creds.APIv3Key, ec.AssociatedData, ec.Nonce, ec.Ciphertext)
		if err != nil {
			t.Fatalf("decrypt: %v", err)
		}
		c, err := utils.LoadCertificate(pemText)
		if err != nil {
			t.Fatal(err)
		}
		if got := utils.GetCertificateSerialNumber(*c); got != d.SerialNo || got != want[i].Serial {
			t.Errorf("certificate %d: serial %q, listed %q, want %q", i, got, d.SerialNo, want[i].Serial)
		}
	}
	v := validators.NewWechatPayResponseValidator(verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList(e.sb.Credentials().PlatformCerts)))
	if err := v.Validate(ctx, res.Response); err != nil {
		t.Errorf("answer signature: %v", err)
	}
	// Unauthenticated: unsigned 401 like every API call.
	resp := e.do(t, http.MethodGet, "/sandbox/v3/certificates", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned request: status %d, want 401", resp.StatusCode)
	}
	e.checkUnsigned(t, &core.APIResult{Response: resp})
}
