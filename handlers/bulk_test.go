package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// endingPayScore ends an authorization when asked and says so when
// queried; it counts the terminate calls per code.
type endingPayScore struct {
	mu    sync.Mutex
	ended map[string]int
}

func (f *endingPayScore) PreAuthorize(context.Context, payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
	return payscore.PreAuthorizeResult{}, fmt.Errorf("not used")
}

func (f *endingPayScore) Query(_ context.Context, r payscore.QueryRequest) (*payscore.Authorization, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := payscore.StateAvailable
	if f.ended[r.AuthorizationCode] > 0 {
		st = payscore.StateUnavailable
	}
	return &payscore.Authorization{AuthorizationCode: r.AuthorizationCode, SubMchID: r.SubMchID, State: st, RequestID: "REQ-Q"}, nil
}

func (f *endingPayScore) Terminate(_ context.Context, r payscore.TerminateRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[r.AuthorizationCode]++
	return "REQ-T-" + r.AuthorizationCode, nil
}

func (f *endingPayScore) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.ended {
		n += c
	}
	return n
}

// bulkServer is a test server with a sub-merchant of n AVAILABLE
// authorizations and a WeChat Pay that ends them; bulk calls are not rate
// limited.
func bulkServer(t *testing.T, n int) (*testServer, *endingPayScore, *store.SubMerchant, []string) {
	t.Helper()
	ps := &endingPayScore{ended: map[string]int{}}
	ts := newTestServer(t, withDeps(func(d *testWiring) { d.PayScore = ps }))
	ts.svc.Bulk.Limiter = nil
	ctx := context.Background()
	sub, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000555", Name: "将下线商户"})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for i := range n {
		code := fmt.Sprintf("PSC-OFF-%02d", i)
		if _, err := ts.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: sub.SubMchID,
			State: store.StateAvailable, StateTime: ts.clock.Now(), Source: "notification"}); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	return ts, ps, sub, codes
}

// runJobs works the bulk jobs until none has work left.
func runJobs(t *testing.T, ts *testServer) {
	t.Helper()
	for range 1000 {
		worked, err := ts.svc.Bulk.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			if jobs, _ := ts.db.BulkJobs(context.Background(), "", true, 10); len(jobs) == 0 {
				return
			}
		}
	}
	t.Fatal("jobs never finished")
}

func jobIDFrom(t *testing.T, res *response) int64 {
	t.Helper()
	loc := res.header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/jobs/"), 10, 64)
	if res.status != http.StatusSeeOther || err != nil {
		t.Fatalf("status %d, Location %q: want 303 to /jobs/{id}\n%s", res.status, loc, res.body)
	}
	return id
}

func readCSV(t *testing.T, res *response) [][]string {
	t.Helper()
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: status %d, type %q", res.status, res.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func col(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

// TestOffboardOverHTTP: the preview lists the AVAILABLE authorizations; a
// wrong typed confirmation is 422 and starts nothing; the right one starts
// the job (audited), whose page shows progress, polls a fragment while it
// runs, and whose CSV has one row per code.
func TestOffboardOverHTTP(t *testing.T) {
	ts, ps, sub, codes := bulkServer(t, 3)
	ctx := context.Background()
	sc := ts.client(t, store.RoleSupport)
	path := "/sub-merchants/" + strconv.FormatInt(sub.ID, 10) + "/offboard"

	res := sc.get(t, path)
	if res.status != http.StatusOK || !strings.Contains(res.text(`[data-testid="offboard-count"]`), "3") ||
		res.doc.Find(`[data-testid="offboard-codes"] tbody tr`).Length() != 3 || !res.has(`[data-testid="offboard-enabled"]`) {
		t.Fatalf("preview: %d\n%s", res.status, res.body)
	}
	for _, code := range codes {
		if !strings.Contains(res.body, code) {
			t.Errorf("preview lacks %s", code)
		}
	}
	// Operators and viewers may not offboard.
	for _, role := range []string{store.RoleOperator, store.RoleViewer} {
		if got := ts.client(t, role).get(t, path).status; got != http.StatusForbidden {
			t.Errorf("%s: GET offboard = %d, want 403", role, got)
		}
	}

	for name, form := range map[string]url.Values{
		"wrong sub_mchid": {"reason": {"商户停止服务"}, "confirm_sub_mchid": {"1900000556"}},
		"nothing typed":   {"reason": {"商户停止服务"}},
		"no reason":       {"reason": {""}, "confirm_sub_mchid": {sub.SubMchID}},
	} {
		res := sc.post(t, path, form)
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", name, res.status)
		}
	}
	if jobs, _ := ts.svc.Bulk.Jobs(ctx, "", 10); len(jobs) != 0 || ps.calls() != 0 {
		t.Fatalf("refused confirmations started something: jobs %+v, calls %d", jobs, ps.calls())
	}
	if e, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditBulkTerminateStart}); len(e) != 0 {
		t.Errorf("audit after refusals: %+v", e)
	}

	id := jobIDFrom(t, sc.post(t, path, url.Values{"reason": {"商户停止服务"}, "confirm_sub_mchid": {sub.SubMchID}}))
	jobPath := "/jobs/" + strconv.FormatInt(id, 10)
	res = sc.get(t, jobPath)
	if res.status != http.StatusOK || res.text(`[data-testid="job-status"]`) == "" || !res.has(`[data-testid="job-progress"][hx-get="`+jobPath+`"]`) ||
		!res.has(`[data-testid="job-cancel"]`) || res.doc.Find(`[data-testid="job-item"]`).Length() != 3 {
		t.Fatalf("running job page: %d\n%s", res.status, res.body)
	}
	// htmx's polling gets the progress fragment alone.
	frag := sc.get(t, jobPath, "HX-Request", "true")
	if frag.status != http.StatusOK || strings.Contains(frag.body, "<html") || !frag.has(`#job-progress progress[max="3"][value="0"]`) {
		t.Fatalf("fragment: %d\n%s", frag.status, frag.body)
	}
	e, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditBulkTerminateStart})
	if len(e) != 1 || e[0].Username != "support" || e[0].Target != "job:"+strconv.FormatInt(id, 10) || e[0].Reason != "商户停止服务" {
		t.Errorf("start audit = %+v", e)
	}
	// While it runs, a second offboarding is not offered.
	if res := sc.get(t, path); !res.has(`[data-testid="offboard-running"]`) || res.has(`[data-testid="offboard-form"]`) {
		t.Errorf("preview while running:\n%s", res.body)
	}

	runJobs(t, ts)
	frag = sc.get(t, jobPath, "HX-Request", "true")
	if !frag.has(`#job-progress progress[max="3"][value="3"]`) || frag.has(`#job-progress[hx-get]`) || frag.has(`[data-testid="job-cancel"]`) {
		t.Errorf("finished fragment (no more polling, no cancel):\n%s", frag.body)
	}
	for code, n := range ps.ended {
		if n != 1 {
			t.Errorf("%s terminated %d times", code, n)
		}
	}
	rows := readCSV(t, sc.get(t, jobPath+".csv"))
	if len(rows) != 4 {
		t.Fatalf("CSV rows = %d, want header + 3:\n%v", len(rows), rows)
	}
	h := rows[0]
	for i, row := range rows[1:] {
		if row[col(h, "seq")] != strconv.Itoa(i+1) || row[col(h, "authorization_code")] != codes[i] || row[col(h, "sub_mchid")] != sub.SubMchID ||
			row[col(h, "status")] != store.ItemDone || row[col(h, "outcome")] != store.TerminationSucceeded ||
			row[col(h, "state")] != store.StateUnavailable || row[col(h, "request_id")] != "REQ-T-"+codes[i] || row[col(h, "finished_at")] == "" ||
			row[col(h, "ended_by")] != "support" {
			t.Errorf("CSV row %d = %v", i+1, row)
		}
	}
	for _, code := range codes {
		terms, _ := ts.db.TerminationsByCode(ctx, code)
		if len(terms) != 1 || terms[0].Status != store.TerminationSucceeded || terms[0].Username != "support" {
			t.Errorf("%s: terminations %+v, want one by support", code, terms)
		}
	}
	// An offboarding's page and CSV are for those who may offboard.
	for _, p := range []string{jobPath, jobPath + ".csv"} {
		if got := ts.client(t, store.RoleViewer).get(t, p).status; got != http.StatusForbidden {
			t.Errorf("viewer GET %s = %d, want 403", p, got)
		}
	}
}

// TestOffboardStepsUpAfterReauthWindow: an authentication older than
// service.ReauthAfter is asked for again (the password here, no
// two-factor) before anything starts, as for a single termination.
func TestOffboardStepsUpAfterReauthWindow(t *testing.T) {
	ts, ps, sub, _ := bulkServer(t, 1)
	ac := ts.client(t, store.RoleAdmin)
	ts.clock.Advance(service.ReauthAfter + time.Minute)
	path := "/sub-merchants/" + strconv.FormatInt(sub.ID, 10) + "/offboard"
	ac.get(t, path)
	res := ac.post(t, path, url.Values{"reason": {"商户停止服务"}, "confirm_sub_mchid": {sub.SubMchID}})
	held := res.doc.Find(`input[name="_form"]`).AttrOr("value", "")
	if res.status != http.StatusOK || held == "" {
		t.Fatalf("no step-up asked: %d\n%s", res.status, res.body)
	}
	if jobs, _ := ts.svc.Bulk.Jobs(context.Background(), "", 10); len(jobs) != 0 {
		t.Fatalf("started before the step-up: %+v", jobs)
	}
	if res := ac.post(t, path, url.Values{"_stepup": {"1"}, "_form": {held}, "password": {"wrong password!"}}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("wrong password: %d, want 422", res.status)
	}
	if jobs, _ := ts.svc.Bulk.Jobs(context.Background(), "", 10); len(jobs) != 0 {
		t.Errorf("started with a wrong password: %+v", jobs)
	}
	jobIDFrom(t, ac.post(t, path, url.Values{"_stepup": {"1"}, "_form": {held}, "password": {testPassword}}))
	runJobs(t, ts)
	if ps.calls() != 1 {
		t.Errorf("calls = %d", ps.calls())
	}
}

// TestJobCancelOverHTTP: canceling drops the queued codes (audited), the
// CSV shows them canceled, and a second cancel is 409.
func TestJobCancelOverHTTP(t *testing.T) {
	ts, ps, sub, codes := bulkServer(t, 4)
	ctx := context.Background()
	sc := ts.client(t, store.RoleSupport)
	path := "/sub-merchants/" + strconv.FormatInt(sub.ID, 10) + "/offboard"
	id := jobIDFrom(t, sc.post(t, path, url.Values{"reason": {"商户停止服务"}, "confirm_sub_mchid": {sub.SubMchID}}))
	if _, err := ts.svc.Bulk.RunOnce(ctx); err != nil { // the first code
		t.Fatal(err)
	}
	jobPath := "/jobs/" + strconv.FormatInt(id, 10)
	// Another person who may offboard (an admin) cancels it.
	ac := ts.client(t, store.RoleAdmin)
	ac.get(t, jobPath)
	if res := ac.post(t, jobPath+"/cancel", nil); res.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", res.status, res.body)
	}
	runJobs(t, ts)
	if ps.calls() != 1 {
		t.Errorf("terminate calls = %d, want 1", ps.calls())
	}
	res := ac.get(t, jobPath)
	if got := res.text(`[data-testid="job-status"]`); got == "" || !res.has(`[data-testid="job-progress"]:not([hx-get])`) || res.has(`[data-testid="job-cancel"]`) {
		t.Errorf("canceled job page:\n%s", res.body)
	}
	e, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditBulkTerminateCancel})
	if len(e) != 1 || e[0].Username != "admin" || e[0].Target != "job:"+strconv.FormatInt(id, 10) {
		t.Errorf("cancel audit = %+v", e)
	}
	rows := readCSV(t, ac.get(t, jobPath+".csv"))
	h := rows[0]
	if rows[1][col(h, "outcome")] != store.TerminationSucceeded || rows[1][col(h, "authorization_code")] != codes[0] {
		t.Errorf("first row = %v", rows[1])
	}
	for _, row := range rows[2:] {
		if row[col(h, "status")] != store.ItemCanceled || row[col(h, "outcome")] != "" {
			t.Errorf("canceled row = %v", row)
		}
	}
	if res := ac.post(t, jobPath+"/cancel", nil); res.status != http.StatusConflict {
		t.Errorf("second cancel: %d, want 409", res.status)
	}
	// Those who may not offboard may not cancel one either.
	vc := ts.client(t, store.RoleViewer)
	vc.get(t, "/bulk")
	if res := vc.post(t, jobPath+"/cancel", nil); res.status != http.StatusForbidden {
		t.Errorf("viewer cancel: %d, want 403", res.status)
	}
}

// postMultipart submits the bulk look-up form with a file.
func postMultipart(t *testing.T, tc *testClient, path string, fields map[string]string, file string) *response {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fields["_csrf"] = tc.csrf
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "codes.csv")
	_, _ = fw.Write([]byte(file))
	w.Close()
	req := tc.newRequest(t, http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return tc.do(t, req)
}

// TestBulkLookupOverHTTP: every role may look codes up in bulk; too many,
// invalid or repeated codes are 422 with what is wrong and start nothing;
// a good list (pasted or uploaded) gives a CSV of last-known and live
// states.
func TestBulkLookupOverHTTP(t *testing.T) {
	ts, ps, _, codes := bulkServer(t, 2)
	ctx := context.Background()
	vc := ts.client(t, store.RoleViewer)
	if res := vc.get(t, "/bulk"); res.status != http.StatusOK || res.has(`[data-testid="offboard-list"]`) {
		t.Fatalf("viewer's bulk page: %d (no offboarding section expected)", res.status)
	}
	var many strings.Builder
	for i := range service.MaxBulkCodes + 1 {
		fmt.Fprintf(&many, "C%05d\n", i)
	}
	for name, tc := range map[string]struct {
		codes string
		sel   string
		want  string
	}{
		"too many":   {many.String(), `[data-testid="bulk-lookup-error"]`, "10001"},
		"invalid":    {codes[0] + "\nnot a code!\n", `[data-testid="bulk-invalid"]`, "not a code!"},
		"duplicates": {codes[0] + "\n" + codes[1] + "\n" + codes[0], `[data-testid="bulk-duplicates"]`, codes[0]},
		"empty":      {"\n", `[data-testid="bulk-lookup-error"]`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			res := vc.post(t, "/bulk/lookup", url.Values{"codes": {tc.codes}})
			if res.status != http.StatusUnprocessableEntity || !res.has(tc.sel) || !strings.Contains(res.text(tc.sel), tc.want) {
				t.Errorf("status %d, %s = %q, want 422 with %q", res.status, tc.sel, res.text(tc.sel), tc.want)
			}
		})
	}
	if jobs, _ := ts.svc.Bulk.Jobs(ctx, "", 10); len(jobs) != 0 {
		t.Fatalf("refused lists started jobs: %+v", jobs)
	}

	// Pasted and uploaded together, live.
	res := postMultipart(t, vc, "/bulk/lookup", map[string]string{"codes": codes[0], "live": "1"}, "authorization_code\r\n"+codes[1]+"\r\nUNKNOWN-9\r\n")
	id := jobIDFrom(t, res)
	runJobs(t, ts)
	if ps.calls() != 0 {
		t.Errorf("a look-up terminated something")
	}
	rows := readCSV(t, vc.get(t, "/jobs/"+strconv.FormatInt(id, 10)+".csv"))
	if len(rows) != 4 {
		t.Fatalf("CSV = %v", rows)
	}
	h := rows[0]
	for i, want := range []struct{ code, local, live, outcome string }{
		{codes[0], store.StateAvailable, store.StateAvailable, service.OutcomeOK},
		{codes[1], store.StateAvailable, store.StateAvailable, service.OutcomeOK},
		{"UNKNOWN-9", "", "", service.OutcomeUnknown},
	} {
		row := rows[i+1]
		if row[col(h, "authorization_code")] != want.code || row[col(h, "local_state")] != want.local || row[col(h, "live_state")] != want.live ||
			row[col(h, "outcome")] != want.outcome || row[col(h, "ended_by")] != "" {
			t.Errorf("row %d = %v, want %+v", i+1, row, want)
		}
	}
	if rows[1][col(h, "local_checked_at")] == "" || rows[1][col(h, "request_id")] != "REQ-Q" {
		t.Errorf("row 1 = %v", rows[1])
	}
	// Another role that may look up may open it; only its starter or an
	// admin may cancel a look-up.
	oc := ts.client(t, store.RoleOperator)
	if got := oc.get(t, "/jobs/"+strconv.FormatInt(id, 10)).status; got != http.StatusOK {
		t.Errorf("operator GET look-up job = %d", got)
	}
	id2 := jobIDFrom(t, postMultipart(t, vc, "/bulk/lookup", map[string]string{"live": "1"}, codes[0]))
	if res := oc.post(t, "/jobs/"+strconv.FormatInt(id2, 10)+"/cancel", nil); res.status != http.StatusForbidden {
		t.Errorf("operator cancels the viewer's look-up: %d, want 403", res.status)
	}
	if res := vc.post(t, "/jobs/"+strconv.FormatInt(id2, 10)+"/cancel", nil); res.status != http.StatusSeeOther {
		t.Errorf("viewer cancels own look-up: %d, want 303", res.status)
	}
	if e, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditBulkLookupCancel}); len(e) != 1 || e[0].Username != "viewer" {
		t.Errorf("look-up cancel audit = %+v", e)
	}
}

// fakeHealth is a notification clock and an API call recorder.
type fakeHealth struct {
	last *time.Time
	call *payscore.LastCall
}

func (f fakeHealth) LastNotificationAt(context.Context) (*time.Time, error) { return f.last, nil }
func (f fakeHealth) LastCall() (payscore.LastCall, bool) {
	if f.call == nil {
		return payscore.LastCall{}, false
	}
	return *f.call, true
}

// TestHealthzReports: /healthz says when the last notification arrived and
// whether WeChat Pay answered the last call, and stays 200 while the
// database is fine whatever those say; the overview shows both.
func TestHealthzReports(t *testing.T) {
	last := time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		h        fakeHealth
		wantLast any
		wantAPI  map[string]any
		badge    string
	}{
		"nothing yet": {fakeHealth{}, nil, map[string]any{"answered": nil}, "health.api.none"},
		"answered": {fakeHealth{last: &last, call: &payscore.LastCall{At: last.Add(time.Minute), Call: "query", Outcome: "ok", Answered: true}},
			"2026-03-01T01:30:00Z", map[string]any{"answered": true, "at": "2026-03-01T01:31:00Z", "call": "query", "outcome": "ok"}, "ok"},
		"no answer": {fakeHealth{last: &last, call: &payscore.LastCall{At: last, Call: "terminate", Outcome: "transport", Answered: false}},
			"2026-03-01T01:30:00Z", map[string]any{"answered": false, "at": "2026-03-01T01:30:00Z", "call": "terminate", "outcome": "transport"}, "bad"},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, withDeps(func(d *testWiring) { d.Notifications, d.APICalls = tc.h, tc.h }))
			res := ts.anonymous(t).get(t, "/healthz")
			var body map[string]any
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || res.status != http.StatusOK {
				t.Fatalf("status %d, %v: %s", res.status, err, res.body)
			}
			if body["status"] != "ok" || body["db"] != "ok" || fmt.Sprint(body["last_notification_at"]) != fmt.Sprint(tc.wantLast) {
				t.Errorf("body = %s", res.body)
			}
			if got, _ := json.Marshal(body["wechatpay_api"]); string(got) != mustJSON(tc.wantAPI) {
				t.Errorf("wechatpay_api = %s, want %s", got, mustJSON(tc.wantAPI))
			}
			page := ts.client(t, store.RoleViewer).get(t, "/")
			if !page.has(`[data-testid="health-last-notification"]`) || !page.has(`[data-testid="health-api"]`) {
				t.Fatalf("overview lacks the health strip:\n%s", page.body)
			}
			if tc.badge != "health.api.none" && !page.has(`[data-testid="health-api"].`+tc.badge) {
				t.Errorf("overview's API badge is not %s: %s", tc.badge, page.text(`[data-testid="health"]`))
			}
			if tc.h.last == nil && page.text(`[data-testid="health-last-notification"]`) == "" {
				t.Error("no 'never' shown")
			}
			// The database failing is what makes it 503, not WeChat Pay.
			ts.db.Close()
			if res := ts.anonymous(t).get(t, "/healthz"); res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, `"db":"error"`) {
				t.Errorf("closed DB: %d %s", res.status, res.body)
			}
		})
	}
	// With the real store: the newest notification's time.
	ts := newTestServer(t)
	var body map[string]any
	res := ts.anonymous(t).get(t, "/healthz")
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || body["last_notification_at"] != nil {
		t.Errorf("empty database: %s", res.body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
