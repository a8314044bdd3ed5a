package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestOpenDamagedSchema: a file whose migration records claim a schema it
// does not have is refused by Open with an error, never a panic.
func TestOpenDamagedSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (set_name TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
		applied_at TEXT NOT NULL, PRIMARY KEY (set_name, version)) STRICT`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= store.LatestVersion(); v++ {
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES ('console', ?, ?, '2026-01-01T00:00:00.000000000Z')`, v, fmt.Sprint(v)); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	db, err := store.Open(context.Background(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a database without its tables")
	}
}

// TestConflictByCode: a uniqueness violation is ErrConflict, told by the
// driver's error code.
func TestConflictByCode(t *testing.T) { storetest.EachEngine(t, testConflictByCode) }

func testConflictByCode(t *testing.T) {
	db, _ := openFoundation(t)
	ctx := context.Background()
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "b"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second sub-merchant: err = %v, want ErrConflict", err)
	}
}

// TestMalformedStoredTime: a stored time that does not parse makes the read
// fail instead of showing the zero time (a bug: parseTime swallowed it).
func TestMalformedStoredTime(t *testing.T) { storetest.EachEngine(t, testMalformedStoredTime) }

func testMalformedStoredTime(t *testing.T) {
	db, _ := openFoundation(t)
	ctx := context.Background()
	u, err := db.CreateUser(ctx, "alice", "hash", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.TestWriter().Exec(`UPDATE users SET created_at = 'yesterday' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByID(ctx, u.ID); err == nil {
		t.Error("UserByID: nil error for a malformed created_at")
	}
	if _, err := db.Users(ctx); err == nil {
		t.Error("Users: nil error for a malformed created_at")
	}
}

// TestBackup: the copy is one self-contained file at the same migration.
func TestBackup(t *testing.T) {
	db, _ := openFoundation(t)
	ctx := context.Background()
	if _, err := db.CreateUser(ctx, "alice", "hash", store.RoleViewer); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := db.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("a WAL file lies beside the copy (stat err %v)", err)
	}
	cp, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.UserByUsername(ctx, "alice"); err != nil {
		t.Errorf("copy lacks the user: %v", err)
	}
	if err := db.Backup(ctx, path); err == nil {
		t.Error("Backup over an existing file: nil error")
	}
}
