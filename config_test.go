package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPEMs are a merchant private key, a WeChat Pay public key and a
// self-signed platform certificate, made once per test binary.
type testPEMs struct{ private, public, cert []byte }

var makePEMs = sync.OnceValue(func() testPEMs {
	merchant, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	platform, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(merchant)
	if err != nil {
		panic(err)
	}
	pkix1, err := x509.MarshalPKIXPublicKey(&platform.PublicKey)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x5157F09EFDC096DE),
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &platform.PublicKey, platform)
	if err != nil {
		panic(err)
	}
	return testPEMs{
		private: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix1}),
		cert:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
})

// Secret values the log must never show.
const (
	testAPIv3Key = "0123456789abcdefghijklmnopqrstuv" // 32 bytes
	testMPSecret = "mp-secret-that-must-not-be-logged"
)

// writeFile writes data into dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// liveEnv is a complete live configuration in public-key mode, with its
// key files in a temporary directory.
func liveEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	k := makePEMs()
	return map[string]string{
		"ADDR":                    "127.0.0.1:0",
		"DB_PATH":                 filepath.Join(dir, "app.db"),
		"BASE_URL":                "https://console.example.com",
		"WECHATPAY_MCHID":         "1900000109",
		"WECHATPAY_CERT_SERIAL":   "3775B6A45ACD588826D15E583A95F5DD8C7E8B9A",
		"WECHATPAY_PRIVATE_KEY":   writeFile(t, dir, "apiclient_key.pem", k.private),
		"WECHATPAY_APIV3_KEY":     testAPIv3Key,
		"WECHATPAY_PUBLIC_KEY":    writeFile(t, dir, "pub_key.pem", k.public),
		"WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000",
		"PAYSCORE_SERVICE_ID":     "500001",
		"PAYSCORE_CHANNEL_ID":     "1900000100",
		"PAYSCORE_APPID":          "wxd678efh567hg6787",
		"WECHAT_MP_SECRET":        testMPSecret,
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadConfig(t *testing.T) {
	t.Run("OKSandboxDefaults", func(t *testing.T) {
		cfg, err := LoadConfig(nil, getenv(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if !cfg.Sandbox() {
			t.Error("no WECHATPAY_*: want sandbox")
		}
		for _, c := range []struct{ name, got, want string }{
			{"ADDR", cfg.Addr, ":8080"},
			{"DB_PATH", cfg.DBPath, "app.db"},
			{"BASE_URL", cfg.BaseURL, "http://localhost:8080"},
			{"WECHATPAY_API_BASE", cfg.WeChatPayAPIBase, "https://api.mch.weixin.qq.com"},
			{"WECHAT_API_BASE", cfg.WeChatAPIBase, "https://api.weixin.qq.com"},
			{"WECHAT_JSSDK_URL", cfg.WeChatJSSDKURL, "https://res.wx.qq.com/open/js/jweixin-1.5.0.js"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
			}
		}
	})
	t.Run("OKFlagsOverrideEnv", func(t *testing.T) {
		cfg, err := LoadConfig([]string{"-addr", "127.0.0.1:9999", "-wechatpay-api-base", "https://api2.mch.weixin.qq.com"},
			getenv(map[string]string{"ADDR": ":1", "PAYSCORE_APPID": "wxapp"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.Addr, "127.0.0.1:9999"; got != want {
			t.Errorf("Addr = %q, want %q", got, want)
		}
		if got, want := cfg.WeChatPayAPIBase, "https://api2.mch.weixin.qq.com"; got != want {
			t.Errorf("WeChatPayAPIBase = %q, want %q", got, want)
		}
		// WECHAT_MP_APPID defaults to PAYSCORE_APPID.
		if got, want := cfg.WeChatMPAppID, "wxapp"; got != want {
			t.Errorf("WeChatMPAppID = %q, want %q", got, want)
		}
	})
}

func TestValidateLive(t *testing.T) {
	tests := []struct {
		name       string
		change     func(t *testing.T, env map[string]string)
		wantPublic bool
		wantCerts  int
	}{
		{"OKPublicKey", func(*testing.T, map[string]string) {}, true, 0},
		{"OKPlatformCertOnly", func(t *testing.T, env map[string]string) {
			delete(env, "WECHATPAY_PUBLIC_KEY")
			delete(env, "WECHATPAY_PUBLIC_KEY_ID")
			env["WECHATPAY_PLATFORM_CERT"] = writeFile(t, t.TempDir(), "wechatpay.pem", makePEMs().cert)
		}, false, 1},
		{"OKBoth", func(t *testing.T, env map[string]string) {
			env["WECHATPAY_PLATFORM_CERT"] = writeFile(t, t.TempDir(), "wechatpay.pem", append(append([]byte{}, makePEMs().cert...), makePEMs().cert...))
		}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := liveEnv(t)
			tt.change(t, env)
			cfg, err := LoadConfig(nil, getenv(env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Sandbox() {
				t.Fatal("Sandbox() = true, want live")
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if cfg.privateKey == nil {
				t.Error("private key not parsed")
			}
			if got, want := cfg.publicKey != nil, tt.wantPublic; got != want {
				t.Errorf("public key parsed = %v, want %v", got, want)
			}
			if got, want := len(cfg.platformCerts), tt.wantCerts; got != want {
				t.Errorf("platform certificates = %d, want %d", got, want)
			}
		})
	}
}

// runServe runs the program's serve command and returns its exit status and
// log. The serve is stopped as soon as it logs that it listens.
func runServe(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := &watchLog{cancel: cancel}
	var stdout bytes.Buffer
	code := run(ctx, append([]string{"serve"}, args...), getenv(env), strings.NewReader(""), &stdout, log)
	return code, log.String()
}

// watchLog collects the log and ends the run once the server listens.
type watchLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel func()
}

func (w *watchLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(`"msg":"listening"`)) {
		w.cancel()
	}
	return w.buf.Write(p)
}

func (w *watchLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestRunConfigErrors: a configuration that cannot work stops the program
// before it starts, with exit status 2 and a log naming every problem.
func TestRunConfigErrors(t *testing.T) {
	k := makePEMs()
	type change func(t *testing.T, env map[string]string)
	set := func(kv ...string) change {
		return func(t *testing.T, env map[string]string) {
			for i := 0; i+1 < len(kv); i += 2 {
				env[kv[i]] = kv[i+1]
			}
		}
	}
	unset := func(keys ...string) change {
		return func(t *testing.T, env map[string]string) {
			for _, k := range keys {
				delete(env, k)
			}
		}
	}
	file := func(name string, data []byte) change {
		return func(t *testing.T, env map[string]string) { env[name] = writeFile(t, t.TempDir(), "key.pem", data) }
	}
	tests := []struct {
		name    string
		sandbox bool // start from an empty environment, not a live one
		change  []change
		args    []string
		want    []string // each must appear in the log
	}{
		{name: "ErrPartialOnlyMchID", sandbox: true, change: []change{set("WECHATPAY_MCHID", "1900000109")},
			want: []string{"WECHATPAY_CERT_SERIAL", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY",
				"WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PLATFORM_CERT", "PAYSCORE_SERVICE_ID", "PAYSCORE_CHANNEL_ID", "PAYSCORE_APPID", "WECHAT_MP_SECRET"}},
		{name: "ErrPartialOnlyAPIv3Key", sandbox: true, change: []change{set("WECHATPAY_APIV3_KEY", testAPIv3Key)},
			want: []string{"WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_PUBLIC_KEY"}},
		{name: "ErrPartialOnlyAPIBase", sandbox: true, change: []change{set("WECHATPAY_API_BASE", "https://api2.mch.weixin.qq.com")},
			want: []string{"WECHATPAY_API_BASE", "WECHATPAY_MCHID", "WECHATPAY_PRIVATE_KEY"}},
		{name: "ErrPublicKeyWithoutID", change: []change{unset("WECHATPAY_PUBLIC_KEY_ID")}, want: []string{"missing: WECHATPAY_PUBLIC_KEY_ID"}},
		{name: "ErrPublicKeyIDWithoutKey", change: []change{unset("WECHATPAY_PUBLIC_KEY")}, want: []string{"missing: WECHATPAY_PUBLIC_KEY"}},
		{name: "ErrNoVerificationKey", change: []change{unset("WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID")},
			want: []string{"WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PLATFORM_CERT"}},
		{name: "ErrPrivateKeyBadPEM", change: []change{file("WECHATPAY_PRIVATE_KEY", []byte("not a PEM file"))},
			want: []string{"WECHATPAY_PRIVATE_KEY", "decode private key"}},
		{name: "ErrPrivateKeyIsPublicKey", change: []change{file("WECHATPAY_PRIVATE_KEY", k.public)},
			want: []string{"WECHATPAY_PRIVATE_KEY", "PRVATE KEY"}},
		{name: "ErrPrivateKeyUnreadable", change: []change{set("WECHATPAY_PRIVATE_KEY", "/nonexistent/apiclient_key.pem")},
			want: []string{"WECHATPAY_PRIVATE_KEY", "/nonexistent/apiclient_key.pem", "no such file or directory"}},
		{name: "ErrPublicKeyBadPEM", change: []change{file("WECHATPAY_PUBLIC_KEY", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))},
			want: []string{"WECHATPAY_PUBLIC_KEY", "parse public key"}},
		{name: "ErrPublicKeyIsCertificate", change: []change{file("WECHATPAY_PUBLIC_KEY", k.cert)},
			want: []string{"WECHATPAY_PUBLIC_KEY", "PUBLIC KEY"}},
		{name: "ErrPublicKeyUnreadable", change: []change{set("WECHATPAY_PUBLIC_KEY", "/nonexistent/pub_key.pem")},
			want: []string{"WECHATPAY_PUBLIC_KEY", "no such file or directory"}},
		{name: "ErrPublicKeyIDPrefix", change: []change{set("WECHATPAY_PUBLIC_KEY_ID", "0114232134912410000000000000")},
			want: []string{"WECHATPAY_PUBLIC_KEY_ID", "PUB_KEY_ID_"}},
		{name: "ErrPlatformCertBadPEM", change: []change{file("WECHATPAY_PLATFORM_CERT", k.public)},
			want: []string{"WECHATPAY_PLATFORM_CERT", "no PEM CERTIFICATE block"}},
		{name: "ErrPlatformCertCorrupt", change: []change{file("WECHATPAY_PLATFORM_CERT", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))},
			want: []string{"WECHATPAY_PLATFORM_CERT", "certificate 1"}},
		{name: "ErrPlatformCertUnreadable", change: []change{func(t *testing.T, env map[string]string) { env["WECHATPAY_PLATFORM_CERT"] = t.TempDir() }},
			want: []string{"WECHATPAY_PLATFORM_CERT", "is a directory"}},
		{name: "ErrAPIv3KeyShort", change: []change{set("WECHATPAY_APIV3_KEY", testAPIv3Key[:31])}, want: []string{"WECHATPAY_APIV3_KEY", "32 bytes, got 31"}},
		{name: "ErrAPIv3KeyLong", change: []change{set("WECHATPAY_APIV3_KEY", testAPIv3Key+"x")}, want: []string{"WECHATPAY_APIV3_KEY", "32 bytes, got 33"}},
		{name: "ErrLiveNeedsHTTPS", change: []change{set("BASE_URL", "http://console.example.com")}, want: []string{"BASE_URL", "https"}},
		{name: "ErrEveryProblemNamed", change: []change{set("WECHATPAY_APIV3_KEY", "short"), file("WECHATPAY_PRIVATE_KEY", []byte("junk"))},
			want: []string{"WECHATPAY_APIV3_KEY", "WECHATPAY_PRIVATE_KEY"}},
		{name: "ErrBaseURL", sandbox: true, change: []change{set("BASE_URL", "localhost:8080")}, want: []string{"BASE_URL"}},
		{name: "ErrAdminPasswordShort", sandbox: true, change: []change{set("ADMIN_PASSWORD", "short")}, want: []string{"ADMIN_PASSWORD", "10"}},
		{name: "ErrUnknownFlag", sandbox: true, args: []string{"-no-such-flag"}, want: []string{"no-such-flag"}},
		// Fail closed: a live-only setting without the WeChat Pay
		// credentials is a broken live set-up, never a sandbox.
		{name: "ErrLiveOnlyServiceID", sandbox: true, change: []change{set("PAYSCORE_SERVICE_ID", "500001")},
			want: []string{"PAYSCORE_SERVICE_ID set", "refusing to start a sandbox", "WECHATPAY_MCHID", "WECHATPAY_APIV3_KEY", "WECHATPAY_PRIVATE_KEY"}},
		{name: "ErrLiveOnlyChannelID", sandbox: true, change: []change{set("PAYSCORE_CHANNEL_ID", "1900000100")}, want: []string{"PAYSCORE_CHANNEL_ID set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyAppID", sandbox: true, change: []change{set("PAYSCORE_APPID", "wxd678efh567hg6787")}, want: []string{"PAYSCORE_APPID set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyMPSecret", sandbox: true, change: []change{set("WECHAT_MP_SECRET", testMPSecret)}, want: []string{"WECHAT_MP_SECRET set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyMPSecretFile", sandbox: true, change: []change{file("WECHAT_MP_SECRET_FILE", []byte(testMPSecret+"\n"))}, want: []string{"WECHAT_MP_SECRET set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyHTTPSBaseURL", sandbox: true, change: []change{set("BASE_URL", "https://console.example.com")}, want: []string{"BASE_URL (https) set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyWeChatAPIBase", sandbox: true, change: []change{set("WECHAT_API_BASE", "https://api2.weixin.qq.com")}, want: []string{"WECHAT_API_BASE set", "WECHATPAY_MCHID"}},
		{name: "ErrLiveOnlyEverything", sandbox: true, change: []change{set("PAYSCORE_SERVICE_ID", "500001", "PAYSCORE_CHANNEL_ID", "1900000100",
			"PAYSCORE_APPID", "wxd678efh567hg6787", "WECHAT_MP_SECRET", testMPSecret, "BASE_URL", "https://console.example.com")},
			want: []string{"PAYSCORE_SERVICE_ID, PAYSCORE_CHANNEL_ID, PAYSCORE_APPID, WECHAT_MP_SECRET, BASE_URL (https) set", "missing: WECHATPAY_MCHID"}},
		// Live mode never talks to WeChat in clear.
		{name: "ErrLiveHTTPWeChatPayAPIBase", change: []change{set("WECHATPAY_API_BASE", "http://api.mch.weixin.qq.com")},
			want: []string{"WECHATPAY_API_BASE", "https", "http://api.mch.weixin.qq.com"}},
		{name: "ErrLiveHTTPWeChatAPIBase", change: []change{set("WECHAT_API_BASE", "http://api.weixin.qq.com")},
			want: []string{"WECHAT_API_BASE", "https", "http://api.weixin.qq.com"}},
		{name: "ErrSecretAsFlag", sandbox: true, args: []string{"-wechatpay-apiv3-key=" + testAPIv3Key}, want: []string{"WECHATPAY_APIV3_KEY_FILE"}},
	}
	// Each variable of a complete live configuration, left out alone, is named.
	for _, v := range []string{"WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY",
		"PAYSCORE_SERVICE_ID", "PAYSCORE_CHANNEL_ID", "PAYSCORE_APPID", "WECHAT_MP_SECRET"} {
		tests = append(tests, struct {
			name    string
			sandbox bool
			change  []change
			args    []string
			want    []string
		}{name: "ErrMissing" + v, change: []change{unset(v)}, want: []string{"missing: " + v}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := liveEnv(t)
			if tt.sandbox {
				env = map[string]string{"ADDR": "127.0.0.1:0", "DB_PATH": env["DB_PATH"]}
			}
			for _, c := range tt.change {
				c(t, env)
			}
			code, log := runServe(t, env, tt.args...)
			if got, want := code, exitConfig; got != want {
				t.Fatalf("exit status = %d, want %d; log:\n%s", got, want, log)
			}
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("log does not name %q:\n%s", w, log)
				}
			}
			if strings.Contains(log, `"msg":"listening"`) || strings.Contains(log, "SANDBOX MODE") {
				t.Error("the server started")
			}
			if _, err := os.Stat(env["DB_PATH"]); !os.IsNotExist(err) {
				t.Errorf("the database was created before the configuration was valid: %v", err)
			}
			for _, secret := range []string{testAPIv3Key, testMPSecret} {
				if strings.Contains(log, secret) {
					t.Errorf("the log shows a secret: %q", secret)
				}
			}
		})
	}
}

// TestRunServe starts the program in each mode and stops it gracefully.
func TestRunServe(t *testing.T) {
	t.Run("OKSandbox", func(t *testing.T) {
		env := map[string]string{"ADDR": "127.0.0.1:0", "DB_PATH": filepath.Join(t.TempDir(), "app.db")}
		code, log := runServe(t, env)
		if got, want := code, exitOK; got != want {
			t.Fatalf("exit status = %d, want %d; log:\n%s", got, want, log)
		}
		for _, want := range []string{"SANDBOX MODE", `"sandbox":true`, `"msg":"stopped"`} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
		// No ADMIN_PASSWORD: one is generated and shown once.
		m := regexp.MustCompile(`"username":"admin","password":"([^"]+)"`).FindStringSubmatch(log)
		if m == nil {
			t.Fatalf("no generated admin password in the log:\n%s", log)
		}
		db := openDB(t, env["DB_PATH"])
		u, err := db.UserByUsername(context.Background(), "admin")
		if err != nil {
			t.Fatal(err)
		}
		if ok := checkPassword(t, u.PasswordHash, m[1]); !ok {
			t.Error("the logged password does not sign in")
		}
		db.Close()
		// A second start neither creates nor shows a password.
		code, log = runServe(t, env)
		if code != exitOK || strings.Contains(log, `"password"`) {
			t.Errorf("second start: exit %d, log:\n%s", code, log)
		}
	})
	t.Run("OKLive", func(t *testing.T) {
		env := liveEnv(t)
		env["ADMIN_PASSWORD"] = "first admin password"
		code, log := runServe(t, env)
		if got, want := code, exitOK; got != want {
			t.Fatalf("exit status = %d, want %d; log:\n%s", got, want, log)
		}
		if strings.Contains(log, "SANDBOX") || !strings.Contains(log, `"sandbox":false`) {
			t.Errorf("live start logged sandbox mode:\n%s", log)
		}
		if strings.Contains(log, "first admin password") {
			t.Error("the log shows ADMIN_PASSWORD")
		}
		db := openDB(t, env["DB_PATH"])
		defer db.Close()
		u, err := db.UserByUsername(context.Background(), "admin")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Role, "admin"; got != want {
			t.Errorf("role = %q, want %q", got, want)
		}
		if !checkPassword(t, u.PasswordHash, "first admin password") {
			t.Error("ADMIN_PASSWORD does not sign in")
		}
	})
}
