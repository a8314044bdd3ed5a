package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// Several writers on one PostgreSQL database, as several console instances
// are: each test opens two stores (two pools, two group-commit writers) on
// one fresh database and races them.

func openTwoInstances(t *testing.T) (*store.DB, *store.DB) {
	t.Helper()
	url := storetest.NewDatabase(t)
	ctx := context.Background()
	a, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// TestPostgresSameNotificationConcurrently: the same notifications sent
// at once through two instances are stored once each, and every delivery
// is counted.
func TestPostgresSameNotificationConcurrently(t *testing.T) {
	a, b := openTwoInstances(t)
	ctx := context.Background()
	const notes, copies = 40, 6
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, notes*copies)
	for i := range notes {
		for c := range copies {
			db := a
			if c%2 == 1 {
				db = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := notification(fmt.Sprintf("EV-CONC-%03d", i), store.EventOpen, fmt.Sprintf("CODE-%03d", i), at)
				if _, err := db.RecordNotification(ctx, n); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var rows, deliveries, logged int
	if err := a.TestReader().QueryRow(`SELECT count(*), coalesce(sum(deliveries), 0) FROM callbacks`).Scan(&rows, &deliveries); err != nil {
		t.Fatal(err)
	}
	if err := a.TestReader().QueryRow(`SELECT count(*) FROM callback_deliveries`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if rows != notes || deliveries != notes*copies || logged != notes*copies {
		t.Errorf("callbacks = %d rows, %d deliveries, %d logged; want %d, %d, %d", rows, deliveries, logged, notes, notes*copies, notes*copies)
	}
	var available int
	if err := a.TestReader().QueryRow(`SELECT n FROM authorization_counts WHERE state = 'AVAILABLE'`).Scan(&available); err != nil {
		t.Fatal(err)
	}
	if available != notes {
		t.Errorf("authorization_counts AVAILABLE = %d, want %d", available, notes)
	}
	var day int
	if err := a.TestReader().QueryRow(`SELECT coalesce(sum(n), 0) FROM daily_counts WHERE metric = 'notify.' || $1`, store.EventOpen).Scan(&day); err != nil {
		t.Fatal(err)
	}
	if day != notes {
		t.Errorf("daily_counts notify = %d, want %d", day, notes)
	}
	// The batches count the signing key once per batch: every delivery.
	var keyed int
	if err := a.TestReader().QueryRow(`SELECT coalesce(sum(deliveries), 0) FROM notification_keys`).Scan(&keyed); err != nil {
		t.Fatal(err)
	}
	if keyed != notes*copies {
		t.Errorf("notification_keys deliveries = %d, want %d", keyed, notes*copies)
	}
}

// TestPostgresDailyCountsOutsideBatches: the batch function counts its new
// callbacks itself, switching the per-row trigger off for its own inserts
// only; a row inserted any other way (the seed tool, an older build's
// batches) is still counted by the trigger.
func TestPostgresDailyCountsOutsideBatches(t *testing.T) {
	a, _ := openTwoInstances(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	if _, err := a.RecordNotification(ctx, notification("EV-BATCH-1", store.EventOpen, "CODE-B1", at)); err != nil {
		t.Fatal(err)
	}
	tx, err := a.TestWriter().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	insert := `INSERT INTO callbacks (notification_id, event_type, authorization_code, sub_mchid, openid, sub_openid,
		create_time, serial, envelope, payload, applied, first_received_at, last_received_at)
		VALUES ($1, $2, 'CODE-RAW', '1900000109', '', '', '', 'S', '{}', '{}', 1, $3, $3)`
	if _, err := tx.Exec(insert, "EV-RAW-1", store.EventOpen, "2026-03-01T02:00:00.000000Z"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var day int
	if err := a.TestReader().QueryRow(`SELECT coalesce(sum(n), 0) FROM daily_counts WHERE metric = 'notify.' || $1`, store.EventOpen).Scan(&day); err != nil {
		t.Fatal(err)
	}
	if day != 2 {
		t.Errorf("daily_counts notify = %d, want 2 (one by the batch, one by the trigger)", day)
	}
}

// TestPostgresLockoutCountsConcurrently: failed sign-ins of one pair
// counted at once on two instances lose no failure.
func TestPostgresLockoutCountsConcurrently(t *testing.T) {
	a, b := openTwoInstances(t)
	ctx := context.Background()
	l := store.LoginLimits{Max: 1000, Window: time.Hour, Lock: time.Minute, MaxLock: time.Hour, Memory: time.Hour}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		db := a
		if w%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, busy, err := db.BeginLogin(ctx, "alice", "192.0.2.1", l); err != nil || busy {
					errs <- fmt.Errorf("BeginLogin: busy=%v err=%v", busy, err)
					return
				}
				if _, err := db.LoginFailed(ctx, "alice", "192.0.2.1", l, store.AuditEntry{}, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var failures, pending int
	if err := a.TestReader().QueryRow(`SELECT failures, pending FROM login_attempts WHERE username = 'alice'`).Scan(&failures, &pending); err != nil {
		t.Fatal(err)
	}
	if failures != workers*each || pending != 0 {
		t.Errorf("failures = %d, pending = %d; want %d, 0", failures, pending, workers*each)
	}
}

// TestPostgresMigrationsAtOnce: instances started at the same moment on an
// empty database all open it (migrations applied once, under the lock),
// and the first admin is created once.
func TestPostgresMigrationsAtOnce(t *testing.T) {
	url := storetest.NewDatabase(t)
	ctx := context.Background()
	const instances = 3
	dbs := make([]*store.DB, instances)
	created := make([]bool, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			db, err := store.OpenPostgres(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			dbs[i] = db
			_, created[i], errs[i] = db.CreateFirstUserAudited(ctx, "admin", "hash", store.RoleAdmin,
				store.AuditEntry{Username: "system", Action: "user.create", Target: "user:admin", Result: "ok"})
		}()
	}
	close(start)
	wg.Wait()
	for _, db := range dbs {
		if db != nil {
			defer db.Close()
		}
	}
	made := 0
	for i := range instances {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if created[i] {
			made++
		}
	}
	if made != 1 {
		t.Errorf("first admin created %d times, want 1", made)
	}
	var versions, distinct, max int
	if err := dbs[0].TestReader().QueryRow(`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations WHERE set_name = 'console'`).Scan(&versions, &distinct, &max); err != nil {
		t.Fatal(err)
	}
	if versions != distinct || max != store.LatestVersion() || versions != max {
		t.Errorf("schema_migrations: %d rows, %d versions, latest %d; want each of 1..%d once", versions, distinct, max, store.LatestVersion())
	}
	var users, audits int
	if err := dbs[0].TestReader().QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM audit_log WHERE action = 'user.create')`).Scan(&users, &audits); err != nil {
		t.Fatal(err)
	}
	if users != 1 || audits != 1 {
		t.Errorf("users = %d, audit entries = %d; want 1, 1", users, audits)
	}
}

// TestPostgresOnePendingTermination: two terminations of one code begun at
// once on two instances: one is recorded, the other is a conflict.
func TestPostgresOnePendingTermination(t *testing.T) {
	a, b := openTwoInstances(t)
	ctx := context.Background()
	for round := range 5 {
		code := fmt.Sprintf("CODE-TERM-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, db := range []*store.DB{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: "1900000001", Reason: "test"},
					store.AuditEntry{Username: "system", Action: "authorization.terminate", Target: code})
			}()
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Errorf("round %d: %d begun, %d conflicts; want 1, 1", round, ok, conflicts)
		}
	}
}

// TestPostgresPollingSkipsNothing: the callback log's live polling beside
// two instances writing at once never skips a row. Their batches run side
// by side, so a row can commit after one with a higher id was shown; the
// poller, as the handler's, carries the ids missing below its cursor
// (CallbacksWithGaps: the rows and the ids missing among them, in one
// snapshot) and asks for them again (CallbackIDsIn) until they come.
// It logs how many came late: rows a cursor alone would have missed.
func TestPostgresPollingSkipsNothing(t *testing.T) {
	a, b := openTwoInstances(t)
	ctx := context.Background()
	const perWriter, writers = 150, 4
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range writers {
		db := a
		if w%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				n := notification(fmt.Sprintf("EV-POLL-%d-%04d", w, i), store.EventOpen, fmt.Sprintf("CODE-POLL-%d-%04d", w, i), at)
				if _, err := db.RecordNotification(ctx, n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]bool{}
	gaps := map[int64]bool{}
	var cursor int64
	late := 0
	poll := func() int {
		got := 0
		if len(gaps) > 0 {
			ids := make([]int64, 0, len(gaps))
			for id := range gaps {
				ids = append(ids, id)
			}
			found, err := b.CallbackIDsIn(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			for id := range found {
				delete(gaps, id)
				seen[id] = true
				late++
				got++
			}
		}
		page, missing, err := b.CallbacksWithGaps(ctx, store.CallbackFilter{After: cursor, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		top := cursor
		for _, cb := range page {
			seen[cb.ID] = true
			top = max(top, cb.ID)
		}
		for _, id := range missing {
			gaps[id] = true
		}
		cursor = top
		return got + len(page)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			poll()
		}
	}
	for poll() > 0 {
	}
	var total int
	if err := a.TestReader().QueryRow(`SELECT count(*) FROM callbacks`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows, %d of them seen late (committed below the cursor), %d ids never used", total, late, len(gaps))
	if total != perWriter*writers || len(seen) != total {
		t.Errorf("polling saw %d of %d rows (want %d)", len(seen), total, perWriter*writers)
	}
}

// TestPostgresMixedEventsCountExactly: two instances record opens and
// closes of the same codes at once, in different orders. Their batches run
// side by side; the authorization counts (added up per batch and written
// once at its end) must still equal the authorizations by state, every
// notification must be stored once, and none may fail (no deadlock left
// to retries beyond their bound).
func TestPostgresMixedEventsCountExactly(t *testing.T) {
	a, b := openTwoInstances(t)
	ctx := context.Background()
	const codes = 60
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 4*codes)
	send := func(db *store.DB, ids []int, event string, offset time.Duration) {
		defer wg.Done()
		for _, i := range ids {
			n := notification(fmt.Sprintf("EV-MIX-%s-%03d", event, i), event, fmt.Sprintf("CODE-MIX-%03d", i), at.Add(offset))
			if _, err := db.RecordNotification(ctx, n); err != nil {
				errs <- err
			}
		}
	}
	up, down := make([]int, codes), make([]int, codes)
	for i := range codes {
		up[i], down[i] = i, codes-1-i
	}
	// Opens on one instance in one order, closes (a minute newer: they
	// win) on the other in the reverse order, and each again (a duplicate)
	// on the other instance.
	wg.Add(4)
	go send(a, up, store.EventOpen, 0)
	go send(b, down, store.EventClose, time.Minute)
	go send(b, up, store.EventOpen, 0)
	go send(a, down, store.EventClose, time.Minute)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var rows int
	if err := a.TestReader().QueryRow(`SELECT count(*) FROM callbacks`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2*codes {
		t.Errorf("callbacks = %d rows, want %d", rows, 2*codes)
	}
	byState := map[string]int{}
	rs, err := a.TestReader().Query(`SELECT state, count(*) FROM authorizations GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		var n int
		if err := rs.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		byState[s] = n
	}
	rs.Close()
	if byState[store.StateUnavailable] != codes {
		t.Errorf("authorizations by state = %v, want all %d UNAVAILABLE (the closes are newer)", byState, codes)
	}
	counted, err := a.TestReader().Query(`SELECT state, n FROM authorization_counts`)
	if err != nil {
		t.Fatal(err)
	}
	defer counted.Close()
	for counted.Next() {
		var s string
		var n int
		if err := counted.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		if n != byState[s] {
			t.Errorf("authorization_counts %s = %d, want %d", s, n, byState[s])
		}
	}
}
