package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestLeaseAcquireRenewLapse: a lease is free, then held by one holder
// (who renews it), refused to another until it lapses, then taken over;
// a release frees it at once.
func TestLeaseAcquireRenewLapse(t *testing.T) { storetest.EachEngine(t, testLeaseAcquireRenewLapse) }

func testLeaseAcquireRenewLapse(t *testing.T) {
	ctx := context.Background()
	db, clock := openFoundation(t)
	const ttl = 10 * time.Second
	must := func(name, holder string, want bool) {
		t.Helper()
		ok, err := db.AcquireLease(ctx, name, holder, ttl)
		if err != nil || ok != want {
			t.Fatalf("AcquireLease(%s, %s) = %v, %v; want %v", name, holder, ok, err, want)
		}
	}
	must(store.LeaseWorker, "a", true)
	first, err := db.LeaseByName(ctx, store.LeaseWorker)
	if err != nil || first.Holder != "a" || !first.Expiry.Equal(clock.now.Add(ttl)) {
		t.Fatalf("lease = %+v, %v", first, err)
	}
	must(store.LeaseWorker, "b", false)
	clock.Advance(ttl - time.Second)
	must(store.LeaseWorker, "a", true) // renewed
	clock.Advance(ttl - time.Second)
	must(store.LeaseWorker, "b", false) // still a's: renewed a second ago
	l, _ := db.LeaseByName(ctx, store.LeaseWorker)
	if !l.Acquired.Equal(first.Acquired) || !l.Renewed.Equal(clock.now.Add(-(ttl - time.Second))) {
		t.Errorf("renewal changed acquired or not renewed: %+v", l)
	}
	clock.Advance(2 * time.Second) // a stopped renewing: lapsed
	must(store.LeaseWorker, "b", true)
	must(store.LeaseWorker, "a", false)
	if l, _ := db.LeaseByName(ctx, store.LeaseWorker); l.Holder != "b" || !l.Acquired.Equal(clock.now) {
		t.Errorf("after take-over: %+v", l)
	}
	// A release by someone else does nothing; by the holder frees it.
	if err := db.ReleaseLease(ctx, store.LeaseWorker, "a"); err != nil {
		t.Fatal(err)
	}
	must(store.LeaseWorker, "a", false)
	if err := db.ReleaseLease(ctx, store.LeaseWorker, "b"); err != nil {
		t.Fatal(err)
	}
	must(store.LeaseWorker, "a", true)
}

// TestLeaseOneWinner: holders racing for a free lease from two handles on
// one database (as two processes would): exactly one wins each round.
func TestLeaseOneWinner(t *testing.T) { storetest.EachEngine(t, testLeaseOneWinner) }

func testLeaseOneWinner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	pgURL := ""
	if storetest.IsPostgres(t) {
		pgURL = storetest.NewDatabase(t)
	}
	var dbs []*store.DB
	for range 2 {
		db, err := store.OpenDatabase(ctx, pgURL, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	for round := range 20 {
		name := "race-" + string(rune('a'+round))
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := dbs[i%2].AcquireLease(ctx, name, "holder-"+string(rune('0'+i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, winners)
		}
	}
}

// TestInstanceAlive: an instance is alive while its heartbeat lease holds;
// unknown, lapsed and released instances are not; old ones are pruned.
func TestInstanceAlive(t *testing.T) { storetest.EachEngine(t, testInstanceAlive) }

func testInstanceAlive(t *testing.T) {
	ctx := context.Background()
	db, clock := openFoundation(t)
	alive := func(id string) bool {
		t.Helper()
		a, err := db.InstanceAlive(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if alive("i-x") {
		t.Error("an instance never seen is alive")
	}
	for _, id := range []string{"i-x", "i-y"} {
		if ok, err := db.AcquireLease(ctx, store.InstanceLease(id), id, 10*time.Second); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if !alive("i-x") || !alive("i-y") {
		t.Error("heartbeats held, instances not alive")
	}
	if err := db.ReleaseLease(ctx, store.InstanceLease("i-y"), "i-y"); err != nil {
		t.Fatal(err)
	}
	if alive("i-y") {
		t.Error("released instance alive")
	}
	clock.Advance(11 * time.Second)
	if alive("i-x") {
		t.Error("lapsed instance alive")
	}
	if ok, _ := db.AcquireLease(ctx, store.LeaseWorker, "i-z", time.Second); !ok {
		t.Fatal("worker lease")
	}
	clock.Advance(48 * time.Hour)
	n, err := db.PruneInstanceLeases(ctx, clock.now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("pruned %d, %v; want 1", n, err)
	}
	if _, err := db.LeaseByName(ctx, store.LeaseWorker); err != nil {
		t.Errorf("the worker lease was pruned: %v", err)
	}
	if _, err := db.LeaseByName(ctx, store.InstanceLease("i-x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old heartbeat kept: %v", err)
	}
}
