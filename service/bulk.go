package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// Audit actions of bulk jobs.
const (
	AuditBulkTerminateStart  = "bulk.terminate.start"
	AuditBulkTerminateCancel = "bulk.terminate.cancel"
	AuditBulkLookupStart     = "bulk.lookup.start"
	AuditBulkLookupCancel    = "bulk.lookup.cancel"
)

// Limits of bulk jobs.
const (
	// MaxBulkCodes bounds a bulk look-up's list of codes.
	MaxBulkCodes = 10000
	// MaxOffboard bounds the authorizations one offboarding terminates.
	MaxOffboard = 100000
	// PreviewLimit bounds the codes an offboarding preview lists.
	PreviewLimit = 500
	// DefaultBulkRate is the calls per second bulk jobs make to WeChat Pay
	// when no rate is configured.
	DefaultBulkRate = 5
)

// Outcomes of a bulk item (besides the termination statuses succeeded,
// failed and pending).
const (
	OutcomeSkipped = "skipped" // already over: no terminate call
	OutcomeLocal   = "local"   // look-up without live query: last known state only
	OutcomeOK      = "ok"      // live query answered
	OutcomeError   = "error"   // live query failed
	OutcomeUnknown = "unknown" // code not known locally (no sub-merchant to ask for)
)

// BulkStore is what bulk jobs need from the database.
type BulkStore interface {
	AuthorizationSaver
	LinkByCode(ctx context.Context, code string) (*store.Link, error)
	AuthorizationByCode(ctx context.Context, code string) (*store.Authorization, error)
	TerminationsByCode(ctx context.Context, code string) ([]store.Termination, error)
	SubMerchantByID(ctx context.Context, id int64) (*store.SubMerchant, error)
	AuthorizationsBySubMch(ctx context.Context, subMchID, state string, limit int) ([]store.Authorization, error)
	CreateBulkJob(ctx context.Context, j store.BulkJob, items []store.BulkItem, audit *store.AuditEntry) (int64, error)
	BulkJob(ctx context.Context, id int64) (*store.BulkJob, error)
	BulkJobs(ctx context.Context, kind string, running bool, limit int) ([]store.BulkJob, error)
	BulkItems(ctx context.Context, jobID int64, after, limit int) ([]store.BulkItem, error)
	NextBulkItem(ctx context.Context, jobID int64) (*store.BulkItem, error)
	MarkBulkItemCalling(ctx context.Context, id int64, priorTerminations int) error
	FinishBulkItem(ctx context.Context, it store.BulkItem) error
	FinishBulkJob(ctx context.Context, id int64) (bool, error)
	CancelBulkJob(ctx context.Context, id int64, by string, audit store.AuditEntry) error
}

// Bulk runs background jobs over many codes: offboarding a sub-merchant
// (one termination per AVAILABLE authorization, through Terminations, so
// that every rule of a single termination applies) and bulk look-ups. Jobs
// and items live in the database; Run works them, resuming what a restart
// interrupted. Calls to WeChat Pay share one token bucket and back off
// when WeChat Pay answers FREQUENCY_LIMITED.
type Bulk struct {
	Store        BulkStore
	Terminations *Terminations
	PayScore     Querier
	// Limiter is the token bucket of calls to WeChat Pay; nil: unlimited.
	Limiter *rate.Limiter
	// Backoff is the first pause of every call after FREQUENCY_LIMITED
	// (default 2 s); it doubles while WeChat Pay keeps refusing, up to
	// MaxBackoff (default 1 min).
	Backoff, MaxBackoff time.Duration
	// Idle is how long Run waits for work before looking again (default 1 s).
	Idle   time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	mu         sync.Mutex
	wake       chan struct{}
	pauseUntil time.Time
	nextPause  time.Duration
}

// NewLimiter is a token bucket of perSecond calls (burst of one second's
// worth, at least 1).
func NewLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		perSecond = DefaultBulkRate
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
}

// OffboardPreview is what an offboarding would terminate.
type OffboardPreview struct {
	SubMerchant *store.SubMerchant
	// Count is how many authorizations are AVAILABLE (last known locally).
	Count int
	// Codes lists the first PreviewLimit of them.
	Codes []store.Authorization
	// Running is the offboarding of this sub-merchant already running.
	Running *store.BulkJob
}

// PreviewOffboard lists what offboarding sub-merchant id would terminate.
func (s *Bulk) PreviewOffboard(ctx context.Context, id int64) (OffboardPreview, error) {
	var p OffboardPreview
	m, err := s.Store.SubMerchantByID(ctx, id)
	if err != nil {
		return p, err
	}
	p.SubMerchant = m
	all, err := s.Store.AuthorizationsBySubMch(ctx, m.SubMchID, store.StateAvailable, MaxOffboard)
	if err != nil {
		return p, err
	}
	p.Count, p.Codes = len(all), all[:min(len(all), PreviewLimit)]
	running, err := s.Store.BulkJobs(ctx, store.BulkTerminate, true, 100)
	if err != nil {
		return p, err
	}
	for i := range running {
		if running[i].SubMchID == m.SubMchID && running[i].Status == store.JobRunning {
			p.Running = &running[i]
		}
	}
	return p, nil
}

// ReasonKey is the catalog key of what is wrong with a termination reason,
// or "". The limit counts characters, not bytes: reasons are usually
// Chinese.
func ReasonKey(reason string) string {
	switch {
	case reason == "":
		return "support.err.reason.required"
	case utf8.RuneCountInString(reason) > payscore.MaxReasonRunes:
		return "support.err.reason.long"
	case payscore.ValidateReason(reason) != nil:
		return "support.err.reason.invalid"
	}
	return ""
}

// StartOffboard starts terminating every authorization of sub-merchant id
// that is AVAILABLE (last known locally), with one reason. confirm must be
// the sub-merchant's sub_mchid, typed by the person: anything else is
// refused (Invalid) and nothing starts. The job, its items and the audit
// entry bulk.terminate.start are written in one transaction. Neither a
// disabled sub-merchant nor the landing pause stops it: offboarding is what
// follows disabling, and terminating creates nothing a user could agree to.
func (s *Bulk) StartOffboard(ctx context.Context, actor Actor, id int64, reason, confirm string) (int64, error) {
	m, err := s.Store.SubMerchantByID(ctx, id)
	if err != nil {
		return 0, err
	}
	if key := ReasonKey(reason); key != "" {
		return 0, newError(Invalid, key, errors.New("bulk: bad reason"))
	}
	if strings.TrimSpace(confirm) != m.SubMchID {
		return 0, newError(Invalid, "bulk.err.confirm", errors.New("bulk: confirmation does not match the sub_mchid"))
	}
	all, err := s.Store.AuthorizationsBySubMch(ctx, m.SubMchID, store.StateAvailable, MaxOffboard)
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		return 0, newError(Invalid, "bulk.err.none", errors.New("bulk: nothing to terminate"))
	}
	items := make([]store.BulkItem, len(all))
	for i, a := range all {
		at := a.CheckedAt
		items[i] = store.BulkItem{AuthorizationCode: a.AuthorizationCode, SubMchID: m.SubMchID, LocalState: a.State, LocalCheckedAt: &at}
	}
	audit := actor.entry(store.AuditEntry{Action: AuditBulkTerminateStart, Reason: reason, Result: store.JobRunning,
		Detail: fmt.Sprintf("sub_mchid=%s codes=%d", m.SubMchID, len(items))})
	jobID, err := s.Store.CreateBulkJob(ctx, store.BulkJob{Kind: store.BulkTerminate, SubMchID: m.SubMchID, Reason: reason,
		UserID: actor.UserID, Username: actor.Username, IP: actor.IP}, items, &audit)
	if errors.Is(err, store.ErrConflict) {
		return 0, newError(Conflict, "bulk.err.running", err)
	}
	if err != nil {
		return 0, err
	}
	loggerOr(s.Logger).Info("offboarding started", "job", jobID, "sub_mchid", m.SubMchID, "codes", len(items), "by", actor.Username)
	s.Kick()
	return jobID, nil
}

// CodeListError says what is wrong with a list of codes.
type CodeListError struct {
	// Count is how many codes the list holds (duplicates included).
	Count int
	// TooMany is set when Count exceeds MaxBulkCodes.
	TooMany bool
	// Invalid lists codes that are not authorization codes (the first few),
	// with their line numbers.
	Invalid []BadCode
	// Duplicates lists codes given more than once (the first few).
	Duplicates []BadCode
}

// BadCode is a code of a list and the line it is on.
type BadCode struct {
	Line int
	Code string
}

// maxReported bounds the examples a CodeListError lists.
const maxReported = 20

func (e *CodeListError) Error() string {
	return fmt.Sprintf("bulk: code list: %d codes, too many=%v, %d invalid, %d duplicates", e.Count, e.TooMany, len(e.Invalid), len(e.Duplicates))
}

// ParseCodes reads a pasted or uploaded list of authorization codes: one
// or more a line, separated by commas, semicolons or tabs (a CSV's
// first column works; a header cell "authorization_code" is skipped). More
// than MaxBulkCodes, an invalid code or a code given twice is refused
// (Invalid, with a *CodeListError saying which).
func ParseCodes(text string) ([]string, error) {
	text = strings.TrimPrefix(text, "\ufeff")
	var codes []string
	seen := map[string]int{}
	cl := &CodeListError{}
	for n, line := range strings.Split(text, "\n") {
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == '\t' })
		for _, f := range fields {
			// Spaces and a CSV's quotes around a code are not part of it;
			// spaces inside one make it invalid.
			f = strings.Trim(strings.TrimSpace(f), "\"\u3000")
			if f == "" || strings.EqualFold(f, "authorization_code") {
				continue
			}
			cl.Count++
			if payscore.ValidateAuthorizationCode(f) != nil {
				if len(cl.Invalid) < maxReported {
					// Show at most 40 characters of what was given.
					shown := f
					if utf8.RuneCountInString(shown) > 40 {
						shown = string([]rune(shown)[:40]) + "…"
					}
					cl.Invalid = append(cl.Invalid, BadCode{Line: n + 1, Code: shown})
				}
				continue
			}
			if _, dup := seen[f]; dup {
				if len(cl.Duplicates) < maxReported {
					cl.Duplicates = append(cl.Duplicates, BadCode{Line: n + 1, Code: f})
				}
				continue
			}
			seen[f] = n + 1
			codes = append(codes, f)
		}
	}
	cl.TooMany = cl.Count > MaxBulkCodes
	switch {
	case cl.Count == 0:
		return nil, newError(Invalid, "bulk.err.empty", cl)
	case cl.TooMany:
		return nil, newError(Invalid, "bulk.err.too_many", cl)
	case len(cl.Invalid) > 0:
		return nil, newError(Invalid, "bulk.err.invalid", cl)
	case len(cl.Duplicates) > 0:
		return nil, newError(Invalid, "bulk.err.duplicates", cl)
	}
	return codes, nil
}

// StartLookup starts a bulk look-up of codes (ParseCodes' result): the last
// state known locally of each, and with live, WeChat Pay's answer (queried
// within the rate limit). Without live the job is done at once.
func (s *Bulk) StartLookup(ctx context.Context, actor Actor, codes []string, live bool) (int64, error) {
	if len(codes) == 0 || len(codes) > MaxBulkCodes {
		return 0, newError(Invalid, "bulk.err.too_many", fmt.Errorf("bulk: %d codes", len(codes)))
	}
	items := make([]store.BulkItem, len(codes))
	for i, code := range codes {
		items[i].AuthorizationCode = code
	}
	audit := actor.entry(store.AuditEntry{Action: AuditBulkLookupStart, Result: store.JobRunning,
		Detail: fmt.Sprintf("codes=%d live=%v", len(codes), live)})
	id, err := s.Store.CreateBulkJob(ctx, store.BulkJob{Kind: store.BulkLookup, Live: live,
		UserID: actor.UserID, Username: actor.Username, IP: actor.IP}, items, &audit)
	if err != nil {
		return 0, err
	}
	s.Kick()
	return id, nil
}

// Job reads a job with its counts.
func (s *Bulk) Job(ctx context.Context, id int64) (*store.BulkJob, error) {
	return s.Store.BulkJob(ctx, id)
}

// Jobs lists the latest jobs of a kind ("" for all).
func (s *Bulk) Jobs(ctx context.Context, kind string, limit int) ([]store.BulkJob, error) {
	return s.Store.BulkJobs(ctx, kind, false, limit)
}

// Items lists a job's items in order, from seq after.
func (s *Bulk) Items(ctx context.Context, id int64, after, limit int) ([]store.BulkItem, error) {
	return s.Store.BulkItems(ctx, id, after, limit)
}

// Cancel stops a running job: its queued items are canceled, the item
// being called (if any) finishes and is recorded. Audited
// (bulk.terminate.cancel or bulk.lookup.cancel) in the same transaction.
// A job that is not running is a Conflict.
func (s *Bulk) Cancel(ctx context.Context, actor Actor, id int64) error {
	j, err := s.Store.BulkJob(ctx, id)
	if err != nil {
		return err
	}
	action := AuditBulkLookupCancel
	if j.Kind == store.BulkTerminate {
		action = AuditBulkTerminateCancel
	}
	err = s.Store.CancelBulkJob(ctx, id, actor.Username, actor.entry(store.AuditEntry{Action: action,
		Target: fmt.Sprintf("job:%d", id), Reason: j.Reason, Result: store.JobCanceled}))
	if errors.Is(err, store.ErrConflict) {
		return newError(Conflict, "bulk.err.not_running", err)
	}
	if err == nil {
		loggerOr(s.Logger).Info("bulk job canceled", "job", id, "by", actor.Username)
	}
	return err
}

// Kick wakes Run: a job was started.
func (s *Bulk) Kick() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

func (s *Bulk) wakeChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	return s.wake
}

// Run works the jobs until ctx ends: one item of each running job in turn,
// so that a long offboarding does not hold up a look-up. An item a
// previous process left calling is settled first, never sent again.
func (s *Bulk) Run(ctx context.Context) {
	idle := s.Idle
	if idle <= 0 {
		idle = time.Second
	}
	log := loggerOr(s.Logger)
	for ctx.Err() == nil {
		worked, err := s.RunOnce(ctx)
		if err != nil {
			log.Error("bulk jobs", "err", err)
		}
		if worked && err == nil {
			continue
		}
		t := time.NewTimer(idle)
		select {
		case <-ctx.Done():
		case <-s.wakeChan():
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce works one item of each job that has any left (and finishes the
// jobs that have none); worked says whether any item was worked.
func (s *Bulk) RunOnce(ctx context.Context) (worked bool, err error) {
	jobs, err := s.Store.BulkJobs(ctx, "", true, 100)
	if err != nil {
		return false, err
	}
	var errs []error
	for i := range jobs {
		j := &jobs[i]
		it, err := s.Store.NextBulkItem(ctx, j.ID)
		if errors.Is(err, store.ErrNotFound) {
			if done, err := s.Store.FinishBulkJob(ctx, j.ID); err != nil {
				errs = append(errs, err)
			} else if done {
				loggerOr(s.Logger).Info("bulk job done", "job", j.ID, "kind", j.Kind)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch j.Kind {
		case store.BulkTerminate:
			err = s.terminateItem(ctx, j, it)
		default:
			err = s.lookupItem(ctx, j, it)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("job %d, %s: %w", j.ID, it.AuthorizationCode, err))
			continue
		}
		worked = true
	}
	return worked, errors.Join(errs...)
}

// terminateItem terminates one code of an offboarding. The item is marked
// calling (committed) with the number of terminations recorded for the
// code so far, then Terminations.Terminate runs its saga. An item found
// calling (the process died during it) is settled from the records: a
// termination begun since (one more record) is never sent again — its
// outcome is its record's, settled by a query if still pending; none begun
// means no call was made, and it is made now.
func (s *Bulk) terminateItem(ctx context.Context, j *store.BulkJob, it *store.BulkItem) error {
	code := it.AuthorizationCode
	terms, err := s.Store.TerminationsByCode(ctx, code)
	if err != nil {
		return err
	}
	t := s.limitedTerminations()
	if it.Status == store.ItemCalling && len(terms) > it.PriorTerminations {
		return s.settleBegun(ctx, t, it, terms[0])
	}
	if it.Status == store.ItemQueued {
		if err := s.Store.MarkBulkItemCalling(ctx, it.ID, len(terms)); errors.Is(err, store.ErrConflict) {
			return nil // canceled meanwhile
		} else if err != nil {
			return err
		}
		it.PriorTerminations = len(terms)
	}
	starter := Actor{UserID: j.UserID, Username: j.Username, IP: j.IP}
	// The terminate call's token is taken now, before the saga writes its
	// intent: a stop between that write and the call then leaves a
	// moment, not a wait in the bucket, in which a termination is begun
	// but not sent (the start-up resolver records it failed, interrupted).
	if err := s.wait(ctx); err != nil {
		return err
	}
	t.PayScore = s.limitedPrepaid()
	res, err := t.Terminate(ctx, starter, code, it.SubMchID, j.Reason)
	if KindOf(err) == Conflict {
		// One in flight already (a person's, from the look-up screen): it
		// is that one's to finish; this job sends nothing.
		it.Outcome, it.ErrorCode, it.ErrorMessage = store.TerminationFailed, "IN_FLIGHT", "a termination of this code was already in progress"
		return s.finish(ctx, it)
	}
	if err != nil {
		return err // left calling: settled on the next pass
	}
	it.State = res.State
	if res.Status == "" {
		it.Outcome = OutcomeSkipped // already over: no call was made
	} else {
		it.Outcome = res.Status
	}
	if after, err := s.Store.TerminationsByCode(ctx, code); err == nil && len(after) > it.PriorTerminations {
		it.RequestID, it.ErrorCode, it.ErrorMessage = after[0].RequestID, after[0].ErrorCode, after[0].ErrorMessage
	} else if res.CallErr != nil {
		f := payscore.Classify(res.CallErr)
		it.RequestID, it.ErrorCode, it.ErrorMessage = f.RequestID, f.Code, f.Message
	}
	if it.ErrorMessage == "" && res.CallErr != nil && it.Outcome != store.TerminationSucceeded {
		it.ErrorMessage = res.CallErr.Error()
	}
	return s.finish(ctx, it)
}

// settleBegun records the outcome of a termination an earlier process
// began for the item: its record's, after settling it by a query if it is
// still pending (WeChat Pay is asked, never sent the termination again).
func (s *Bulk) settleBegun(ctx context.Context, t *Terminations, it *store.BulkItem, term store.Termination) error {
	if term.Status == store.TerminationPending {
		if err := t.resolve(ctx, term); err != nil {
			loggerOr(s.Logger).Warn("bulk: interrupted termination still unknown; the reconciler settles it", "authorization_code", term.AuthorizationCode, "err", err)
		}
		terms, err := s.Store.TerminationsByCode(ctx, it.AuthorizationCode)
		if err != nil {
			return err
		}
		for _, tr := range terms {
			if tr.ID == term.ID {
				term = tr
			}
		}
	}
	it.Outcome, it.RequestID, it.ErrorCode, it.ErrorMessage = term.Status, term.RequestID, term.ErrorCode, term.ErrorMessage
	if a, err := s.Store.AuthorizationByCode(ctx, it.AuthorizationCode); err == nil {
		it.State = a.State
	}
	return s.finish(ctx, it)
}

// lookupItem looks one code up: the last state known locally and, for a
// live job, WeChat Pay's answer (recorded like any look-up).
func (s *Bulk) lookupItem(ctx context.Context, j *store.BulkJob, it *store.BulkItem) error {
	code := it.AuthorizationCode
	local, err := s.Store.AuthorizationByCode(ctx, code)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if local != nil {
		at := local.CheckedAt
		it.LocalState, it.LocalCheckedAt = local.State, &at
	}
	sub, err := knownSubMchID(ctx, s.Store, code)
	if err != nil {
		return err
	}
	it.SubMchID = sub
	switch {
	case sub == "":
		it.Outcome = OutcomeUnknown
		return s.finish(ctx, it)
	case !j.Live:
		it.Outcome = OutcomeLocal
		return s.finish(ctx, it)
	}
	a, qerr := s.limited().Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: sub})
	if qerr != nil {
		f := payscore.Classify(qerr)
		it.Outcome, it.RequestID, it.ErrorCode, it.ErrorMessage = OutcomeError, f.RequestID, f.Code, qerr.Error()
		return s.finish(ctx, it)
	}
	if err := saveQueried(ctx, s.Store, s.Now, s.Logger, code, sub, a, SourceQuery); err != nil {
		return err
	}
	it.Outcome, it.State, it.RequestID = OutcomeOK, string(a.State), a.RequestID
	return s.finish(ctx, it)
}

func (s *Bulk) finish(ctx context.Context, it *store.BulkItem) error {
	if err := s.Store.FinishBulkItem(ctx, *it); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

// limitedTerminations is Terminations calling WeChat Pay through the
// bucket: the same saga and rules, at the jobs' pace.
func (s *Bulk) limitedTerminations() *Terminations {
	return &Terminations{Store: s.Terminations.Store, PayScore: s.limited(), Now: s.Terminations.Now, Logger: s.Terminations.Logger}
}

// limitedPrepaid is limited, its first terminate call's token already
// taken.
func (s *Bulk) limitedPrepaid() limitedPayScore {
	l := s.limited()
	l.prepaid = &atomic.Bool{}
	l.prepaid.Store(true)
	return l
}

func (s *Bulk) limited() limitedPayScore {
	next := s.PayScore
	var term Terminator
	if s.Terminations != nil {
		term = s.Terminations.PayScore
		if next == nil {
			next = term
		}
	}
	return limitedPayScore{b: s, query: next, term: term}
}

// maxRateLimitRetries bounds how often one call is sent again after
// FREQUENCY_LIMITED.
const maxRateLimitRetries = 5

// limitedPayScore takes a token before every call, and after a
// FREQUENCY_LIMITED answer pauses every call of the jobs (doubling while it
// lasts) and sends the call again: WeChat Pay turned it away unread. A
// terminate whose earlier attempt's outcome was unknown is not sent again.
type limitedPayScore struct {
	b     *Bulk
	query Querier
	term  Terminator
	// prepaid, when set and true, is a token taken for the next terminate
	// call.
	prepaid *atomic.Bool
}

func (l limitedPayScore) Query(ctx context.Context, req payscore.QueryRequest) (*payscore.Authorization, error) {
	for attempt := 0; ; attempt++ {
		if err := l.b.wait(ctx); err != nil {
			return nil, err
		}
		a, err := l.query.Query(ctx, req)
		if !l.b.throttled(err) || attempt >= maxRateLimitRetries {
			return a, err
		}
	}
}

func (l limitedPayScore) Terminate(ctx context.Context, req payscore.TerminateRequest) (string, error) {
	for attempt := 0; ; attempt++ {
		if l.prepaid == nil || !l.prepaid.CompareAndSwap(true, false) {
			if err := l.b.wait(ctx); err != nil {
				return "", err
			}
		}
		id, err := l.term.Terminate(ctx, req)
		if !l.b.throttled(err) || !turnedAway(err) || attempt >= maxRateLimitRetries {
			return id, err
		}
	}
}

// turnedAway reports whether err says WeChat Pay did nothing with the
// call: a rate limit and no earlier attempt whose outcome is unknown.
func turnedAway(err error) bool {
	f := payscore.Classify(err)
	return f.Kind == payscore.FailureRateLimited && !afterUnknown(f)
}

// wait takes a token, after any pause a FREQUENCY_LIMITED answer started.
func (s *Bulk) wait(ctx context.Context) error {
	s.mu.Lock()
	pause := s.pauseUntil.Sub(time.Now())
	s.mu.Unlock()
	if pause > 0 {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if s.Limiter == nil {
		return nil
	}
	return s.Limiter.Wait(ctx)
}

// throttled notes a call's answer: FREQUENCY_LIMITED pauses every call for
// the back-off (doubling while it lasts) and reports true; any other
// answer resets the back-off.
func (s *Bulk) throttled(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if payscore.Classify(err).Kind != payscore.FailureRateLimited {
		s.nextPause = 0
		return false
	}
	base, top := s.Backoff, s.MaxBackoff
	if base <= 0 {
		base = 2 * time.Second
	}
	if top <= 0 {
		top = time.Minute
	}
	if s.nextPause == 0 {
		s.nextPause = base
	}
	s.pauseUntil = time.Now().Add(s.nextPause)
	loggerOr(s.Logger).Warn("bulk: FREQUENCY_LIMITED; pausing calls", "pause", s.nextPause.String())
	s.nextPause = min(2*s.nextPause, top)
	return true
}
