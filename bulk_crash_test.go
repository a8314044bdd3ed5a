package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// get loads a page as the signed-in person and keeps its CSRF token.
func (b *browser) get(t testing.TB, u string) (int, string) {
	t.Helper()
	res, err := b.http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	if m := csrfInput.FindSubmatch(page); m != nil {
		b.csrf = string(m[1])
	}
	return res.StatusCode, string(page)
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillNineBulkOffboard runs the console as a subprocess against its
// sandbox, with the bulk jobs' rate limited to a few calls a second, starts
// offboarding a sub-merchant and kills the process with SIGKILL twice while
// the job runs — once while WeChat Pay holds back the answer to a call it
// already carried out. After the last restart the job finishes by itself:
// every code terminated, each by exactly one terminate call in the
// sandbox's call log, with one termination record and one terminate.request
// audit entry.
func TestKillNineBulkOffboard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the console in a subprocess")
	}
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "bulk.db")
	port := freePort(t)
	slowed := "BULK_RATE=4" // a few calls a second: the job takes seconds

	c := startConsole(t, dbPath, port, slowed)
	c.kill()
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const subMchID = "1900000888"
	sub, err := db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: "下线商户"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{DBPath: db.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	// Authorizations agreed by their users at the simulator, looked up once
	// so that the console knows them AVAILABLE.
	c = startConsole(t, dbPath, port, slowed)
	defer func() { c.kill() }()
	admin := signIn(t, c.base, "admin", "crash-test-password")
	const n = 14
	var codes []string
	for range n {
		res, err := admin.post(c.base+"/links", url.Values{"sub_mchid": {subMchID}})
		if err != nil || res.StatusCode != http.StatusSeeOther {
			t.Fatalf("create link: %v %v", res, err)
		}
		var id int64
		fmt.Sscanf(res.Header.Get("Location"), "/links/%d", &id)
		l, err := db.LinkByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, l.AuthorizationCode)
	}
	for _, code := range codes {
		if status, _ := admin.get(t, c.base+"/authorizations?authorization_code="+url.QueryEscape(code)); status != http.StatusOK {
			t.Fatalf("look up %s: %d", code, status)
		}
		if a, err := db.AuthorizationByCode(ctx, code); err != nil || a.State != store.StateAvailable {
			t.Fatalf("%s: %+v %v", code, a, err)
		}
	}

	offboard := c.base + "/sub-merchants/" + strconv.FormatInt(sub.ID, 10) + "/offboard"
	if status, page := admin.get(t, offboard); status != http.StatusOK || !strings.Contains(page, codes[0]) {
		t.Fatalf("preview: %d", status)
	}
	res, err := admin.post(offboard, url.Values{"reason": {"商户停止服务"}, "confirm_sub_mchid": {subMchID}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("start offboarding: %v %v", res, err)
	}
	jobID, err := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/jobs/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	done := func() int {
		j, err := db.BulkJob(ctx, jobID)
		if err != nil {
			t.Fatal(err)
		}
		return j.Counts[store.ItemDone]
	}

	// Kill 1: WeChat Pay carries out the next call but holds its answer
	// back; the process dies waiting for it.
	waitFor(t, 30*time.Second, "3 codes done", func() bool { return done() >= 3 })
	if _, page := admin.get(t, c.base+"/sandbox"); page == "" {
		t.Fatal("no control page")
	}
	if res, err := admin.post(c.base+"/sandbox/control/faults", url.Values{"kind": {"slow"}, "n": {"1"}}); err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("inject a slow answer: %v %v", res, err)
	}
	time.Sleep(1500 * time.Millisecond)
	c.kill()
	first := done()
	if first >= n {
		t.Fatalf("the job finished before the kill (%d done): the test proved nothing", first)
	}
	// The kill left a code mid-call: marked calling, its answer never came.
	var calling string
	if items, err := db.BulkItems(ctx, jobID, 0, 100); err == nil {
		for _, it := range items {
			if it.Status == store.ItemCalling {
				calling = it.AuthorizationCode
			}
		}
	}
	if calling == "" {
		t.Fatal("no item was left calling by the kill: the test proved nothing")
	}
	pendingAtKill, _ := db.PendingTerminations(ctx)

	// Kill 2: at an arbitrary moment a little later.
	c = startConsole(t, dbPath, port, slowed)
	waitFor(t, 30*time.Second, "progress after the first restart", func() bool { return done() >= first+2 })
	time.Sleep(300 * time.Millisecond)
	c.kill()
	second := done()
	if second >= n {
		t.Fatalf("the job finished before the second kill (%d done)", second)
	}

	// The last start finishes the job by itself.
	c = startConsole(t, dbPath, port, slowed)
	waitFor(t, 60*time.Second, "the job to finish after the restart", func() bool {
		j, err := db.BulkJob(ctx, jobID)
		return err == nil && j.Status == store.JobDone
	})
	admin = signIn(t, c.base, "admin", "crash-test-password")
	if status, page := admin.get(t, c.base+"/jobs/"+strconv.FormatInt(jobID, 10)+".csv"); status != http.StatusOK || strings.Count(page, "\n") != n+1 {
		t.Errorf("CSV: %d, %d lines:\n%s", status, strings.Count(page, "\n"), page)
	}
	c.kill()

	items, err := db.BulkItems(ctx, jobID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("items = %d, want %d", len(items), n)
	}
	outcome := map[string]store.BulkItem{}
	for _, it := range items {
		if it.Status != store.ItemDone {
			t.Errorf("%s: item %s, want done", it.AuthorizationCode, it.Status)
		}
		outcome[it.AuthorizationCode] = it
	}
	sb.Close()
	sb, err = sandbox.New(ctx, sandbox.Options{DBPath: db.Path})
	if err != nil {
		t.Fatal(err)
	}
	terminated, interrupted := 0, 0
	for _, code := range codes {
		calls, err := sb.Calls(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		terminates := 0
		for _, call := range calls {
			if strings.HasSuffix(call.Path, "/terminate") {
				terminates++
			}
		}
		a, err := sb.Authorization(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		terms, err := db.TerminationsByCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if len(terms) != 1 || terms[0].Reason != "商户停止服务" {
			t.Errorf("%s: terminations %+v, want exactly one", code, terms)
			continue
		}
		if e, _ := db.AuditLog(ctx, store.AuditFilter{Target: code, Action: service.AuditTerminateRequest}); len(e) != 1 {
			t.Errorf("%s: %d terminate.request audit entries, want 1", code, len(e))
		}
		switch {
		case terminates > 1:
			t.Errorf("%s: %d terminate calls reached WeChat Pay, want at most 1", code, terminates)
		case terminates == 1:
			// Sent once, terminated, and recorded so.
			terminated++
			if a.State != sandbox.StateUnavailable || terms[0].Status != store.TerminationSucceeded || outcome[code].Outcome != store.TerminationSucceeded {
				t.Errorf("%s: one call, but WeChat Pay says %s, record %s, item %s", code, a.State, terms[0].Status, outcome[code].Outcome)
			}
		default:
			// A kill in the instant between the intent's commit and the
			// call: the start-up query found it not done, and it is
			// recorded failed (interrupted), never sent blindly; it stays
			// AVAILABLE for the next offboarding.
			interrupted++
			if a.State != sandbox.StateAvailable || terms[0].Status != store.TerminationFailed || terms[0].ErrorMessage != service.InterruptedMessage ||
				outcome[code].Outcome != store.TerminationFailed {
				t.Errorf("%s: no call, but WeChat Pay says %s, record %+v, item %s", code, a.State, terms[0], outcome[code].Outcome)
			}
		}
	}
	if interrupted > 1 {
		t.Errorf("%d codes interrupted between intent and call; two kills can interrupt at most one", interrupted)
	}
	if interrupted > 0 {
		// What is left is offered again.
		p, err := db.AuthorizationsBySubMch(ctx, subMchID, store.StateAvailable, 100)
		if err != nil || len(p) != interrupted {
			t.Errorf("left AVAILABLE for a new offboarding: %d, %v; want %d", len(p), err, interrupted)
		}
	}
	t.Logf("killed at %d (%s left calling, %d terminations pending) and %d of %d codes done; after the restart %d terminated by one call each, %d interrupted before its call",
		first, calling, len(pendingAtKill), second, n, terminated, interrupted)
}
