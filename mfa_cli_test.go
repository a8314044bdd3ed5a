package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

func TestUserResetMFA(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if code, _, errOut := runCLI(t, path, "first password\n", "user", "add", "--username", "alice", "--role", "admin"); code != exitOK {
		t.Fatalf("add: %s", errOut)
	}
	db := openDB(t, path)
	u, err := db.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Enrolled (the store's own steps; the service's are tested over HTTP).
	if err := db.BeginMFA(ctx, u.ID, "v1:sealed"); err != nil {
		t.Fatal(err)
	}
	if err := db.EnableMFA(ctx, u.ID, 1, []string{"h1", "h2"}, store.AuditEntry{Action: service.AuditMFAEnrolled}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, store.Session{IDHash: "x", UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, out, errOut := runCLI(t, path, "", "user", "reset-mfa", "--username", "alice")
	if got, want := code, exitOK; got != want {
		t.Fatalf("exit = %d, want %d; stderr %s", got, want, errOut)
	}
	if !strings.Contains(out, "alice: two-factor removed") {
		t.Errorf("stdout = %q", out)
	}
	db = openDB(t, path)
	defer db.Close()
	if u, _ := db.UserByUsername(ctx, "alice"); u.MFA {
		t.Error("still enrolled")
	}
	if n, _ := db.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("%d recovery codes left, want 0", n)
	}
	if s, _ := db.SessionsOf(ctx, u.ID); len(s) != 0 {
		t.Errorf("%d sessions left, want 0", len(s))
	}
	log, _ := db.AuditLog(ctx, store.AuditFilter{Action: service.AuditMFAReset})
	if got, want := len(log), 1; got != want {
		t.Fatalf("audit entries = %d, want %d", got, want)
	}
	if got, want := log[0].Username+" "+log[0].Target, "cli user:alice"; got != want {
		t.Errorf("audit = %q, want %q", got, want)
	}

	if code, _, _ := runCLI(t, path, "", "user", "reset-mfa", "--username", "nobody"); code != exitFail {
		t.Errorf("unknown user: exit = %d, want %d", code, exitFail)
	}
}

func TestMFARequiredRolesConfig(t *testing.T) {
	tests := []struct {
		name    string
		live    bool
		value   string
		want    []string
		wantErr bool
	}{
		{"LiveDefault", true, "", []string{store.RoleAdmin, store.RoleSupport}, false},
		{"SandboxDefault", false, "", nil, false},
		{"None", true, "none", nil, false},
		{"List", true, " Operator, admin ,operator", []string{store.RoleOperator, store.RoleAdmin}, false},
		{"SandboxList", false, "admin", []string{store.RoleAdmin}, false},
		{"ErrUnknownRole", true, "admin,root", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			if tt.live {
				env = liveEnv(t)
			}
			if tt.value != "" {
				env["MFA_REQUIRED_ROLES"] = tt.value
			}
			cfg, err := LoadConfig(nil, getenv(env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if got, want := err != nil && strings.Contains(err.Error(), "MFA_REQUIRED_ROLES"), tt.wantErr; got != want {
				t.Fatalf("Validate() = %v, want an MFA_REQUIRED_ROLES error: %v", err, want)
			}
			if !tt.wantErr && !slices.Equal(cfg.MFARoles(), tt.want) {
				t.Errorf("roles = %q, want %q", cfg.MFARoles(), tt.want)
			}
		})
	}
}
