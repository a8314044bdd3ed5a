package sandbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Export names the files ExportFiles writes into its directory.
const (
	// ExportPrivateKey is the merchant API private key (PKCS #8 PEM), as
	// WeChat Pay's certificate tool names it.
	ExportPrivateKey = "apiclient_key.pem"
	// ExportPublicKey is the WeChat Pay public key (PKIX PEM), as the
	// merchant platform names its download.
	ExportPublicKey = "pub_key.pem"
	// ExportPlatformCert holds the WeChat Pay platform certificates (PEM,
	// newest first), for a partner testing platform-certificate mode
	// (WECHATPAY_PLATFORM_CERT; the sandbox's control page switches its
	// signing to the certificate). Not in .env: public-key mode is the
	// default.
	ExportPlatformCert = "wechatpay_platform_cert.pem"
	// ExportEnv holds exactly the variables a partner's system sets.
	ExportEnv = ".env"
)

// ExportOptions says where the exported configuration points.
type ExportOptions struct {
	// APIBase is the sandbox's public URL, without a trailing slash: the
	// WeChat Pay API (WECHATPAY_API_BASE), the official-account API
	// (WECHAT_API_BASE) and the JS-SDK shim (WECHAT_JSSDK_URL) are all
	// served there.
	APIBase string
}

// ExportVars are the variables of the exported .env, in file order, with
// what each one is. The names are the ones this console reads in live
// mode, which are also what the official SDK's options take.
var ExportVars = [][2]string{
	{"WECHATPAY_MCHID", "merchant id (mchID)"},
	{"WECHATPAY_CERT_SERIAL", "merchant API certificate serial (certificateSerialNo)"},
	{"WECHATPAY_PRIVATE_KEY", "path of the merchant API private key (utils.LoadPrivateKeyWithPath)"},
	{"WECHATPAY_APIV3_KEY", "APIv3 key: decrypts notifications (notify.NewRSANotifyHandler)"},
	{"WECHATPAY_PUBLIC_KEY", "path of the WeChat Pay public key (utils.LoadPublicKeyWithPath)"},
	{"WECHATPAY_PUBLIC_KEY_ID", "its id, PUB_KEY_ID_… (WithWechatPayPublicKeyAuthCipher)"},
	{"WECHATPAY_API_BASE", "WeChat Pay API base URL: the sandbox instead of https://api.mch.weixin.qq.com"},
	{"PAYSCORE_SERVICE_ID", "Pay Score service_id"},
	{"PAYSCORE_CHANNEL_ID", "channel_id"},
	{"PAYSCORE_APPID", "appid of the acquiring institution"},
	{"WECHAT_MP_APPID", "official account appid (JS-SDK)"},
	{"WECHAT_MP_SECRET", "its AppSecret (/cgi-bin/stable_token)"},
	{"WECHAT_API_BASE", "official-account API base URL: the sandbox instead of https://api.weixin.qq.com"},
	{"WECHAT_JSSDK_URL", "JS-SDK script the landing page loads: the sandbox's shim instead of https://res.wx.qq.com/open/js/jweixin-1.5.0.js"},
}

// ExportFiles writes the simulated merchant's keys and configuration into
// dir (created 0700 if absent): the merchant private key, the WeChat Pay
// public key and a .env with every variable of ExportVars, key paths
// absolute. Every file is 0600 (it is replaced, not rewritten in place, so
// an older file's mode does not survive). It returns the paths written.
// The platform certificates are written too (ExportPlatformCert), for
// platform-certificate mode.
func (s *Sandbox) ExportFiles(dir string, opt ExportOptions) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: export dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: export dir: %w", err)
	}
	cr := s.Credentials()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cr.MerchantKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: export private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(cr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: export public key: %w", err)
	}
	keyPath, pubPath := filepath.Join(abs, ExportPrivateKey), filepath.Join(abs, ExportPublicKey)
	base := strings.TrimRight(opt.APIBase, "/")
	values := map[string]string{
		"WECHATPAY_MCHID": cr.MchID, "WECHATPAY_CERT_SERIAL": cr.CertSerial, "WECHATPAY_PRIVATE_KEY": keyPath,
		"WECHATPAY_APIV3_KEY": cr.APIv3Key, "WECHATPAY_PUBLIC_KEY": pubPath, "WECHATPAY_PUBLIC_KEY_ID": cr.PublicKeyID,
		"WECHATPAY_API_BASE": base, "PAYSCORE_SERVICE_ID": cr.ServiceID, "PAYSCORE_CHANNEL_ID": cr.ChannelID,
		"PAYSCORE_APPID": cr.AppID, "WECHAT_MP_APPID": cr.MPAppID, "WECHAT_MP_SECRET": cr.MPSecret,
		"WECHAT_API_BASE": base, "WECHAT_JSSDK_URL": base + "/jweixin.js",
	}
	var env strings.Builder
	fmt.Fprintf(&env, "# payscore-console standalone sandbox: a simulated WeChat Pay merchant.\n")
	fmt.Fprintf(&env, "# Written %s. Test keys only: never use them against WeChat Pay.\n", s.now().UTC().Format(time.RFC3339))
	for _, v := range ExportVars {
		fmt.Fprintf(&env, "\n# %s\n%s=%s\n", v[1], v[0], values[v[0]])
	}
	files := []struct {
		path string
		data []byte
	}{
		{keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})},
		{filepath.Join(abs, ExportPlatformCert), []byte(platformCertsPEM(s.PlatformCertificates()))},
		{filepath.Join(abs, ExportEnv), []byte(env.String())},
	}
	var written []string
	for _, f := range files {
		if err := writeFile0600(f.path, f.data); err != nil {
			return written, err
		}
		written = append(written, f.path)
	}
	return written, nil
}

// writeFile0600 writes data to a temporary file of mode 0600 beside path,
// then renames it over path.
func writeFile0600(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return fmt.Errorf("sandbox: export: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: export: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: export: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: export: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sandbox: export: %w", err)
	}
	return nil
}

// adminTokenSetting keeps the SHA-256 of the standalone control page's
// token; the token itself is shown once, when it is made.
const adminTokenSetting = "admin_token_sha256"

// EnsureAdminToken makes the control page's admin token on first start
// (or again when reset is true) and returns it; it returns "" when a token
// already exists, since only its hash is kept.
func (s *Sandbox) EnsureAdminToken(ctx context.Context, reset bool) (string, error) {
	token := randString(32, alnum)
	sum := sha256.Sum256([]byte(token))
	made := false
	err := s.update(ctx, func(tx *sql.Tx, _ time.Time) error {
		cur, err := setting(ctx, tx, adminTokenSetting)
		if err != nil || (cur != "" && !reset) {
			return err
		}
		made = true
		return saveSetting(ctx, tx, adminTokenSetting, hex.EncodeToString(sum[:]))
	})
	if err != nil || !made {
		return "", err
	}
	return token, nil
}

// AdminTokenOK reports whether token is the control page's admin token.
func (s *Sandbox) AdminTokenOK(ctx context.Context, token string) (bool, error) {
	cur, err := setting(ctx, s.db.read, adminTokenSetting)
	if err != nil || cur == "" || token == "" {
		return false, err
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(cur)) == 1, nil
}

// platformCertsPEM concatenates the certificates' PEM.
func platformCertsPEM(certs []PlatformCertificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.WriteString(c.PEM)
	}
	return b.String()
}
