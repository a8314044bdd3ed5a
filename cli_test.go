package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// openDB opens a database the program wrote.
func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("store.Open(%s): %v", path, err)
	}
	return db
}

func checkPassword(t *testing.T, hash, password string) bool {
	t.Helper()
	ok, err := service.CheckPassword(hash, password)
	if err != nil {
		t.Fatalf("CheckPassword: %v", err)
	}
	return ok
}

// runCLI runs the program with args, stdin and DB_PATH.
func runCLI(t *testing.T, dbPath, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, getenv(map[string]string{"DB_PATH": dbPath}), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUserCommand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")

	t.Run("OKAdd", func(t *testing.T) {
		code, out, errOut := runCLI(t, path, "first password\n", "user", "add", "--username", "alice", "--role", "operator")
		if got, want := code, exitOK; got != want {
			t.Fatalf("exit = %d, want %d; stderr %s", got, want, errOut)
		}
		if got, want := out, "created alice (operator)\n"; got != want {
			t.Errorf("stdout = %q, want %q", got, want)
		}
		db := openDB(t, path)
		defer db.Close()
		u, err := db.UserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Role, store.RoleOperator; got != want {
			t.Errorf("role = %q, want %q", got, want)
		}
		if !checkPassword(t, u.PasswordHash, "first password") {
			t.Error("the stdin password does not match")
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("hash = %q, want argon2id m=19456,t=2,p=1", u.PasswordHash)
		}
		log, _ := db.AuditLog(ctx, store.AuditFilter{Action: "user.create"})
		if got, want := len(log), 1; got != want {
			t.Fatalf("audit entries = %d, want %d", got, want)
		}
		if got, want := log[0].Username+" "+log[0].Target+" "+log[0].Detail, "cli user:alice role=operator"; got != want {
			t.Errorf("audit = %q, want %q", got, want)
		}
	})
	t.Run("OKAddFlagDBPath", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.db")
		code, _, errOut := runCLI(t, path, "first password", "user", "add", "--username", "carol", "--role", "admin", "--db-path", other)
		if code != exitOK {
			t.Fatalf("exit = %d; stderr %s", code, errOut)
		}
		db := openDB(t, other)
		defer db.Close()
		if _, err := db.UserByUsername(ctx, "carol"); err != nil {
			t.Errorf("--db-path ignored: %v", err)
		}
	})
	t.Run("OKPasswd", func(t *testing.T) {
		db := openDB(t, path)
		u, _ := db.UserByUsername(ctx, "alice")
		if err := db.CreateSession(ctx, store.Session{IDHash: "live", UserID: u.ID, Values: "{}"}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		code, _, errOut := runCLI(t, path, "second password\r\n", "user", "passwd", "--username", "alice")
		if code != exitOK {
			t.Fatalf("exit = %d; stderr %s", code, errOut)
		}
		db = openDB(t, path)
		defer db.Close()
		u, _ = db.UserByUsername(ctx, "alice")
		if !checkPassword(t, u.PasswordHash, "second password") || checkPassword(t, u.PasswordHash, "first password") {
			t.Error("the password was not changed")
		}
		if _, err := db.SessionByHash(ctx, "live"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after passwd: err = %v, want ErrNotFound", err)
		}
		// The web's action name: the CLI goes through the same service.
		log, _ := db.AuditLog(ctx, store.AuditFilter{Action: "user.password"})
		if got, want := len(log), 1; got != want {
			t.Errorf("audit entries = %d, want %d", got, want)
		}
	})
	t.Run("OKDisable", func(t *testing.T) {
		db := openDB(t, path)
		u, _ := db.UserByUsername(ctx, "alice")
		db.CreateSession(ctx, store.Session{IDHash: "live2", UserID: u.ID, Values: "{}"})
		db.Close()
		code, _, errOut := runCLI(t, path, "", "user", "disable", "--username", "alice")
		if code != exitOK {
			t.Fatalf("exit = %d; stderr %s", code, errOut)
		}
		db = openDB(t, path)
		defer db.Close()
		u, _ = db.UserByUsername(ctx, "alice")
		if !u.Disabled {
			t.Error("not disabled")
		}
		if _, err := db.SessionByHash(ctx, "live2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after disable: err = %v, want ErrNotFound", err)
		}
	})

	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"ErrPasswordTooShort", "short\n", []string{"user", "add", "--username", "bob", "--role", "viewer"}, exitConfig, "at least 10"},
		{"ErrEmptyPassword", "", []string{"user", "add", "--username", "bob", "--role", "viewer"}, exitConfig, "at least 10"},
		{"ErrRole", "long enough pw\n", []string{"user", "add", "--username", "bob", "--role", "root"}, exitConfig, "--role"},
		{"ErrUsername", "long enough pw\n", []string{"user", "add", "--username", "b", "--role", "viewer"}, exitConfig, "--username"},
		{"ErrTaken", "long enough pw\n", []string{"user", "add", "--username", "alice", "--role", "viewer"}, exitFail, "conflict"},
		{"ErrPasswdUnknownUser", "long enough pw\n", []string{"user", "passwd", "--username", "nobody"}, exitFail, "not found"},
		{"ErrDisableUnknownUser", "", []string{"user", "disable", "--username", "nobody"}, exitFail, "not found"},
		{"ErrNoSubcommand", "", []string{"user"}, exitConfig, "usage"},
		{"ErrUnknownSubcommand", "", []string{"user", "delete", "--username", "alice"}, exitConfig, "usage"},
		{"ErrUnknownCommand", "", []string{"frobnicate"}, exitConfig, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, path, tt.stdin, tt.args...)
			if got, want := code, tt.wantCode; got != want {
				t.Fatalf("exit = %d, want %d; stderr %s", got, want, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantErr)
			}
		})
	}
	db := openDB(t, path)
	defer db.Close()
	if _, err := db.UserByUsername(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused add created bob: %v", err)
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if got, want := run(context.Background(), []string{"help"}, getenv(nil), strings.NewReader(""), &out, io.Discard), exitOK; got != want {
		t.Fatalf("exit = %d, want %d", got, want)
	}
	for _, want := range []string{"user add", "user passwd", "user disable", "demo-db"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
