package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// Config is everything the console is configured with. Each field comes
// from an environment variable and, unless it is a secret, may be overridden
// by a flag of the same name in lower case with dashes (WECHATPAY_MCHID →
// -wechatpay-mchid). Secrets come from the environment or from a file named
// by NAME_FILE only: a flag would show them in ps and in shell history, and
// they are never printed.
type Config struct {
	Addr          string
	DBPath        string
	DatabaseURL   string
	SandboxDBPath string
	BaseURL       string
	AdminPassword string
	SessionKey    string
	TrustProxy    string
	MetricsToken  string

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
	MFARequiredRoles        string
	RefusalRetention        string
	RefusalMaxRows          string
	BulkRate                string
	InstanceID              string

	// Single sign-on and LOCAL_LOGIN (config_oidc.go).
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRoleClaim    string
	OIDCRoleMap      string
	OIDCProviderName string
	LocalLogin       string
	oidcRoleMap      map[string]string // parsed by Validate

	// Parsed by Validate.
	reconcileEvery, reconcileMaxAge time.Duration
	refusalRetention                time.Duration
	refusalMaxRows                  int
	mfaRoles                        []string
	bulkRate                        float64
	// Parsed in live mode by Validate.
	privateKey    *rsa.PrivateKey
	publicKey     *rsa.PublicKey
	platformCerts []*x509.Certificate
}

// instanceIDPattern is what INSTANCE_ID may be.
var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// defaultWeChatPayAPIBase is WeChat Pay's own API host.
const defaultWeChatPayAPIBase = "https://api.mch.weixin.qq.com"

// defaultWeChatAPIBase is the official-account API host.
const defaultWeChatAPIBase = "https://api.weixin.qq.com"

// setting ties a Config field to its variable.
type setting struct {
	env   string
	field *string
	def   string
	usage string
	// secret settings are read from env or env_FILE only, never from a
	// flag, and are shown as "(set)" or "(not set)", never by value.
	secret bool
}

func (c *Config) settings() []setting {
	return append([]setting{
		{"ADDR", &c.Addr, ":8080", "listen address", false},
		{"DB_PATH", &c.DBPath, "app.db", "SQLite file (unless DATABASE_URL is set)", false},
		{"DATABASE_URL", &c.DatabaseURL, "", "postgres://… to keep the state in PostgreSQL instead of DB_PATH", true},
		{"SANDBOX_DB_PATH", &c.SandboxDBPath, "sandbox.db", "sandbox mode with DATABASE_URL: the simulator's own SQLite file (on SQLite it shares DB_PATH)", false},
		{"BASE_URL", &c.BaseURL, "http://localhost:8080", "public URL of the console", false},
		{"ADMIN_PASSWORD", &c.AdminPassword, "", "password of the first user, admin (first start only)", true},
		{"SESSION_KEY", &c.SessionKey, "", "cookie signing key (default: generated once, kept in the DB)", true},
		{"TRUST_PROXY", &c.TrustProxy, "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Request-Id are trusted", false},
		{"METRICS_TOKEN", &c.MetricsToken, "", "bearer token /metrics requires (live mode without it: no /metrics)", true},
		{"WECHATPAY_MCHID", &c.WeChatPayMchID, "", "our merchant id", false},
		{"WECHATPAY_CERT_SERIAL", &c.WeChatPayCertSerial, "", "serial of the merchant API certificate", false},
		{"WECHATPAY_PRIVATE_KEY", &c.WeChatPayPrivateKey, "", "path to apiclient_key.pem", false},
		{"WECHATPAY_APIV3_KEY", &c.WeChatPayAPIv3Key, "", "32-byte API v3 key", true},
		{"WECHATPAY_PUBLIC_KEY", &c.WeChatPayPublicKey, "", "path to the WeChat Pay public key pub_key.pem", false},
		{"WECHATPAY_PUBLIC_KEY_ID", &c.WeChatPayPublicKeyID, "", "its id, PUB_KEY_ID_…", false},
		{"WECHATPAY_PLATFORM_CERT", &c.WeChatPayPlatformCert, "", "path to platform certificate(s) PEM", false},
		{"WECHATPAY_API_BASE", &c.WeChatPayAPIBase, defaultWeChatPayAPIBase, "WeChat Pay API host", false},
		{"PAYSCORE_SERVICE_ID", &c.PayscoreServiceID, "", "Pay Score service id", false},
		{"PAYSCORE_CHANNEL_ID", &c.PayscoreChannelID, "", "channel merchant id", false},
		{"PAYSCORE_APPID", &c.PayscoreAppID, "", "acquiring institution's AppID", false},
		{"WECHAT_MP_APPID", &c.WeChatMPAppID, "", "official account for the JS-SDK (default PAYSCORE_APPID)", false},
		{"WECHAT_MP_SECRET", &c.WeChatMPSecret, "", "its AppSecret", true},
		{"WECHAT_API_BASE", &c.WeChatAPIBase, defaultWeChatAPIBase, "official-account API host", false},
		{"WECHAT_JSSDK_URL", &c.WeChatJSSDKURL, "https://res.wx.qq.com/open/js/jweixin-1.5.0.js", "JS-SDK script the landing page loads", false},
		{"AUTHORIZATION_CODE_PREFIX", &c.AuthorizationCodePrefix, "PSC", "prefix of generated authorization codes", false},
		{"RECONCILE_EVERY", &c.ReconcileEvery, "5m", "how often to query authorizations whose notification may be lost", false},
		{"RECONCILE_MAX_AGE", &c.ReconcileMaxAge, "24h", "re-query an authorization whose state is older than this", false},
		{"REFUSAL_RETENTION", &c.RefusalRetention, "720h", "keep refused-notification rows this long after their last attempt", false},
		{"REFUSAL_MAX_ROWS", &c.RefusalMaxRows, "100000", "size cap of the refused-notification log (then one overflow row a minute)", false},
		{"MFA_REQUIRED_ROLES", &c.MFARequiredRoles, "", "comma-separated roles that must sign in with two-factor (TOTP); none for no role (default: admin,support live, none in the sandbox)", false},
		{"BULK_RATE", &c.BulkRate, "5", "calls per second bulk jobs (offboarding, bulk look-ups) make to WeChat Pay", false},
		{"INSTANCE_ID", &c.InstanceID, "", "this instance's name in leases and on the terminations it begins (default: random per process; set it only if unique per running process)", false},
	}, c.oidcSettings()...)
}

// LoadConfig reads the environment, then the flags in args. Help and flag
// errors are discarded; the program itself uses loadConfig.
func LoadConfig(args []string, getenv func(string) string) (*Config, error) {
	return loadConfig(args, getenv, io.Discard)
}

// loadConfig reads the environment (and the files named by the secrets'
// *_FILE variables), then the flags in args. Help (-h) and flag errors are
// written to out, secrets shown as "(set)" or "(not set)" only; -h returns
// flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	c := &Config{}
	var errs []error
	fs := flag.NewFlagSet("payscore-console serve", flag.ContinueOnError)
	fs.SetOutput(out)
	for _, s := range c.settings() {
		v, err := s.lookup(getenv)
		if err != nil {
			errs = append(errs, err)
		}
		if v == "" {
			v = s.def
		}
		if s.secret {
			*s.field = v
			continue
		}
		fs.StringVar(s.field, flagName(s.env), v, s.usage+" ($"+s.env+")")
	}
	fs.Usage = func() { c.printUsage(out, fs) }
	if err := refuseSecretFlags(c, args); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if c.WeChatMPAppID == "" {
		c.WeChatMPAppID = c.PayscoreAppID
	}
	return c, nil
}

// flagName is a variable's flag: lower case with dashes.
func flagName(env string) string { return strings.ToLower(strings.ReplaceAll(env, "_", "-")) }

// lookup reads a setting from the environment. A secret may instead come
// from the file NAME_FILE names (its trailing newline trimmed); setting both
// is an error, and so is an empty or unreadable file. Errors never show a
// secret's value.
func (s setting) lookup(getenv func(string) string) (string, error) {
	v := getenv(s.env)
	if !s.secret {
		return v, nil
	}
	path := getenv(s.env + "_FILE")
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set: set one of them", s.env, s.env)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", s.env, err)
	}
	v = strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s_FILE: %s is empty", s.env, path)
	}
	return v, nil
}

// refuseSecretFlags refuses a secret given as a flag, naming the variable
// to use instead and never the value.
func refuseSecretFlags(c *Config, args []string) error {
	secret := map[string]string{}
	for _, s := range c.settings() {
		if s.secret {
			secret[flagName(s.env)] = s.env
		}
	}
	for _, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if env, ok := secret[name]; ok {
			return fmt.Errorf("-%s: secrets are not accepted as flags (they would show in the process list); set %s or %s_FILE", name, env, env)
		}
	}
	return nil
}

// printUsage writes the flags, then the secrets: whether each is set, never
// its value.
func (c *Config) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "payscore-console [serve] flags (each also an environment variable):")
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nsecrets (environment variable NAME, or NAME_FILE naming a file that holds it; never flags, never printed):")
	for _, s := range c.settings() {
		if !s.secret {
			continue
		}
		state := "(not set)"
		if *s.field != "" {
			state = "(set)"
		}
		fmt.Fprintf(w, "  %s\n    \t%s %s\n", s.env, s.usage, state)
	}
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
	}{{"RECONCILE_EVERY", c.ReconcileEvery, &c.reconcileEvery}, {"RECONCILE_MAX_AGE", c.ReconcileMaxAge, &c.reconcileMaxAge},
		{"REFUSAL_RETENTION", c.RefusalRetention, &c.refusalRetention}} {
		dur, err := time.ParseDuration(d.v)
		if err != nil || dur < time.Second {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration of at least 1s (e.g. 5m, 24h)", d.env, d.v))
		}
		*d.out = dur
	}
	if err := c.parseMFARoles(); err != nil {
		errs = append(errs, err)
	}
	if n, err := strconv.Atoi(c.RefusalMaxRows); err != nil || n < 100 {
		errs = append(errs, fmt.Errorf("REFUSAL_MAX_ROWS: %q is not a number of at least 100", c.RefusalMaxRows))
	} else {
		c.refusalMaxRows = n
	}
	if r, err := strconv.ParseFloat(c.BulkRate, 64); err != nil || !(r >= 0.1 && r <= 100) {
		errs = append(errs, fmt.Errorf("BULK_RATE: %q is not a number of calls per second between 0.1 and 100", c.BulkRate))
	} else {
		c.bulkRate = r
	}
	if c.DatabaseURL != "" && !store.IsPostgresURL(c.DatabaseURL) {
		errs = append(errs, errors.New("DATABASE_URL: must start with postgres:// or postgresql://"))
	}
	if c.InstanceID != "" && !instanceIDPattern.MatchString(c.InstanceID) {
		errs = append(errs, fmt.Errorf("INSTANCE_ID: %q is not 1–64 letters, digits, dots, dashes or underscores", c.InstanceID))
	}
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < 10 {
		errs = append(errs, errors.New("ADMIN_PASSWORD: must be at least 10 characters"))
	} else if c.AdminPassword != "" {
		// The rest of the password policy (the secret is set by whoever
		// deploys, so its wording is theirs: the username rule is left out).
		if err := service.CheckPasswordPolicy("", c.AdminPassword); err != nil {
			errs = append(errs, fmt.Errorf("ADMIN_PASSWORD: %w", errors.Unwrap(err)))
		}
	}
	errs = append(errs, c.validateOIDC()...)
	if c.Sandbox() {
		// A live-only setting without the credentials is a live set-up
		// missing the rest, not a reason to fall back to the sandbox
		// (which would print a generated admin password and simulate
		// WeChat Pay): fail closed.
		if live := c.liveOnlySettings(u); len(live) > 0 {
			errs = append(errs, fmt.Errorf("%s set but no WeChat Pay credentials are: refusing to start a sandbox; live mode needs every WeChat Pay setting; missing: %s",
				strings.Join(live, ", "), strings.Join(c.missingLive(), ", ")))
		}
		return errors.Join(errs...)
	}
	if missing := c.missingLive(); len(missing) > 0 {
		errs = append(errs, fmt.Errorf("live mode needs every WeChat Pay setting; missing: %s", strings.Join(missing, ", ")))
		return errors.Join(errs...)
	}
	// Live API hosts must be https: the AppSecret travels in the token
	// request's query, and a signed call's answer is only as good as its channel.
	for _, b := range []struct{ env, v string }{
		{"WECHATPAY_API_BASE", c.WeChatPayAPIBase}, {"WECHAT_API_BASE", c.WeChatAPIBase}, {"WECHAT_JSSDK_URL", c.WeChatJSSDKURL},
	} {
		if bu, err := url.Parse(b.v); err != nil || bu.Scheme != "https" || bu.Host == "" {
			errs = append(errs, fmt.Errorf("%s: live mode needs an https URL, got %q", b.env, b.v))
		}
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

// liveOnlySettings names the settings that only live mode uses and that are
// set: with them and no credentials, the sandbox would silently ignore them.
func (c *Config) liveOnlySettings(base *url.URL) []string {
	var out []string
	for _, s := range []struct {
		env string
		set bool
	}{
		{"WECHATPAY_API_BASE", c.WeChatPayAPIBase != defaultWeChatPayAPIBase},
		{"PAYSCORE_SERVICE_ID", c.PayscoreServiceID != ""},
		{"PAYSCORE_CHANNEL_ID", c.PayscoreChannelID != ""},
		{"PAYSCORE_APPID", c.PayscoreAppID != ""},
		{"WECHAT_MP_APPID", c.WeChatMPAppID != "" && c.WeChatMPAppID != c.PayscoreAppID},
		{"WECHAT_MP_SECRET", c.WeChatMPSecret != ""},
		{"WECHAT_API_BASE", c.WeChatAPIBase != defaultWeChatAPIBase},
		{"BASE_URL (https)", base != nil && base.Scheme == "https"},
	} {
		if s.set {
			out = append(out, s.env)
		}
	}
	return out
}

// missingLive names every setting live mode needs that is not set.
func (c *Config) missingLive() []string {
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
	return missing
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

// dbName says which database the console uses, for the log (never the
// URL: it may hold a password).
func (c *Config) dbName() string {
	if c.DatabaseURL != "" {
		return "postgres (DATABASE_URL)"
	}
	return c.DBPath
}
