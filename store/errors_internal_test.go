package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// TestIsConstraint: uniqueness is told by the driver's extended code, not by
// the words of the message.
func TestIsConstraint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Unique", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}, true},
		{"PrimaryKey", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintPrimaryKey}, true},
		{"Wrapped", fmt.Errorf("insert: %w", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}), true},
		{"ForeignKey", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintForeignKey}, false},
		{"MessageOnly", errors.New("UNIQUE constraint failed: users.username"), false},
		{"PostgresUnique", &pgconn.PgError{Code: "23505"}, true},
		{"PostgresWrapped", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), true},
		{"PostgresForeignKey", &pgconn.PgError{Code: "23503"}, false},
		{"PostgresMessageOnly", errors.New(`ERROR: duplicate key value violates unique constraint "users_username_key" (SQLSTATE 23505)`), false},
		{"Nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConstraint(tt.err); got != tt.want {
				t.Errorf("isConstraint = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestIsRetryable: PostgreSQL's serialization failure and deadlock, by
// SQLSTATE, are the only errors a transaction is run again for.
func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Serialization", &pgconn.PgError{Code: "40001"}, true},
		{"Deadlock", fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40P01"}), true},
		{"Unique", &pgconn.PgError{Code: "23505"}, false},
		{"SQLiteBusy", sqlite3.Error{Code: sqlite3.ErrBusy}, false},
		{"MessageOnly", errors.New("could not serialize access due to concurrent update"), false},
		{"Nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isRetryable(tt.err); got != tt.want {
				t.Errorf("isRetryable = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRebind: ? becomes $n outside quoted text, once per statement.
func TestRebind(t *testing.T) {
	d := &dialect{pg: true}
	for in, want := range map[string]string{
		`SELECT 1`:                              `SELECT 1`,
		`SELECT a FROM t WHERE b = ? AND c = ?`: `SELECT a FROM t WHERE b = $1 AND c = $2`,
		`SELECT '?' || ? FROM "q?" WHERE x = ?`: `SELECT '?' || $1 FROM "q?" WHERE x = $2`,
		`INSERT INTO t VALUES (?, 'it''s', ?)`:  `INSERT INTO t VALUES ($1, 'it''s', $2)`,
	} {
		if got := d.q(in); got != want {
			t.Errorf("q(%q) = %q, want %q", in, got, want)
		}
		if got := d.q(in); got != want {
			t.Errorf("cached q(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sqliteDialect.q(`SELECT ?`); got != `SELECT ?` {
		t.Errorf("SQLite q = %q, want it unchanged", got)
	}
}
