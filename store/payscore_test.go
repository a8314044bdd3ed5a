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

// openTestDB opens a fresh store on the engine the (sub)test runs on:
// tests that call it run through storetest.EachEngine, on SQLite and on
// PostgreSQL.
func openTestDB(t testing.TB) *store.DB {
	t.Helper()
	return storetest.Open(t)
}

func mustSubMerchant(t testing.TB, db *store.DB, subMchID string) *store.SubMerchant {
	t.Helper()
	m, err := db.CreateSubMerchant(context.Background(), store.SubMerchant{SubMchID: subMchID, Name: "Shop " + subMchID})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func notification(id, event, code string, at time.Time) store.Notification {
	return store.Notification{NotificationID: id, EventType: event, AuthorizationCode: code, SubMchID: "1900000001",
		OpenID: "o-user", OpenOrCloseTime: at, Envelope: []byte(`{}`), Payload: []byte(`{}`), RemoteAddr: "127.0.0.1"}
}

func TestRecordNotification(t *testing.T) { storetest.EachEngine(t, testRecordNotification) }

func testRecordNotification(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	t.Run("ConcurrentDuplicatesRecordOnce", func(t *testing.T) {
		db := openTestDB(t)
		var wg sync.WaitGroup
		outcomes := make(chan string, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, err := db.RecordNotification(ctx, notification("EV-1", store.EventOpen, "CODE1", t0))
				if err != nil {
					t.Error(err)
				}
				outcomes <- o
			}()
		}
		wg.Wait()
		close(outcomes)
		counts := map[string]int{}
		for o := range outcomes {
			counts[o]++
		}
		if got, want := counts[store.OutcomeAccepted], 1; got != want {
			t.Errorf("accepted = %d, want %d (%v)", got, want, counts)
		}
		if got, want := counts[store.OutcomeDuplicate], 49; got != want {
			t.Errorf("duplicates = %d, want %d", got, want)
		}
		cbs, err := db.Callbacks(ctx, store.CallbackFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cbs) != 1 || cbs[0].Deliveries != 50 {
			t.Fatalf("callbacks = %+v, want one with 50 deliveries", cbs)
		}
		_, deliveries, err := db.CallbackByID(ctx, cbs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(deliveries), 50; got != want {
			t.Errorf("deliveries = %d, want %d", got, want)
		}
	})

	t.Run("OlderCloseLeavesNewerOpen", func(t *testing.T) {
		db := openTestDB(t)
		if o, err := db.RecordNotification(ctx, notification("EV-open", store.EventOpen, "CODE2", t0.Add(time.Minute))); err != nil || o != store.OutcomeAccepted {
			t.Fatalf("open: %q, %v", o, err)
		}
		o, err := db.RecordNotification(ctx, notification("EV-close-old", store.EventClose, "CODE2", t0))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o, store.OutcomeStale; got != want {
			t.Errorf("outcome = %q, want %q", got, want)
		}
		a, err := db.AuthorizationByCode(ctx, "CODE2")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.State, store.StateAvailable; got != want {
			t.Errorf("state = %q, want %q", got, want)
		}
		if a.OpenID != "o-user" || a.SuccessTime == nil || !a.SuccessTime.Equal(t0.Add(time.Minute)) {
			t.Errorf("authorization = %+v", a)
		}
	})

	t.Run("NewerCloseWins", func(t *testing.T) {
		db := openTestDB(t)
		for _, n := range []store.Notification{
			notification("EV-a", store.EventOpen, "CODE3", t0),
			notification("EV-b", store.EventClose, "CODE3", t0.Add(time.Hour)),
		} {
			if _, err := db.RecordNotification(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		a, err := db.AuthorizationByCode(ctx, "CODE3")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != store.StateUnavailable || a.CancelTime == nil || a.SuccessTime == nil {
			t.Errorf("authorization = %+v, want UNAVAILABLE with both times", a)
		}
	})

	t.Run("FailsWhenClosed", func(t *testing.T) {
		db := openTestDB(t)
		db.Close()
		if _, err := db.RecordNotification(ctx, notification("EV-x", store.EventOpen, "C", t0)); err == nil {
			t.Fatal("recorded into a closed database")
		}
	})
}

func TestCallbackFilters(t *testing.T) { storetest.EachEngine(t, testCallbackFilters) }

func testCallbackFilters(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range 30 {
		ev := store.EventOpen
		if i%3 == 0 {
			ev = store.EventClose
		}
		if _, err := db.RecordNotification(ctx, notification(fmt.Sprintf("EV-%02d", i), ev, fmt.Sprintf("C%d", i%5), t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RecordNotification(ctx, notification("EV-05", store.EventOpen, "C0", t0)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.CallbackFilter
		want int
	}{
		{"All", store.CallbackFilter{Limit: 100}, 30},
		{"EventType", store.CallbackFilter{EventType: store.EventClose, Limit: 100}, 10},
		{"Code", store.CallbackFilter{AuthorizationCode: "C1", Limit: 100}, 6},
		{"Duplicates", store.CallbackFilter{Outcome: store.OutcomeDuplicate, Limit: 100}, 1},
		{"OpenID", store.CallbackFilter{OpenID: "o-user", Limit: 100}, 30},
		{"OpenIDOther", store.CallbackFilter{OpenID: "nobody", Limit: 100}, 0},
		{"Page", store.CallbackFilter{Limit: 7}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Callbacks(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d rows, want %d", len(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID >= got[i-1].ID {
					t.Fatalf("not newest first at %d", i)
				}
			}
		})
	}
	t.Run("KeysetPagesCoverAllOnce", func(t *testing.T) {
		seen := map[int64]bool{}
		var before int64
		for {
			page, err := db.Callbacks(ctx, store.CallbackFilter{Before: before, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, cb := range page {
				if seen[cb.ID] {
					t.Fatalf("row %d twice", cb.ID)
				}
				seen[cb.ID] = true
			}
			before = page[len(page)-1].ID
		}
		if got, want := len(seen), 30; got != want {
			t.Errorf("pages covered %d rows, want %d", got, want)
		}
	})
}

func TestTerminationsOnePending(t *testing.T) { storetest.EachEngine(t, testTerminationsOnePending) }

func testTerminationsOnePending(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	term := store.Termination{AuthorizationCode: "C1", SubMchID: "1900000001", Reason: "用户要求"}
	id, err := db.BeginTermination(ctx, term, store.AuditEntry{Action: "terminate.request", Target: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginTermination(ctx, term, store.AuditEntry{Action: "terminate.request", Target: "C1"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second pending termination: err = %v, want ErrConflict", err)
	}
	pending, err := db.PendingTerminations(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending = %v, %v", pending, err)
	}
	if err := db.FinishTermination(ctx, id, store.TerminationSucceeded, "REQ-1", "", "", store.AuditEntry{Action: "terminate.result", Target: "C1", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	a, err := db.AuthorizationByCode(ctx, "C1")
	if err != nil || a.State != store.StateUnavailable {
		t.Fatalf("authorization after termination = %+v, %v", a, err)
	}
	if _, err := db.BeginTermination(ctx, term, store.AuditEntry{Action: "terminate.request", Target: "C1"}); err != nil {
		t.Fatalf("a new termination after the first finished: %v", err)
	}
	entries, err := db.AuditLog(ctx, store.AuditFilter{Target: "C1"})
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit entries = %d, %v; want 3", len(entries), err)
	}
}

func TestLinksAndAuthorizations(t *testing.T) { storetest.EachEngine(t, testLinksAndAuthorizations) }

func testLinksAndAuthorizations(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	m := mustSubMerchant(t, db, "1900000001")
	if _, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "dup"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate sub_mchid: %v", err)
	}
	l, err := db.CreateLink(ctx, store.Link{Slug: "s1", SubMerchantID: m.ID, AuthorizationCode: "CODE-1", Token: "tok",
		TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: "https://example.com/notify/payscore"})
	if err != nil {
		t.Fatal(err)
	}
	if l.State != store.StateUnbindUser || l.SubMchID != "1900000001" {
		t.Errorf("link = %+v", l)
	}
	if _, err := db.CreateLink(ctx, store.Link{Slug: "s2", SubMerchantID: m.ID, AuthorizationCode: "CODE-1", Token: "t", TokenExpiresAt: time.Now()}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("reused code: %v", err)
	}
	got, err := db.LinkBySlug(ctx, "s1")
	if err != nil || got.ID != l.ID {
		t.Fatalf("by slug: %+v, %v", got, err)
	}
	if err := db.LinkOpened(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.LinkByID(ctx, l.ID); got.Opens != 1 || got.LastOpenedAt == nil {
		t.Errorf("opens = %d", got.Opens)
	}
	list, err := db.Links(ctx, store.LinkFilter{State: store.StateUnbindUser})
	if err != nil || len(list) != 1 {
		t.Fatalf("links by state: %d, %v", len(list), err)
	}
	recon, err := db.LinksToReconcile(ctx, time.Now().Add(2*time.Hour), 10)
	if err != nil || len(recon) != 1 {
		t.Fatalf("links to reconcile: %d, %v", len(recon), err)
	}
}

// TestWritersBesideReaders: 50 goroutines × 100 writes beside readers, and
// never "database is locked".
func TestWritersBesideReaders(t *testing.T) { storetest.EachEngine(t, testWritersBesideReaders) }

func testWritersBesideReaders(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.Callbacks(ctx, store.CallbackFilter{Limit: 20}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for g := range 50 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 100 {
				var err error
				if i%2 == 0 {
					_, err = db.RecordNotification(ctx, notification(fmt.Sprintf("EV-%d-%d", g, i), store.EventOpen, fmt.Sprintf("C%d", g), time.Now()))
				} else {
					err = db.Audit(ctx, store.AuditEntry{Action: "test", Target: fmt.Sprint(g)})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	var n int
	if err := db.TestReader().QueryRow(`SELECT count(*) FROM callbacks`).Scan(&n); err != nil || n != 2500 {
		t.Fatalf("callbacks = %d, %v; want 2500", n, err)
	}
}

// TestSameSecondCloseWins: WeChat Pay's times have whole seconds, and an
// open and a close of the same second may arrive in either order; the
// close is the later event either way.
func TestSameSecondCloseWins(t *testing.T) { storetest.EachEngine(t, testSameSecondCloseWins) }

func testSameSecondCloseWins(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, order := range [][]string{{store.EventOpen, store.EventClose}, {store.EventClose, store.EventOpen}} {
		t.Run(order[0]+"First", func(t *testing.T) {
			db := openTestDB(t)
			for i, ev := range order {
				if _, err := db.RecordNotification(ctx, notification(fmt.Sprint("EV-", i), ev, "C", at)); err != nil {
					t.Fatal(err)
				}
			}
			a, err := db.AuthorizationByCode(ctx, "C")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := a.State, store.StateUnavailable; got != want {
				t.Errorf("state = %s, want %s", got, want)
			}
		})
	}
	t.Run("AgreeInTheSecondOfThePreAuthorization", func(t *testing.T) {
		db := openTestDB(t)
		db.Now = func() time.Time { return at.Add(700 * time.Millisecond) }
		m := mustSubMerchant(t, db, "1900000001")
		if _, err := db.CreateLink(ctx, store.Link{Slug: "s", SubMerchantID: m.ID, AuthorizationCode: "C", Token: "t", TokenExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if o, err := db.RecordNotification(ctx, notification("EV-open", store.EventOpen, "C", at)); err != nil || o != store.OutcomeAccepted {
			t.Fatalf("outcome = %q, %v; want accepted", o, err)
		}
	})
}

// TestNotificationWithoutCode: authorization_code is optional in a
// notification; one without it is kept but changes no authorization (an
// empty key would merge every such user into one row).
func TestNotificationWithoutCode(t *testing.T) { storetest.EachEngine(t, testNotificationWithoutCode) }

func testNotificationWithoutCode(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	for i, user := range []string{"oUserA", "oUserB"} {
		n := notification(fmt.Sprint("EV-nocode-", i), store.EventOpen, "", time.Now())
		n.OpenID = user
		o, err := db.RecordNotification(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o, store.OutcomeStale; got != want {
			t.Errorf("outcome = %q, want %q", got, want)
		}
	}
	if _, err := db.AuthorizationByCode(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an authorization with an empty code exists: %v", err)
	}
	if cbs, _ := db.Callbacks(ctx, store.CallbackFilter{}); len(cbs) != 2 {
		t.Errorf("callbacks = %d, want 2", len(cbs))
	}
}

// TestRenewAfterCloseIsReconciled: renewing a link whose user had closed
// the service makes it UNBINDUSER again, so that a lost notification of the
// new agreement is found by reconciliation once the token expires.
func TestRenewAfterCloseIsReconciled(t *testing.T) {
	storetest.EachEngine(t, testRenewAfterCloseIsReconciled)
}

func testRenewAfterCloseIsReconciled(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")
	l, err := db.CreateLink(ctx, store.Link{Slug: "s", SubMerchantID: m.ID, AuthorizationCode: "C", Token: "t1", TokenExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(10 * time.Minute)
	if _, err := db.RecordNotification(ctx, notification("EV-close", store.EventClose, "C", now)); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(2 * time.Hour)
	if err := db.RenewLink(ctx, l.ID, "t2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, err := db.AuthorizationByCode(ctx, "C")
	if err != nil || a.State != store.StateUnbindUser {
		t.Fatalf("after renewal: %+v, %v; want UNBINDUSER", a, err)
	}
	links, err := db.LinksToReconcile(ctx, now.Add(2*time.Hour), 10)
	if err != nil || len(links) != 1 {
		t.Fatalf("links to reconcile after the renewed token expired = %d, %v; want 1", len(links), err)
	}
}

// TestLinkReconcileBackoff: a link whose query failed waits a growing delay
// and stands behind links never tried.
func TestLinkReconcileBackoff(t *testing.T) { storetest.EachEngine(t, testLinkReconcileBackoff) }

func testLinkReconcileBackoff(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")
	var ids []int64
	for i := range 2 {
		l, err := db.CreateLink(ctx, store.Link{Slug: fmt.Sprint("s", i), SubMerchantID: m.ID, AuthorizationCode: fmt.Sprint("C", i), Token: "t", TokenExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	now = t0.Add(2 * time.Hour)
	if err := db.LinkReconcileFailed(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	due, err := db.LinksToReconcile(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ID != ids[1] {
		t.Fatalf("right after a failure: due = %+v, %v; want only the other link", due, err)
	}
	now = now.Add(6 * time.Minute)
	due, err = db.LinksToReconcile(ctx, now, 10)
	if err != nil || len(due) != 2 || due[0].ID != ids[1] {
		t.Fatalf("after the delay: due = %d links, %v; want both, the untried first", len(due), err)
	}
}
