package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Config is everything the console is configured with. Each field comes
// from an environment variable and may be overridden by a flag of the same
// name in lower case with dashes (WECHATPAY_MCHID → -wechatpay-mchid).
type Config struct {
	Addr          string
	DBPath        string
	BaseURL       string
	AdminPassword string
	SessionKey    string
	TrustProxy    string

	WeChatPayMchID          string
	WeChatPayCertSerial     string
	WeChatPayPrivateKey     string
	WeChatPayAPIv3Key       string
	WeChatPayPublicKey      string
	WeChatPayPublicKeyID    string
	WeChatPayPlatformCert   string
	WeChatPayAPIBase        string
	PayscoreServiceID       string
	PayscoreChannelID       string
	PayscoreAppID           string
	WeChatMPAppID           string
	WeChatMPSecret          string
	WeChatAPIBase           string
	WeChatJSSDKURL          string
	AuthorizationCodePrefix string
	ReconcileEvery          string
	ReconcileMaxAge         string

	// Parsed by Validate.
	reconcileEvery, reconcileMaxAge time.Duration
	// Parsed in live mode by Validate.
	privateKey    *rsa.PrivateKey
	publicKey     *rsa.PublicKey
	platformCerts []*x509.Certificate
}

// defaultWeChatPayAPIBase is WeChat Pay's own API host.
const defaultWeChatPayAPIBase = "https://api.mch.weixin.qq.com"

// setting ties a Config field to its variable.
type setting struct {
	env   string
	field *string
	def   string
	usage string
}

func (c *Config) settings() []setting {
	return []setting{
		{"ADDR", &c.Addr, ":8080", "listen address"},
		{"DB_PATH", &c.DBPath, "app.db", "SQLite file"},
		{"BASE_URL", &c.BaseURL, "http://localhost:8080", "public URL of the console"},
		{"ADMIN_PASSWORD", &c.AdminPassword, "", "password of the first user, admin (first start only)"},
		{"SESSION_KEY", &c.SessionKey, "", "cookie signing key (default: generated once, kept in the DB)"},
		{"TRUST_PROXY", &c.TrustProxy, "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is trusted"},
		{"WECHATPAY_MCHID", &c.WeChatPayMchID, "", "our merchant id"},
		{"WECHATPAY_CERT_SERIAL", &c.WeChatPayCertSerial, "", "serial of the merchant API certificate"},
		{"WECHATPAY_PRIVATE_KEY", &c.WeChatPayPrivateKey, "", "path to apiclient_key.pem"},
		{"WECHATPAY_APIV3_KEY", &c.WeChatPayAPIv3Key, "", "32-byte API v3 key"},
		{"WECHATPAY_PUBLIC_KEY", &c.WeChatPayPublicKey, "", "path to the WeChat Pay public key pub_key.pem"},
		{"WECHATPAY_PUBLIC_KEY_ID", &c.WeChatPayPublicKeyID, "", "its id, PUB_KEY_ID_…"},
		{"WECHATPAY_PLATFORM_CERT", &c.WeChatPayPlatformCert, "", "path to platform certificate(s) PEM"},
		{"WECHATPAY_API_BASE", &c.WeChatPayAPIBase, defaultWeChatPayAPIBase, "WeChat Pay API host"},
		{"PAYSCORE_SERVICE_ID", &c.PayscoreServiceID, "", "Pay Score service id"},
		{"PAYSCORE_CHANNEL_ID", &c.PayscoreChannelID, "", "channel merchant id"},
		{"PAYSCORE_APPID", &c.PayscoreAppID, "", "acquiring institution's AppID"},
		{"WECHAT_MP_APPID", &c.WeChatMPAppID, "", "official account for the JS-SDK (default PAYSCORE_APPID)"},
		{"WECHAT_MP_SECRET", &c.WeChatMPSecret, "", "its AppSecret"},
		{"WECHAT_API_BASE", &c.WeChatAPIBase, "https://api.weixin.qq.com", "official-account API host"},
		{"WECHAT_JSSDK_URL", &c.WeChatJSSDKURL, "https://res.wx.qq.com/open/js/jweixin-1.5.0.js", "JS-SDK script the landing page loads"},
		{"AUTHORIZATION_CODE_PREFIX", &c.AuthorizationCodePrefix, "PSC", "prefix of generated authorization codes"},
		{"RECONCILE_EVERY", &c.ReconcileEvery, "5m", "how often to query authorizations whose notification may be lost"},
		{"RECONCILE_MAX_AGE", &c.ReconcileMaxAge, "24h", "re-query an authorization whose state is older than this"},
	}
}

// LoadConfig reads the environment, then the flags in args.
func LoadConfig(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("payscore-console", flag.ContinueOnError)
	for _, s := range c.settings() {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		fs.StringVar(s.field, strings.ToLower(strings.ReplaceAll(s.env, "_", "-")), v, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.WeChatMPAppID == "" {
		c.WeChatMPAppID = c.PayscoreAppID
	}
	return c, nil
}

// Sandbox reports whether the console runs against the built-in simulator:
// true when no WECHATPAY_* credential is set.
func (c *Config) Sandbox() bool {
	return c.WeChatPayMchID == "" && c.WeChatPayCertSerial == "" && c.WeChatPayPrivateKey == "" &&
		c.WeChatPayAPIv3Key == "" && c.WeChatPayPublicKey == "" && c.WeChatPayPublicKeyID == "" &&
		c.WeChatPayPlatformCert == ""
}

// Validate checks the configuration before anything starts. In live mode it
// reads and parses every key file. Every problem is named in the error.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("BASE_URL: %q is not an absolute http(s) URL without a query", c.BaseURL))
	}
	for _, d := range []struct {
		env string
		v   string
		out *time.Duration
	}{{"RECONCILE_EVERY", c.ReconcileEvery, &c.reconcileEvery}, {"RECONCILE_MAX_AGE", c.ReconcileMaxAge, &c.reconcileMaxAge}} {
		dur, err := time.ParseDuration(d.v)
		if err != nil || dur < time.Second {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration of at least 1s (e.g. 5m, 24h)", d.env, d.v))
		}
		*d.out = dur
	}
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < 10 {
		errs = append(errs, errors.New("ADMIN_PASSWORD: must be at least 10 characters"))
	}
	if c.Sandbox() {
		if c.WeChatPayAPIBase != defaultWeChatPayAPIBase {
			// A WeChat Pay variable set alone is a live set-up missing the
			// rest, not a reason to fall back to the sandbox silently.
			errs = append(errs, errors.New("WECHATPAY_API_BASE is set but no WeChat Pay credentials are: live mode needs WECHATPAY_MCHID, WECHATPAY_CERT_SERIAL, WECHATPAY_PRIVATE_KEY, WECHATPAY_APIV3_KEY and a public key or platform certificate"))
		}
		return errors.Join(errs...)
	}
	var missing []string
	need := func(env, v string) {
		if v == "" {
			missing = append(missing, env)
		}
	}
	need("WECHATPAY_MCHID", c.WeChatPayMchID)
	need("WECHATPAY_CERT_SERIAL", c.WeChatPayCertSerial)
	need("WECHATPAY_PRIVATE_KEY", c.WeChatPayPrivateKey)
	need("WECHATPAY_APIV3_KEY", c.WeChatPayAPIv3Key)
	switch {
	case c.WeChatPayPlatformCert == "" && c.WeChatPayPublicKey == "" && c.WeChatPayPublicKeyID == "":
		missing = append(missing, "WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID (or WECHATPAY_PLATFORM_CERT)")
	case c.WeChatPayPublicKey != "" || c.WeChatPayPublicKeyID != "":
		need("WECHATPAY_PUBLIC_KEY", c.WeChatPayPublicKey)
		need("WECHATPAY_PUBLIC_KEY_ID", c.WeChatPayPublicKeyID)
	}
	need("PAYSCORE_SERVICE_ID", c.PayscoreServiceID)
	need("PAYSCORE_CHANNEL_ID", c.PayscoreChannelID)
	need("PAYSCORE_APPID", c.PayscoreAppID)
	need("WECHAT_MP_SECRET", c.WeChatMPSecret)
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("live mode needs every WeChat Pay setting; missing: %s", strings.Join(missing, ", ")))
		return errors.Join(errs...)
	}
	if len(c.WeChatPayAPIv3Key) != 32 {
		errs = append(errs, fmt.Errorf("WECHATPAY_APIV3_KEY: must be 32 bytes, got %d", len(c.WeChatPayAPIv3Key)))
	}
	if k, err := utils.LoadPrivateKeyWithPath(c.WeChatPayPrivateKey); err != nil {
		errs = append(errs, fmt.Errorf("WECHATPAY_PRIVATE_KEY: %s: %v", c.WeChatPayPrivateKey, err))
	} else {
		c.privateKey = k
	}
	if c.WeChatPayPublicKey != "" {
		if !strings.HasPrefix(c.WeChatPayPublicKeyID, "PUB_KEY_ID_") {
			errs = append(errs, fmt.Errorf("WECHATPAY_PUBLIC_KEY_ID: %q does not start with PUB_KEY_ID_", c.WeChatPayPublicKeyID))
		}
		if k, err := utils.LoadPublicKeyWithPath(c.WeChatPayPublicKey); err != nil {
			errs = append(errs, fmt.Errorf("WECHATPAY_PUBLIC_KEY: %s: %v", c.WeChatPayPublicKey, err))
		} else {
			c.publicKey = k
		}
	}
	if c.WeChatPayPlatformCert != "" {
		if certs, err := loadCertificates(c.WeChatPayPlatformCert); err != nil {
			errs = append(errs, fmt.Errorf("WECHATPAY_PLATFORM_CERT: %s: %v", c.WeChatPayPlatformCert, err))
		} else {
			c.platformCerts = certs
		}
	}
	if u != nil && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("BASE_URL: live mode needs https (WeChat Pay only notifies https URLs), got %q", c.BaseURL))
	}
	return errors.Join(errs...)
}

// loadCertificates reads every CERTIFICATE block of a PEM file.
func loadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}
