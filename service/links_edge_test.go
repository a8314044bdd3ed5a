package service

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TestRenewAgreedCodeIssuesNewCode: one authorization_code, one user. A
// link whose code a user agreed to (and closed since) is renewed with a new
// code in a new link pointing back to it; the old code is never
// pre-authorized again. A link nobody agreed to keeps its code.
func TestRenewAgreedCodeIssuesNewCode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var codes []string
	var mu sync.Mutex
	e.ps.preauth = func(r payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
		mu.Lock()
		codes = append(codes, r.AuthorizationCode)
		mu.Unlock()
		return payscore.PreAuthorizeResult{Token: "tok-" + r.AuthorizationCode, RequestID: "REQ-PRE"}, nil
	}
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "AGREED-1")
	if err != nil {
		t.Fatal(err)
	}
	// The user agreed, then closed the service.
	open, closed := e.now.Add(time.Minute), e.now.Add(2*time.Minute)
	for _, a := range []store.Authorization{
		{AuthorizationCode: "AGREED-1", SubMchID: "1900000101", State: store.StateAvailable, SuccessTime: &open, StateTime: open, Source: "notification"},
		{AuthorizationCode: "AGREED-1", SubMchID: "1900000101", State: store.StateUnavailable, CancelTime: &closed, StateTime: closed, Source: "notification"},
	} {
		if _, err := e.db.SaveAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(10 * time.Minute) // token still valid: renewing is allowed all the same
	r, err := e.svc.Links.Renew(ctx, alice, att.Link.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.New == nil || r.New.AuthorizationCode == "AGREED-1" || r.New.RenewedFrom != att.Link.ID || r.New.SubMchID != "1900000101" {
		t.Fatalf("renewal = %+v, want a new link with a new code pointing back", r.New)
	}
	if len(codes) != 2 || codes[1] != r.New.AuthorizationCode {
		t.Errorf("pre-authorized codes = %v, want the old one once and the new one", codes)
	}
	old, _ := e.db.LinkByID(ctx, att.Link.ID)
	if !old.Agreed || old.RenewedTo != r.New.ID || old.Token != att.Link.Token {
		t.Errorf("old link = %+v, want agreed, replaced by %d, token unchanged", old, r.New.ID)
	}
	if got := e.audit(t, store.AuditFilter{Target: r.New.AuthorizationCode, Action: "link.renew"}); len(got) != 1 || got[0].Result != "ok" {
		t.Errorf("audit = %+v, want one ok link.renew of the new code", got)
	}
	// Renewing the old link again is refused: it was replaced.
	if _, err := e.svc.Links.Renew(ctx, alice, att.Link.ID); KindOf(err) != Conflict || KeyOf(err) != "links.renew.replaced" {
		t.Errorf("second renewal: err = %v, want Conflict links.renew.replaced", err)
	}
	t.Run("OKNobodyAgreedKeepsCode", func(t *testing.T) {
		att, err := e.svc.Links.Create(ctx, alice, "1900000101", "NOBODY-1")
		if err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(2 * time.Hour)
		r, err := e.svc.Links.Renew(ctx, alice, att.Link.ID)
		if err != nil || r.New != nil {
			t.Fatalf("renewal = %+v, %v; want the code kept", r, err)
		}
		if codes[len(codes)-1] != "NOBODY-1" {
			t.Errorf("pre-authorized %v, want NOBODY-1 again", codes)
		}
	})
}

// TestCreateReservesCode: concurrent submits of one typed code make exactly
// one pre-authorization call; the others are told the code is used.
func TestCreateReservesCode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	release := make(chan struct{})
	e.ps.preauth = func(r payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
		<-release // hold the call so that every submit is in flight at once
		return payscore.PreAuthorizeResult{Token: "tok-" + r.AuthorizationCode}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Links.Create(ctx, alice, "1900000101", "SAME-CODE")
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	ok, used := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrCodeUsed):
			used++
		default:
			t.Errorf("err = %v", err)
		}
	}
	if e.ps.preauths != 1 || ok != 1 || used != 9 {
		t.Errorf("calls %d, created %d, refused %d; want 1, 1, 9", e.ps.preauths, ok, used)
	}
	t.Run("OKFailedCallReleasesCode", func(t *testing.T) {
		e.ps.preauth = func(payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
			return payscore.PreAuthorizeResult{}, &payscore.TransportError{Timeout: true, Err: context.DeadlineExceeded}
		}
		if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "RETRY-ME"); KindOf(err) != Upstream {
			t.Fatalf("err = %v", err)
		}
		e.ps.preauth = nil
		if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "RETRY-ME"); err != nil {
			t.Errorf("trying again with the same code: %v", err)
		}
	})
}

// TestRenewDisabledSubMerchant: a disabled sub-merchant's links are not
// renewed; the refusal is audited.
func TestRenewDisabledSubMerchant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "DIS-1")
	if err != nil {
		t.Fatal(err)
	}
	m := *e.sub
	m.Disabled = true
	if _, err := e.db.UpdateSubMerchant(ctx, m); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour)
	_, err = e.svc.Links.Renew(ctx, alice, att.Link.ID)
	if !errors.Is(err, ErrSubMerchantDisabled) || KindOf(err) != Conflict || KeyOf(err) != "links.renew.disabled" {
		t.Errorf("err = %v, want Conflict links.renew.disabled", err)
	}
	if e.ps.preauths != 1 {
		t.Errorf("pre-authorizations = %d, want 1 (none for the renewal)", e.ps.preauths)
	}
	got := e.audit(t, store.AuditFilter{Target: "DIS-1", Action: "link.renew"})
	if len(got) != 1 || got[0].Result != "refused: sub-merchant disabled" || got[0].Username != "alice" {
		t.Errorf("audit = %+v, want the refusal", got)
	}
}
