package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/payscore-console/payscore-console/sandbox"
)

// standalone is `payscore-console sandbox` running in this process through
// run, as a partner would start it.
type standalone struct {
	base string
	env  map[string]string // the exported .env
	logs *syncBuffer
}

// startStandalone runs `payscore-console sandbox` with env until the test
// ends and waits until it answers and its .env is written.
func startStandalone(t *testing.T, env map[string]string) *standalone {
	t.Helper()
	env["SANDBOX_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := &standalone{base: "http://" + env["SANDBOX_ADDR"], logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"sandbox"}, getenv(env), strings.NewReader(""), io.Discard, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("sandbox exited with status %d:\n%s", code, s.logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("the sandbox did not stop")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("sandbox exited with status %d:\n%s", code, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox not ready:\n%s", s.logs.String())
		}
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.env = readDotEnv(t, filepath.Join(env["SANDBOX_EXPORT_DIR"], sandbox.ExportEnv))
	return s
}

// readDotEnv reads KEY=VALUE lines, skipping comments and blank lines.
func readDotEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", path, line)
		}
		out[k] = v
	}
	return out
}

// sdkClient is the official SDK's client built from the exported files
// only, in public-key mode: it signs with apiclient_key.pem and verifies
// every answer with pub_key.pem.
func sdkClient(t *testing.T, env map[string]string) *core.Client {
	t.Helper()
	key, err := utils.LoadPrivateKeyWithPath(env["WECHATPAY_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKeyWithPath(env["WECHATPAY_PUBLIC_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(env["WECHATPAY_MCHID"], env["WECHATPAY_CERT_SERIAL"], key, env["WECHATPAY_PUBLIC_KEY_ID"], pub),
		option.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// received is one notification the partner's receiver verified and
// decrypted with the SDK.
type received struct {
	eventType string
	content   map[string]any
}

// TestStandaloneSandboxOfficialSDK starts `payscore-console sandbox` and
// drives it as a partner's system would, with nothing but the exported
// files and the official SDK: pre-authorize, the user agrees on the consent
// page, the notification reaches the partner's receiver (verified and
// decrypted by the SDK's notify handler), query, terminate, query again.
func TestStandaloneSandboxOfficialSDK(t *testing.T) {
	dir := t.TempDir()
	// The partner's receiver: the SDK's notify handler, built from the
	// exported files once they exist.
	var handler atomic.Pointer[notify.Handler]
	notes := make(chan received, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if h == nil {
			http.Error(w, `{"code":"FAIL","message":"not ready"}`, http.StatusServiceUnavailable)
			return
		}
		content := map[string]any{}
		req, err := h.ParseNotifyRequest(r.Context(), r, &content)
		if err != nil {
			t.Errorf("SDK refused the notification: %v", err)
			http.Error(w, `{"code":"FAIL","message":"refused"}`, http.StatusBadRequest)
			return
		}
		notes <- received{eventType: req.EventType, content: content}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	exportDir := filepath.Join(dir, "keys")
	sb := startStandalone(t, map[string]string{
		"SANDBOX_DB_PATH":    filepath.Join(dir, "sandbox.db"),
		"SANDBOX_EXPORT_DIR": exportDir,
		"SANDBOX_NOTIFY_URL": receiver.URL + "/notify",
	})
	env := sb.env

	t.Run("ExportedFiles", func(t *testing.T) {
		want := []string{"WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY",
			"WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_API_BASE", "PAYSCORE_SERVICE_ID",
			"PAYSCORE_CHANNEL_ID", "PAYSCORE_APPID", "WECHAT_MP_APPID", "WECHAT_MP_SECRET", "WECHAT_API_BASE", "WECHAT_JSSDK_URL"}
		if len(env) != len(want) {
			t.Errorf(".env has %d variables, want exactly %d: %v", len(env), len(want), env)
		}
		for _, k := range want {
			if env[k] == "" {
				t.Errorf(".env: %s missing", k)
			}
		}
		if env["WECHATPAY_API_BASE"] != sb.base || env["WECHAT_API_BASE"] != sb.base {
			t.Errorf("API bases %q, %q; want %q", env["WECHATPAY_API_BASE"], env["WECHAT_API_BASE"], sb.base)
		}
		if env["WECHAT_JSSDK_URL"] != sb.base+"/jweixin.js" {
			t.Errorf("WECHAT_JSSDK_URL = %q", env["WECHAT_JSSDK_URL"])
		}
		if len(env["WECHATPAY_APIV3_KEY"]) != 32 || !strings.HasPrefix(env["WECHATPAY_PUBLIC_KEY_ID"], "PUB_KEY_ID_") {
			t.Errorf("APIv3 key / public key id: %q / %q", env["WECHATPAY_APIV3_KEY"], env["WECHATPAY_PUBLIC_KEY_ID"])
		}
		for _, name := range []string{sandbox.ExportPrivateKey, sandbox.ExportPublicKey, sandbox.ExportEnv} {
			fi, err := os.Stat(filepath.Join(exportDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
			}
		}
		if env["WECHATPAY_PRIVATE_KEY"] != filepath.Join(exportDir, sandbox.ExportPrivateKey) ||
			env["WECHATPAY_PUBLIC_KEY"] != filepath.Join(exportDir, sandbox.ExportPublicKey) {
			t.Errorf("key paths: %q, %q", env["WECHATPAY_PRIVATE_KEY"], env["WECHATPAY_PUBLIC_KEY"])
		}
	})

	pub, err := utils.LoadPublicKeyWithPath(env["WECHATPAY_PUBLIC_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	h, err := notify.NewRSANotifyHandler(env["WECHATPAY_APIV3_KEY"], verifiers.NewSHA256WithRSAPubkeyVerifier(env["WECHATPAY_PUBLIC_KEY_ID"], *pub))
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(h)

	ctx := context.Background()
	client := sdkClient(t, env)
	const subMchID = "1900000999"
	code := fmt.Sprintf("PARTNER%d", time.Now().UnixNano()%1e12)
	perms := env["WECHATPAY_API_BASE"] + "/v3/payscore/acquiringbank/permissions"
	queryURL := perms + "/authorization-code/" + code + "?" + url.Values{
		"service_id": {env["PAYSCORE_SERVICE_ID"]}, "channel_id": {env["PAYSCORE_CHANNEL_ID"]}, "sub_mchid": {subMchID},
	}.Encode()

	// Pre-authorize: the SDK signs the request and verifies the answer.
	res, err := client.Post(ctx, perms, map[string]string{
		"service_id": env["PAYSCORE_SERVICE_ID"], "channel_id": env["PAYSCORE_CHANNEL_ID"], "appid": env["PAYSCORE_APPID"],
		"sub_mchid": subMchID, "authorization_code": code,
		// The partner's public address: SANDBOX_NOTIFY_URL takes its place.
		"notify_url": "https://partner.example.com/wxpay/notify",
	})
	if err != nil {
		t.Fatalf("pre-authorize: %v", err)
	}
	var pre struct {
		Token string `json:"apply_permissions_token"`
	}
	decodeSDK(t, res, &pre)
	if pre.Token == "" {
		t.Fatal("no apply_permissions_token")
	}

	// The user agrees on the sandbox's consent page.
	page, err := http.Get(sb.base + "/payscore?" + url.Values{"apply_permissions_token": {pre.Token}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(page.Header.Get("Content-Security-Policy"), "frame-ancestors *") {
		t.Fatalf("consent page: %d, CSP %q", page.StatusCode, page.Header.Get("Content-Security-Policy"))
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	agree, err := noRedirect.PostForm(sb.base+"/payscore", url.Values{"apply_permissions_token": {pre.Token}, "decision": {"agree"}})
	if err != nil {
		t.Fatal(err)
	}
	agree.Body.Close()
	if agree.StatusCode != http.StatusSeeOther || !strings.Contains(agree.Header.Get("Location"), "result=agreed") {
		t.Fatalf("agree: %d %q", agree.StatusCode, agree.Header.Get("Location"))
	}

	n := waitNote(t, notes)
	if n.eventType != "PAYSCORE.USER_OPEN_SERVICE" || n.content["authorization_code"] != code ||
		n.content["user_service_status"] != "USER_OPEN_SERVICE" || n.content["sub_mchid"] != subMchID ||
		n.content["mchid"] != env["WECHATPAY_MCHID"] || n.content["openid"] == nil {
		t.Errorf("open notification: %s %v", n.eventType, n.content)
	}

	// Query: AVAILABLE, answer verified by the SDK.
	if st := sdkQuery(t, client, queryURL); st != "AVAILABLE" {
		t.Fatalf("state after consent = %q", st)
	}
	// Terminate: 204, signed.
	term := map[string]string{"service_id": env["PAYSCORE_SERVICE_ID"], "channel_id": env["PAYSCORE_CHANNEL_ID"],
		"sub_mchid": subMchID, "reason": "partner test"}
	res, err = client.Post(ctx, perms+"/authorization-code/"+code+"/terminate", term)
	if err != nil {
		t.Fatalf("terminate: %v", err)
	}
	res.Response.Body.Close()
	if res.Response.StatusCode != http.StatusNoContent {
		t.Fatalf("terminate: status %d", res.Response.StatusCode)
	}
	if st := sdkQuery(t, client, queryURL); st != "UNAVAILABLE" {
		t.Fatalf("state after terminate = %q", st)
	}
	n = waitNote(t, notes)
	if n.eventType != "PAYSCORE.USER_CLOSE_SERVICE" || n.content["authorization_code"] != code {
		t.Errorf("close notification: %s %v", n.eventType, n.content)
	}
	// A second terminate is WeChat's 400 INVALID_ORDER_STATE, which the SDK
	// reports as an APIError.
	_, err = client.Post(ctx, perms+"/authorization-code/"+code+"/terminate", term)
	var apiErr *core.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "INVALID_ORDER_STATE" {
		t.Errorf("second terminate: %v", err)
	}

	t.Run("PartnerPagesReachTheJSSDKShim", func(t *testing.T) {
		// A partner's landing page, on its own origin, loads /jweixin.js,
		// whose wx.config posts to /jssdk/verify: a CORS preflight.
		req, _ := http.NewRequest(http.MethodOptions, sb.base+"/jssdk/verify", nil)
		req.Header.Set("Origin", "https://partner.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
		}
		res, err = http.Get(env["WECHAT_JSSDK_URL"])
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", env["WECHAT_JSSDK_URL"], res.StatusCode)
		}
	})

	t.Run("ControlPageNeedsTheAdminToken", func(t *testing.T) {
		m := regexp.MustCompile(`"token":"([0-9A-Za-z]{32})"`).FindStringSubmatch(sb.logs.String())
		if m == nil {
			t.Fatalf("no generated admin token in the log:\n%s", sb.logs.String())
		}
		token := m[1]
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
		get := func(user, pass string) (*http.Response, string) {
			req, _ := http.NewRequest(http.MethodGet, sb.base+"/", nil)
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res, string(b)
		}
		for _, cred := range [][2]string{{"", ""}, {"admin", "wrong-token-wrong-token"}, {"root", token}} {
			if res, _ := get(cred[0], cred[1]); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("control page as %q: %d, want 401", cred[0], res.StatusCode)
			}
		}
		res, body := get("admin", token)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, env["WECHATPAY_PUBLIC_KEY_ID"]) ||
			!strings.Contains(body, code) || !strings.Contains(body, receiver.URL+"/notify") {
			t.Fatalf("control page: %d\n%s", res.StatusCode, body)
		}
		csrf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(body)
		if csrf == nil {
			t.Fatal("no _csrf in the control page's forms")
		}
		post := func(form url.Values) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, sb.base+"/control/faults/clear", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("admin", token)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		if res := post(url.Values{}); res.StatusCode < 400 {
			t.Errorf("control form without its CSRF token: %d, want refused", res.StatusCode)
		}
		// Mounted at the root, the control forms still come back to "/".
		if res := post(url.Values{"_csrf": {csrf[1]}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/?done=cleared" {
			t.Errorf("control form: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func decodeSDK(t *testing.T, res *core.APIResult, v any) {
	t.Helper()
	defer res.Response.Body.Close()
	if err := json.NewDecoder(res.Response.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func sdkQuery(t *testing.T, client *core.Client, u string) string {
	t.Helper()
	res, err := client.Get(context.Background(), u)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var q struct {
		State string `json:"authorization_state"`
	}
	decodeSDK(t, res, &q)
	return q.State
}

func waitNote(t *testing.T, notes <-chan received) received {
	t.Helper()
	select {
	case n := <-notes:
		return n
	case <-time.After(15 * time.Second):
		t.Fatal("no notification reached the partner's receiver")
	}
	return received{}
}
