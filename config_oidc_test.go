package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/store"
)

// oidcEnv is a sandbox configuration with single sign-on set.
func oidcEnv(t *testing.T) map[string]string {
	return map[string]string{
		"ADDR": "127.0.0.1:0", "DB_PATH": filepath.Join(t.TempDir(), "app.db"),
		"OIDC_ISSUER": "https://sso.bank.example/realms/staff", "OIDC_CLIENT_ID": "payscore-console",
		"OIDC_CLIENT_SECRET": "oidc-client-secret-value", "OIDC_ROLE_MAP": "payscore-admin=admin,payscore-support=support",
	}
}

// TestOIDCConfigErrors: a bad single sign-on set-up stops the program with
// exit status 2 before anything starts, naming the variable and never
// showing the client secret.
func TestOIDCConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"ErrRoleMapSyntax", map[string]string{"OIDC_ROLE_MAP": "payscore-admin:admin"}, []string{"OIDC_ROLE_MAP", "provider-role=console-role"}},
		{"ErrRoleMapUnknownRole", map[string]string{"OIDC_ROLE_MAP": "payscore-admin=root"}, []string{"OIDC_ROLE_MAP", "unknown role", "root"}},
		{"ErrRoleMapTwice", map[string]string{"OIDC_ROLE_MAP": "a=admin,a=viewer"}, []string{"OIDC_ROLE_MAP", "mapped twice"}},
		{"ErrMissingSecret", map[string]string{"OIDC_CLIENT_SECRET": ""}, []string{"missing: OIDC_CLIENT_SECRET"}},
		{"ErrMissingRoleMap", map[string]string{"OIDC_ROLE_MAP": ""}, []string{"missing: OIDC_ROLE_MAP"}},
		{"ErrIssuerNotURL", map[string]string{"OIDC_ISSUER": "sso.bank.example"}, []string{"OIDC_ISSUER"}},
		{"ErrLocalLoginValue", map[string]string{"LOCAL_LOGIN": "no"}, []string{"LOCAL_LOGIN", "is not on or off"}},
		{"ErrLocalLoginOffWithoutSSO", map[string]string{"LOCAL_LOGIN": "off", "OIDC_ISSUER": "", "OIDC_CLIENT_ID": "",
			"OIDC_CLIENT_SECRET": "", "OIDC_ROLE_MAP": ""}, []string{"LOCAL_LOGIN=off needs single sign-on"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := oidcEnv(t)
			for k, v := range tt.set {
				env[k] = v
			}
			code, log := runServe(t, env)
			if code != exitConfig {
				t.Fatalf("exit status %d, want %d; log:\n%s", code, exitConfig, log)
			}
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("log does not name %q:\n%s", w, log)
				}
			}
			if strings.Contains(log, "oidc-client-secret-value") {
				t.Error("the log shows the client secret")
			}
		})
	}
	// The live issuer must be https.
	env := liveEnv(t)
	for k, v := range oidcEnv(t) {
		if strings.HasPrefix(k, "OIDC_") {
			env[k] = v
		}
	}
	env["OIDC_ISSUER"] = "http://sso.bank.example/realms/staff"
	if code, log := runServe(t, env); code != exitConfig || !strings.Contains(log, "OIDC_ISSUER: live mode needs https") {
		t.Errorf("live http issuer: exit %d; log:\n%s", code, log)
	}
}

// TestOIDCConfigSecret: the client secret is never a flag, comes from
// OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE, and help shows "(set)".
func TestOIDCConfigSecret(t *testing.T) {
	env := oidcEnv(t)
	if code, log := runServe(t, env, "-oidc-client-secret=x"); code != exitConfig || !strings.Contains(log, "OIDC_CLIENT_SECRET_FILE") {
		t.Errorf("secret as a flag: exit %d; log:\n%s", code, log)
	}
	delete(env, "OIDC_CLIENT_SECRET")
	env["OIDC_CLIENT_SECRET_FILE"] = writeFile(t, t.TempDir(), "secret", []byte("from-a-file\n"))
	cfg, err := LoadConfig(nil, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCClientSecret != "from-a-file" || cfg.OIDCRoleClaim != "roles" || cfg.oidcRoleMap["payscore-support"] != store.RoleSupport {
		t.Errorf("config %q %q %v", cfg.OIDCClientSecret, cfg.OIDCRoleClaim, cfg.oidcRoleMap)
	}
	var out bytes.Buffer
	if _, err := loadConfig([]string{"-h"}, getenv(env), &out); err == nil {
		t.Fatal("-h: no ErrHelp")
	}
	help := out.String()
	if !strings.Contains(help, "OIDC_CLIENT_SECRET") || !strings.Contains(help, "(set)") || strings.Contains(help, "from-a-file") {
		t.Errorf("help:\n%s", help)
	}
	for _, f := range []string{"-oidc-issuer", "-oidc-role-map", "-oidc-role-claim", "-local-login"} {
		if !strings.Contains(help, f) {
			t.Errorf("help lacks %s", f)
		}
	}
}

// TestUserAddBreakGlass: `user add --break-glass` makes a local user who may
// sign in with a password when LOCAL_LOGIN=off; `user passwd` refuses an
// SSO user (no local password).
func TestUserAddBreakGlass(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	code, out, errOut := runCLI(t, path, "emergency password\n", "user", "add", "--username", "glass", "--role", "admin", "--break-glass")
	if code != exitOK || out != "created glass (admin, break-glass)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	db := openDB(t, path)
	u, err := db.UserByUsername(ctx, "glass")
	if err != nil {
		t.Fatal(err)
	}
	if !u.BreakGlass || !checkPassword(t, u.PasswordHash, "emergency password") {
		t.Errorf("user %+v: want break-glass with the password", u)
	}
	entries, _ := db.AuditLog(ctx, store.AuditFilter{Action: "user.create"})
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, "break_glass") {
		t.Errorf("audit %+v", entries)
	}
	if _, _, err := db.SignInSSO(ctx, "https://idp", "sub-1", "ssouser", store.RoleViewer, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, _, errOut := runCLI(t, path, "a new password!\n", "user", "passwd", "--username", "ssouser"); code != exitConfig || !strings.Contains(errOut, "single sign-on") {
		t.Errorf("passwd of an SSO user: exit %d, stderr %s", code, errOut)
	}
	if code, out, _ := runCLI(t, path, "another password\n", "user", "add", "--username", "plain", "--role", "viewer"); code != exitOK || out != "created plain (viewer)\n" {
		t.Errorf("plain add: %d %q", code, out)
	}
}
