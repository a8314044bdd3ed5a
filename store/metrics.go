package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics the database exports. The gauges are read on every scrape by
// cheap queries (a primary key, an index range, a tiny table); none scans
// a log. docs/alerts.yml alerts on them.
var (
	descLastNotification = prometheus.NewDesc("payscore_last_notification_timestamp_seconds",
		"Unix time the newest notification was first received (verified and stored); 0 if none ever was.", nil, nil)
	descLinksAwaiting = prometheus.NewDesc("payscore_links_awaiting_user",
		"Links whose token has not expired and whose authorization is still UNBINDUSER: handed out, not yet agreed to.", nil, nil)
	descAuthorizations = prometheus.NewDesc("payscore_authorizations",
		"Authorizations by last known state (AVAILABLE, UNAVAILABLE, UNBINDUSER).", []string{"state"}, nil)
	descPending = prometheus.NewDesc("payscore_terminations_pending",
		"Terminations written as pending whose outcome is not recorded yet.", nil, nil)
	descPendingAge = prometheus.NewDesc("payscore_terminations_pending_oldest_age_seconds",
		"Age of the oldest pending termination in seconds; 0 if none is pending.", nil, nil)
	descDBErrors = prometheus.NewDesc("payscore_db_errors_total",
		"Database failures (SQLite errors other than constraint conflicts, and timeouts) by operation: write "+
			"(write transactions, the notification writer included) or read (read snapshots, pings, these metrics).",
		[]string{"op"}, nil)
)

// Operations counted by payscore_db_errors_total.
const (
	opWrite = "write"
	opRead  = "read"
)

// collectTimeout bounds the queries of one scrape.
const collectTimeout = 2 * time.Second

// dbErrors counts the database's failures since Open.
type dbErrors struct{ write, read atomic.Uint64 }

// note counts err if it is the database failing.
func (e *dbErrors) note(op string, err error) {
	if !IsDBFailure(err) {
		return
	}
	if op == opWrite {
		e.write.Add(1)
	} else {
		e.read.Add(1)
	}
}

// IsDBFailure reports whether err is the database failing rather than a
// rule of the console answering: an SQLite error other than a constraint
// (busy, locked, I/O, disk full, corrupt, read-only...), a connection or
// transaction gone, or a deadline that ran out waiting for it. Not found,
// conflicts, validation and a caller's cancellation are not failures.
func IsDBFailure(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) ||
		errors.Is(err, sql.ErrNoRows) || errors.Is(err, context.Canceled) {
		return false
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code != sqlite3.ErrConstraint
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone)
}

// Collector returns the database's metrics, to register once per DB.
func (db *DB) Collector() prometheus.Collector { return dbCollector{db} }

type dbCollector struct{ db *DB }

// Describe implements prometheus.Collector.
func (c dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastNotification, descLinksAwaiting, descAuthorizations, descPending, descPendingAge, descDBErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. If the queries fail, the gauges
// are left out of this scrape (the rest of /metrics still answers) and the
// failure is counted in payscore_db_errors_total{op="read"}.
func (c dbCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.db
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	f, err := db.figures(ctx) // a failure is counted by view
	if err == nil {
		ch <- prometheus.MustNewConstMetric(descLastNotification, prometheus.GaugeValue, unixSeconds(f.lastNotification))
		ch <- prometheus.MustNewConstMetric(descLinksAwaiting, prometheus.GaugeValue, float64(f.linksAwaiting))
		for _, s := range []string{StateAvailable, StateUnavailable, StateUnbindUser} {
			ch <- prometheus.MustNewConstMetric(descAuthorizations, prometheus.GaugeValue, float64(f.authorizations[s]), s)
		}
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(f.pending))
		age := 0.0
		if f.pending > 0 && !f.oldestPending.IsZero() {
			age = max(0, db.Now().Sub(f.oldestPending).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descPendingAge, prometheus.GaugeValue, age)
	}
	ch <- prometheus.MustNewConstMetric(descDBErrors, prometheus.CounterValue, float64(db.errs.write.Load()), opWrite)
	ch <- prometheus.MustNewConstMetric(descDBErrors, prometheus.CounterValue, float64(db.errs.read.Load()), opRead)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// metricFigures is what one scrape reads.
type metricFigures struct {
	lastNotification time.Time
	linksAwaiting    int
	authorizations   map[string]int
	pending          int
	oldestPending    time.Time
}

// figures reads the gauges in one snapshot.
func (db *DB) figures(ctx context.Context) (metricFigures, error) {
	f := metricFigures{authorizations: map[string]int{}}
	err := db.view(ctx, func(tx *readTx) error {
		var last, oldest sql.NullString
		// max() over the leading column of callbacks_received: one index lookup.
		if err := tx.QueryRowContext(ctx, `SELECT max(first_received_at) FROM callbacks`).Scan(&last); err != nil {
			return fmt.Errorf("store: metrics: last notification: %w", err)
		}
		// As the overview counts them: the links with a live token first.
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM links l `+db.d.pick("CROSS JOIN", "JOIN")+` authorizations a ON a.authorization_code = l.authorization_code
			WHERE l.token_expires_at > ? AND a.state = ?`, fmtTime(db.Now()), StateUnbindUser).Scan(&f.linksAwaiting); err != nil {
			return fmt.Errorf("store: metrics: links awaiting: %w", err)
		}
		// The partial index terminations_one_pending holds exactly the pending ones.
		if err := tx.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM terminations WHERE status = 'pending'`).Scan(&f.pending, &oldest); err != nil {
			return fmt.Errorf("store: metrics: pending terminations: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT state, n FROM authorization_counts`)
		if err != nil {
			return fmt.Errorf("store: metrics: authorizations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				return fmt.Errorf("store: metrics: authorizations: %w", err)
			}
			f.authorizations[s] = n
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: metrics: authorizations: %w", err)
		}
		for _, t := range []struct {
			s   sql.NullString
			out *time.Time
		}{{last, &f.lastNotification}, {oldest, &f.oldestPending}} {
			if !t.s.Valid {
				continue
			}
			v, err := time.Parse(timeFormat, t.s.String)
			if err != nil {
				return fmt.Errorf("store: metrics: stored time %q: %w", t.s.String, err)
			}
			*t.out = v
		}
		return nil
	})
	return f, err
}
