package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// TestUserUnlock: `user unlock --username NAME` ends the user's sign-in
// lockouts from every address, audited as auth.unlock; `user passwd` ends
// them too.
func TestUserUnlock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if code, _, errOut := runCLI(t, path, "first password", "user", "add", "--username", "alice", "--role", "operator"); code != exitOK {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	lock := func() {
		t.Helper()
		db := openDB(t, path)
		defer db.Close()
		auth := service.New(service.Config{Store: db}).Auth
		for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
			for range service.MaxLoginFailures {
				auth.SignIn(ctx, "alice", "wrong password", ip)
			}
			if until, _ := db.LockedUntil(ctx, "alice", ip); until.IsZero() {
				t.Fatalf("alice is not locked from %s", ip)
			}
		}
	}
	unlocked := func(what string) {
		t.Helper()
		db := openDB(t, path)
		defer db.Close()
		for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
			if until, _ := db.LockedUntil(ctx, "alice", ip); !until.IsZero() {
				t.Errorf("after %s: still locked from %s until %v", what, ip, until)
			}
		}
	}

	lock()
	code, out, errOut := runCLI(t, path, "", "user", "unlock", "--username", "alice")
	if code != exitOK || !strings.Contains(out, "2 locked addresses") {
		t.Fatalf("unlock: exit %d, out %q, stderr %q", code, out, errOut)
	}
	unlocked("user unlock")
	db := openDB(t, path)
	log, _ := db.AuditLog(ctx, store.AuditFilter{Action: service.AuditUnlock})
	db.Close()
	if len(log) != 1 || log[0].Username != "cli" || log[0].Target != "user:alice" {
		t.Errorf("audit = %+v; want one auth.unlock by cli", log)
	}

	lock()
	if code, _, errOut := runCLI(t, path, "second password", "user", "passwd", "--username", "alice"); code != exitOK {
		t.Fatalf("passwd: exit %d: %s", code, errOut)
	}
	unlocked("user passwd")

	if code, _, _ := runCLI(t, path, "", "user", "unlock", "--username", "nobody"); code != exitFail {
		t.Errorf("unlock of an unknown user: exit %d, want %d", code, exitFail)
	}
	// The password policy applies on the command line too.
	if code, _, errOut := runCLI(t, path, "alice-password", "user", "passwd", "--username", "alice"); code != exitConfig || !strings.Contains(errOut, "username") {
		t.Errorf("passwd containing the username: exit %d, stderr %q", code, errOut)
	}
}

// TestRefusalConfig: REFUSAL_RETENTION and REFUSAL_MAX_ROWS are read,
// defaulted (30 days, 100,000 rows) and checked.
func TestRefusalConfig(t *testing.T) {
	env := map[string]string{"DB_PATH": filepath.Join(t.TempDir(), "app.db")}
	load := func() (*Config, error) {
		cfg, err := loadConfig(nil, getenv(env), io.Discard)
		if err != nil {
			return nil, err
		}
		return cfg, cfg.Validate()
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.refusalRetention != 30*24*time.Hour || cfg.refusalMaxRows != 100000 {
		t.Errorf("defaults = %v, %d; want 720h, 100000", cfg.refusalRetention, cfg.refusalMaxRows)
	}
	env["REFUSAL_RETENTION"], env["REFUSAL_MAX_ROWS"] = "168h", "5000"
	if cfg, err = load(); err != nil || cfg.refusalRetention != 168*time.Hour || cfg.refusalMaxRows != 5000 {
		t.Errorf("set = %v, %d, %v", cfg.refusalRetention, cfg.refusalMaxRows, err)
	}
	env["REFUSAL_MAX_ROWS"] = "ten"
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "REFUSAL_MAX_ROWS") {
		t.Errorf("bad REFUSAL_MAX_ROWS: err = %v", err)
	}
}
