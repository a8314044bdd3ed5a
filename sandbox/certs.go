package sandbox

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// platformCertLifetime is how long a sandbox platform certificate is valid;
// WeChat Pay's are valid for five years.
const platformCertLifetime = 5 * 365 * 24 * time.Hour

// platformCert is a WeChat Pay platform certificate and its private key.
type platformCert struct {
	serial string
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	pem    string
}

// signingKey is what signs an answer or a notification: a private key and
// the Wechatpay-Serial that names it (PUB_KEY_ID_… or a certificate serial).
type signingKey struct {
	key    *rsa.PrivateKey
	serial string
}

// certSerial formats a certificate serial as WeChat Pay (and the official
// SDK) write it: upper-case hex of the serial number's bytes.
func certSerial(c *x509.Certificate) string { return fmt.Sprintf("%X", c.SerialNumber.Bytes()) }

// loadPlatformCerts reads the platform certificates, creating the first one
// on a fresh database.
func (s *Sandbox) loadPlatformCerts(ctx context.Context) error {
	rows, err := s.db.listPlatformCerts(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		if _, err := s.newPlatformCert(ctx); err != nil {
			return err
		}
		if rows, err = s.db.listPlatformCerts(ctx); err != nil {
			return err
		}
	}
	certs := make([]platformCert, 0, len(rows))
	for _, r := range rows {
		pc, err := parsePlatformCert(r)
		if err != nil {
			return err
		}
		certs = append(certs, pc)
	}
	s.certMu.Lock()
	s.certs = certs
	s.certMu.Unlock()
	return nil
}

func parsePlatformCert(r storedCert) (platformCert, error) {
	key, err := parseKey(r.keyPEM)
	if err != nil {
		return platformCert{}, err
	}
	block, _ := pem.Decode([]byte(r.certPEM))
	if block == nil {
		return platformCert{}, errors.New("sandbox: stored platform certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return platformCert{}, fmt.Errorf("sandbox: stored platform certificate: %w", err)
	}
	return platformCert{serial: r.serial, key: key, cert: c, pem: r.certPEM}, nil
}

// newPlatformCert generates a key and a certificate for it and stores them.
func (s *Sandbox) newPlatformCert(ctx context.Context) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("sandbox: generate platform key: %w", err)
	}
	// 20 bytes whose first is at least 0x10: 40 hex digits, like WeChat's.
	sn := make([]byte, 20)
	if _, err := rand.Read(sn); err != nil {
		return "", err
	}
	sn[0] = sn[0]%0x70 + 0x10
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(sn),
		Subject: pkix.Name{CommonName: "Tenpay.com sandbox platform certificate", Organization: []string{"Tenpay.com"},
			OrganizationalUnit: []string{mchID}, Country: []string{"CN"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(platformCertLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("sandbox: create platform certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	r := storedCert{
		serial:    certSerial(c),
		keyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		certPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		notBefore: c.NotBefore, notAfter: c.NotAfter,
	}
	if err := s.db.insertPlatformCert(ctx, r, now); err != nil {
		return "", err
	}
	return r.serial, nil
}

// RotatePlatformCertificate issues a new platform certificate, as WeChat
// Pay does before the current one expires. The old one stays listed by GET
// /v3/certificates until it expires; in platform-certificate mode
// everything is signed with the new one from now on. It returns the new
// serial.
func (s *Sandbox) RotatePlatformCertificate(ctx context.Context) (string, error) {
	serial, err := s.newPlatformCert(ctx)
	if err != nil {
		return "", err
	}
	return serial, s.loadPlatformCerts(ctx)
}

// PlatformCertificate is a platform certificate as the control page and
// tests see it.
type PlatformCertificate struct {
	Serial    string
	NotBefore time.Time
	NotAfter  time.Time
	// Current is true for the one that signs in platform-certificate mode.
	Current bool
	// Certificate is the parsed certificate.
	Certificate *x509.Certificate
	// PEM is the certificate, PEM-encoded.
	PEM string
}

// PlatformCertificates lists the platform certificates not yet expired,
// newest (the one that signs) first.
func (s *Sandbox) PlatformCertificates() []PlatformCertificate {
	s.certMu.RLock()
	defer s.certMu.RUnlock()
	now := s.now()
	var out []PlatformCertificate
	for i, c := range s.certs {
		if !now.Before(c.cert.NotAfter) {
			continue
		}
		out = append(out, PlatformCertificate{Serial: c.serial, NotBefore: c.cert.NotBefore, NotAfter: c.cert.NotAfter,
			Current: i == 0, Certificate: c.cert, PEM: c.pem})
	}
	return out
}

// currentCert is the newest platform certificate.
func (s *Sandbox) currentCert() platformCert {
	s.certMu.RLock()
	defer s.certMu.RUnlock()
	return s.certs[0]
}

// answerKey is the key that signs answers and notifications now: the
// WeChat Pay public key's (public-key mode, the default) or the newest
// platform certificate's (Settings.SignWithCertificate).
func (s *Sandbox) answerKey(ctx context.Context) signingKey {
	st, err := s.Settings(ctx)
	if err == nil && st.SignWithCertificate {
		c := s.currentCert()
		return signingKey{c.key, c.serial}
	}
	if err != nil {
		s.log.Warn("sandbox: read settings; signing with the public key", "err", err)
	}
	return signingKey{s.id.platformKey, s.id.publicKeyID}
}

// certificateKey signs GET /v3/certificates: always the newest platform
// certificate, whatever the mode.
func (s *Sandbox) certificateKey(context.Context) signingKey {
	c := s.currentCert()
	return signingKey{c.key, c.serial}
}

// encrypt seals plaintext with the APIv3 key (AEAD_AES_256_GCM) as WeChat
// Pay does for notifications and downloaded certificates: a 12-character
// nonce, base64 ciphertext.
func (s *Sandbox) encrypt(plaintext []byte, associatedData string) (nonce, ciphertext string, err error) {
	block, err := aes.NewCipher([]byte(s.id.apiv3Key))
	if err != nil {
		return "", "", fmt.Errorf("sandbox: apiv3 key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", "", fmt.Errorf("sandbox: gcm: %w", err)
	}
	nonce = randString(12, alnum)
	return nonce, base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}

// certificatesResponse is the answer of GET /v3/certificates.
type certificatesResponse struct {
	Data []downloadedCert `json:"data"`
}

type downloadedCert struct {
	SerialNo           string        `json:"serial_no"`
	EffectiveTime      string        `json:"effective_time"`
	ExpireTime         string        `json:"expire_time"`
	EncryptCertificate encryptedCert `json:"encrypt_certificate"`
}

type encryptedCert struct {
	Algorithm      string `json:"algorithm"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
	Ciphertext     string `json:"ciphertext"`
}

// certificates is GET /v3/certificates: every platform certificate not yet
// expired, each encrypted with the APIv3 key, in a signed answer.
func (s *Sandbox) certificates(c echo.Context, _ []byte) (int, any, error) {
	var out certificatesResponse
	for _, pc := range s.PlatformCertificates() {
		nonce, ct, err := s.encrypt([]byte(pc.PEM), "certificate")
		if err != nil {
			return 0, nil, err
		}
		out.Data = append(out.Data, downloadedCert{
			SerialNo:      pc.Serial,
			EffectiveTime: pc.NotBefore.In(beijing).Format(time.RFC3339),
			ExpireTime:    pc.NotAfter.In(beijing).Format(time.RFC3339),
			EncryptCertificate: encryptedCert{Algorithm: "AEAD_AES_256_GCM", Nonce: nonce, AssociatedData: "certificate",
				Ciphertext: ct},
		})
	}
	return http.StatusOK, out, nil
}

// signingModeText names the mode for the control page.
func signingModeText(certificate bool) string {
	if certificate {
		return "platform certificate"
	}
	return "WeChat Pay public key"
}
