package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// foundationClock is a hand-moved clock for one test goroutine.
type foundationClock struct{ now time.Time }

func (c *foundationClock) Now() time.Time          { return c.now }
func (c *foundationClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// openFoundation opens a fresh database file with a fake clock.
func openFoundation(t *testing.T) (*store.DB, *foundationClock) {
	t.Helper()
	db := openTestDB(t)
	clock := &foundationClock{now: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
	db.Now = clock.Now
	return db, clock
}

// migrationFiles lists the embedded migrations as they are on disk.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("want at least 2 migrations, found %v", names)
	}
	return names
}

type migrationRow struct {
	version int
	name    string
	at      string
}

func appliedMigrations(t *testing.T, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, set string) []migrationRow {
	t.Helper()
	rows, err := q.Query(`SELECT version, name, applied_at FROM schema_migrations WHERE set_name = $1 ORDER BY version`, set)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.name, &r.at); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func tableExists(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}, name string) bool {
	t.Helper()
	var n int
	query := `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`
	if storetest.IsPostgres(t) {
		query = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	if err := q.QueryRow(query, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestLatestVersion(t *testing.T) {
	files := migrationFiles(t)
	last := files[len(files)-1]
	want, err := strconv.Atoi(strings.SplitN(last, "_", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := store.LatestVersion(); got != want {
		t.Errorf("LatestVersion() = %d, want %d (%s)", got, want, last)
	}
	// Numbered 1..n with no gap or duplicate.
	for i, f := range files {
		if got, want := f[:3], strconvPad(i+1); got != want {
			t.Errorf("migration %d is %s, want number %s", i, f, want)
		}
	}
}

func strconvPad(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 3-len(s)) + s
}

func TestOpenEmptyDB(t *testing.T) { storetest.EachEngine(t, testOpenEmptyDB) }

func testOpenEmptyDB(t *testing.T) {
	db, _ := openFoundation(t)
	got, err := db.Version(context.Background(), "console")
	if err != nil {
		t.Fatal(err)
	}
	if want := store.LatestVersion(); got != want {
		t.Errorf("Version = %d, want %d", got, want)
	}
	files := migrationFiles(t)
	rows := appliedMigrations(t, db.TestReader(), "console")
	if got, want := len(rows), len(files); got != want {
		t.Fatalf("schema_migrations rows = %d, want %d", got, want)
	}
	for i, r := range rows {
		if got, want := r.name, files[i]; got != want {
			t.Errorf("row %d name = %q, want %q", i, got, want)
		}
		if got, want := r.version, i+1; got != want {
			t.Errorf("row %d version = %d, want %d", i, got, want)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.at); err != nil {
			t.Errorf("row %d applied_at %q: %v", i, r.at, err)
		}
	}
	for _, table := range []string{"users", "sessions", "login_attempts", "settings", "audit_log", "sub_merchants", "links", "authorizations", "callbacks", "terminations"} {
		if !tableExists(t, db.TestReader(), table) {
			t.Errorf("table %s missing", table)
		}
	}
}

// TestOpenOldDB: a database left at migration 001 is brought to the latest
// version by Open, keeping its data.
func TestOpenOldDB(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	first := migrationFiles(t)[0]
	body, err := os.ReadFile(filepath.Join("migrations", first))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, raw, "console", fstest.MapFS{"m/" + first: {Data: body}}, "m"); err != nil {
		t.Fatalf("Migrate 001: %v", err)
	}
	if _, err := raw.Exec(`INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ('old', 'x', 'admin', '2025-01-01T00:00:00.000000000Z', '2025-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	if got, want := len(appliedMigrations(t, raw, "console")), 1; got != want {
		t.Fatalf("old DB migrations = %d, want %d", got, want)
	}
	if tableExists(t, raw, "sub_merchants") {
		t.Fatal("old DB already has migration 002's tables")
	}
	raw.Close()

	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open old DB: %v", err)
	}
	defer db.Close()
	got, err := db.Version(ctx, "console")
	if err != nil {
		t.Fatal(err)
	}
	if want := store.LatestVersion(); got != want {
		t.Errorf("Version = %d, want %d", got, want)
	}
	if got, want := len(appliedMigrations(t, db.TestReader(), "console")), len(migrationFiles(t)); got != want {
		t.Errorf("schema_migrations rows = %d, want %d", got, want)
	}
	if !tableExists(t, db.TestReader(), "sub_merchants") {
		t.Error("migration 002 not applied")
	}
	if _, err := db.UserByUsername(ctx, "old"); err != nil {
		t.Errorf("the old data is gone: %v", err)
	}
}

func TestOpenTwice(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	for i := 0; i < 2; i++ {
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open %d: %v", i+1, err)
		}
		if got, want := len(appliedMigrations(t, db.TestReader(), "console")), len(migrationFiles(t)); got != want {
			t.Errorf("Open %d: schema_migrations rows = %d, want %d", i+1, got, want)
		}
		db.Close()
	}
}

// TestMigrateTransaction: a failing migration leaves nothing behind and is
// not recorded; the ones before it stay.
func TestMigrateTransaction(t *testing.T) {
	ctx := context.Background()
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fsys := fstest.MapFS{
		"m/001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)},
		"m/002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER); INSERT INTO no_such_table VALUES (1);`)},
	}
	err = store.Migrate(ctx, raw, "test", fsys, "m")
	if err == nil || !strings.Contains(err.Error(), "002_b.sql") {
		t.Fatalf("err = %v, want one naming 002_b.sql", err)
	}
	if !tableExists(t, raw, "a") {
		t.Error("migration 001 was undone")
	}
	if tableExists(t, raw, "b") {
		t.Error("the failed migration left table b behind")
	}
	if got, want := len(appliedMigrations(t, raw, "test")), 1; got != want {
		t.Errorf("recorded = %d, want %d", got, want)
	}
	// Fixed, it applies; sets are numbered independently.
	fsys["m/002_b.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE b (x INTEGER);`)}
	if err := store.Migrate(ctx, raw, "test", fsys, "m"); err != nil {
		t.Fatalf("Migrate after fix: %v", err)
	}
	if err := store.Migrate(ctx, raw, "other", fstest.MapFS{"m/001_c.sql": {Data: []byte(`CREATE TABLE c (x INTEGER);`)}}, "m"); err != nil {
		t.Fatalf("Migrate other set: %v", err)
	}
	if got, want := len(appliedMigrations(t, raw, "test")), 2; got != want {
		t.Errorf("set test: recorded = %d, want %d", got, want)
	}
	if got, want := len(appliedMigrations(t, raw, "other")), 1; got != want {
		t.Errorf("set other: recorded = %d, want %d", got, want)
	}
	if err := store.Migrate(ctx, raw, "bad", fstest.MapFS{"m/first.sql": {Data: []byte(`SELECT 1;`)}}, "m"); err == nil {
		t.Error("a migration without a number was accepted")
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openFoundation(t)
	tests := []struct {
		name   string
		handle *sql.DB
		pragma string
		want   string
	}{
		{"WriterWAL", db.TestWriter(), "journal_mode", "wal"},
		{"WriterForeignKeys", db.TestWriter(), "foreign_keys", "1"},
		{"WriterSynchronousFull", db.TestWriter(), "synchronous", "2"},
		{"WriterBusyTimeout", db.TestWriter(), "busy_timeout", "5000"},
		{"ReaderForeignKeys", db.TestReader(), "foreign_keys", "1"},
		{"ReaderBusyTimeout", db.TestReader(), "busy_timeout", "5000"},
		{"ReaderQueryOnly", db.TestReader(), "query_only", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if err := tt.handle.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
	if _, err := db.TestReader().Exec(`INSERT INTO settings (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("the read pool wrote")
	}
	// Foreign keys are enforced: no session for a missing user.
	if err := db.CreateSession(context.Background(), store.Session{IDHash: "h", UserID: 999}); err == nil {
		t.Error("a session for a missing user was stored")
	}
}

func TestAuditAppendOnly(t *testing.T) { storetest.EachEngine(t, testAuditAppendOnly) }

func testAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db, clock := openFoundation(t)
	if err := db.Audit(ctx, store.AuditEntry{Username: "admin", IP: "192.0.2.1", Action: "user.create", Target: "user:x", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sql  string
	}{
		{"ErrUpdate", `UPDATE audit_log SET result = 'forged'`},
		{"ErrDelete", `DELETE FROM audit_log`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.TestWriter().Exec(tt.sql)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("err = %v, want the trigger's append-only refusal", err)
			}
		})
	}
	log, err := db.AuditLog(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(log), 1; got != want {
		t.Fatalf("entries = %d, want %d", got, want)
	}
	e := log[0]
	if got, want := e.Result, "ok"; got != want {
		t.Errorf("result = %q, want %q", got, want)
	}
	if got, want := e.At, clock.Now(); !got.Equal(want) {
		t.Errorf("at = %v, want %v", got, want)
	}
}

func TestUsers(t *testing.T) { storetest.EachEngine(t, testUsers) }

func testUsers(t *testing.T) {
	ctx := context.Background()
	db, _ := openFoundation(t)
	u, err := db.CreateUser(ctx, "alice", "hash", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrConflict", func(t *testing.T) {
		if _, err := db.CreateUser(ctx, "alice", "hash", store.RoleViewer); !errors.Is(err, store.ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("ErrBadRole", func(t *testing.T) {
		if _, err := db.CreateUser(ctx, "bob", "hash", "root"); err == nil {
			t.Error("a user with role root was stored")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := db.UserByUsername(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByUsername: err = %v, want ErrNotFound", err)
		}
		if _, err := db.UserByID(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID: err = %v, want ErrNotFound", err)
		}
		role := store.RoleViewer
		if _, err := db.UpdateUser(ctx, 999, store.UserChange{Role: &role}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("OKUpdateEndsSessions", func(t *testing.T) {
		for _, h := range []string{"s1", "s2"} {
			if err := db.CreateSession(ctx, store.Session{IDHash: h, UserID: u.ID, Values: "{}"}); err != nil {
				t.Fatal(err)
			}
		}
		yes := true
		got, err := db.UpdateUser(ctx, u.ID, store.UserChange{Disabled: &yes})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Disabled {
			t.Error("not disabled")
		}
		for _, h := range []string{"s1", "s2"} {
			if _, err := db.SessionByHash(ctx, h); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session %s: err = %v, want ErrNotFound", h, err)
			}
		}
	})
	n, err := db.CountUsers(ctx)
	if err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

func TestLoginAttempt(t *testing.T) { storetest.EachEngine(t, testLoginAttempt) }

func testLoginAttempt(t *testing.T) {
	const max, window, lock = 5, 15 * time.Minute, 15 * time.Minute
	l := store.LoginLimits{Max: max, Window: window, Lock: lock, MaxLock: 24 * time.Hour, Memory: 24 * time.Hour}
	ctx := context.Background()
	// fail is one attempt with a wrong password: begun, then failed.
	fail := func(t *testing.T, db *store.DB, name, ip string) (refused, locked time.Time) {
		t.Helper()
		refused, busy, err := db.BeginLogin(ctx, name, ip, l)
		if err != nil || busy {
			t.Fatalf("BeginLogin = %v, %v, %v", refused, busy, err)
		}
		if !refused.IsZero() {
			return refused, time.Time{}
		}
		locked, err = db.LoginFailed(ctx, name, ip, l, store.AuditEntry{Action: "auth.login_failed"},
			func(time.Time) store.AuditEntry { return store.AuditEntry{Action: "auth.lockout"} })
		if err != nil {
			t.Fatal(err)
		}
		return time.Time{}, locked
	}
	t.Run("ErrLockedAtMax", func(t *testing.T) {
		db, clock := openFoundation(t)
		for i := 1; i < max; i++ {
			if refused, locked := fail(t, db, "u", "ip1"); !refused.IsZero() || !locked.IsZero() {
				t.Fatalf("attempt %d: refused until %v, locked until %v; want counted", i, refused, locked)
			}
		}
		wantUntil := clock.Now().Add(lock)
		if _, locked := fail(t, db, "u", "ip1"); !locked.Equal(wantUntil) {
			t.Fatalf("attempt %d: locked until %v, want %v", max, locked, wantUntil)
		}
		locked, err := db.LockedUntil(ctx, "u", "ip1")
		if err != nil || !locked.Equal(wantUntil) {
			t.Fatalf("LockedUntil = %v, %v; want %v", locked, err, wantUntil)
		}
		if refused, _ := fail(t, db, "u", "ip1"); !refused.Equal(wantUntil) {
			t.Fatalf("attempt %d: refused until %v; want %v", max+1, refused, wantUntil)
		}
		// Another name is not affected, nor the same name from another address.
		if refused, _ := fail(t, db, "v", "ip1"); !refused.IsZero() {
			t.Errorf("another name refused until %v", refused)
		}
		if refused, _ := fail(t, db, "u", "ip2"); !refused.IsZero() {
			t.Errorf("another address refused until %v", refused)
		}
		clock.Advance(lock)
		if locked, _ := db.LockedUntil(ctx, "u", "ip1"); !locked.IsZero() {
			t.Errorf("after the lock: LockedUntil = %v", locked)
		}
		// After the lock the count starts again.
		for i := 1; i < max; i++ {
			if refused, locked := fail(t, db, "u", "ip1"); !refused.IsZero() || !locked.IsZero() {
				t.Fatalf("attempt %d after the lock: refused until %v, locked until %v", i, refused, locked)
			}
		}
		if locked, _ := db.LockedUntil(ctx, "u", "ip1"); !locked.IsZero() {
			t.Errorf("after %d new attempts: LockedUntil = %v", max-1, locked)
		}
		// ... and the next lockout lasts twice as long.
		if _, locked := fail(t, db, "u", "ip1"); !locked.Equal(clock.Now().Add(2 * lock)) {
			t.Errorf("second lockout until %v, want %v", locked, clock.Now().Add(2*lock))
		}
	})
	t.Run("OKWindowForgets", func(t *testing.T) {
		db, clock := openFoundation(t)
		for i := 1; i < max; i++ {
			fail(t, db, "u", "ip1")
		}
		clock.Advance(window)
		fail(t, db, "u", "ip1")
		if locked, _ := db.LockedUntil(ctx, "u", "ip1"); !locked.IsZero() {
			t.Errorf("LockedUntil = %v, want unlocked", locked)
		}
	})
	t.Run("OKSuccessClears", func(t *testing.T) {
		db, _ := openFoundation(t)
		for i := 1; i < max; i++ {
			fail(t, db, "u", "ip1")
		}
		if _, _, err := db.BeginLogin(ctx, "u", "ip1", l); err != nil {
			t.Fatal(err)
		}
		if err := db.LoginSucceeded(ctx, "u", "ip1", store.AuditEntry{Action: "auth.login"}); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < max; i++ {
			if _, locked := fail(t, db, "u", "ip1"); !locked.IsZero() {
				t.Fatalf("failure %d after a success locked until %v", i, locked)
			}
		}
	})
	t.Run("OKBusyWhileChecking", func(t *testing.T) {
		// As many attempts in flight as the limit leaves: the next is refused.
		db, _ := openFoundation(t)
		for i := 0; i < max; i++ {
			if _, busy, err := db.BeginLogin(ctx, "u", "ip1", l); err != nil || busy {
				t.Fatalf("attempt %d in flight: busy %v, %v", i+1, busy, err)
			}
		}
		if _, busy, _ := db.BeginLogin(ctx, "u", "ip1", l); !busy {
			t.Error("attempt beyond the limit in flight: not refused")
		}
	})
	t.Run("OKPruned", func(t *testing.T) {
		// Rows of old failures are deleted by later attempts, not kept forever.
		db, clock := openFoundation(t)
		for i := range 50 {
			fail(t, db, fmt.Sprintf("junk%d", i), "ip1")
		}
		clock.Advance(window + time.Second)
		fail(t, db, "u", "ip1")
		var n int
		if err := db.TestReader().QueryRow(`SELECT count(*) FROM login_attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d login_attempts rows, want 1 (the stale ones pruned)", n)
		}
	})
	t.Run("OKUnlockAndPasswordClear", func(t *testing.T) {
		db, _ := openFoundation(t)
		u, err := db.CreateUser(ctx, "u", "hash", store.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{"ip1", "ip2"} {
			for range max {
				fail(t, db, "u", ip)
			}
		}
		locks, err := db.Locks(ctx)
		if err != nil || locks["u"].Addresses != 2 {
			t.Fatalf("Locks = %+v, %v; want u from 2 addresses", locks, err)
		}
		if n, err := db.UnlockUser(ctx, "u", store.AuditEntry{Action: "auth.unlock", Target: "user:u"}); err != nil || n != 2 {
			t.Fatalf("UnlockUser = %d, %v; want 2", n, err)
		}
		if locked, _ := db.LockedUntil(ctx, "u", "ip1"); !locked.IsZero() {
			t.Errorf("after unlock: LockedUntil = %v", locked)
		}
		for range max {
			fail(t, db, "u", "ip1")
		}
		hash := "new hash"
		if _, err := db.UpdateUser(ctx, u.ID, store.UserChange{PasswordHash: &hash}); err != nil {
			t.Fatal(err)
		}
		if locked, _ := db.LockedUntil(ctx, "u", "ip1"); !locked.IsZero() {
			t.Errorf("after a new password: LockedUntil = %v", locked)
		}
	})
}

func TestDeleteExpiredSessions(t *testing.T) { storetest.EachEngine(t, testDeleteExpiredSessions) }

func testDeleteExpiredSessions(t *testing.T) {
	ctx := context.Background()
	db, clock := openFoundation(t)
	u, err := db.CreateUser(ctx, "alice", "hash", store.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	db.CreateSession(ctx, store.Session{IDHash: "old", UserID: u.ID, Values: "{}"})
	clock.Advance(20 * time.Minute)
	db.CreateSession(ctx, store.Session{IDHash: "new", UserID: u.ID, Values: "{}"})
	clock.Advance(20 * time.Minute)
	n, err := db.DeleteExpiredSessions(ctx, clock.Now().Add(-30*time.Minute), clock.Now().Add(-12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, int64(1); got != want {
		t.Errorf("deleted = %d, want %d", got, want)
	}
	if _, err := db.SessionByHash(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old session: err = %v, want ErrNotFound", err)
	}
	s, err := db.SessionByHash(ctx, "new")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.CreatedAt, start.Add(20*time.Minute); !got.Equal(want) {
		t.Errorf("created = %v, want %v", got, want)
	}
}

func TestSettingOrCreate(t *testing.T) { storetest.EachEngine(t, testSettingOrCreate) }

func testSettingOrCreate(t *testing.T) {
	ctx := context.Background()
	db, _ := openFoundation(t)
	calls := 0
	create := func() (string, error) { calls++; return "v" + strconv.Itoa(calls), nil }
	a, err := db.SettingOrCreate(ctx, "k", create)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.SettingOrCreate(ctx, "k", create)
	if err != nil {
		t.Fatal(err)
	}
	if a != "v1" || b != "v1" || calls != 1 {
		t.Errorf("got %q, %q after %d calls; want v1, v1 after 1", a, b, calls)
	}
	if _, err := db.Setting(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
