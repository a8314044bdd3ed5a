package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestDailyCountsFollowTheRows: notifications, refusals, terminations and
// links are counted per Beijing day by the triggers, in the same
// transaction as the rows.
func TestDailyCountsFollowTheRows(t *testing.T) {
	storetest.EachEngine(t, testDailyCountsFollowTheRows)
}

func testDailyCountsFollowTheRows(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	// 2026-11-01 17:00 UTC is 2026-11-02 01:00 in Beijing: the next day.
	now := time.Date(2026, 11, 1, 17, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")
	l, err := db.CreateLink(ctx, store.Link{Slug: "slug-aaaaaaaaaaaaaaaa", SubMerchantID: m.ID, AuthorizationCode: "C1", Token: "t",
		TokenExpiresAt: now.Add(time.Hour), NotifyURL: "https://example.com/n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordNotification(ctx, notification("EV-1", store.EventOpen, "C1", now)); err != nil {
		t.Fatal(err)
	}
	// A duplicate is one notification.
	if _, err := db.RecordNotification(ctx, notification("EV-1", store.EventOpen, "C1", now)); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "192.0.2.1", Reason: "bad_signature"}); err != nil {
		t.Fatal(err)
	}
	id, err := db.BeginTermination(ctx, store.Termination{AuthorizationCode: "C1", SubMchID: "1900000001", Reason: "r"}, store.AuditEntry{Action: "terminate.request"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishTermination(ctx, id, store.TerminationSucceeded, "rid", "", "", store.AuditEntry{Action: "terminate.result"}); err != nil {
		t.Fatal(err)
	}
	days, err := db.DailyCounts(ctx, "2026-11-01", "2026-11-02", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 1 || days[0].Day != "2026-11-02" {
		t.Fatalf("days = %+v, want one: 2026-11-02", days)
	}
	for metric, want := range map[string]int{store.MetricOpened: 1, store.MetricRefused: 1, store.MetricTerminated: 1, store.MetricLinksCreated: 1} {
		if got := days[0].Counts[metric]; got != want {
			t.Errorf("%s = %d, want %d", metric, got, want)
		}
	}
	one, err := db.DailyCounts(ctx, "2026-11-02", "2026-11-02", "1900000001")
	if err != nil {
		t.Fatal(err)
	}
	if got := one[0].Counts[store.MetricRefused]; got != 0 {
		t.Errorf("a sub-merchant's refusals = %d, want 0 (refusals belong to none)", got)
	}
	f, err := db.LinkFunnel(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f[store.FunnelNotified], 1; got != want {
		t.Errorf("notified = %d, want %d", got, want)
	}
}

// TestRecordFunnelStep: a visitor counts once within the window, again after
// it; another visitor counts.
func TestRecordFunnelStep(t *testing.T) { storetest.EachEngine(t, testRecordFunnelStep) }

func testRecordFunnelStep(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	now := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")
	l, err := db.CreateLink(ctx, store.Link{Slug: "slug-aaaaaaaaaaaaaaaa", SubMerchantID: m.ID, AuthorizationCode: "C1", Token: "t",
		TokenExpiresAt: now.Add(time.Hour), NotifyURL: "https://example.com/n"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		after   time.Duration
		visitor string
		want    bool
	}{
		{"FirstCounts", 0, "v1", true},
		{"RepeatWithinAMinuteDoesNot", 30 * time.Second, "v1", false},
		{"AnotherVisitorCounts", 31 * time.Second, "v2", true},
		{"AfterAMinuteCountsAgain", 61 * time.Second, "v1", true},
	}
	for _, s := range steps {
		now = now.Add(s.after)
		got, err := db.RecordFunnelStep(ctx, l.ID, store.FunnelOpened, s.visitor, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Errorf("%s: counted = %v, want %v", s.name, got, s.want)
		}
	}
	f, err := db.LinkFunnel(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f[store.FunnelOpened], 3; got != want {
		t.Errorf("opened = %d, want %d", got, want)
	}
	days, err := db.DailyCounts(ctx, store.Day(now), store.Day(now), "1900000001")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := days[0].Counts[store.FunnelMetric(store.FunnelOpened)], 3; got != want {
		t.Errorf("day's opened = %d, want %d", got, want)
	}
}

// TestClaimAutoRenew: one claim per gap, none when switched off.
func TestClaimAutoRenew(t *testing.T) { storetest.EachEngine(t, testClaimAutoRenew) }

func testClaimAutoRenew(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	now := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")
	l, err := db.CreateLink(ctx, store.Link{Slug: "slug-aaaaaaaaaaaaaaaa", SubMerchantID: m.ID, AuthorizationCode: "C1", Token: "t",
		TokenExpiresAt: now, NotifyURL: "https://example.com/n"})
	if err != nil {
		t.Fatal(err)
	}
	if !l.AutoRenew {
		t.Fatal("a new link's auto-renewal is off, want on")
	}
	claim := func() bool {
		ok, err := db.ClaimAutoRenew(ctx, l.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim() {
		t.Error("first claim refused")
	}
	now = now.Add(59 * time.Second)
	if claim() {
		t.Error("second claim within a minute granted")
	}
	now = now.Add(2 * time.Second)
	if !claim() {
		t.Error("claim after a minute refused")
	}
	if err := db.SetLinkAutoRenewAudited(ctx, l.ID, false, store.AuditEntry{Action: "link.auto_renew", Target: "C1"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if claim() {
		t.Error("claim granted with auto-renewal off")
	}
	got, err := db.LinkByID(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AutoRenew || got.AutoRenewedAt == nil {
		t.Errorf("link = auto_renew %v, auto_renewed_at %v; want off and set", got.AutoRenew, got.AutoRenewedAt)
	}
}

// TestSeedHistory: 30 days of history, none of it today, notifications in
// time order (their ids dense by time) and counted by day.
func TestSeedHistory(t *testing.T) { storetest.EachEngine(t, testSeedHistory) }

func testSeedHistory(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	now := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC) // 12:00 Beijing
	mustSubMerchant(t, db, "1900000001")
	mustSubMerchant(t, db, "1900000002")
	if err := db.SeedHistory(ctx, []string{"1900000001", "1900000002"}, now, 30, 7); err != nil {
		t.Fatal(err)
	}
	days, err := db.DailyCounts(ctx, store.Day(now.AddDate(0, 0, -40)), store.Day(now), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) < 28 {
		t.Fatalf("%d days with counts, want about 30", len(days))
	}
	var links, opened, agreed int
	for _, d := range days {
		if d.Day == store.Day(now) {
			t.Errorf("history on today (%s): %v", d.Day, d.Counts)
		}
		links += d.Counts[store.MetricLinksCreated]
		opened += d.Counts[store.FunnelMetric(store.FunnelOpened)]
		agreed += d.Counts[store.MetricOpened]
	}
	if !(links > opened && opened > agreed && agreed > 0) {
		t.Errorf("links %d, opened %d, agreed %d: want a narrowing funnel", links, opened, agreed)
	}
	o, err := db.OverviewFigures(ctx, now, now)
	if err != nil {
		t.Fatal(err)
	}
	if o.Callbacks24h != 0 {
		t.Errorf("callbacks in the last 24 h = %d, want 0 (history ends a day ago)", o.Callbacks24h)
	}
}
