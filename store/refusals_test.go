package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestRefusalsAggregated: the same reason from the same address within a
// minute is one row with a count and the first and last time; another
// address, reason or minute is another row; a verified refusal keeps a row
// per notification id.
func TestRefusalsAggregated(t *testing.T) { storetest.EachEngine(t, testRefusalsAggregated) }

func testRefusalsAggregated(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	first := clock.Now()
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature", NotificationID: fmt.Sprint("junk", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	clock.Advance(30 * time.Second)
	last := clock.Now()
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature"})
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.10", Reason: "bad_signature"})
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_timestamp"})
	for _, id := range []string{"EV1", "EV2", "EV2"} {
		db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "not_owner", NotificationID: id, Verified: true})
	}
	clock.Advance(time.Minute)
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature"})

	rows, err := db.RefusalLog(ctx, store.RefusalFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), 6; got != want {
		t.Fatalf("%d rows, want %d: %+v", got, want, rows)
	}
	var flood *store.Refusal
	for i := range rows {
		if rows[i].Reason == "bad_signature" && rows[i].RemoteAddr == "203.0.113.9" && rows[i].Count > 1 {
			flood = &rows[i]
		}
	}
	if flood == nil || flood.Count != 501 || !flood.ReceivedAt.Equal(first) || !flood.LastAt.Equal(last) {
		t.Fatalf("flood row = %+v; want count 501, first %v, last %v", flood, first, last)
	}
	byID, _ := db.RefusalLog(ctx, store.RefusalFilter{NotificationID: "EV2", Limit: 10})
	if len(byID) != 1 || byID[0].Count != 2 {
		t.Errorf("verified refusals of EV2 = %+v, want one row counted twice", byID)
	}
	o, err := db.OverviewFigures(ctx, clock.Now(), clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.Refusals24h, 501+1+1+3+1; got != want {
		t.Errorf("Refusals24h = %d, want %d (the attempts, not the rows)", got, want)
	}
	var daily int
	if err := db.TestReader().QueryRow(`SELECT coalesce(sum(n), 0) FROM daily_counts WHERE metric = 'refused'`).Scan(&daily); err != nil {
		t.Fatal(err)
	}
	if got, want := daily, 501+1+1+3+1; got != want {
		t.Errorf("daily refused count = %d, want %d (the charts count attempts)", got, want)
	}
}

// TestRefusalsBounded: the log is kept by age (retention) and its size is
// capped without pushing old rows out: at the cap, a new unverified row is
// counted in the minute's overflow row instead; verified refusals still get
// theirs.
func TestRefusalsBounded(t *testing.T) { storetest.EachEngine(t, testRefusalsBounded) }

func testRefusalsBounded(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	const maxRows = 20
	db.SetRefusalLimits(30*24*time.Hour, maxRows)
	// The forensic record: one refusal, a day before the flood.
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "198.51.100.1", Reason: "bad_signature", NotificationID: "EVIDENCE"})
	clock.Advance(24 * time.Hour)
	// A flood from 200 addresses.
	for i := range 200 {
		if err := db.RecordRefusal(ctx, store.Refusal{RemoteAddr: fmt.Sprintf("10.1.%d.%d", i/250, i%250), Reason: "bad_signature"}); err != nil {
			t.Fatal(err)
		}
	}
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.1", Reason: "not_owner", NotificationID: "EV-SIGNED", Verified: true})
	count := func() (n int) {
		t.Helper()
		if err := db.TestReader().QueryRow(`SELECT count(*) FROM callback_refusals`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n > maxRows+2 {
		t.Errorf("%d rows after the flood, want at most %d (cap, the overflow row, the verified one)", n, maxRows+2)
	}
	if rows, _ := db.RefusalLog(ctx, store.RefusalFilter{NotificationID: "EVIDENCE", Limit: 1}); len(rows) != 1 {
		t.Error("the flood pushed the earlier refusal out")
	}
	if rows, _ := db.RefusalLog(ctx, store.RefusalFilter{NotificationID: "EV-SIGNED", Limit: 1}); len(rows) != 1 {
		t.Error("a verified refusal was folded away at the cap")
	}
	var overflow int
	if err := db.TestReader().QueryRow(`SELECT coalesce(sum(count), 0) FROM callback_refusals WHERE reason = $1`, store.OverflowReason).Scan(&overflow); err != nil {
		t.Fatal(err)
	}
	if got, want := overflow, 200-(maxRows-1); got != want {
		t.Errorf("overflow counted %d attempts, want %d", got, want)
	}
	// Past retention, rows go (pruned by the writer, once a minute).
	clock.Advance(30*24*time.Hour + time.Hour)
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.2", Reason: "bad_timestamp"})
	if n := count(); n != 1 {
		t.Errorf("%d rows after retention, want 1 (the newest)", n)
	}
	// Under the cap again: new rows are rows again.
	db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.3", Reason: "bad_timestamp"})
	if n := count(); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}
