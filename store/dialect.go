package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// The store speaks two SQL dialects: SQLite (the default, one file) and
// PostgreSQL (DATABASE_URL=postgres://…). Statements are written once, in
// the common subset, with ? placeholders; the few that differ are chosen
// once through db.d (see the pg branches and the per-dialect migration
// folders). What is common on purpose:
//   - times are TEXT in one sortable UTC format (timeFormat) on both, so
//     every comparison and ORDER BY means the same on both engines;
//   - booleans are INTEGER 0/1 on both (queries say "applied = 0"); Go
//     bools are turned into 0/1 before they reach PostgreSQL;
//   - new ids come back through RETURNING id (SQLite ≥ 3.35 has it too),
//     never LastInsertId.
type dialect struct {
	pg bool
	// rebound caches each statement's $n form: a query is rewritten once,
	// then found by its text.
	rebound sync.Map
	size    int64
	mu      sync.Mutex
}

var sqliteDialect = &dialect{}

// maxRebound bounds the cache; statements built with many variants (IN
// lists of varying length) are rewritten each time past it.
const maxRebound = 4096

// q returns query in the dialect's placeholder style: unchanged for
// SQLite, ? → $1, $2, … for PostgreSQL (outside quoted text).
func (d *dialect) q(query string) string {
	if !d.pg {
		return query
	}
	if v, ok := d.rebound.Load(query); ok {
		return v.(string)
	}
	out := rebind(query)
	d.mu.Lock()
	if d.size < maxRebound {
		d.size++
		d.rebound.Store(query, out)
	}
	d.mu.Unlock()
	return out
}

// rebind rewrites ? placeholders as $n, leaving quoted text and
// identifiers alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// args makes Go values fit the dialect's columns: PostgreSQL gets bools
// as 0/1 (the boolean columns are INTEGER on both engines).
func (d *dialect) args(args []any) []any {
	if !d.pg {
		return args
	}
	for i, a := range args {
		if b, ok := a.(bool); ok {
			if b {
				args[i] = int64(1)
			} else {
				args[i] = int64(0)
			}
		}
	}
	return args
}

// pick returns the statement of the dialect.
func (d *dialect) pick(sqliteSQL, pgSQL string) string {
	if d.pg {
		return pgSQL
	}
	return sqliteSQL
}

// handle is a pool (*sql.DB) that speaks the dialect.
type handle struct {
	*sql.DB
	d *dialect
}

func (h handle) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return h.DB.ExecContext(ctx, h.d.q(query), h.d.args(args)...)
}

func (h handle) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return h.DB.QueryContext(ctx, h.d.q(query), h.d.args(args)...)
}

func (h handle) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return h.DB.QueryRowContext(ctx, h.d.q(query), h.d.args(args)...)
}

func (h handle) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return h.DB.PrepareContext(ctx, h.d.q(query))
}

// readTx is a read-only transaction that speaks the dialect.
type readTx struct {
	*sql.Tx
	d *dialect
}

func (tx *readTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *readTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *readTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.q(query), tx.d.args(args)...)
}

func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, tx.d.q(query))
}

// isConstraint reports whether err is the database refusing a write because
// it would break a UNIQUE or PRIMARY KEY rule: classified by the driver's
// error type and code (SQLite's extended code, PostgreSQL's SQLSTATE
// 23505), never by the message text.
func isConstraint(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// isRetryable reports whether a transaction failed only because it ran
// beside another one and may simply be run again: PostgreSQL's
// serialization failure (40001) and deadlock (40P01).
func isRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}
