package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// bulkEnv is newEnv with n AVAILABLE authorizations of its sub-merchant
// and a WeChat Pay that ends an authorization when asked (and says so when
// queried). Bulk calls are not rate limited.
func bulkEnv(t *testing.T, n int) (*env, []string) {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	var codes []string
	var mu sync.Mutex
	ended := map[string]bool{}
	for i := range n {
		code := fmt.Sprintf("OFF-%03d", i)
		if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: e.sub.SubMchID,
			State: store.StateAvailable, StateTime: e.now, Source: "notification"}); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	// Another sub-merchant's authorization: never part of the job.
	if _, err := e.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000202", Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "OTHER-1", SubMchID: "1900000202",
		State: store.StateAvailable, StateTime: e.now, Source: "notification"}); err != nil {
		t.Fatal(err)
	}
	e.ps.terminate = func(r payscore.TerminateRequest) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		ended[r.AuthorizationCode] = true
		return "REQ-T-" + r.AuthorizationCode, nil
	}
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		mu.Lock()
		defer mu.Unlock()
		st := payscore.StateAvailable
		if ended[r.AuthorizationCode] {
			st = payscore.StateUnavailable
		}
		return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, State: st, RequestID: "REQ-Q"}, nil
	}
	e.svc.Bulk.Limiter = nil
	e.svc.Bulk.Backoff = 10 * time.Millisecond
	return e, codes
}

// drain works the jobs until none has work left.
func drain(t *testing.T, b *Bulk) {
	t.Helper()
	for range 1000 {
		worked, err := b.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			if jobs, _ := b.Store.BulkJobs(context.Background(), "", true, 10); len(jobs) == 0 {
				return
			}
		}
	}
	t.Fatal("jobs never finished")
}

func TestBulkOffboardRefusals(t *testing.T) {
	ctx := context.Background()
	e, _ := bulkEnv(t, 3)
	for name, tc := range map[string]struct{ reason, confirm, key string }{
		"wrong confirmation": {"商户停止服务", "1900000102", "bulk.err.confirm"},
		"no confirmation":    {"商户停止服务", "", "bulk.err.confirm"},
		"no reason":          {"", e.sub.SubMchID, "support.err.reason.required"},
		"long reason":        {strings.Repeat("长", 51), e.sub.SubMchID, "support.err.reason.long"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, tc.reason, tc.confirm)
			if KindOf(err) != Invalid || KeyOf(err) != tc.key {
				t.Fatalf("err = %v (%v, %q), want Invalid %s", err, KindOf(err), KeyOf(err), tc.key)
			}
		})
	}
	if jobs, _ := e.svc.Bulk.Jobs(ctx, "", 10); len(jobs) != 0 {
		t.Errorf("jobs = %+v, want none started", jobs)
	}
	if got := e.audit(t, store.AuditFilter{Action: AuditBulkTerminateStart}); len(got) != 0 {
		t.Errorf("audit = %+v, want nothing", got)
	}
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, 999, "x", "x"); KindOf(err) != NotFound {
		t.Errorf("unknown sub-merchant: %v", err)
	}
	// A sub-merchant with nothing AVAILABLE has nothing to offboard.
	empty, _ := e.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000303", Name: "empty"})
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, empty.ID, "商户停止服务", "1900000303"); KeyOf(err) != "bulk.err.none" {
		t.Errorf("empty: %v", err)
	}
}

func TestBulkOffboardTerminatesEachOnce(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 7)
	p, err := e.svc.Bulk.PreviewOffboard(ctx, e.sub.ID)
	if err != nil || p.Count != 7 || len(p.Codes) != 7 || p.Running != nil {
		t.Fatalf("preview = %+v, %v", p, err)
	}
	id, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", " "+e.sub.SubMchID+" ")
	if err != nil {
		t.Fatal(err)
	}
	// A second offboarding of the same sub-merchant while one runs: refused.
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID); KindOf(err) != Conflict {
		t.Errorf("second offboarding: %v, want Conflict", err)
	}
	if p, _ := e.svc.Bulk.PreviewOffboard(ctx, e.sub.ID); p.Running == nil || p.Running.ID != id {
		t.Errorf("preview while running = %+v", p.Running)
	}
	drain(t, e.svc.Bulk)
	j, err := e.svc.Bulk.Job(ctx, id)
	if err != nil || j.Status != store.JobDone || j.Outcomes[store.TerminationSucceeded] != 7 || j.Total != 7 {
		t.Fatalf("job = %+v, %v", j, err)
	}
	if e.ps.terminates != 7 {
		t.Errorf("terminate calls = %d, want 7", e.ps.terminates)
	}
	for _, code := range codes {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded || terms[0].Reason != "商户停止服务" {
			t.Errorf("%s: terminations = %+v, want one succeeded", code, terms)
		}
		if a, _ := e.db.AuthorizationByCode(ctx, code); a.State != store.StateUnavailable {
			t.Errorf("%s: state %s", code, a.State)
		}
		if got := e.audit(t, store.AuditFilter{Target: code, Action: AuditTerminateRequest}); len(got) != 1 || got[0].Username != "alice" {
			t.Errorf("%s: terminate.request audit = %+v, want one by alice", code, got)
		}
	}
	if terms, _ := e.db.TerminationsByCode(ctx, "OTHER-1"); len(terms) != 0 {
		t.Errorf("another sub-merchant's code was terminated: %+v", terms)
	}
	start := e.audit(t, store.AuditFilter{Action: AuditBulkTerminateStart})
	if len(start) != 1 || start[0].Target != fmt.Sprintf("job:%d", id) || start[0].Reason != "商户停止服务" || !strings.Contains(start[0].Detail, "codes=7") {
		t.Errorf("start audit = %+v", start)
	}
	items, _ := e.svc.Bulk.Items(ctx, id, 0, 100)
	for _, it := range items {
		if it.Status != store.ItemDone || it.Outcome != store.TerminationSucceeded || it.State != store.StateUnavailable || it.RequestID != "REQ-T-"+it.AuthorizationCode {
			t.Errorf("item = %+v", it)
		}
	}
}

// TestBulkResumesWithoutSendingTwice: items a killed process left calling.
// One whose termination was begun (pending record) is settled by a query,
// not sent again; one whose termination was not begun is sent (once).
func TestBulkResumesWithoutSendingTwice(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 3)
	id, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID)
	if err != nil {
		t.Fatal(err)
	}
	items, _ := e.svc.Bulk.Items(ctx, id, 0, 10)
	// Item 1: marked calling, termination begun, call reached WeChat Pay,
	// then the process died.
	if err := e.db.MarkBulkItemCalling(ctx, items[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.BeginTermination(ctx, store.Termination{AuthorizationCode: codes[0], SubMchID: e.sub.SubMchID, Reason: "商户停止服务"},
		store.AuditEntry{Action: AuditTerminateRequest, Target: codes[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ps.Terminate(ctx, payscore.TerminateRequest{AuthorizationCode: codes[0], SubMchID: e.sub.SubMchID}); err != nil {
		t.Fatal(err)
	}
	// Item 2: marked calling, the process died before the termination began.
	if err := e.db.MarkBulkItemCalling(ctx, items[1].ID, 0); err != nil {
		t.Fatal(err)
	}
	before := e.ps.terminates
	drain(t, e.svc.Bulk)
	if got := e.ps.terminates - before; got != 2 {
		t.Errorf("terminate calls after the restart = %d, want 2 (items 2 and 3; item 1 settled by query)", got)
	}
	for _, code := range codes {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded {
			t.Errorf("%s: terminations = %+v, want one succeeded", code, terms)
		}
	}
	items, _ = e.svc.Bulk.Items(ctx, id, 0, 10)
	for _, it := range items {
		if it.Outcome != store.TerminationSucceeded {
			t.Errorf("item %+v", it)
		}
	}
	if got := e.audit(t, store.AuditFilter{Target: codes[0], Action: AuditTerminateResult}); len(got) != 1 || got[0].Username != SystemUsername {
		t.Errorf("settled item's result audit = %+v, want one by the system", got)
	}
}

// TestBulkUnknownOutcomeIsQueriedNotResent: a terminate whose answer is
// lost is settled by the saga's query; the job never sends it again.
func TestBulkUnknownOutcomeIsQueriedNotResent(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 2)
	ok := e.ps.terminate
	e.ps.terminate = func(r payscore.TerminateRequest) (string, error) {
		if _, err := ok(r); err != nil { // WeChat Pay did it...
			return "", err
		}
		return "", &payscore.TransportError{Timeout: true, Err: context.DeadlineExceeded} // ...the answer was lost
	}
	id, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	if e.ps.terminates != 2 {
		t.Errorf("terminate calls = %d, want 2", e.ps.terminates)
	}
	for _, code := range codes {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded {
			t.Errorf("%s: %+v", code, terms)
		}
	}
	if j, _ := e.svc.Bulk.Job(ctx, id); j.Outcomes[store.TerminationSucceeded] != 2 {
		t.Errorf("job outcomes = %v", j.Outcomes)
	}
}

func TestBulkCancel(t *testing.T) {
	ctx := context.Background()
	e, _ := bulkEnv(t, 5)
	id, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Bulk.RunOnce(ctx); err != nil { // one code
		t.Fatal(err)
	}
	bob := Actor{Username: "bob", IP: "10.0.0.2"}
	if err := e.svc.Bulk.Cancel(ctx, bob, id); err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	if e.ps.terminates != 1 {
		t.Errorf("terminate calls = %d, want 1 (the rest canceled)", e.ps.terminates)
	}
	j, _ := e.svc.Bulk.Job(ctx, id)
	if j.Status != store.JobCanceled || j.CanceledBy != "bob" || j.Counts[store.ItemCanceled] != 4 || j.Counts[store.ItemDone] != 1 || j.Finished() != 5 {
		t.Errorf("job = %+v", j)
	}
	got := e.audit(t, store.AuditFilter{Action: AuditBulkTerminateCancel})
	if len(got) != 1 || got[0].Username != "bob" || got[0].Target != fmt.Sprintf("job:%d", id) || !strings.Contains(got[0].Detail, "4 queued") {
		t.Errorf("cancel audit = %+v", got)
	}
	if err := e.svc.Bulk.Cancel(ctx, bob, id); KindOf(err) != Conflict {
		t.Errorf("second cancel: %v, want Conflict", err)
	}
	// Once canceled, the sub-merchant may be offboarded again.
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID); err != nil {
		t.Errorf("offboard after cancel: %v", err)
	}
}

// TestBulkBacksOffOnFrequencyLimited: a FREQUENCY_LIMITED answer pauses
// the calls and sends the call again (WeChat Pay turned it away unread);
// one termination record per code all the same.
func TestBulkBacksOffOnFrequencyLimited(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 2)
	ok := e.ps.terminate
	limited := 2
	e.ps.terminate = func(r payscore.TerminateRequest) (string, error) {
		if limited > 0 {
			limited--
			return "", &payscore.APIError{Status: 429, Code: payscore.CodeFrequencyLimited, Message: "频率超限", RequestID: "REQ-429"}
		}
		return ok(r)
	}
	start := time.Now()
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID); err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	if e.ps.terminates != 4 {
		t.Errorf("terminate calls = %d, want 4 (2 turned away, then 2)", e.ps.terminates)
	}
	// Paused 10 ms, then 20 ms.
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("took %v: no back-off", d)
	}
	for _, code := range codes {
		terms, _ := e.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded {
			t.Errorf("%s: %+v, want one succeeded record", code, terms)
		}
	}
}

// TestBulkRateLimit: the token bucket spaces the calls.
func TestBulkRateLimit(t *testing.T) {
	ctx := context.Background()
	e, _ := bulkEnv(t, 4)
	e.svc.Bulk.Limiter = NewLimiter(20) // burst 20: drain it first
	e.svc.Bulk.Limiter.SetBurst(1)
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	drain(t, e.svc.Bulk)
	// 4 terminate calls and 4 queries after them: 8 tokens at 20/s.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("8 calls at 20/s took %v", d)
	}
}

func TestParseCodes(t *testing.T) {
	codes, err := ParseCodes("\ufeffauthorization_code\nA-1\r\nB-2, C_3;D|4\n\n  \"E*5\"\t")
	if err != nil || strings.Join(codes, " ") != "A-1 B-2 C_3 D|4 E*5" {
		t.Fatalf("codes = %q, %v", codes, err)
	}
	for name, tc := range map[string]struct {
		text string
		key  string
		chk  func(*CodeListError) bool
	}{
		"empty":      {" \n ", "bulk.err.empty", func(e *CodeListError) bool { return e.Count == 0 }},
		"invalid":    {"A-1\nbad!code\n" + strings.Repeat("x", 33) + "\nnot a code", "bulk.err.invalid", func(e *CodeListError) bool { return len(e.Invalid) == 3 && e.Invalid[0].Line == 2 }},
		"duplicates": {"A-1\nB-2\nA-1", "bulk.err.duplicates", func(e *CodeListError) bool { return len(e.Duplicates) == 1 && e.Duplicates[0] == BadCode{3, "A-1"} }},
		"too many":   {strings.Repeat("CODE\n", 0) + manyCodes(MaxBulkCodes+1), "bulk.err.too_many", func(e *CodeListError) bool { return e.TooMany && e.Count == MaxBulkCodes+1 }},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCodes(tc.text)
			var cl *CodeListError
			if KindOf(err) != Invalid || KeyOf(err) != tc.key || !errors.As(err, &cl) || !tc.chk(cl) {
				t.Errorf("err = %v (%q) %+v", err, KeyOf(err), cl)
			}
		})
	}
	if codes, err := ParseCodes(manyCodes(MaxBulkCodes)); err != nil || len(codes) != MaxBulkCodes {
		t.Errorf("exactly the maximum: %d, %v", len(codes), err)
	}
}

func manyCodes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "C%05d\n", i)
	}
	return b.String()
}

func TestBulkLookup(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 2)
	// Local only: done at the first pass, no call.
	id, err := e.svc.Bulk.StartLookup(ctx, alice, []string{codes[0], "NOPE-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	items, _ := e.svc.Bulk.Items(ctx, id, 0, 10)
	if len(items) != 2 || items[0].Outcome != OutcomeLocal || items[0].LocalState != store.StateAvailable || items[0].SubMchID != e.sub.SubMchID ||
		items[1].Outcome != OutcomeUnknown || items[1].LocalState != "" {
		t.Errorf("items = %+v", items)
	}
	// Live: WeChat Pay is asked, and what it says is recorded.
	queries := 0
	q := e.ps.query
	e.ps.query = func(r payscore.QueryRequest) (*payscore.Authorization, error) {
		queries++
		if r.AuthorizationCode == codes[1] {
			return nil, &payscore.APIError{Status: 404, Code: payscore.CodeOrderNotExist, Message: "订单不存在", RequestID: "REQ-404"}
		}
		a, err := q(r)
		if err == nil {
			a.State = payscore.StateUnavailable
		}
		return a, err
	}
	id, err = e.svc.Bulk.StartLookup(ctx, alice, []string{codes[0], codes[1], "NOPE-1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	if queries != 2 {
		t.Errorf("queries = %d, want 2 (the unknown code has no sub-merchant to ask for)", queries)
	}
	items, _ = e.svc.Bulk.Items(ctx, id, 0, 10)
	if items[0].Outcome != OutcomeOK || items[0].State != store.StateUnavailable || items[0].LocalState != store.StateAvailable ||
		items[1].Outcome != OutcomeError || items[1].ErrorCode != payscore.CodeOrderNotExist || items[1].RequestID != "REQ-404" ||
		items[2].Outcome != OutcomeUnknown {
		t.Errorf("items = %+v", items)
	}
	if a, _ := e.db.AuthorizationByCode(ctx, codes[0]); a.State != store.StateUnavailable {
		t.Errorf("live answer not recorded: %s", a.State)
	}
	if got := e.audit(t, store.AuditFilter{Action: AuditBulkLookupStart}); len(got) != 2 {
		t.Errorf("look-up audit = %+v", got)
	}
}

// TestBulkNoResendAfterUnknown: a FREQUENCY_LIMITED answer that came after
// an attempt whose outcome is unknown is not sent again: that attempt may
// have terminated the authorization.
func TestBulkNoResendAfterUnknown(t *testing.T) {
	ctx := context.Background()
	e, codes := bulkEnv(t, 1)
	e.ps.terminate = func(r payscore.TerminateRequest) (string, error) {
		return "", &payscore.AfterUnknownError{Attempts: 2,
			Err: &payscore.APIError{Status: 429, Code: payscore.CodeFrequencyLimited, Message: "频率超限", RequestID: "REQ-429"}}
	}
	if _, err := e.svc.Bulk.StartOffboard(ctx, alice, e.sub.ID, "商户停止服务", e.sub.SubMchID); err != nil {
		t.Fatal(err)
	}
	drain(t, e.svc.Bulk)
	if e.ps.terminates != 1 {
		t.Errorf("terminate calls = %d, want 1 (not sent again)", e.ps.terminates)
	}
	if terms, _ := e.db.TerminationsByCode(ctx, codes[0]); len(terms) != 1 {
		t.Errorf("terminations = %+v, want one", terms)
	}
}
