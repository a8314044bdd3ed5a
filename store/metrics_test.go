package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// scrape gathers c alone and returns each series as name{label="value",...}.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func wantSeries(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing from the scrape (got %v)", k, got)
			continue
		}
		if diff := g - v; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

func TestCollectorGauges(t *testing.T) { storetest.EachEngine(t, testCollectorGauges) }

func testCollectorGauges(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	c := db.Collector()

	// An empty database: nothing received, nothing pending, no failures.
	wantSeries(t, scrape(t, c), map[string]float64{
		"payscore_last_notification_timestamp_seconds":     0,
		"payscore_links_awaiting_user":                     0,
		"payscore_terminations_pending":                    0,
		"payscore_terminations_pending_oldest_age_seconds": 0,
		`payscore_authorizations{state="AVAILABLE"}`:       0,
		`payscore_authorizations{state="UNBINDUSER"}`:      0,
		`payscore_authorizations{state="UNAVAILABLE"}`:     0,
		`payscore_db_errors_total{op="read"}`:              0,
		`payscore_db_errors_total{op="write"}`:             0,
	})

	// Links handed out at 08:00; a notification that the user of LIVE2
	// agreed arrives at 08:30.
	t0 := now
	now = t0.Add(-2 * time.Hour)
	m := mustSubMerchant(t, db, "1900000001")
	link := func(code string, expires time.Time) {
		t.Helper()
		if _, err := db.CreateLink(ctx, store.Link{Slug: "s-" + code, SubMerchantID: m.ID, AuthorizationCode: code,
			Token: "tok-" + code, TokenExpiresAt: expires, NotifyURL: "https://console.example/notify/payscore"}); err != nil {
			t.Fatal(err)
		}
	}
	link("LIVE1", t0.Add(time.Hour))      // awaiting its user
	link("LIVE2", t0.Add(time.Hour))      // agreed below: no longer awaiting
	link("EXPIRED", t0.Add(-time.Minute)) // token expired: not awaiting
	received := t0.Add(-90 * time.Minute) // the notification's arrival
	now = received
	if o, err := db.RecordNotification(ctx, notification("EV-1", store.EventOpen, "LIVE2", received)); err != nil || o != store.OutcomeAccepted {
		t.Fatalf("RecordNotification = %q, %v; want accepted", o, err)
	}

	// Two pending terminations, the older one 10 minutes old, and one
	// finished (not pending).
	begin := func(code string, at time.Time) int64 {
		t.Helper()
		now = at
		id, err := db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: "1900000001", Reason: "test"},
			store.AuditEntry{Username: "test", Action: "terminate"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	begin("T-OLD", t0.Add(-10*time.Minute))
	begin("T-NEW", t0.Add(-time.Minute))
	done := begin("T-DONE", t0.Add(-20*time.Minute))
	now = t0
	if err := db.FinishTermination(ctx, done, store.TerminationFailed, "", "X", "x", store.AuditEntry{Username: "test", Action: "terminate.result"}); err != nil {
		t.Fatal(err)
	}

	wantSeries(t, scrape(t, c), map[string]float64{
		"payscore_last_notification_timestamp_seconds":     float64(received.Unix()),
		"payscore_links_awaiting_user":                     1,
		"payscore_terminations_pending":                    2,
		"payscore_terminations_pending_oldest_age_seconds": 600,
		`payscore_authorizations{state="AVAILABLE"}`:       1,
		`payscore_authorizations{state="UNBINDUSER"}`:      2,
		`payscore_authorizations{state="UNAVAILABLE"}`:     0,
	})

	// Once the links' tokens expire, none awaits its user.
	now = t0.Add(2 * time.Hour)
	wantSeries(t, scrape(t, c), map[string]float64{"payscore_links_awaiting_user": 0})
}

func TestCollectorCountsDatabaseFailures(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := db.Collector()

	// Answers of the console's own rules are not database failures.
	if _, err := db.UserByID(ctx, 42); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByID(42) = %v, want ErrNotFound", err)
	}
	mustSubMerchant(t, db, "1900000001")
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "again"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second sub-merchant = %v, want ErrConflict", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = db.Ping(cancelled) // the caller gave up: not the database's failure
	wantSeries(t, scrape(t, c), map[string]float64{`payscore_db_errors_total{op="read"}`: 0, `payscore_db_errors_total{op="write"}`: 0})

	// A read that times out is one.
	expired, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	if err := db.Ping(expired); err == nil {
		t.Fatal("Ping with an expired deadline succeeded")
	}

	// A write that cannot get the database in time is one. Another
	// process holds the file exclusively; a first write waits for it
	// (SQLite's busy wait) on the console's single writer connection, so a
	// second write with a short deadline runs out waiting for that
	// connection. Released, the first write then goes through.
	other, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- db.SetSetting(ctx, "k", "first") }()
	time.Sleep(100 * time.Millisecond)
	wctx, cancel3 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel3()
	if err := db.SetSetting(wctx, "k", "second"); err == nil {
		t.Fatal("a write succeeded while another connection held the database exclusively")
	} else if !store.IsDBFailure(err) {
		t.Fatalf("blocked write: %v is not classed as a database failure", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first write after the lock was released: %v", err)
	}
	wantSeries(t, scrape(t, c), map[string]float64{`payscore_db_errors_total{op="read"}`: 1, `payscore_db_errors_total{op="write"}`: 1})
}

func TestIsDBFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{store.ErrNotFound, false},
		{fmt.Errorf("store: x: %w", store.ErrConflict), false},
		{sql.ErrNoRows, false},
		{context.Canceled, false},
		{errors.New("store: set landing pause: who switched it is required"), false},
		{fmt.Errorf("store: x: %w", sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintCheck}), false},
		{fmt.Errorf("store: commit: %w", sqlite3.Error{Code: sqlite3.ErrIoErr}), true},
		{fmt.Errorf("store: begin: %w", sqlite3.Error{Code: sqlite3.ErrBusy}), true},
		{sqlite3.Error{Code: sqlite3.ErrFull}, true},
		{sqlite3.Error{Code: sqlite3.ErrCorrupt}, true},
		{fmt.Errorf("store: begin: %w", context.DeadlineExceeded), true},
		{sql.ErrConnDone, true},
	} {
		if got := store.IsDBFailure(tc.err); got != tc.want {
			t.Errorf("IsDBFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
