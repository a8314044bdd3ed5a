package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretEnv sets every secret, with values the output must never show.
var secretEnv = map[string]string{
	"ADMIN_PASSWORD":      "admin-password-never-printed",
	"SESSION_KEY":         "session-key-never-printed-0123456789abcdef",
	"WECHATPAY_APIV3_KEY": testAPIv3Key,
	"METRICS_TOKEN":       "metrics-token-never-printed",
}

// fileSecret is WECHAT_MP_SECRET's value, given through WECHAT_MP_SECRET_FILE.
const fileSecret = "mp-secret-from-a-file-never-printed"

// TestHelpHidesSecrets runs the program as a subprocess, as an operator
// would: -h, serve -h, a mistyped flag and a secret given as a flag show
// each secret as "(set)" and never its value.
func TestHelpHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "mp_secret", []byte(fileSecret+"\n"))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"OKHelp", []string{"-h"}, exitOK, []string{"-db-path", "ADMIN_PASSWORD"}},
		{"OKServeHelp", []string{"serve", "-h"}, exitOK, []string{"-db-path", "ADMIN_PASSWORD"}},
		{"ErrMistypedFlag", []string{"serve", "-db-pth", "x.db"}, exitConfig, []string{"db-pth", "ADMIN_PASSWORD"}},
		{"ErrMistypedFlagWithValue", []string{"serve", "-wechatpay-apiv3-kee=" + testAPIv3Key[:8] + "typo"}, exitConfig, []string{"wechatpay-apiv3-kee"}},
		{"ErrSecretAsFlag", []string{"serve", "-wechatpay-apiv3-key", "flag-value-never-printed"}, exitConfig,
			[]string{"WECHATPAY_APIV3_KEY_FILE", "not accepted as flags"}},
		{"ErrSecretAsFlagEquals", []string{"serve", "--admin-password=flag-value-never-printed"}, exitConfig,
			[]string{"ADMIN_PASSWORD_FILE", "not accepted as flags"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = []string{childEnv + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + dir,
				"DB_PATH=" + filepath.Join(dir, "app.db"), "ADDR=127.0.0.1:0", "WECHAT_MP_SECRET_FILE=" + secretFile}
			for k, v := range secretEnv {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if got, want := code, tt.wantCode; got != want {
				t.Errorf("exit status = %d, want %d; output:\n%s", got, want, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, secret := range []string{secretEnv["ADMIN_PASSWORD"], secretEnv["SESSION_KEY"], testAPIv3Key, testAPIv3Key[:8],
				secretEnv["METRICS_TOKEN"], fileSecret, "flag-value-never-printed"} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("output shows a secret %q:\n%s", secret, out.String())
				}
			}
			if strings.Contains(tt.args[len(tt.args)-1], "-h") || strings.Contains(tt.name, "Mistyped") {
				for _, name := range []string{"ADMIN_PASSWORD", "SESSION_KEY", "WECHATPAY_APIV3_KEY", "WECHAT_MP_SECRET", "METRICS_TOKEN"} {
					if !regexpSetLine(out.String(), name) {
						t.Errorf("help does not show %s as (set):\n%s", name, out.String())
					}
				}
				for _, flagName := range []string{"-admin-password", "-session-key", "-wechatpay-apiv3-key", "-wechat-mp-secret", "-metrics-token"} {
					if strings.Contains(out.String(), "  "+flagName+" ") || strings.Contains(out.String(), "  "+flagName+"\n") {
						t.Errorf("help offers the secret flag %s", flagName)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "app.db")); !os.IsNotExist(err) {
				t.Errorf("the database was created: %v", err)
			}
		})
	}
}

// regexpSetLine reports whether the help lists name followed by "(set)" on
// its description line.
func regexpSetLine(out, name string) bool {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == name && i+1 < len(lines) && strings.HasSuffix(lines[i+1], "(set)") {
			return true
		}
	}
	return false
}

// TestSecretFiles: every secret may come from NAME_FILE, its trailing
// newline trimmed; both NAME and NAME_FILE, an empty or unreadable file are
// errors that never show the value.
func TestSecretFiles(t *testing.T) {
	fields := map[string]func(c *Config) string{
		"WECHATPAY_APIV3_KEY": func(c *Config) string { return c.WeChatPayAPIv3Key },
		"WECHAT_MP_SECRET":    func(c *Config) string { return c.WeChatMPSecret },
		"ADMIN_PASSWORD":      func(c *Config) string { return c.AdminPassword },
		"SESSION_KEY":         func(c *Config) string { return c.SessionKey },
		"METRICS_TOKEN":       func(c *Config) string { return c.MetricsToken },
	}
	for name, field := range fields {
		t.Run("OK"+name, func(t *testing.T) {
			for _, ending := range []string{"", "\n", "\r\n"} {
				p := writeFile(t, t.TempDir(), "secret", []byte("value-of-"+name+ending))
				cfg, err := LoadConfig(nil, getenv(map[string]string{name + "_FILE": p}))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := field(cfg), "value-of-"+name; got != want {
					t.Errorf("ending %q: %s = %q, want %q", ending, name, got, want)
				}
			}
		})
		t.Run("ErrBoth"+name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "secret", []byte("from-file-value"))
			_, err := LoadConfig(nil, getenv(map[string]string{name: "from-env-value", name + "_FILE": p}))
			if err == nil || !strings.Contains(err.Error(), name+" and "+name+"_FILE") {
				t.Fatalf("err = %v, want one naming %s and %s_FILE", err, name, name)
			}
			if strings.Contains(err.Error(), "-value") {
				t.Errorf("the error shows a value: %v", err)
			}
		})
		t.Run("ErrEmpty"+name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "secret", []byte("\n"))
			if _, err := LoadConfig(nil, getenv(map[string]string{name + "_FILE": p})); err == nil || !strings.Contains(err.Error(), name+"_FILE") {
				t.Fatalf("err = %v, want one naming %s_FILE", err, name)
			}
		})
		t.Run("ErrUnreadable"+name, func(t *testing.T) {
			if _, err := LoadConfig(nil, getenv(map[string]string{name + "_FILE": "/nonexistent/secret"})); err == nil || !strings.Contains(err.Error(), name+"_FILE") {
				t.Fatalf("err = %v, want one naming %s_FILE", err, name)
			}
		})
	}
	t.Run("OKLiveFromFiles", func(t *testing.T) {
		env := liveEnv(t)
		dir := t.TempDir()
		env["WECHATPAY_APIV3_KEY_FILE"] = writeFile(t, dir, "apiv3", []byte(env["WECHATPAY_APIV3_KEY"]+"\n"))
		env["WECHAT_MP_SECRET_FILE"] = writeFile(t, dir, "mp", []byte(env["WECHAT_MP_SECRET"]+"\n"))
		delete(env, "WECHATPAY_APIV3_KEY")
		delete(env, "WECHAT_MP_SECRET")
		cfg, err := LoadConfig(nil, getenv(env))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})
	t.Run("ErrServeBoth", func(t *testing.T) {
		env := map[string]string{"ADDR": "127.0.0.1:0", "DB_PATH": filepath.Join(t.TempDir(), "app.db"),
			"ADMIN_PASSWORD": "admin-password-never-printed", "ADMIN_PASSWORD_FILE": writeFile(t, t.TempDir(), "pw", []byte("file-password-never-printed"))}
		code, log := runServe(t, env)
		if got, want := code, exitConfig; got != want {
			t.Fatalf("exit status = %d, want %d; log:\n%s", got, want, log)
		}
		if !strings.Contains(log, "ADMIN_PASSWORD_FILE") || strings.Contains(log, "never-printed") {
			t.Errorf("log:\n%s", log)
		}
	})
	t.Run("ErrHelpIsErrHelp", func(t *testing.T) {
		if _, err := loadConfig([]string{"-h"}, getenv(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("err = %v, want flag.ErrHelp", err)
		}
	})
}

// inProcess is the program running in this process on a loopback port.
type inProcess struct {
	base string
	logs *syncBuffer
}

// startInProcess runs the program with env (ADDR is chosen here) until the
// test ends, and waits until /healthz answers.
func startInProcess(t *testing.T, env map[string]string) *inProcess {
	t.Helper()
	port := freePort(t)
	env["ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	p := &inProcess{base: "http://" + env["ADDR"], logs: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv(env), strings.NewReader(""), io.Discard, p.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the console did not stop")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("console exited with status %d:\n%s", code, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("console not ready:\n%s", p.logs.String())
		}
		if res, err := http.Get(p.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get sends method path with headers (name, value pairs) and returns the
// status and body.
func (p *inProcess) do(t *testing.T, method, path string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// TestServeHardening runs the program in live mode and tries what anonymous
// traffic can cost: huge headers, made-up methods, /metrics.
func TestServeHardening(t *testing.T) {
	const token = "metrics-token-for-the-test"
	env := liveEnv(t)
	env["METRICS_TOKEN_FILE"] = writeFile(t, t.TempDir(), "metrics_token", []byte(token+"\n"))
	p := startInProcess(t, env)
	bearer := []string{"Authorization", "Bearer " + token}

	t.Run("MaxHeaderBytes", func(t *testing.T) {
		for _, c := range []struct {
			name       string
			size       int
			wantStatus int
		}{
			{"OK60KiB", 60 << 10, http.StatusOK},
			{"Err72KiB", 72 << 10, http.StatusRequestHeaderFieldsTooLarge},
			{"Err512KiB", 512 << 10, http.StatusRequestHeaderFieldsTooLarge},
		} {
			t.Run(c.name, func(t *testing.T) {
				// Raw HTTP over a real connection: what the server reads is
				// exactly what is sent.
				conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\nConnection: close\r\n\r\n", strings.Repeat("a", c.size))
				res, err := http.ReadResponse(bufioReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got, want := res.StatusCode, c.wantStatus; got != want {
					t.Errorf("status = %d, want %d", got, want)
				}
			})
		}
	})

	t.Run("MadeUpMethodLeavesMetrics", func(t *testing.T) {
		series := func() string {
			status, _, body := p.do(t, http.MethodGet, "/metrics", bearer...)
			if status != http.StatusOK {
				t.Fatalf("GET /metrics: %d", status)
			}
			var out []string
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "http_request") && !strings.Contains(l, `route="/metrics"`) {
					out = append(out, l)
				}
			}
			return strings.Join(out, "\n")
		}
		before, logBefore := series(), p.logs.String()
		for _, m := range []string{"FOO", "BREW", "PROPFIND", "X1"} {
			for _, path := range []string{"/", "/metrics", "/no/such/page", "/notify/payscore"} {
				if status, _, _ := p.do(t, m, path); status != http.StatusNotImplemented {
					t.Errorf("%s %s: status = %d, want 501", m, path, status)
				}
			}
		}
		if status, h, _ := p.do(t, http.MethodDelete, "/"); status != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, POST" {
			t.Errorf("DELETE /: %d, Allow %q; want 405, GET, POST", status, h.Get("Allow"))
		}
		if got, want := series(), before; got != want {
			t.Errorf("metrics changed:\nbefore:\n%s\nafter:\n%s", want, got)
		}
		for _, m := range []string{"FOO", "BREW", "PROPFIND", "X1", "DELETE"} {
			if strings.Contains(strings.TrimPrefix(p.logs.String(), logBefore), `"method":"`+m+`"`) {
				t.Errorf("the log shows a %s request", m)
			}
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		for _, c := range []struct {
			name       string
			headers    []string
			wantStatus int
		}{
			{"OKBearer", bearer, http.StatusOK},
			{"ErrNoToken", nil, http.StatusUnauthorized},
			{"ErrWrongToken", []string{"Authorization", "Bearer " + token + "x"}, http.StatusUnauthorized},
		} {
			t.Run(c.name, func(t *testing.T) {
				if status, _, _ := p.do(t, http.MethodGet, "/metrics", c.headers...); status != c.wantStatus {
					t.Errorf("status = %d, want %d", status, c.wantStatus)
				}
			})
		}
	})
	if strings.Contains(p.logs.String(), token) {
		t.Error("the log shows METRICS_TOKEN")
	}
}

// TestServeMetricsWithoutToken: live mode without METRICS_TOKEN does not
// serve /metrics; the sandbox keeps it open.
func TestServeMetricsWithoutToken(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        func(t *testing.T) map[string]string
		wantStatus int
	}{
		{"ErrLive404", liveEnv, http.StatusNotFound},
		{"OKSandboxOpen", func(t *testing.T) map[string]string {
			return map[string]string{"DB_PATH": filepath.Join(t.TempDir(), "app.db"), "ADMIN_PASSWORD": "sandbox admin password"}
		}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startInProcess(t, c.env(t))
			if status, _, _ := p.do(t, http.MethodGet, "/metrics"); status != c.wantStatus {
				t.Errorf("status = %d, want %d", status, c.wantStatus)
			}
		})
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
