package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// TestPurgeCommand: purge --days N deletes the notifications last received
// more than N days ago with their deliveries, audited once
// (callbacks.purge, by cli); N below the 3-day retry horizon is refused and
// deletes nothing; a notification delivered again within the horizon keeps
// its id (a retry stays a duplicate).
func TestPurgeCommand(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := openDB(t, path)
	now := time.Now()
	at := now
	db.Now = func() time.Time { return at }
	rec := func(id string, when time.Time) {
		t.Helper()
		at = when
		if _, err := db.RecordNotification(ctx, store.Notification{NotificationID: id, EventType: store.EventOpen, AuthorizationCode: "P-" + id,
			SubMchID: "1900000001", OpenID: "oP", OpenOrCloseTime: when, Envelope: []byte(`{}`), Payload: []byte(`{}`), RemoteAddr: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	rec("OLD", now.Add(-10*24*time.Hour))
	rec("OLD", now.Add(-10*24*time.Hour+time.Minute)) // a second delivery, as old
	rec("RETRIED", now.Add(-4*24*time.Hour))
	rec("RETRIED", now.Add(-2*24*time.Hour)) // delivered again two days ago
	rec("NEW", now.Add(-24*time.Hour))
	db.Close()

	for _, days := range []string{"2", "0", "-1"} {
		code, _, errOut := runCLI(t, path, "", "purge", "--days", days)
		if code != exitConfig || !strings.Contains(errOut, "at least 3") {
			t.Errorf("--days %s: exit %d, stderr %q; want a refusal", days, code, errOut)
		}
	}
	code, out, errOut := runCLI(t, path, "", "purge", "--days", "3")
	if code != exitOK || out != "purged 1 notifications received more than 3 days ago\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	db = openDB(t, path)
	defer db.Close()
	counts, err := db.DeliveryCounts(ctx, []string{"OLD", "RETRIED", "NEW"})
	if err != nil {
		t.Fatal(err)
	}
	if counts["OLD"] != 0 || counts["RETRIED"] != 2 || counts["NEW"] != 1 {
		t.Errorf("delivery counts after the purge = %v", counts)
	}
	var orphans int
	if err := openSQL(t, path).QueryRow(`SELECT count(*) FROM callback_deliveries WHERE callback_id NOT IN (SELECT id FROM callbacks)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("deliveries left without their notification: %d, %v", orphans, err)
	}
	entries, err := db.AuditLog(ctx, store.AuditFilter{Action: service.AuditCallbacksPurge})
	if err != nil || len(entries) != 1 || entries[0].Username != "cli" || !strings.Contains(entries[0].Detail, "older_than=3d") || !strings.Contains(entries[0].Detail, "rows=1") {
		t.Fatalf("audit = %+v, %v", entries, err)
	}
	// The kept id still makes a retry a duplicate.
	if got, err := db.RecordNotification(ctx, store.Notification{NotificationID: "RETRIED", EventType: store.EventOpen, AuthorizationCode: "P-RETRIED",
		SubMchID: "1900000001", OpenID: "oP", OpenOrCloseTime: now, Envelope: []byte(`{}`), Payload: []byte(`{}`), RemoteAddr: "127.0.0.1"}); err != nil || got != store.OutcomeDuplicate {
		t.Errorf("retry after the purge: %s, %v; want duplicate", got, err)
	}
}

// TestPurgeCallbacksBatches: a purge larger than one transaction deletes
// every due row over several, with one audit entry.
func TestPurgeCallbacksBatches(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	defer db.Close()
	now := time.Now()
	// 6,000 notifications spread evenly over the 30 days before now.
	if err := db.SeedCallbacks(ctx, 6000, []string{"1900000001"}, now); err != nil {
		t.Fatal(err)
	}
	n, err := service.PurgeCallbacks(ctx, db, service.Actor{Username: "cli"}, 10*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3900 || n > 4100 {
		t.Errorf("purged %d, want about 4,000 (20 of 30 days)", n)
	}
	var left, oldest int
	raw := openSQL(t, db.Path)
	if err := raw.QueryRow(`SELECT count(*), coalesce(sum(first_received_at < ?), 0) FROM callbacks`, now.Add(-10*24*time.Hour).UTC().Format("2006-01-02T15:04:05.000000000Z")).Scan(&left, &oldest); err != nil {
		t.Fatal(err)
	}
	if int64(left)+n != 6000 || oldest != 0 {
		t.Errorf("left %d (+%d purged), %d older than the cutoff", left, n, oldest)
	}
	if entries, _ := db.AuditLog(ctx, store.AuditFilter{Action: service.AuditCallbacksPurge}); len(entries) != 1 {
		t.Errorf("%d audit entries, want 1", len(entries))
	}
	if _, err := service.PurgeCallbacks(ctx, db, service.Actor{Username: "cli"}, 2*24*time.Hour, now); service.KindOf(err) != service.Invalid {
		t.Errorf("2 days: %v, want Invalid", err)
	}
}
