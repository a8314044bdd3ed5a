// Package storetest runs the store's tests (and anyone's who needs a
// database) on both engines: SQLite in a temporary file, and PostgreSQL in
// a freshly created database on the server named by
// PAYSCORE_TEST_POSTGRES_URL (a superuser URL, e.g.
// postgres://postgres@/postgres?host=/tmp/pgtest&port=55432).
//
// Without that variable the PostgreSQL runs are skipped, unless CI is set:
// then they fail, so that CI never passes on one engine by accident.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/payscore-console/payscore-console/store"
)

// EnvURL names the test server's superuser URL.
const EnvURL = "PAYSCORE_TEST_POSTGRES_URL"

// Engines are the subtest names EachEngine runs.
var Engines = []string{"sqlite", "postgres"}

// EachEngine runs fn once per engine, as subtests "sqlite" and
// "postgres"; inside, Open and IsPostgres know which one runs.
func EachEngine(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	t.Run("sqlite", fn)
	t.Run("postgres", func(t *testing.T) {
		AdminURL(t)
		fn(t)
	})
}

// IsPostgres reports whether t runs inside EachEngine's postgres subtest.
func IsPostgres(t testing.TB) bool {
	return strings.Contains(t.Name(), "/postgres")
}

// AdminURL returns PAYSCORE_TEST_POSTGRES_URL, skipping the test when it
// is unset (failing it when CI is set).
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset while CI is set: the PostgreSQL tests must run in CI (.ci/run starts a server)", EnvURL)
		}
		t.Skipf("%s unset: PostgreSQL run skipped (tools/pgtest.sh starts a local server and prints the variable)", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database on the test server and returns
// its URL; it is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "payscore_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	adm, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		adm, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open opens a fresh store on the engine t runs on (see EachEngine),
// closed when the test ends.
func Open(t testing.TB) *store.DB {
	t.Helper()
	var db *store.DB
	var err error
	if IsPostgres(t) {
		db, err = store.OpenPostgres(context.Background(), NewDatabase(t))
	} else {
		db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	}
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
