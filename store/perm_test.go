package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenPrivateFiles: the database file and its -wal and -shm are 0600
// whatever the umask, and an existing, laxer file is narrowed at open.
func TestOpenPrivateFiles(t *testing.T) {
	// A common umask that would leave new files world-readable (0644).
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("stat: %v", err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("%s: mode = %v, want %v", filepath.Base(p), got, want)
			}
		}
	}
	ctx := context.Background()
	t.Run("OKNewFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// A write, so that the WAL holds something.
		if _, err := db.CreateUser(ctx, "perm", "hash", RoleViewer); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
	t.Run("OKExistingFileNarrowed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.db")
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		check(t, path)
	})
}
