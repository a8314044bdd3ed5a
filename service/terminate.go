package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// Audit actions of a termination.
const (
	AuditTerminateRequest = "terminate.request"
	AuditTerminateResult  = "terminate.result"
	AuditTerminateReauth  = "terminate.reauth"
)

// InterruptedMessage is recorded for a termination whose outcome was lost
// and that WeChat Pay does not show as done.
const InterruptedMessage = "interrupted; not confirmed by WeChat Pay"

// TerminationStore is what terminating needs from the database.
type TerminationStore interface {
	AuthorizationSaver
	LinkByCode(ctx context.Context, code string) (*store.Link, error)
	AuthorizationByCode(ctx context.Context, code string) (*store.Authorization, error)
	BeginTermination(ctx context.Context, t store.Termination, audit store.AuditEntry) (int64, error)
	FinishTermination(ctx context.Context, id int64, status, requestID, errCode, errMsg string, audit store.AuditEntry) error
	PendingTerminations(ctx context.Context) ([]store.Termination, error)
	TerminationsByCode(ctx context.Context, code string) ([]store.Termination, error)
	Audit(ctx context.Context, e store.AuditEntry) error
}

// Terminator is the terminate and query calls of the Pay Score API.
type Terminator interface {
	Querier
	Terminate(ctx context.Context, req payscore.TerminateRequest) (string, error)
}

// Terminations runs the termination saga: intent, one call, outcome, each
// with its audit entry in the same transaction; an outcome WeChat Pay left
// unknown is settled by a query, now or later.
type Terminations struct {
	Store    TerminationStore
	PayScore Terminator
	Now      func() time.Time
	Logger   *slog.Logger
	// Instance is this console instance's id, recorded on every
	// termination it begins: while it lives, its pending terminations are
	// its own requests' to finish (ResolveAbandoned).
	Instance string
	// Started is when this process started: pending terminations of its
	// instance id from before then were left by an earlier process.
	Started time.Time
}

// InstanceLiveness says whether a console instance still lives (its
// heartbeat lease has not lapsed); the store implements it.
type InstanceLiveness interface {
	InstanceAlive(ctx context.Context, instanceID string) (bool, error)
}

// TerminationResult is what became of a termination request.
type TerminationResult struct {
	// Status is store.TerminationSucceeded, TerminationFailed or
	// TerminationPending.
	Status string
	// Confirmed is true when WeChat Pay's answer was lost and a query
	// showed the authorization ended.
	Confirmed bool
	// NotDone is true when WeChat Pay's answer was lost (or could not be
	// believed) and the query made at once showed the authorization not
	// ended: the termination failed, State says what it is.
	NotDone bool
	// State is the authorization's state after the attempt: queried from
	// WeChat Pay, or the last known locally when the query failed.
	State string
	// CallErr is the terminate call's failure, if any (for showing it).
	CallErr error
	// Ended is set when the authorization was already over (WeChat Pay
	// says UNAVAILABLE) before any call: no terminate call was made and
	// nothing was recorded as a termination. Status is then "".
	Ended *Ended
}

// How an authorization that was already over had ended.
const (
	EndedByUser       = "user"       // the user closed the service in WeChat
	EndedByTerminated = "terminated" // a termination from this console
	EndedUnknown      = "unknown"    // WeChat Pay does not say, nor do our records
)

// Ended says when and how an authorization that was already over ended.
type Ended struct {
	// At is WeChat Pay's cancel_authorization_time, or our record's time;
	// nil when neither is known.
	At *time.Time
	// How is EndedByUser, EndedByTerminated or EndedUnknown.
	How string
	// By is who terminated it (EndedByTerminated), "" otherwise.
	By string
	// RequestID is the query's Request-ID.
	RequestID string
}

// AuditTerminateSkipped is the audit action of a termination request for
// an authorization that was already over: no call was made.
const AuditTerminateSkipped = "terminate.skipped"

// outcome is the settled outcome of one attempt.
type outcome struct {
	status    string
	requestID string
	errCode   string
	errMsg    string
	confirmed bool
	notDone   bool
	live      *payscore.Authorization
	queryErr  error
}

// KnownSubMchID finds the sub-merchant of a code from local records; ""
// when the code is unknown locally. Only what the console knows is
// terminated: the sub-merchant comes from its records, never from a form.
func (s *Terminations) KnownSubMchID(ctx context.Context, code string) (string, error) {
	return knownSubMchID(ctx, s.Store, code)
}

// Terminate writes the intent, calls WeChat Pay once, and writes the
// outcome; then it queries the new state and records it. A second request
// for the same code while one is in flight is refused by the store before
// any call (Conflict). The outcome is recorded even if ctx is cancelled:
// the client's own deadlines bound the calls.
//
// Before the call, the local state is looked at: unless it is AVAILABLE,
// WeChat Pay is asked first, and an authorization it shows UNAVAILABLE gets
// no terminate call at all (TerminationResult.Ended says when and how it
// ended; the request is audited as terminate.skipped).
func (s *Terminations) Terminate(ctx context.Context, actor Actor, code, subMchID, reason string) (TerminationResult, error) {
	if HasInvisible(reason) {
		return TerminationResult{}, newError(Invalid, KeyInvisible, errors.New("service: invisible characters in the reason"))
	}
	bg := context.WithoutCancel(ctx)
	// The terminations known to have succeeded before the local state is
	// read: one that succeeds after (another submit, on any instance,
	// pending or not yet begun now) stops this one in the intent's
	// transaction.
	known, err := s.Store.TerminationsByCode(bg, code)
	if err != nil {
		return TerminationResult{}, err
	}
	var seen int64
	for _, t := range known {
		if t.Status == store.TerminationSucceeded {
			seen = max(seen, t.ID)
		}
	}
	if res, done, err := s.alreadyOver(bg, actor, code, subMchID, reason); done || err != nil {
		return res, err
	}
	id, err := s.Store.BeginTermination(bg,
		store.Termination{AuthorizationCode: code, SubMchID: subMchID, Reason: reason, UserID: actor.UserID, InstanceID: s.Instance,
			Guard: true, SeenID: seen},
		actor.entry(store.AuditEntry{Action: AuditTerminateRequest, Target: code, Reason: reason, Result: store.TerminationPending, Detail: "sub_mchid=" + subMchID}))
	if errors.Is(err, store.ErrConflict) {
		return TerminationResult{}, newError(Conflict, "support.terminate.inflight", err)
	}
	if errors.Is(err, store.ErrTerminated) {
		// Another request (on this instance or another) terminated it
		// since the local state was read: no call.
		return s.terminatedMeanwhile(bg, actor, code, reason)
	}
	if err != nil {
		return TerminationResult{}, err
	}
	requestID, callErr := s.PayScore.Terminate(bg, payscore.TerminateRequest{AuthorizationCode: code, SubMchID: subMchID, Reason: reason})
	out := s.settle(bg, code, subMchID, requestID, callErr)
	if out.status != store.TerminationPending {
		result := actor.entry(store.AuditEntry{Action: AuditTerminateResult, Target: code, Reason: reason,
			Result: out.status, RequestID: out.requestID, Detail: resultDetail(out)})
		// ErrConflict: the resolver settled it meanwhile; its outcome stands
		// and the result shows the state WeChat Pay reports.
		if err := s.Store.FinishTermination(bg, id, out.status, out.requestID, out.errCode, out.errMsg, result); err != nil && !errors.Is(err, store.ErrConflict) {
			return TerminationResult{}, err
		}
	}
	res := TerminationResult{Status: out.status, Confirmed: out.confirmed, NotDone: out.notDone, CallErr: callErr}
	// Learn the state WeChat Pay has now, and record it.
	if out.live == nil && out.queryErr == nil {
		out.live, out.queryErr = s.PayScore.Query(bg, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	}
	if out.live != nil {
		res.State = string(out.live.State)
		if err := saveQueried(bg, s.Store, s.Now, s.Logger, code, subMchID, out.live, SourceQuery); err != nil {
			return res, err
		}
	} else if a, err := s.Store.AuthorizationByCode(bg, code); err == nil {
		res.State = a.State
	}
	return res, nil
}

// settle decides a termination's outcome from WeChat Pay's answer. A
// refusal (4xx) is final. An answer that was lost (time-out, network, 5xx)
// or cannot be believed (bad signature) leaves the outcome unknown: a query
// decides it at once — UNAVAILABLE means it ended, any other state that it
// did not, and WeChat Pay knowing no such authorization (ORDER_NOT_EXIST,
// signed) that it did not either — so that the person sees one outcome, not
// "处理中". The query is one call: the client honours a rate limit
// (Retry-After, back-off) within it. Only if the query fails too does it
// stay pending, for the resolver (reconciler, next start) to settle.
func (s *Terminations) settle(ctx context.Context, code, sub, requestID string, callErr error) outcome {
	f := payscore.Classify(callErr)
	switch f.Kind {
	case payscore.FailureNone:
		return outcome{status: store.TerminationSucceeded, requestID: requestID}
	case payscore.FailureInvalid:
		// Refused before sending: nothing reached WeChat Pay.
		return outcome{status: store.TerminationFailed, errCode: "VALIDATION", errMsg: callErr.Error()}
	case payscore.FailureRefused, payscore.FailureRateLimited:
		if !(f.StateError() && f.AfterUnknown) {
			return outcome{status: store.TerminationFailed, requestID: f.RequestID, errCode: f.Code, errMsg: f.Message}
		}
		// A state error after an attempt whose outcome is unknown: that
		// attempt may have ended the authorization. A query decides.
	}
	log := loggerOr(s.Logger)
	log.Warn("terminate: outcome unknown, querying", "authorization_code", code, "err", callErr, "after_unknown", f.AfterUnknown)
	out := outcome{}
	out.live, out.queryErr = s.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: sub})
	qf := payscore.Classify(out.queryErr)
	switch {
	case out.queryErr != nil && qf.Kind == payscore.FailureRefused && qf.Signed && qf.NormalizedCode() == payscore.CodeOrderNotExist:
		// WeChat Pay knows no such authorization: nothing was ended.
		log.Warn("terminate: outcome unknown; query says no such authorization", "authorization_code", code)
		out.status, out.live, out.errCode, out.errMsg, out.requestID = store.TerminationFailed, nil, qf.Code, callErr.Error(), qf.RequestID
	case out.queryErr != nil:
		log.Error("terminate: outcome unknown and query failed; left pending", "authorization_code", code, "err", out.queryErr)
		out.status, out.live = store.TerminationPending, nil
	case out.live.State == payscore.StateUnavailable:
		out.status, out.requestID, out.confirmed = store.TerminationSucceeded, out.live.RequestID, true
	default:
		out.status, out.errCode, out.errMsg, out.requestID = store.TerminationFailed, unconfirmedCode(f), callErr.Error(), f.RequestID
		out.notDone = true
	}
	return out
}

// unconfirmedCode is the error code recorded for a termination whose answer
// was lost and that a query showed did not happen.
func unconfirmedCode(f payscore.Failure) string {
	switch {
	case f.Kind == payscore.FailureForged:
		return "BAD_SIGNATURE"
	case f.Code != "":
		return f.Code
	}
	return "NO_ANSWER"
}

// resultDetail is the audit detail of an outcome.
func resultDetail(out outcome) string {
	switch {
	case out.confirmed:
		return "confirmed by query"
	case out.errCode != "":
		return out.errCode + ": " + out.errMsg
	}
	return ""
}

// ResolvePending settles the terminations left pending before
// createdBefore (all of them when it is zero) by a crash between the call to
// WeChat Pay and the record of its outcome, or by an answer lost together
// with the query after it. WeChat Pay is asked: UNAVAILABLE means the
// termination went through (recorded with the query's Request-ID), any other
// state that it did not. Each outcome is audited as the system. A
// termination whose query fails stays pending for the reconciler; the error
// says which. main.go passes the moment the process started, so that a
// termination a person submits while the server is already serving is
// settled by its own request, not by the resolver.
func (s *Terminations) ResolvePending(ctx context.Context, createdBefore time.Time) error {
	pending, err := s.Store.PendingTerminations(ctx)
	if err != nil {
		return fmt.Errorf("resolve pending terminations: %w", err)
	}
	var errs []error
	for _, t := range pending {
		if !createdBefore.IsZero() && !t.CreatedAt.Before(createdBefore) {
			continue
		}
		if err := s.resolve(ctx, t); err != nil {
			loggerOr(s.Logger).Error("termination left pending", "id", t.ID, "authorization_code", t.AuthorizationCode, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ResolveAbandoned settles the pending terminations no request is still
// working on: those older than grace (far longer than a request takes), and
// those begun by another instance that is gone (its heartbeat lease
// lapsed), and those this instance id began before Started (an earlier
// process, with INSTANCE_ID set). A termination begun by an instance that lives — this one
// included — is left to its own request, so that the resolver never fails
// a call still in flight on any instance. Terminations recorded before
// instances were (no instance id) wait out grace. Only the instance
// holding the worker lease runs it.
func (s *Terminations) ResolveAbandoned(ctx context.Context, grace time.Duration) error {
	pending, err := s.Store.PendingTerminations(ctx)
	if err != nil {
		return fmt.Errorf("resolve pending terminations: %w", err)
	}
	live, _ := s.Store.(InstanceLiveness)
	cutoff := nowOr(s.Now).Add(-grace)
	alive := map[string]bool{}
	var errs []error
	for _, t := range pending {
		take := t.CreatedAt.Before(cutoff) ||
			(t.InstanceID == s.Instance && !s.Started.IsZero() && t.CreatedAt.Before(s.Started))
		if !take && t.InstanceID != "" && t.InstanceID != s.Instance && live != nil {
			a, known := alive[t.InstanceID]
			if !known {
				if a, err = live.InstanceAlive(ctx, t.InstanceID); err != nil {
					errs = append(errs, err)
					continue
				}
				alive[t.InstanceID] = a
			}
			take = !a
		}
		if !take {
			continue
		}
		if err := s.resolve(ctx, t); err != nil {
			loggerOr(s.Logger).Error("termination left pending", "id", t.ID, "authorization_code", t.AuthorizationCode, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Terminations) resolve(ctx context.Context, t store.Termination) error {
	a, err := s.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: t.AuthorizationCode, SubMchID: t.SubMchID})
	f := payscore.Classify(err)
	var status, requestID, errCode, errMsg string
	switch {
	case err == nil && a.State == payscore.StateUnavailable:
		status, requestID = store.TerminationSucceeded, a.RequestID
	case err == nil:
		status, requestID, errMsg = store.TerminationFailed, a.RequestID, InterruptedMessage
	case f.Kind != payscore.FailureForged && f.NormalizedCode() == payscore.CodeOrderNotExist:
		status, requestID, errCode, errMsg = store.TerminationFailed, f.RequestID, f.Code, InterruptedMessage
	default:
		return fmt.Errorf("termination %d of %s: query: %w", t.ID, t.AuthorizationCode, err)
	}
	detail := "resolved by query"
	if errMsg != "" {
		detail += ": " + errMsg
	}
	audit := System.entry(store.AuditEntry{Action: AuditTerminateResult, Target: t.AuthorizationCode,
		Reason: t.Reason, Result: status, RequestID: requestID, Detail: detail})
	if err := s.Store.FinishTermination(ctx, t.ID, status, requestID, errCode, errMsg, audit); errors.Is(err, store.ErrConflict) {
		return nil // its own request settled it meanwhile
	} else if err != nil {
		return fmt.Errorf("termination %d of %s: %w", t.ID, t.AuthorizationCode, err)
	}
	loggerOr(s.Logger).Info("pending termination resolved", "id", t.ID, "authorization_code", t.AuthorizationCode, "status", status)
	if a != nil {
		if err := saveQueried(ctx, s.Store, s.Now, s.Logger, t.AuthorizationCode, t.SubMchID, a, SourceReconcile); err != nil {
			return fmt.Errorf("termination %d of %s: record state: %w", t.ID, t.AuthorizationCode, err)
		}
	}
	return nil
}

// terminatedMeanwhile is the result of a request for a code whose
// termination succeeded while the request was on its way (a second submit,
// on any instance): no call is made, the request is audited as skipped and
// the result says who ended it and when.
func (s *Terminations) terminatedMeanwhile(ctx context.Context, actor Actor, code, reason string) (TerminationResult, error) {
	terms, err := s.Store.TerminationsByCode(ctx, code)
	if err != nil {
		return TerminationResult{}, err
	}
	ended := &Ended{How: EndedByTerminated, By: SystemUsername}
	for i := range terms {
		if terms[i].Status == store.TerminationSucceeded {
			if terms[i].Username != "" {
				ended.By = terms[i].Username
			}
			ended.At, ended.RequestID = terms[i].FinishedAt, terms[i].RequestID
			break
		}
	}
	detail := "no call: terminated already (by " + ended.By
	if ended.At != nil {
		detail += " at " + ended.At.Format(time.RFC3339)
	}
	detail += ")"
	if err := s.Store.Audit(ctx, actor.entry(store.AuditEntry{Action: AuditTerminateSkipped, Target: code, Reason: reason,
		Result: "already_ended", RequestID: ended.RequestID, Detail: detail})); err != nil {
		return TerminationResult{}, err
	}
	return TerminationResult{State: store.StateUnavailable, Ended: ended}, nil
}

// alreadyOver looks at the local state before a termination: unless it is
// AVAILABLE, WeChat Pay is asked. An authorization it shows UNAVAILABLE is
// over: done is true, no call is to be made, and the request is audited as
// skipped. A failed query does not stop the termination: its own call and
// the saga settle it.
func (s *Terminations) alreadyOver(ctx context.Context, actor Actor, code, subMchID, reason string) (TerminationResult, bool, error) {
	local, err := s.Store.AuthorizationByCode(ctx, code)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return TerminationResult{}, false, err
	}
	if local != nil && local.State == store.StateAvailable {
		return TerminationResult{}, false, nil
	}
	live, qerr := s.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	if qerr != nil {
		loggerOr(s.Logger).Warn("terminate: query before the call failed; calling anyway", "authorization_code", code, "err", qerr)
		return TerminationResult{}, false, nil
	}
	if err := saveQueried(ctx, s.Store, s.Now, s.Logger, code, subMchID, live, SourceQuery); err != nil {
		return TerminationResult{}, false, err
	}
	if live.State != payscore.StateUnavailable {
		return TerminationResult{}, false, nil
	}
	ended := &Ended{At: live.CancelAuthorizationTime, How: EndedUnknown, RequestID: live.RequestID}
	terms, err := s.Store.TerminationsByCode(ctx, code)
	if err != nil {
		return TerminationResult{}, false, err
	}
	var last *store.Termination
	for i := range terms {
		if terms[i].Status == store.TerminationSucceeded && (last == nil || terms[i].CreatedAt.After(last.CreatedAt)) {
			last = &terms[i]
		}
	}
	switch {
	case last != nil:
		// A code is agreed to once at most (it is never pre-authorized
		// again), so it ends once: a termination of ours that succeeded
		// is how it ended. No clocks are compared.
		ended.How, ended.By = EndedByTerminated, last.Username
		if ended.By == "" {
			ended.By = SystemUsername
		}
		if ended.At == nil {
			ended.At = last.FinishedAt
		}
	case ended.At != nil:
		ended.How = EndedByUser
	}
	detail := "no call: UNAVAILABLE (" + ended.How
	if ended.By != "" {
		detail += " by " + ended.By
	}
	if ended.At != nil {
		detail += " at " + ended.At.Format(time.RFC3339)
	}
	detail += ")"
	if err := s.Store.Audit(ctx, actor.entry(store.AuditEntry{Action: AuditTerminateSkipped, Target: code, Reason: reason,
		Result: "already_ended", RequestID: live.RequestID, Detail: detail})); err != nil {
		return TerminationResult{}, false, err
	}
	return TerminationResult{State: string(live.State), Ended: ended}, true, nil
}
