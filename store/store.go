// Package store keeps the console's state in SQLite (the default: one
// writer connection for every change and a pool of readers) or in
// PostgreSQL (DATABASE_URL: a small write pool and a read pool), with
// embedded numbered migrations per dialect (dialect.go).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3" // the SQLite driver, registered as "sqlite3" (readers)
)

// writerDriver is go-sqlite3 with the writer's own connection settings.
const writerDriver = "sqlite3_payscore_writer"

var registerWriterDriver sync.Once

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule.
var ErrConflict = errors.New("conflict")

// DB is the console's database: write is a single connection that
// serialises every change; read is a pool for queries that can run beside
// it. Neither handle leaves the package: every statement lives in a method.
type DB struct {
	write handle
	read  handle
	d     *dialect
	// Now is the clock; tests replace it. Every transaction takes one
	// timestamp from it.
	Now func() time.Time
	// Path is the SQLite file the database lives in ("" on PostgreSQL).
	Path string
	// Engine is "sqlite" or "postgres".
	Engine string

	batch       chan *batchItem
	refusals    chan *refusalItem
	refusal     refusalState
	closed      chan struct{}
	batcherDone chan struct{}
	closeOnce   sync.Once
	notify      notifyStmts
	errs        dbErrors // payscore_db_errors_total (metrics.go)
}

// Open opens (creating if needed) the SQLite file at path and applies every
// pending migration.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := privateFile(path); err != nil {
		return nil, err
	}
	registerWriterDriver.Do(func() {
		sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
			// Checkpoint the WAL every ~80 MB instead of every 4 MB: at
			// thousands of notifications a second the same hot index pages
			// are then copied back once per checkpoint, not once per few
			// commits — most of the writer's cost otherwise.
			_, err := conn.Exec(`PRAGMA wal_autocheckpoint = 20000`, nil)
			return err
		}})
	})
	writeDB, err := sql.Open(writerDriver, dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("store: open writer: %w", err)
	}
	// One writer: SQLite allows one at a time, and queuing in Go is cheaper
	// and fairer than spinning on SQLITE_BUSY.
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	if err := writeDB.PingContext(ctx); err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	readDB, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("store: open readers: %w", err)
	}
	readDB.SetMaxOpenConns(8)
	readDB.SetMaxIdleConns(8)
	db := newDB(writeDB, readDB, sqliteDialect)
	db.Path, db.Engine = path, "sqlite"
	if err := Migrate(ctx, writeDB, "console", migrations, "migrations"); err != nil {
		db.Close()
		return nil, err
	}
	return db.start(ctx)
}

func newDB(write, read *sql.DB, d *dialect) *DB {
	db := &DB{write: handle{write, d}, read: handle{read, d}, d: d, Now: time.Now,
		batch: make(chan *batchItem, maxBatch), refusals: make(chan *refusalItem, maxRefusalBatch),
		closed: make(chan struct{}), batcherDone: make(chan struct{})}
	db.SetRefusalLimits(0, 0)
	return db
}

// start prepares the hot path and starts the group-commit writer.
func (db *DB) start(ctx context.Context) (*DB, error) {
	if err := db.prepareNotifyStmts(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.countRefusalRows(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go db.runBatcher()
	return db, nil
}

// dsn builds the connection string. The writer uses BEGIN IMMEDIATE so that a
// transaction takes the write lock at its start (no upgrade deadlocks), and
// synchronous=FULL because a 2xx to WeChat Pay promises the notification
// survives a power cut.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	// Page cache per connection (KiB): the writer's holds the hot index
	// pages of the notification log; readers lean on the OS page cache.
	q.Set("_cache_size", "-8192")
	// Prepared statements kept per connection (the driver's cache): the
	// same few queries run thousands of times a second, and preparing
	// one (the link look-up's joins and subqueries) costs more than
	// running it.
	q.Set("_stmt_cache_size", "128")
	if writer {
		q.Set("_cache_size", "-32768")
		q.Set("_txlock", "immediate")
		q.Set("_synchronous", "FULL")
	} else {
		q.Set("_query_only", "true")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close stops the group-commit writer and closes both handles.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closed)
		if db.notify.insertCallback != nil {
			<-db.batcherDone
		}
	})
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer func() { db.errs.note(opRead, err) }()
	var one int
	return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is a write transaction with the one timestamp it works with. Its
// Exec/Query methods speak the dialect (dialect.go).
type Tx struct {
	*sql.Tx
	now time.Time
	d   *dialect
}

// maxTxAttempts bounds how often a PostgreSQL transaction is run again
// after a serialization failure or a deadlock.
const maxTxAttempts = 10

// update runs fn in a write transaction and commits it if fn returns nil.
// On SQLite every write transaction runs alone (one writer, BEGIN
// IMMEDIATE). On PostgreSQL it runs SERIALIZABLE, which gives the same
// guarantee to every read-then-write in the store beside other instances'
// writers, and is run again (fn must be repeatable) up to maxTxAttempts
// times when PostgreSQL reports 40001 or 40P01.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	var opts *sql.TxOptions
	if db.d.pg {
		opts = &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	return db.updateWith(ctx, opts, nil, fn)
}

// updateWith is update with the transaction's options and a first
// statement (PostgreSQL only) run before fn.
func (db *DB) updateWith(ctx context.Context, opts *sql.TxOptions, first func(tx *Tx) error, fn func(tx *Tx) error) error {
	return db.retrying(ctx, func() error { return db.tryUpdate(ctx, opts, first, fn) })
}

// retrying runs a write transaction, attempt, again while it fails in a
// way that another attempt can cure (isRetryable).
func (db *DB) retrying(ctx context.Context, attempt func() error) (err error) {
	defer func() { db.errs.note(opWrite, err) }()
	for n := 1; ; n++ {
		err = attempt()
		if err == nil || !isRetryable(err) || n >= maxTxAttempts || ctx.Err() != nil {
			return err
		}
		// A growing, jittered pause lets the other transaction finish:
		// 4 ms doubling up to 400 ms, about 2–4 s over every attempt, so a
		// long transaction on another instance (a bulk write) is waited
		// out rather than turned into an error.
		pause := min(time.Duration(2<<n)*time.Millisecond, 400*time.Millisecond)
		time.Sleep(pause + time.Duration(rand.Int64N(int64(pause))))
	}
}

func (db *DB) tryUpdate(ctx context.Context, opts *sql.TxOptions, first func(tx *Tx) error, fn func(tx *Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer sqlTx.Rollback()
	tx := &Tx{Tx: sqlTx, now: db.Now().UTC(), d: db.d}
	if first != nil {
		if err := first(tx); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction (a consistent snapshot).
func (db *DB) view(ctx context.Context, fn func(tx *readTx) error) (err error) {
	defer func() { db.errs.note(opRead, err) }()
	opts := &sql.TxOptions{ReadOnly: true}
	if db.d.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&readTx{Tx: tx, d: db.d})
}

// timeFormat is how times are stored: UTC, sortable as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func fmtTimePtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return fmtTime(*t)
}

// parseTime reads a stored time; text that is not one is an error, never
// a silent zero time.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: stored time %q: %w", s, err)
	}
	return t, nil
}

// timeCol scans a stored NOT NULL time column straight into *T, so that a
// malformed value fails the scan instead of reading as the zero time.
type timeCol struct{ T *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(v any) error {
	s, ok := textValue(v)
	if !ok {
		return fmt.Errorf("store: stored time: got %T, want text", v)
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	*c.T = t
	return nil
}

// nullTimeCol scans a nullable time column into **T: NULL (or empty text)
// is nil, anything else must parse.
type nullTimeCol struct{ T **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.T = nil
		return nil
	}
	s, ok := textValue(v)
	if !ok {
		return fmt.Errorf("store: stored time: got %T, want text", v)
	}
	if s == "" {
		*c.T = nil
		return nil
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	*c.T = &t
	return nil
}

func textValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// timeRange narrows a log to rows whose time column lies in [from, to) and
// says so in terms of ids as well. Rows are appended in time order, so the
// ids of a time range are a range too, found with two lookups in the
// (column, id) index; the outer query then walks the primary key (or a
// (filter, id) index) newest first inside it, instead of collecting the
// whole time range to sort it by id. The time terms stay, unary + keeping
// SQLite from picking the time index for them. A row written while the clock
// stood before an earlier row's time may fall outside its id range: a log
// screen accepts that.
//
// On PostgreSQL the planner needs no such hint (and + does not apply to
// text): the term is written plainly.
func (db *DB) timeRange(table, column string, from, to time.Time) (conds []string, args []any) {
	plus := db.d.pick("+", "")
	if !from.IsZero() {
		conds = append(conds,
			`id >= coalesce((SELECT id FROM `+table+` WHERE `+column+` >= ? ORDER BY `+column+`, id LIMIT 1), 9223372036854775807)`,
			plus+column+` >= ?`)
		args = append(args, fmtTime(from), fmtTime(from))
	}
	if !to.IsZero() {
		conds = append(conds,
			`id <= coalesce((SELECT id FROM `+table+` WHERE `+column+` < ? ORDER BY `+column+` DESC, id DESC LIMIT 1), 0)`,
			plus+column+` < ?`)
		args = append(args, fmtTime(to), fmtTime(to))
	}
	return conds, args
}

// keysetPage completes a list query: the filters, the keyset cursor
// (before / after an id), the order and the limit (default 50). Polling
// (after, without before) takes the oldest rows above the cursor, so that a
// burst larger than one page is picked up over several polls, none skipped;
// the caller then returns the page newest first (ascending reports it).
func keysetPage(q string, where []string, args []any, before, after int64, limit int) (string, []any, bool) {
	if before > 0 {
		where, args = append(where, "id < ?"), append(args, before)
	}
	if after > 0 {
		where, args = append(where, "id > ?"), append(args, after)
	}
	if limit <= 0 {
		limit = 50
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	ascending := after > 0 && before == 0
	if ascending {
		q += ` ORDER BY id ASC LIMIT ?`
	} else {
		q += ` ORDER BY id DESC LIMIT ?`
	}
	return q, append(args, limit), ascending
}

// Backup writes a consistent, compacted copy of the database to path, which
// must not exist yet: one self-contained file with no WAL beside it.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.d.pg {
		return errors.New("store: backup: on PostgreSQL use pg_dump or WAL archiving (docs/DEPLOY.md)")
	}
	if _, err := db.write.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}
