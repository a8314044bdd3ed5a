package store_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestRefusalDiagnosisKept: a refusal's diagnosis and kept delivery are
// read back by RefusalByID (not by the log); kept deliveries with another
// keep key get rows of their own within the minute; a body over
// MaxKeptBody is not kept; a re-verify is recorded with its audit entry;
// RefusalKinds counts attempts by kind and the busiest minute.
func TestRefusalDiagnosisKept(t *testing.T) { storetest.EachEngine(t, testRefusalDiagnosisKept) }

func testRefusalDiagnosisKept(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	body := []byte(`{"id":"EV-K1","resource":{"ciphertext":"AAAA"}}`)
	kept := store.Refusal{RemoteAddr: "203.0.113.9", Reason: "unknown_serial", Serial: "PUB_KEY_ID_X", NotificationID: "EV-K1",
		Kind: "unknown_key", Step: "signature", Timestamp: "1700000000", Skew: -3, SkewKnown: true, BodyRead: true, BodySize: len(body),
		BodySHA256: "abc", RawHeaders: `{"Wechatpay-Serial":"PUB_KEY_ID_X"}`, RawBody: body, KeepKey: "EV-K1"}
	for _, r := range []store.Refusal{kept, kept} {
		if err := db.RecordRefusal(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	other := kept
	other.NotificationID, other.KeepKey = "EV-K2", "EV-K2"
	big := kept
	big.NotificationID, big.KeepKey, big.RawBody = "EV-K3", "EV-K3", bytes.Repeat([]byte("x"), store.MaxKeptBody+1)
	probe := store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature", Kind: "probe", KeepKey: "probe"}
	forged := store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature", Kind: "forged"}
	for _, r := range []store.Refusal{other, big, probe, forged, forged} {
		if err := db.RecordRefusal(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.RefusalLog(ctx, store.RefusalFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5 (two kept ids, the big one, the probe, the forgeries): %+v", len(rows), rows)
	}
	byID := map[string]store.Refusal{}
	for _, r := range rows {
		byID[r.NotificationID+"/"+r.Kind] = r
	}
	k1, ok := byID["EV-K1/unknown_key"]
	if !ok || k1.Count != 2 || k1.RawBody != nil {
		t.Fatalf("EV-K1 row = %+v (the log reads no body)", k1)
	}
	got, err := db.RefusalByID(ctx, k1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Kept() || !bytes.Equal(got.RawBody, body) || got.RawHeaders != kept.RawHeaders || got.Step != "signature" ||
		got.Skew != -3 || !got.SkewKnown || got.BodySize != len(body) || !got.BodyRead || got.Timestamp != "1700000000" || got.Reverify != nil {
		t.Errorf("RefusalByID = %+v", got)
	}
	bigRow, err := db.RefusalByID(ctx, byID["EV-K3/unknown_key"].ID)
	if err != nil || bigRow.Kept() {
		t.Errorf("body over MaxKeptBody kept: %+v, %v", bigRow, err)
	}
	if _, err := db.RefusalByID(ctx, 99999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}

	clock.Advance(time.Minute)
	if err := db.MarkRefusalReverified(ctx, k1.ID, store.Reverification{By: "admin", Outcome: "accepted"},
		store.AuditEntry{Username: "admin", Action: "notification.reverify", Target: "refusal:1", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err = db.RefusalByID(ctx, k1.ID)
	if err != nil || got.Reverify == nil || got.Reverify.Outcome != "accepted" || got.Reverify.By != "admin" || !got.Reverify.At.Equal(clock.Now()) {
		t.Errorf("re-verify = %+v, %v", got.Reverify, err)
	}
	if entries, err := db.AuditLog(ctx, store.AuditFilter{Action: "notification.reverify", Limit: 10}); err != nil || len(entries) != 1 {
		t.Errorf("audit = %d entries, %v; want 1", len(entries), err)
	}

	kinds, peak, err := db.RefusalKinds(ctx, clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"unknown_key": 4, "forged": 2, "probe": 1}
	if len(kinds) != len(want) || peak != 7 {
		t.Fatalf("kinds = %+v, peak %d; want %v, peak 7", kinds, peak, want)
	}
	for _, k := range kinds {
		if want[k.Kind] != k.Count {
			t.Errorf("%s = %d, want %d", k.Kind, k.Count, want[k.Kind])
		}
	}
}

// TestRefusalKeptPerMinuteBounded: unverified refusals with ever new keep
// keys from one address get rows of their own up to MaxKeptPerMinute a
// minute; the rest are aggregated into one row, their deliveries not kept;
// the next minute has a new share.
func TestRefusalKeptPerMinuteBounded(t *testing.T) {
	storetest.EachEngine(t, testRefusalKeptPerMinuteBounded)
}

func testRefusalKeptPerMinuteBounded(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	send := func(n int, prefix string) {
		for i := range n {
			id := prefix + strconv.Itoa(i)
			if err := db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.66", Reason: "bad_signature", Kind: "forged",
				NotificationID: id, KeepKey: id, RawHeaders: `{}`, RawBody: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(store.MaxKeptPerMinute+20, "A")
	rows, err := db.RefusalLog(ctx, store.RefusalFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != store.MaxKeptPerMinute+1 {
		t.Fatalf("%d rows, want %d kept and one aggregated", len(rows), store.MaxKeptPerMinute+1)
	}
	kept, total := 0, 0
	for _, r := range rows {
		full, err := db.RefusalByID(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if full.Kept() {
			kept++
		}
		total += r.Count
	}
	if kept != store.MaxKeptPerMinute || total != store.MaxKeptPerMinute+20 {
		t.Errorf("kept %d, counted %d; want %d, %d", kept, total, store.MaxKeptPerMinute, store.MaxKeptPerMinute+20)
	}
	clock.Advance(time.Minute)
	send(1, "B")
	if r := lastRow(t, db); r.NotificationID != "B0" {
		t.Errorf("next minute: newest row %+v, want B0 kept in a row of its own", r)
	} else if full, _ := db.RefusalByID(ctx, r.ID); !full.Kept() {
		t.Error("next minute: not kept")
	}
}

func lastRow(t *testing.T, db *store.DB) store.Refusal {
	t.Helper()
	rows, err := db.RefusalLog(context.Background(), store.RefusalFilter{Limit: 1})
	if err != nil || len(rows) != 1 {
		t.Fatalf("refusal log: %v", err)
	}
	return rows[0]
}
