package service

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TestResolveAbandoned: the resolver takes a pending termination only when
// no request can still be working on it — older than the grace period,
// begun by an instance whose heartbeat lapsed, or by an earlier process of
// this instance id — and never one another live instance (or this one)
// has in flight.
func TestResolveAbandoned(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.Terminations.Instance = "i-me"
	e.svc.Terminations.Started = testStart.Add(time.Minute)
	heartbeat := func(id string) {
		if ok, err := e.db.AcquireLease(ctx, store.InstanceLease(id), id, LeaseTTL); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	begin := func(code, instance string) {
		if _, err := e.db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: "1900000101", Reason: "x", InstanceID: instance},
			store.AuditEntry{Action: AuditTerminateRequest, Target: code}); err != nil {
			t.Fatal(err)
		}
	}
	heartbeat("i-dead")
	begin("OLD-LIVE", "i-live")  // older than grace by the end
	begin("MINE-BEFORE", "i-me") // an earlier process of this id
	begin("LEGACY", "")          // from before instances: waits out grace
	e.now = e.now.Add(PendingGrace - time.Minute)
	heartbeat("i-live")
	heartbeat("i-me")
	begin("LIVE", "i-live")     // another instance's request in flight
	begin("MINE", "i-me")       // this process's own request in flight
	begin("DEAD", "i-dead")     // its instance stopped renewing long ago
	begin("UNKNOWN", "i-never") // an instance with no heartbeat at all
	e.now = e.now.Add(2 * time.Minute)
	heartbeat("i-live")
	heartbeat("i-me")
	var mu sync.Mutex
	queried := map[string]bool{}
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		mu.Lock()
		queried[r.AuthorizationCode] = true
		mu.Unlock()
		return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, State: payscore.StateUnavailable, RequestID: "REQ-Q"}, nil
	}
	if err := e.svc.Terminations.ResolveAbandoned(ctx, PendingGrace); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"OLD-LIVE": true, "MINE-BEFORE": true, "LEGACY": true, "DEAD": true, "UNKNOWN": true, "LIVE": false, "MINE": false}
	for code, settled := range want {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 {
			t.Fatalf("%s: %d terminations", code, len(terms))
		}
		if got := terms[0].Status != store.TerminationPending; got != settled || queried[code] != settled {
			t.Errorf("%s: settled=%v queried=%v, want %v", code, got, queried[code], settled)
		}
	}
	// The live instance dies: its heartbeat lapses and the next pass takes it.
	e.now = e.now.Add(LeaseTTL + time.Second)
	heartbeat("i-me")
	if err := e.svc.Terminations.ResolveAbandoned(ctx, PendingGrace); err != nil {
		t.Fatal(err)
	}
	if terms, _ := e.db.TerminationsByCode(ctx, "LIVE"); terms[0].Status != store.TerminationSucceeded {
		t.Errorf("LIVE after its instance died: %s", terms[0].Status)
	}
	if terms, _ := e.db.TerminationsByCode(ctx, "MINE"); terms[0].Status != store.TerminationPending {
		t.Errorf("MINE: %s, want still pending (its request runs here)", terms[0].Status)
	}
}

// TestTerminateRecordsInstance: a termination carries the instance that
// began it.
func TestTerminateRecordsInstance(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.Terminations.Instance = "i-abc"
	if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "INST-1", SubMchID: "1900000101", State: store.StateAvailable, StateTime: e.now}); err != nil {
		t.Fatal(err)
	}
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, State: payscore.StateUnavailable}, nil
	}
	if _, err := e.svc.Terminations.Terminate(ctx, alice, "INST-1", "1900000101", "x"); err != nil {
		t.Fatal(err)
	}
	terms, _ := e.db.TerminationsByCode(ctx, "INST-1")
	if len(terms) != 1 || terms[0].InstanceID != "i-abc" {
		t.Fatalf("terminations = %+v", terms)
	}
}

// flakyLeases fails every lease call while down is set (the database out of
// reach for this instance).
type flakyLeases struct {
	LeaseStore
	down atomic.Bool // every call fails at once
	hang atomic.Bool // every call waits until its context ends
}

func (f *flakyLeases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if f.down.Load() {
		return false, errors.New("flaky: database unreachable")
	}
	if f.hang.Load() {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return f.LeaseStore.AcquireLease(ctx, name, holder, ttl)
}

// TestCoordinatorOneAtATime: two instances on one database file run the
// background work one at a time; a clean stop hands it over at once, a
// holder that dies (stops renewing) hands it over when its lease lapses,
// and a holder cut off from the database stops its work before its lease
// can lapse.
func TestCoordinatorOneAtATime(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	open := func() *store.DB {
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	const ttl, renew = 600 * time.Millisecond, 50 * time.Millisecond
	var running, maxRunning atomic.Int32
	var runs sync.Map // instance → tenures
	work := func(id string) func(context.Context) {
		return func(wctx context.Context) {
			n := running.Add(1)
			for m := maxRunning.Load(); n > m && !maxRunning.CompareAndSwap(m, n); m = maxRunning.Load() {
			}
			v, _ := runs.LoadOrStore(id, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
			<-wctx.Done()
			running.Add(-1)
		}
	}
	type inst struct {
		c    *Coordinator
		st   *flakyLeases
		stop context.CancelFunc
		done chan struct{}
	}
	start := func(id string) *inst {
		st := &flakyLeases{LeaseStore: open()}
		c := &Coordinator{Store: st, Instance: id, TTL: ttl, Renew: renew, Logger: slog.New(slog.DiscardHandler)}
		cctx, cancel := context.WithCancel(ctx)
		in := &inst{c: c, st: st, stop: cancel, done: make(chan struct{})}
		go func() { defer close(in.done); c.Run(cctx, work(id)) }()
		return in
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a, b := start("i-a"), start("i-b")
	waitFor("a leader", time.Second, func() bool { return a.c.Leader() || b.c.Leader() })
	time.Sleep(4 * renew)
	if a.c.Leader() == b.c.Leader() || running.Load() != 1 {
		t.Fatalf("leaders a=%v b=%v, running %d", a.c.Leader(), b.c.Leader(), running.Load())
	}
	leader, other := a, b
	if b.c.Leader() {
		leader, other = b, a
	}
	// A clean stop releases the lease: the other takes over within a renewal or two.
	stopped := time.Now()
	leader.stop()
	<-leader.done
	waitFor("take-over after a clean stop", ttl/2, other.c.Leader)
	t.Logf("take-over after a clean stop: %v", time.Since(stopped))

	// A third instance joins; the leader is then cut off from the database
	// (as a killed process stops renewing): its work stops before its lease
	// lapses, and the third takes over only after that.
	c := start("i-c")
	time.Sleep(4 * renew)
	if c.c.Leader() {
		t.Fatal("the newcomer took a held lease")
	}
	other.st.down.Store(true)
	cut := time.Now()
	waitFor("the cut-off leader to stop its work", ttl, func() bool { return !other.c.Leader() })
	stoppedAfter := time.Since(cut)
	waitFor("take-over after the lease lapsed", 2*ttl, c.c.Leader)
	tookAfter := time.Since(cut)
	if stoppedAfter >= ttl || tookAfter < ttl-2*renew {
		t.Errorf("cut-off leader stopped after %v, take-over after %v (ttl %v)", stoppedAfter, tookAfter, ttl)
	}
	other.stop()
	<-other.done
	c.stop()
	<-c.done
	if maxRunning.Load() != 1 {
		t.Errorf("background work ran on %d instances at once", maxRunning.Load())
	}
}

// TestCoordinatorStopsWhenTheDatabaseHangs: a holder whose renewals hang
// (a partition, a stuck connection) rather than fail still stops its work
// before its lease can lapse and another instance take over.
func TestCoordinatorStopsWhenTheDatabaseHangs(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const ttl, renew = 600 * time.Millisecond, 50 * time.Millisecond
	st := &flakyLeases{LeaseStore: db}
	c := &Coordinator{Store: st, Instance: "i-hang", TTL: ttl, Renew: renew, Logger: slog.New(slog.DiscardHandler)}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(cctx, func(wctx context.Context) { <-wctx.Done() }) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(time.Second); !c.Leader(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	time.Sleep(4 * renew)
	st.hang.Store(true)
	cut := time.Now()
	for c.Leader() {
		if time.Since(cut) >= ttl {
			t.Fatalf("still running the work %v after the database hung (lease ttl %v)", time.Since(cut), ttl)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("stopped %v after the database hung (ttl %v)", time.Since(cut), ttl)
}
