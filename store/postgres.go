package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgDialect is PostgreSQL's: placeholders rebound once per statement text.
func newPGDialect() *dialect { return &dialect{pg: true} }

// Pool sizes on PostgreSQL. Writes: the group-commit writer holds one
// connection per batch; other changes (sign-ins, links, terminations) take
// the others, and every one of them is SERIALIZABLE (see update).
const (
	pgWriteConns = 8
	pgReadConns  = 8
)

// migrationLockKey is the pg_advisory_lock key under which migrations and
// the first admin run: instances started at once on an empty database
// queue behind it (an arbitrary constant: "payscore" in ASCII).
const migrationLockKey int64 = 0x7061797363_6f7265

// OpenDatabase opens PostgreSQL when databaseURL is set (postgres://… or
// postgresql://…), otherwise the SQLite file at path.
func OpenDatabase(ctx context.Context, databaseURL, path string) (*DB, error) {
	if databaseURL != "" {
		return OpenPostgres(ctx, databaseURL)
	}
	return Open(ctx, path)
}

// IsPostgresURL reports whether s names a PostgreSQL database.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPostgres connects to the PostgreSQL database at url (through pgx's
// database/sql adapter) and applies every pending migration under an
// advisory lock.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: DATABASE_URL: %w", err)
	}
	// Statements are prepared and cached per connection by pgx (its
	// default mode): each text is parsed once per connection.
	writeDB := stdlib.OpenDB(*cfg)
	writeDB.SetMaxOpenConns(pgWriteConns)
	writeDB.SetMaxIdleConns(pgWriteConns)
	writeDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := writeDB.PingContext(ctx); err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("store: open %s: %w", redactURL(cfg), err)
	}
	readDB := stdlib.OpenDB(*cfg)
	readDB.SetMaxOpenConns(pgReadConns)
	readDB.SetMaxIdleConns(pgReadConns)
	readDB.SetConnMaxIdleTime(5 * time.Minute)
	db := newDB(writeDB, readDB, newPGDialect())
	db.Engine = "postgres"
	if err := migratePostgres(ctx, writeDB, pgMigrations, "migrations/postgres", definePGFunctions); err != nil {
		db.Close()
		return nil, err
	}
	return db.start(ctx)
}

func redactURL(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres database %q on %s:%d", cfg.Database, cfg.Host, cfg.Port)
}

// migratePostgres applies the numbered files of dir in order, each in its
// own transaction with its record in schema_migrations, holding a
// session-level advisory lock on one dedicated connection for the whole
// run: a second instance starting at the same moment waits, then finds
// everything applied. after, if set, runs under the same lock.
func migratePostgres(ctx context.Context, db *sql.DB, fsys fs.FS, dir string, after func(ctx context.Context, conn *sql.Conn) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("store: migrations lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx has ended (the
		// connection's close would drop it too).
		if _, uerr := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("store: migrations unlock: %w", uerr)
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   TEXT NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL,
		PRIMARY KEY (set_name, version)
	)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("store: read migrations: %w", err)
	}
	type migration struct {
		version int
		name    string
	}
	var all []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("store: migration %q: name must start with a number", e.Name())
		}
		all = append(all, migration{v, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	for _, m := range all {
		var done int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE set_name = 'console' AND version = $1`, m.version).Scan(&done); err != nil {
			return fmt.Errorf("store: check migration %s: %w", m.name, err)
		}
		if done > 0 {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, m.name))
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", m.name, err)
		}
		if err := applyPGMigration(ctx, conn, m.version, m.name, string(body)); err != nil {
			return err
		}
	}
	if after != nil {
		return after(ctx, conn)
	}
	return nil
}

func applyPGMigration(ctx context.Context, conn *sql.Conn, version int, name, body string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", name, err)
	}
	defer tx.Rollback()
	// A multi-statement body goes through the simple protocol (no
	// parameters), as one implicit unit inside the transaction.
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return fmt.Errorf("store: migration console/postgres/%s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version, name, applied_at) VALUES ('console', $1, $2, $3)`,
		version, name, fmtTime(time.Now())); err != nil {
		return fmt.Errorf("store: record migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit migration %s: %w", name, err)
	}
	return nil
}
