package views

import (
	"strconv"
	"time"

	"github.com/a-h/templ"
)

// HealthView is what the overview (and /healthz) say about the outside
// world: the last notification and WeChat Pay's answer to the last call.
type HealthView struct {
	// LastNotification is when the newest notification arrived; nil: never.
	LastNotification *time.Time
	// API is the last call to WeChat Pay; nil: none since the start.
	API *APICallView
}

// APICallView is the outcome of the last call to WeChat Pay.
type APICallView struct {
	At       time.Time
	Call     string
	Outcome  string
	Answered bool
}

// BulkView is the bulk page: the bulk look-up form, the sub-merchants
// support may offboard, and the latest jobs.
type BulkView struct {
	Lookup BulkLookupForm
	// CanOffboard shows the offboarding section (support, admin).
	CanOffboard  bool
	SubMerchants []OffboardSubMerchant
	Jobs         []JobRow
}

// BulkLookupForm is the bulk look-up form and what was wrong with it.
type BulkLookupForm struct {
	Codes string
	Live  bool
	// Error is what was wrong (translated); the lists say which codes.
	Error string
	// Max is the most codes a list may hold.
	Max        int
	Invalid    []BadCodeView
	Duplicates []BadCodeView
}

// BadCodeView is a refused code of a list and its line.
type BadCodeView struct {
	Line int
	Code string
}

// OffboardSubMerchant is a sub-merchant support may offboard.
type OffboardSubMerchant struct {
	ID       int64
	SubMchID string
	Name     string
	Disabled bool
}

// OffboardHref is its offboarding page.
func (m OffboardSubMerchant) OffboardHref() templ.SafeURL {
	return templ.SafeURL("/sub-merchants/" + strconv.FormatInt(m.ID, 10) + "/offboard")
}

// OffboardView is the offboarding preview and its typed confirmation.
type OffboardView struct {
	SubMerchant OffboardSubMerchant
	// Paused is set when the landing pages are paused (the job runs all
	// the same).
	Paused bool
	Count  int
	Codes  []OffboardCode
	// More is how many codes the list leaves out.
	More    int
	Running *JobRow
	Form    OffboardForm
	Reasons []string
}

// OffboardCode is one authorization an offboarding would terminate.
type OffboardCode struct {
	AuthorizationCode string
	CheckedAt         time.Time
}

// OffboardForm is the reason and typed confirmation.
type OffboardForm struct {
	Reason  string
	Confirm string
	Errors  map[string]string
}

// JobRow is a job in a list, and the head of its page.
type JobRow struct {
	ID         int64
	Kind       string // terminate, lookup
	Status     string // running, done, canceled
	SubMchID   string
	Reason     string
	Live       bool
	Username   string
	CreatedAt  time.Time
	FinishedAt *time.Time
	CanceledBy string
	Total      int
	Finished   int
}

// Href is the job's page.
func (j JobRow) Href() templ.SafeURL { return templ.SafeURL("/jobs/" + strconv.FormatInt(j.ID, 10)) }

// CSVHref is the job's results as CSV.
func (j JobRow) CSVHref() templ.SafeURL {
	return templ.SafeURL("/jobs/" + strconv.FormatInt(j.ID, 10) + ".csv")
}

// CancelHref is where the cancel form posts.
func (j JobRow) CancelHref() templ.SafeURL {
	return templ.SafeURL("/jobs/" + strconv.FormatInt(j.ID, 10) + "/cancel")
}

// Percent is the share of items finished, 0–100.
func (j JobRow) Percent() int {
	if j.Total == 0 {
		return 100
	}
	return j.Finished * 100 / j.Total
}

// JobView is a job's page: its head, progress, counts and latest items.
type JobView struct {
	Job JobRow
	// Counts by outcome (done items) and by item status (queued, calling,
	// canceled), in display order.
	Counts []JobCount
	// CanCancel shows the cancel button.
	CanCancel bool
	// Items are the first items (the CSV has all).
	Items []JobItemRow
	More  int
}

// JobCount is one figure of a job's progress.
type JobCount struct {
	Key string // catalog key
	N   int
}

// JobItemRow is one code of a job.
type JobItemRow struct {
	Seq               int
	AuthorizationCode string
	Status            string
	Outcome           string
	LocalState        string
	State             string
	ErrorCode         string
	RequestID         string
	// TerminatedBySupport tells an UNAVAILABLE state ended by support
	// from one the user closed.
	TerminatedBySupport bool
}

// jobProgressID is the element the page polls.
const jobProgressID = "job-progress"

// JobProgressFragment names the fragment GET /jobs/{id} answers htmx's
// polling with.
const JobProgressFragment = "job-progress"

// ariaBool is "true" or "false", for aria attributes.
func ariaBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// jobClass colours a job's status.
func jobClass(status string) string {
	switch status {
	case "done":
		return "ok"
	case "running":
		return "warn"
	case "canceled":
		return "bad"
	}
	return ""
}
