package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// logClock is a clock several goroutines (the group-commit writer) read.
type logClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *logClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *logClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func openLogDB(t *testing.T) (*store.DB, *logClock) {
	t.Helper()
	db := openTestDB(t)
	clock := &logClock{now: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
	db.Now = clock.Now
	return db, clock
}

func TestCallbacksTimeRange(t *testing.T) { storetest.EachEngine(t, testCallbacksTimeRange) }

func testCallbacksTimeRange(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	start := clock.Now()
	// One notification an hour for two days.
	for i := range 48 {
		if _, err := db.RecordNotification(ctx, notification(fmt.Sprintf("EV-%02d", i), store.EventOpen, "C1", clock.Now())); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"From", start.Add(40 * time.Hour), time.Time{}, 8},
		{"To", time.Time{}, start.Add(10 * time.Hour), 10},
		{"Both", start.Add(5 * time.Hour), start.Add(15 * time.Hour), 10},
		{"BetweenRows", start.Add(5*time.Hour + time.Minute), start.Add(5*time.Hour + 2*time.Minute), 0},
		{"AfterAll", start.Add(100 * time.Hour), time.Time{}, 0},
		{"BeforeAll", time.Time{}, start.Add(-time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Callbacks(ctx, store.CallbackFilter{From: tt.from, To: tt.to, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d rows, want %d", len(got), tt.want)
			}
			for _, cb := range got {
				if (!tt.from.IsZero() && cb.FirstReceivedAt.Before(tt.from)) || (!tt.to.IsZero() && !cb.FirstReceivedAt.Before(tt.to)) {
					t.Errorf("row received %v is outside [%v, %v)", cb.FirstReceivedAt, tt.from, tt.to)
				}
			}
		})
	}
	t.Run("AuditBoth", func(t *testing.T) {
		db, clock := openLogDB(t)
		for i := range 24 {
			if err := db.Audit(ctx, store.AuditEntry{Action: "test", Target: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
		}
		got, err := db.AuditLog(ctx, store.AuditFilter{From: start.Add(3 * time.Hour), To: start.Add(7 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var targets []string
		for _, e := range got {
			targets = append(targets, e.Target)
		}
		if got, want := strings.Join(targets, ","), "6,5,4,3"; got != want {
			t.Errorf("targets = %s, want %s", got, want)
		}
	})
}

func TestCallbacksPollingAfter(t *testing.T) { storetest.EachEngine(t, testCallbacksPollingAfter) }

func testCallbacksPollingAfter(t *testing.T) {
	ctx := context.Background()
	db, _ := openLogDB(t)
	for i := range 10 {
		if _, err := db.RecordNotification(ctx, notification(fmt.Sprintf("EV-%02d", i), store.EventOpen, fmt.Sprintf("C%d", i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.Callbacks(ctx, store.CallbackFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	oldest := all[len(all)-1].ID
	// Three at a time above the oldest: the oldest three new ones first, so
	// that polls in turn miss none.
	var seen []int64
	after := oldest
	for {
		page, err := db.Callbacks(ctx, store.CallbackFilter{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := 1; i < len(page); i++ {
			if page[i].ID >= page[i-1].ID {
				t.Fatalf("poll page not newest first: %d then %d", page[i-1].ID, page[i].ID)
			}
		}
		for _, cb := range page {
			seen = append(seen, cb.ID)
		}
		after = page[0].ID
	}
	if got, want := len(seen), 9; got != want {
		t.Errorf("polls saw %d rows, want %d", got, want)
	}
}

func TestRefusalLog(t *testing.T) { storetest.EachEngine(t, testRefusalLog) }

func testRefusalLog(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	start := clock.Now()
	for i := range 12 {
		if err := db.RecordRefusal(ctx, store.Refusal{RemoteAddr: "203.0.113.9", Reason: "bad_signature", NotificationID: fmt.Sprintf("N%d", i%3)}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	tests := []struct {
		name string
		f    store.RefusalFilter
		want int
	}{
		{"All", store.RefusalFilter{Limit: 100}, 12},
		{"NotificationID", store.RefusalFilter{NotificationID: "N1", Limit: 100}, 4},
		{"From", store.RefusalFilter{From: start.Add(10 * time.Hour), Limit: 100}, 2},
		{"To", store.RefusalFilter{To: start.Add(3 * time.Hour), Limit: 100}, 3},
		{"Page", store.RefusalFilter{Limit: 5}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.RefusalLog(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d, want %d", len(got), tt.want)
			}
		})
	}
	t.Run("KeysetPagesCoverAllOnce", func(t *testing.T) {
		seen := map[int64]bool{}
		var before int64
		for {
			page, err := db.RefusalLog(ctx, store.RefusalFilter{Before: before, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				if seen[r.ID] {
					t.Fatalf("refusal %d twice", r.ID)
				}
				seen[r.ID] = true
			}
			before = page[len(page)-1].ID
		}
		if got, want := len(seen), 12; got != want {
			t.Errorf("pages covered %d, want %d", got, want)
		}
	})
}

func TestOverviewFigures(t *testing.T) { storetest.EachEngine(t, testOverviewFigures) }

func testOverviewFigures(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	m := mustSubMerchant(t, db, "1900000001")
	figures := func(t *testing.T) store.Overview {
		t.Helper()
		now := clock.Now()
		o, err := db.OverviewFigures(ctx, now, now.Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if got, want := figures(t), (store.Overview{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("empty database: %+v, want zeros", got)
	}
	link := func(code string, expires time.Duration) {
		t.Helper()
		if _, err := db.CreateLink(ctx, store.Link{Slug: "s-" + code, SubMerchantID: m.ID, AuthorizationCode: code, Token: "tok",
			TokenExpiresAt: clock.Now().Add(expires), NotifyURL: "https://example.com/notify/payscore"}); err != nil {
			t.Fatal(err)
		}
	}
	link("A", time.Hour)
	link("B", time.Hour)
	link("C", -time.Minute) // its token has expired: no longer awaiting anyone
	if got, want := figures(t).AwaitingUser, 2; got != want {
		t.Errorf("awaiting = %d, want %d", got, want)
	}
	if _, err := db.RecordNotification(ctx, notification("EV-A", store.EventOpen, "A", clock.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordNotification(ctx, notification("EV-C", store.EventOpen, "C", clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordRefusal(ctx, store.Refusal{Reason: "bad_signature"}); err != nil {
		t.Fatal(err)
	}
	o := figures(t)
	keys := o.NotificationKeys
	o.NotificationKeys = nil // checked in TestOverviewNotificationKeys
	if len(keys) != 1 || keys[0].Deliveries != 2 {
		t.Errorf("keys = %+v, want one serial with 2 deliveries", keys)
	}
	if got, want := o, (store.Overview{ActiveAuthorizations: 2, AwaitingUser: 1, Callbacks24h: 2, Refusals24h: 1}); !reflect.DeepEqual(got, want) {
		t.Errorf("after two opens and a refusal: %+v, want %+v", got, want)
	}
	id, err := db.BeginTermination(ctx, store.Termination{AuthorizationCode: "A", SubMchID: m.SubMchID, Reason: "test"}, store.AuditEntry{Action: "terminate"})
	if err != nil {
		t.Fatal(err)
	}
	if got := figures(t).TerminatedToday; got != 0 {
		t.Errorf("pending termination counted: %d", got)
	}
	if err := db.FinishTermination(ctx, id, store.TerminationSucceeded, "REQ", "", "", store.AuditEntry{Action: "terminate"}); err != nil {
		t.Fatal(err)
	}
	o = figures(t)
	if got, want := o.TerminatedToday, 1; got != want {
		t.Errorf("terminated today = %d, want %d", got, want)
	}
	if got, want := o.ActiveAuthorizations, 1; got != want {
		t.Errorf("active after termination = %d, want %d", got, want)
	}
	// A day later the 24-hour counts are empty again; the rest stays.
	clock.Advance(25 * time.Hour)
	o = figures(t)
	if o.Callbacks24h != 0 || o.Refusals24h != 0 || o.TerminatedToday != 0 || o.ActiveAuthorizations != 1 {
		t.Errorf("a day later: %+v", o)
	}
}

// TestAuthorizationCountsMatch checks the trigger-kept counts against a
// real count after every kind of change.
func TestAuthorizationCountsMatch(t *testing.T) {
	storetest.EachEngine(t, testAuthorizationCountsMatch)
}

func testAuthorizationCountsMatch(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	base := clock.Now()
	for i := range 20 {
		state := []string{store.StateUnbindUser, store.StateAvailable, store.StateUnavailable}[i%3]
		if _, err := db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: fmt.Sprint("K", i%7), SubMchID: "1", State: state,
			StateTime: base.Add(time.Duration(i%5) * time.Minute), Source: "query"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.TestReader().Query(`SELECT a.state, count(*), coalesce((SELECT n FROM authorization_counts c WHERE c.state = a.state), -1)
		FROM authorizations a GROUP BY a.state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var state string
		var real, kept int
		if err := rows.Scan(&state, &real, &kept); err != nil {
			t.Fatal(err)
		}
		total += real
		if real != kept {
			t.Errorf("%s: counted %d, kept %d", state, real, kept)
		}
	}
	var kept int
	if err := db.TestReader().QueryRow(`SELECT sum(n) FROM authorization_counts`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != total || total != 7 {
		t.Errorf("kept total %d, real total %d, want 7", kept, total)
	}
}

// TestOverviewNotificationKeys (issue 9, item 8): the overview says which
// key signed the notifications of the last 24 hours — every verified
// delivery, duplicates included, counted per Wechatpay-Serial — and forgets
// older hours.
func TestOverviewNotificationKeys(t *testing.T) {
	storetest.EachEngine(t, testOverviewNotificationKeys)
}

func testOverviewNotificationKeys(t *testing.T) {
	ctx := context.Background()
	db, clock := openLogDB(t)
	mustSubMerchant(t, db, "1900000001")
	deliver := func(id, serial string) {
		t.Helper()
		n := notification(id, store.EventOpen, "K-"+id, clock.Now())
		n.Serial = serial
		if _, err := db.RecordNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	const pub, oldCert, newCert = "PUB_KEY_ID_0112345", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "7C2F6E1A0B3D4E5F60718293A4B5C6D7E8F90A1B"
	deliver("EV-OLD", oldCert) // more than a day before the others
	clock.Advance(26 * time.Hour)
	deliver("EV-1", pub)
	deliver("EV-1", pub) // a duplicate delivery is signed too
	clock.Advance(time.Hour)
	deliver("EV-2", newCert)
	o, err := db.OverviewFigures(ctx, clock.Now(), clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.NotificationKey{{Serial: newCert, Deliveries: 1}, {Serial: pub, Deliveries: 2}}
	if len(o.NotificationKeys) != len(want) {
		t.Fatalf("keys = %+v, want %+v", o.NotificationKeys, want)
	}
	for i, k := range o.NotificationKeys {
		if k.Serial != want[i].Serial || k.Deliveries != want[i].Deliveries || k.LastReceived.IsZero() {
			t.Errorf("key %d = %+v, want %+v", i, k, want[i])
		}
	}
}
