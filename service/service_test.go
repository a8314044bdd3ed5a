package service

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

var testStart = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

// fakePayScore answers from the functions a test sets; unset calls fail.
type fakePayScore struct {
	mu         sync.Mutex
	preauth    func(payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error)
	query      func(payscore.QueryRequest) (*payscore.Authorization, error)
	terminate  func(payscore.TerminateRequest) (string, error)
	preauths   int
	terminates int
}

func (f *fakePayScore) PreAuthorize(_ context.Context, r payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
	f.mu.Lock()
	f.preauths++
	f.mu.Unlock()
	if f.preauth == nil {
		return payscore.PreAuthorizeResult{Token: "tok-" + r.AuthorizationCode, RequestID: "REQ-PRE"}, nil
	}
	return f.preauth(r)
}

func (f *fakePayScore) Query(_ context.Context, r payscore.QueryRequest) (*payscore.Authorization, error) {
	if f.query == nil {
		return nil, errors.New("fake: no query")
	}
	return f.query(r)
}

func (f *fakePayScore) Terminate(_ context.Context, r payscore.TerminateRequest) (string, error) {
	f.mu.Lock()
	f.terminates++
	f.mu.Unlock()
	if f.terminate == nil {
		return "REQ-TERM", nil
	}
	return f.terminate(r)
}

// env is the services over a real SQLite file, a fake Pay Score client and
// a fake clock.
type env struct {
	db  *store.DB
	ps  *fakePayScore
	svc *Services
	now time.Time
	sub *store.SubMerchant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "svc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, ps: &fakePayScore{}, now: testStart}
	db.Now = func() time.Time { return e.now }
	e.svc = New(Config{Store: db, PayScore: e.ps, Now: func() time.Time { return e.now },
		Logger: slog.New(slog.DiscardHandler), CodePrefix: "T", NotifyURL: "https://console.example/notify/payscore"})
	if e.sub, err = db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000101", Name: "测试商户"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) audit(t *testing.T, f store.AuditFilter) []store.AuditEntry {
	t.Helper()
	entries, err := e.db.AuditLog(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

var alice = Actor{UserID: 0, Username: "alice", IP: "10.0.0.1"}

func TestLinksCreate(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t)
		att, err := e.svc.Links.Create(ctx, alice, "1900000101", "")
		if err != nil {
			t.Fatal(err)
		}
		if att.Link == nil || att.Link.Token != "tok-"+att.Code || att.Link.NotifyURL != "https://console.example/notify/payscore" {
			t.Fatalf("link = %+v", att.Link)
		}
		if got, want := att.Link.TokenExpiresAt, testStart.Add(TokenLifetime); !got.Equal(want) {
			t.Errorf("expires = %v, want %v", got, want)
		}
		entries := e.audit(t, store.AuditFilter{Target: att.Code})
		if len(entries) != 1 || entries[0].Action != "link.create" || entries[0].Result != "ok" || entries[0].Username != "alice" || entries[0].IP != "10.0.0.1" {
			t.Errorf("audit = %+v, want one ok link.create by alice", entries)
		}
	})
	t.Run("ErrCodeUsed", func(t *testing.T) {
		e := newEnv(t)
		att, err := e.svc.Links.Create(ctx, alice, "1900000101", "CODE-1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Links.Create(ctx, alice, "1900000101", att.Code)
		if !errors.Is(err, ErrCodeUsed) || KindOf(err) != Conflict || KeyOf(err) != "links.err.code.used" {
			t.Errorf("err = %v (kind %v), want ErrCodeUsed as Conflict", err, KindOf(err))
		}
		if got, want := e.ps.preauths, 1; got != want {
			t.Errorf("pre-authorizations = %d, want %d: a reused code is refused before the call", got, want)
		}
		if got := len(e.audit(t, store.AuditFilter{Target: "CODE-1"})); got != 1 {
			t.Errorf("audit entries = %d, want 1 (the refusal is not an act)", got)
		}
	})
	t.Run("ErrSubMerchantUnavailable", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.Links.Create(ctx, alice, "1999999999", "")
		if !errors.Is(err, ErrSubMerchantUnavailable) || KindOf(err) != Invalid {
			t.Errorf("err = %v, want ErrSubMerchantUnavailable as Invalid", err)
		}
	})
	t.Run("ErrInvalidCode", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.Links.Create(ctx, alice, "1900000101", "bad code")
		var ve *payscore.ValidationError
		if !errors.As(err, &ve) || KindOf(err) != Invalid {
			t.Errorf("err = %v, want a ValidationError as Invalid", err)
		}
	})
	t.Run("ErrRefused", func(t *testing.T) {
		e := newEnv(t)
		e.ps.preauth = func(payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
			return payscore.PreAuthorizeResult{}, &payscore.APIError{Status: 400, Code: payscore.CodeInvalidRequest, RequestID: "REQ-NO"}
		}
		att, err := e.svc.Links.Create(ctx, alice, "1900000101", "CODE-REFUSED")
		if KindOf(err) != Upstream || att.Link != nil {
			t.Fatalf("err = %v, link %v; want Upstream and no link", err, att.Link)
		}
		if _, err := e.db.LinkByCode(ctx, "CODE-REFUSED"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link stored: %v", err)
		}
		entries := e.audit(t, store.AuditFilter{Target: "CODE-REFUSED"})
		if len(entries) != 1 || entries[0].Result != "failed: "+payscore.CodeInvalidRequest || entries[0].RequestID != "REQ-NO" {
			t.Errorf("audit = %+v, want one failed entry with the Request-ID", entries)
		}
	})
	t.Run("ErrTimeout", func(t *testing.T) {
		e := newEnv(t)
		e.ps.preauth = func(payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
			return payscore.PreAuthorizeResult{}, &payscore.TransportError{Call: "preauthorize", Timeout: true, Err: context.DeadlineExceeded}
		}
		att, err := e.svc.Links.Create(ctx, alice, "1900000101", "")
		if KindOf(err) != Upstream || att.Code == "" {
			t.Fatalf("err = %v, code %q; want Upstream with the code sent kept", err, att.Code)
		}
		entries := e.audit(t, store.AuditFilter{Target: att.Code})
		if len(entries) != 1 || entries[0].Result[:8] != "unknown:" {
			t.Errorf("audit = %+v, want one unknown entry", entries)
		}
	})
}

func TestLinksRenew(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	att, err := e.svc.Links.Create(ctx, alice, "1900000101", "RENEW-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrNotExpired", func(t *testing.T) {
		_, err := e.svc.Links.Renew(ctx, alice, att.Link.ID)
		if KindOf(err) != Conflict || KeyOf(err) != "links.renew.notexpired" {
			t.Errorf("err = %v, want Conflict links.renew.notexpired", err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		e.now = e.now.Add(2 * time.Hour)
		r, err := e.svc.Links.Renew(ctx, alice, att.Link.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Expires, e.now.Add(TokenLifetime); !got.Equal(want) {
			t.Errorf("expires = %v, want %v", got, want)
		}
		if got := e.audit(t, store.AuditFilter{Target: "RENEW-1", Action: "link.renew"}); len(got) != 1 || got[0].Result != "ok" {
			t.Errorf("audit = %+v, want one ok link.renew", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := e.svc.Links.Renew(ctx, alice, 999); KindOf(err) != NotFound {
			t.Errorf("err = %v, want NotFound", err)
		}
	})
}

func TestTerminate(t *testing.T) {
	ctx := context.Background()
	unavailable := func(payscore.QueryRequest) (*payscore.Authorization, error) {
		return &payscore.Authorization{State: payscore.StateUnavailable, RequestID: "REQ-Q"}, nil
	}
	available := func(payscore.QueryRequest) (*payscore.Authorization, error) {
		return &payscore.Authorization{State: payscore.StateAvailable, RequestID: "REQ-Q"}, nil
	}
	tests := []struct {
		name          string
		terminate     func(payscore.TerminateRequest) (string, error)
		query         func(payscore.QueryRequest) (*payscore.Authorization, error)
		wantStatus    string
		wantConfirmed bool
		wantErrCode   string
		wantResults   int
	}{
		{"OK", nil, unavailable, store.TerminationSucceeded, false, "", 1},
		{"OKRefused", func(payscore.TerminateRequest) (string, error) {
			return "", &payscore.APIError{Status: 400, Code: payscore.CodeInvalidOrderState, RequestID: "REQ-T"}
		}, available, store.TerminationFailed, false, payscore.CodeInvalidOrderState, 1},
		{"OKLostButDone", func(payscore.TerminateRequest) (string, error) {
			return "", &payscore.TransportError{Timeout: true, Err: context.DeadlineExceeded}
		}, unavailable, store.TerminationSucceeded, true, "", 1},
		{"OKLostNotDone", func(payscore.TerminateRequest) (string, error) {
			return "", &payscore.TransportError{Err: errors.New("reset")}
		}, available, store.TerminationFailed, false, "NO_ANSWER", 1},
		{"OKForgedNotDone", func(payscore.TerminateRequest) (string, error) {
			return "", payscore.ErrBadSignature
		}, available, store.TerminationFailed, false, "BAD_SIGNATURE", 1},
		{"OKUnknownLeftPending", func(payscore.TerminateRequest) (string, error) {
			return "", &payscore.TransportError{Err: errors.New("reset")}
		}, func(payscore.QueryRequest) (*payscore.Authorization, error) {
			return nil, &payscore.TransportError{Err: errors.New("reset")}
		}, store.TerminationPending, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.ps.terminate, e.ps.query = tt.terminate, tt.query
			code := "TERM-" + tt.name
			// Known AVAILABLE locally: the call is made without asking first.
			agreed(t, e, code, "1900000101")
			res, err := e.svc.Terminations.Terminate(ctx, alice, code, "1900000101", "风险控制")
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus || res.Confirmed != tt.wantConfirmed {
				t.Errorf("result = %+v, want %s confirmed=%v", res, tt.wantStatus, tt.wantConfirmed)
			}
			terms, _ := e.db.TerminationsByCode(ctx, code)
			if len(terms) != 1 || terms[0].Status != tt.wantStatus || terms[0].ErrorCode != tt.wantErrCode {
				t.Errorf("terminations = %+v, want one %s %q", terms, tt.wantStatus, tt.wantErrCode)
			}
			if got := e.audit(t, store.AuditFilter{Target: code, Action: AuditTerminateRequest}); len(got) != 1 {
				t.Errorf("request entries = %d, want 1", len(got))
			}
			if got := e.audit(t, store.AuditFilter{Target: code, Action: AuditTerminateResult}); len(got) != tt.wantResults {
				t.Errorf("result entries = %d, want %d", len(got), tt.wantResults)
			}
		})
	}
	t.Run("ErrInFlight", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.db.BeginTermination(ctx, store.Termination{AuthorizationCode: "TWICE", SubMchID: "1900000101", Reason: "x"},
			store.AuditEntry{Action: AuditTerminateRequest, Target: "TWICE"}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Terminations.Terminate(ctx, alice, "TWICE", "1900000101", "风险控制")
		if KindOf(err) != Conflict || KeyOf(err) != "support.terminate.inflight" {
			t.Errorf("err = %v, want Conflict", err)
		}
		if e.ps.terminates != 0 {
			t.Errorf("terminate calls = %d, want none", e.ps.terminates)
		}
	})
}

func TestResolvePending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, code := range []string{"PEND-DONE", "PEND-GONE", "PEND-STUCK"} {
		if _, err := e.db.BeginTermination(ctx, store.Termination{AuthorizationCode: code, SubMchID: "1900000101", Reason: "x"},
			store.AuditEntry{Action: AuditTerminateRequest, Target: code}); err != nil {
			t.Fatal(err)
		}
	}
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		switch r.AuthorizationCode {
		case "PEND-DONE":
			return &payscore.Authorization{State: payscore.StateUnavailable, RequestID: "REQ-Q"}, nil
		case "PEND-GONE":
			return nil, &payscore.APIError{Status: 404, Code: payscore.CodeOrderNotExist, RequestID: "REQ-404"}
		}
		return nil, &payscore.APIError{Status: 500, Code: payscore.CodeSystemError}
	}
	if err := e.svc.Terminations.ResolvePending(ctx, time.Time{}); err == nil {
		t.Error("err = nil, want one naming PEND-STUCK")
	}
	for code, want := range map[string]string{"PEND-DONE": store.TerminationSucceeded, "PEND-GONE": store.TerminationFailed, "PEND-STUCK": store.TerminationPending} {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != want {
			t.Errorf("%s: %+v, want %s", code, terms, want)
		}
		results := e.audit(t, store.AuditFilter{Target: code, Action: AuditTerminateResult})
		if wantN := map[bool]int{true: 0, false: 1}[want == store.TerminationPending]; len(results) != wantN {
			t.Errorf("%s: result entries = %d, want %d", code, len(results), wantN)
		} else if wantN == 1 && results[0].Username != SystemUsername {
			t.Errorf("%s: result by %q, want the system", code, results[0].Username)
		}
	}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	t.Run("OKChangedAndNotFound", func(t *testing.T) {
		e := newEnv(t)
		for _, code := range []string{"REC-AGREED", "REC-GONE"} {
			if _, err := e.svc.Links.Create(ctx, alice, "1900000101", code); err != nil {
				t.Fatal(err)
			}
		}
		e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
			if r.AuthorizationCode == "REC-GONE" {
				return nil, &payscore.APIError{Status: 404, Code: payscore.CodeOrderNotExist}
			}
			return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, State: payscore.StateAvailable, OpenID: "o1"}, nil
		}
		e.now = e.now.Add(2 * time.Hour)
		n, err := e.svc.Reconciler.Reconcile(ctx, 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("Reconcile = %d, %v; want 1", n, err)
		}
		a, err := e.db.AuthorizationByCode(ctx, "REC-AGREED")
		if err != nil || a.State != store.StateAvailable || a.Source != SourceReconcile {
			t.Errorf("REC-AGREED = %+v, %v; want AVAILABLE from reconcile", a, err)
		}
	})
	t.Run("OKRateLimitedStops", func(t *testing.T) {
		e := newEnv(t)
		for _, code := range []string{"REC-1", "REC-2"} {
			if _, err := e.svc.Links.Create(ctx, alice, "1900000101", code); err != nil {
				t.Fatal(err)
			}
		}
		queries := 0
		e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
			queries++
			return nil, &payscore.APIError{Status: 429, Code: payscore.CodeFrequencyLimited}
		}
		e.now = e.now.Add(2 * time.Hour)
		if n, err := e.svc.Reconciler.Reconcile(ctx, 24*time.Hour); err != nil || n != 0 {
			t.Fatalf("Reconcile = %d, %v; want 0", n, err)
		}
		if queries != 1 {
			t.Errorf("queries = %d, want 1: a rate limit ends the run", queries)
		}
	})
}

func TestSignInLockout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.db.CreateUser(ctx, "bob", testPasswordHash(), store.RoleSupport); err != nil {
		t.Fatal(err)
	}
	if u, err := e.svc.Auth.SignIn(ctx, "bob", testPassword, "ip"); err != nil || u.Username != "bob" {
		t.Fatalf("SignIn = %v, %v", u, err)
	}
	for i := range MaxLoginFailures {
		_, err := e.svc.Auth.SignIn(ctx, "bob", "wrong password!", "ip")
		var locked *LockedError
		if i < MaxLoginFailures-1 && (!errors.Is(err, ErrSignInFailed) || KindOf(err) != Forbidden) {
			t.Fatalf("attempt %d: err = %v, want ErrSignInFailed", i+1, err)
		}
		if i == MaxLoginFailures-1 && !errors.As(err, &locked) {
			t.Fatalf("attempt %d: err = %v, want locked", i+1, err)
		}
	}
	// Locked: even the right password is refused until the lock ends.
	var locked *LockedError
	if _, err := e.svc.Auth.SignIn(ctx, "bob", testPassword, "ip"); !errors.As(err, &locked) {
		t.Fatalf("right password while locked: err = %v, want locked", err)
	}
	e.now = e.now.Add(LockDuration + time.Second)
	if _, err := e.svc.Auth.SignIn(ctx, "bob", testPassword, "ip"); err != nil {
		t.Errorf("after the lock: err = %v", err)
	}
	// Unknown users answer like wrong passwords.
	if _, err := e.svc.Auth.SignIn(ctx, "nobody", testPassword, "ip"); !errors.Is(err, ErrSignInFailed) {
		t.Errorf("unknown user: err = %v, want ErrSignInFailed", err)
	}
}

// TestAuditSameTransaction: every audited change has its entry, and a
// refused change has none.
func TestAuditSameTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	count := func(action string) int { return len(e.audit(t, store.AuditFilter{Action: action})) }

	if _, err := e.svc.Users.Create(ctx, alice, "carol", testPassword, store.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Users.Create(ctx, alice, "carol", testPassword, store.RoleViewer); KindOf(err) != Conflict {
		t.Errorf("second carol: err = %v, want Conflict", err)
	}
	if got := count("user.create"); got != 1 {
		t.Errorf("user.create entries = %d, want 1 (the refused one has none)", got)
	}
	carol, _ := e.db.UserByUsername(ctx, "carol")
	if _, err := e.svc.Users.Update(ctx, alice, carol.ID, UserChange{Action: UserActionRole, Role: "boss"}); KindOf(err) != Invalid {
		t.Errorf("bad role: err = %v, want Invalid", err)
	}
	if _, err := e.svc.Users.Update(ctx, alice, carol.ID, UserChange{Action: UserActionDisable}); err != nil {
		t.Fatal(err)
	}
	if got := count("user.role") + count("user.disable"); got != 1 {
		t.Errorf("user update entries = %d, want 1", got)
	}
	if _, err := e.svc.Users.Update(ctx, Actor{UserID: carol.ID, Username: "carol"}, carol.ID, UserChange{Action: UserActionEnable}); KindOf(err) != Invalid {
		t.Errorf("own status: err = %v, want Invalid", err)
	}

	if _, err := e.svc.SubMerchants.Create(ctx, alice, store.SubMerchant{SubMchID: "1900000101", Name: "again"}); KindOf(err) != Conflict {
		t.Errorf("taken sub_mchid: err = %v, want Conflict", err)
	}
	if _, err := e.svc.SubMerchants.Create(ctx, alice, store.SubMerchant{SubMchID: "12x", Name: ""}); KindOf(err) != Invalid {
		t.Errorf("bad fields: err = %v, want Invalid", err)
	}
	if _, err := e.svc.SubMerchants.Create(ctx, alice, store.SubMerchant{SubMchID: "1900000102", Name: "新商户"}); err != nil {
		t.Fatal(err)
	}
	if got := count("submerchant.create"); got != 1 {
		t.Errorf("submerchant.create entries = %d, want 1", got)
	}
	if _, err := e.svc.SubMerchants.Update(ctx, alice, e.sub.ID, SubMerchantChange{Action: SubMerchantDisable}); err != nil {
		t.Fatal(err)
	}
	if got := count("submerchant.disable"); got != 1 {
		t.Errorf("submerchant.disable entries = %d, want 1", got)
	}

	if err := e.svc.Emergency.Set(ctx, alice, true, ""); KindOf(err) != Invalid {
		t.Errorf("pause without a reason: err = %v, want Invalid", err)
	}
	if err := e.svc.Emergency.Set(ctx, alice, true, "演练"); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.svc.Emergency.State(ctx); !p.Paused || p.By != "alice" {
		t.Errorf("pause = %+v, want paused by alice", p)
	}
	if got := count("landing.pause"); got != 1 {
		t.Errorf("landing.pause entries = %d, want 1", got)
	}
}
