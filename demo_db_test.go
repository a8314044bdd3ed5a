package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/payscore-console/payscore-console/store"
)

// demoFile is the committed demo database; `go run . demo-db app.db.example`
// writes it.
const demoFile = "app.db.example"

// copyDemo copies the committed demo database so that opening it (WAL,
// migrations) never touches the committed file.
func copyDemo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatalf("%s: %v (write it with `go run . demo-db %s`)", demoFile, err, demoFile)
	}
	p := filepath.Join(t.TempDir(), demoFile)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// openSQL opens a connection of the test's own to the SQLite file at path
// (the store's handles are its own), closed when the test ends.
func openSQL(t testing.TB, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// TestDemoDB: the committed demo database is at the latest migration —
// read from the file itself, read-only, before anything could migrate it —
// with a user of each role who can sign in.
func TestDemoDB(t *testing.T) {
	ctx := context.Background()
	if _, err := os.Stat(demoFile); err != nil {
		t.Fatalf("%s: %v (write it with `go run . demo-db %s`)", demoFile, err, demoFile)
	}
	// immutable: SQLite neither writes nor creates anything beside the file.
	ro, err := sql.Open("sqlite3", "file:"+demoFile+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var got, applied int
	if err := ro.QueryRow(`SELECT coalesce(max(version), 0), count(*) FROM schema_migrations WHERE set_name = 'console'`).Scan(&got, &applied); err != nil {
		t.Fatal(err)
	}
	if want := store.LatestVersion(); got != want || applied != want {
		t.Fatalf("%s is at version %d (%d applied), want %d: regenerate it with `go run . demo-db %s`", demoFile, got, applied, want, demoFile)
	}
	var integrity string
	if err := ro.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check = %q, %v", integrity, err)
	}
	// No session or key is shipped in the demo file.
	var sessions int
	if err := ro.QueryRow(`SELECT count(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 0 {
		t.Errorf("demo file holds %d sessions (%v)", sessions, err)
	}
	db := openDB(t, copyDemo(t))
	defer db.Close()
	for _, role := range store.Roles {
		u, err := db.UserByUsername(ctx, role)
		if err != nil {
			t.Errorf("demo user %s: %v", role, err)
			continue
		}
		if got, want := u.Role, role; got != want {
			t.Errorf("demo user %s has role %q", role, got)
		}
		if !checkPassword(t, u.PasswordHash, demoPassword) {
			t.Errorf("demo user %s: the demo password does not sign in", role)
		}
	}
	if _, err := db.Setting(ctx, "session_key"); err == nil {
		t.Error("demo file holds a session key")
	}
}

// TestDemoDBCommand: the command writes a file that is at the latest
// migration, and overwrites an old one.
func TestDemoDBCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "", "demo-db", path)
	if code != exitOK {
		t.Fatalf("exit = %d; stderr %s", code, errOut)
	}
	if got, want := out, "wrote "+path+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("a WAL file beside the demo file: %v", err)
	}
	db := openDB(t, path)
	defer db.Close()
	got, err := db.Version(context.Background(), "console")
	if err != nil {
		t.Fatal(err)
	}
	if want := store.LatestVersion(); got != want {
		t.Errorf("version = %d, want %d", got, want)
	}
	if code, _, _ := runCLI(t, "", "", "demo-db"); code != exitConfig {
		t.Errorf("demo-db without a file: exit %d, want %d", code, exitConfig)
	}
}
