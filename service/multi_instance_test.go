package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/payscore-console/payscore-console/payscore"

	"github.com/payscore-console/payscore-console/store"
)

// TestSubMerchantCacheAcrossInstances: instance b has cached the
// sub-merchants it saw; one registered on instance a (same database) is
// accepted by b at its next notification — a miss in b's cache falls
// through to the database — and one disabled on a can no longer get links
// on b, while its users' notifications are still recorded on both.
func TestSubMerchantCacheAcrossInstances(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t) // instance a, on e.db
	dbB, err := store.Open(ctx, e.db.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer dbB.Close()
	dbB.Now = e.db.Now
	b := New(Config{Store: dbB, PayScore: e.ps, Now: e.db.Now, Logger: slog.New(slog.DiscardHandler), CodePrefix: "T",
		NotifyURL: "https://console.example/notify/payscore", MchID: "1230000109", ServiceID: "500001"})
	a := e.svc
	a.Notifications.MchID, a.Notifications.ServiceID = "1230000109", "500001"

	// b learns the env's sub-merchant (cached), then meets an unknown one.
	if got, err := b.Notifications.Receive(ctx, notification("EV-M1", "M-1", testStart), "10.0.0.1"); err != nil || got != store.OutcomeAccepted {
		t.Fatalf("known sub-merchant on b: %q, %v", got, err)
	}
	n := notification("EV-M2", "M-2", testStart)
	n.Payload.SubMchID = "1900000202"
	var refused *RefusedError
	if _, err := b.Notifications.Receive(ctx, n, "10.0.0.1"); !errors.As(err, &refused) || refused.Reason != ReasonUnknownSubMchID {
		t.Fatalf("unknown sub-merchant on b: %v, want refused", err)
	}
	m, err := a.SubMerchants.Create(ctx, alice, store.SubMerchant{SubMchID: "1900000202", Name: "另一台实例登记"})
	if err != nil {
		t.Fatal(err)
	}
	n.ID = "EV-M2b" // WeChat Pay's retry would carry the same id; a new one proves the same
	if got, err := b.Notifications.Receive(ctx, n, "10.0.0.1"); err != nil || got != store.OutcomeAccepted {
		t.Fatalf("registered on a, notification on b: %q, %v; want accepted", got, err)
	}
	// Disabled on a: b gives it no new link; notifications still count.
	if _, err := a.SubMerchants.Update(ctx, alice, m.ID, SubMerchantChange{Action: SubMerchantDisable}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Links.Create(ctx, alice, "1900000202", ""); err == nil {
		t.Error("b made a link for a sub-merchant disabled on a")
	}
	n.ID = "EV-M2c"
	n.Payload.AuthorizationCode = "M-3"
	if got, err := b.Notifications.Receive(ctx, n, "10.0.0.1"); err != nil || got != store.OutcomeAccepted {
		t.Errorf("disabled sub-merchant's notification on b: %q, %v; want accepted (its users' events are real)", got, err)
	}
}

// TestTerminateTwiceOneCall: a second request for a code whose termination
// succeeded makes no call: it is skipped, audited, and says it was ended by
// a termination. Submitted at once on two instances (each reading the local
// state before the other's termination succeeded), one call in all: the
// intent's transaction refuses a termination once one it did not know of
// succeeded (store.ErrTerminated).
func TestTerminateTwiceOneCall(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	available := func(code string) {
		if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: "1900000101", State: store.StateAvailable, StateTime: e.now}); err != nil {
			t.Fatal(err)
		}
	}
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, State: payscore.StateUnavailable}, nil
	}
	available("TWICE-1")
	if res, err := e.svc.Terminations.Terminate(ctx, alice, "TWICE-1", "1900000101", "x"); err != nil || res.Status != store.TerminationSucceeded {
		t.Fatalf("first: %+v, %v", res, err)
	}
	available("TWICE-1") // an attempt to make the local state stale: the later state stands
	bob := Actor{Username: "bob", IP: "10.0.0.2"}
	res, err := e.svc.Terminations.Terminate(ctx, bob, "TWICE-1", "1900000101", "y")
	if err != nil || res.Ended == nil || res.Ended.How != EndedByTerminated || res.Status != "" {
		t.Fatalf("second: %+v (ended %+v), %v; want ended by a termination, no status", res, res.Ended, err)
	}
	if e.ps.terminates != 1 {
		t.Errorf("%d terminate calls, want 1", e.ps.terminates)
	}
	if skipped := e.audit(t, store.AuditFilter{Target: "TWICE-1", Action: AuditTerminateSkipped}); len(skipped) != 1 || skipped[0].Username != "bob" {
		t.Errorf("skipped audit = %+v", skipped)
	}

	// At once on two instances over one database.
	dbB, err := store.Open(ctx, e.db.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer dbB.Close()
	dbB.Now = e.db.Now
	b := New(Config{Store: dbB, PayScore: e.ps, Now: e.db.Now, Logger: slog.New(slog.DiscardHandler)})
	for i := range 10 {
		code := fmt.Sprintf("ATONCE-%d", i)
		available(code)
		var wg sync.WaitGroup
		for _, s := range []*Terminations{e.svc.Terminations, b.Terminations} {
			wg.Go(func() { _, _ = s.Terminate(ctx, alice, code, "1900000101", "z") })
		}
		wg.Wait()
	}
	if e.ps.terminates != 11 {
		t.Errorf("%d terminate calls for 1 + 10 codes submitted twice at once, want 11", e.ps.terminates)
	}
}
