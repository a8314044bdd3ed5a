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
)

// Migrate applies, in order, every numbered NNN_name.sql file in dir of fsys
// that the set has not yet recorded, each in its own transaction together
// with its record in schema_migrations. Sets keep independent numbering, so
// a package such as the sandbox can own its tables.
func Migrate(ctx context.Context, db *sql.DB, set string, fsys fs.FS, dir string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		set_name   TEXT NOT NULL,
		version    INTEGER NOT NULL,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL,
		PRIMARY KEY (set_name, version)
	) STRICT`); err != nil {
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
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE set_name = ? AND version = ?`, set, m.version).Scan(&done); err != nil {
			return fmt.Errorf("store: check migration %s: %w", m.name, err)
		}
		if done > 0 {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, m.name))
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", m.name, err)
		}
		if err := applyMigration(ctx, db, set, m.version, m.name, string(body)); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, set string, version int, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return fmt.Errorf("store: migration %s/%s: %w", set, name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		set, version, name, fmtTime(time.Now())); err != nil {
		return fmt.Errorf("store: record migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit migration %s: %w", name, err)
	}
	return nil
}

// Version reports the highest applied migration of a set (0 if none).
func (db *DB) Version(ctx context.Context, set string) (int, error) {
	var v sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations WHERE set_name = ?`, set).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: version: %w", err)
	}
	return int(v.Int64), nil
}

// LatestVersion is the number of the newest migration embedded in the binary.
func LatestVersion() int {
	entries, _ := fs.ReadDir(migrations, "migrations")
	latest := 0
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.Atoi(num); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}
