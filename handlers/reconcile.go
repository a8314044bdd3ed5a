package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// Reconciliation limits.
const (
	// reconcileBatch bounds the queries of one run, per kind, so that a
	// backlog is worked off over several runs instead of in one burst.
	reconcileBatch = 100
	// pendingGrace is how old a pending termination must be before the
	// reconciler settles it: far longer than a termination request takes
	// (the client gives up after 15 s, the query after it as long), so it
	// never races the request still running it.
	pendingGrace = 5 * time.Minute
	// interruptedMessage is recorded for a termination whose outcome was
	// lost and that WeChat Pay does not show as done.
	interruptedMessage = "interrupted; not confirmed by WeChat Pay"
	// systemUser names the console itself in the audit log (user id 0).
	systemUser = "system"
)

// Outcomes of one reconciliation query, the label of payscore_reconcile_total.
const (
	reconcileChanged     = "changed"      // WeChat Pay's state differed from ours; recorded
	reconcileUnchanged   = "unchanged"    // it agreed with ours
	reconcileNotFound    = "not_found"    // ORDER_NOT_EXIST
	reconcileRateLimited = "rate_limited" // FREQUENCY_LIMITED: the run stops
	reconcileError       = "error"        // no usable answer; tried again next run
)

// reconcileCounter is payscore_reconcile_total on h.Registry. It is
// registered on first use; later calls get the registered one back, so the
// Handler needs no field for it.
func (h *Handler) reconcileCounter() *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payscore_reconcile_total",
		Help: "Reconciliation queries by outcome: changed, unchanged, not_found, rate_limited, error.",
	}, []string{"outcome"})
	if err := h.Registry.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		h.Logger.Error("reconcile: register metrics", "err", err)
	}
	return cv
}

// ResolvePendingTerminations settles the terminations left pending before
// createdBefore (all of them when it is zero) by a crash between the call to
// WeChat Pay and the record of its outcome, or by an answer lost together
// with the query after it. WeChat Pay is asked: UNAVAILABLE means the
// termination went through (recorded with the query's Request-ID), any other
// state that it did not. Each outcome is audited as the system. A
// termination whose query fails stays pending for the reconciler; the error
// says which. main.go passes the moment the process started, so that a
// termination a person submits while the server is already serving is
// settled by its own request, not by the resolver.
func (h *Handler) ResolvePendingTerminations(ctx context.Context, createdBefore time.Time) error {
	return h.resolvePending(ctx, createdBefore)
}

// resolvePending settles pending terminations created before createdBefore
// (all when zero).
func (h *Handler) resolvePending(ctx context.Context, createdBefore time.Time) error {
	pending, err := h.Store.PendingTerminations(ctx)
	if err != nil {
		return fmt.Errorf("resolve pending terminations: %w", err)
	}
	var errs []error
	for _, t := range pending {
		if !createdBefore.IsZero() && !t.CreatedAt.Before(createdBefore) {
			continue
		}
		if err := h.resolveTermination(ctx, t); err != nil {
			h.Logger.Error("termination left pending", "id", t.ID, "authorization_code", t.AuthorizationCode, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *Handler) resolveTermination(ctx context.Context, t store.Termination) error {
	a, err := h.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: t.AuthorizationCode, SubMchID: t.SubMchID})
	var ae *payscore.APIError
	var status, requestID, errCode, errMsg string
	switch {
	case err == nil && a.State == payscore.StateUnavailable:
		status, requestID = store.TerminationSucceeded, a.RequestID
	case err == nil:
		status, requestID, errMsg = store.TerminationFailed, a.RequestID, interruptedMessage
	case !errors.Is(err, payscore.ErrBadSignature) && errors.As(err, &ae) && ae.Code == payscore.CodeOrderNotExist:
		status, requestID, errCode, errMsg = store.TerminationFailed, ae.RequestID, ae.Code, interruptedMessage
	default:
		return fmt.Errorf("termination %d of %s: query: %w", t.ID, t.AuthorizationCode, err)
	}
	detail := "resolved by query"
	if errMsg != "" {
		detail += ": " + errMsg
	}
	audit := store.AuditEntry{Username: systemUser, Action: auditTerminateResult, Target: t.AuthorizationCode,
		Reason: t.Reason, Result: status, RequestID: requestID, Detail: detail}
	if err := h.Store.FinishTermination(ctx, t.ID, status, requestID, errCode, errMsg, audit); errors.Is(err, store.ErrConflict) {
		return nil // its own request settled it meanwhile
	} else if err != nil {
		return fmt.Errorf("termination %d of %s: %w", t.ID, t.AuthorizationCode, err)
	}
	h.Logger.Info("pending termination resolved", "id", t.ID, "authorization_code", t.AuthorizationCode, "status", status)
	if a != nil {
		if err := h.saveQueried(ctx, t.AuthorizationCode, t.SubMchID, a, sourceReconcile); err != nil {
			return fmt.Errorf("termination %d of %s: record state: %w", t.ID, t.AuthorizationCode, err)
		}
	}
	return nil
}

// Reconcile asks WeChat Pay about what the console may have missed, since
// notifications are not guaranteed to arrive:
//   - links whose token expired while their authorization was still
//     UNBINDUSER (the user may have agreed and the notification been lost);
//     each is marked reconciled once WeChat Pay answered;
//   - authorizations not checked for maxAge: AVAILABLE ones (the user may
//     have closed the service in WeChat), and UNBINDUSER ones no link of ours
//     started. UNAVAILABLE ones are final until a new token is issued, which
//     goes through a link and so through the first list;
//   - terminations pending for longer than any request takes.
//
// Answers are recorded with source "reconcile". It returns how many
// authorizations WeChat Pay answered for. Errors of single items are logged
// and counted in payscore_reconcile_total, never fatal; FREQUENCY_LIMITED
// ends the run early. The error returned is the database's, or ctx's.
func (h *Handler) Reconcile(ctx context.Context, maxAge time.Duration) (int, error) {
	counter := h.reconcileCounter()
	now := h.Now()
	checked := 0
	links, err := h.Store.LinksToReconcile(ctx, now, reconcileBatch)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	for _, l := range links {
		if err := ctx.Err(); err != nil {
			return checked, err
		}
		outcome := h.reconcileOne(ctx, l.AuthorizationCode, l.SubMchID, l.State)
		counter.WithLabelValues(outcome).Inc()
		switch outcome {
		case reconcileRateLimited:
			return checked, nil
		case reconcileError:
			// Asked again after a growing delay, so that links that keep
			// failing do not hold the head of every run.
			if err := h.Store.LinkReconcileFailed(ctx, l.ID); err != nil {
				return checked, fmt.Errorf("reconcile: %w", err)
			}
			continue
		case reconcileChanged, reconcileUnchanged:
			checked++
		}
		if err := h.Store.MarkLinkReconciled(ctx, l.ID); err != nil {
			return checked, fmt.Errorf("reconcile: %w", err)
		}
	}
	stale, err := h.Store.AuthorizationsToRecheck(ctx, now.Add(-maxAge), reconcileBatch)
	if err != nil {
		return checked, fmt.Errorf("reconcile: %w", err)
	}
	for _, a := range stale {
		if err := ctx.Err(); err != nil {
			return checked, err
		}
		outcome := h.reconcileOne(ctx, a.AuthorizationCode, a.SubMchID, a.State)
		counter.WithLabelValues(outcome).Inc()
		switch outcome {
		case reconcileRateLimited:
			return checked, nil
		case reconcileChanged, reconcileUnchanged:
			checked++
		case reconcileNotFound, reconcileError:
			// Nothing learned: note the check (an older state time never
			// overwrites), so the code waits maxAge like the others instead
			// of heading every run.
			a.StateTime = time.Time{}
			if _, err := h.Store.SaveAuthorization(ctx, a); err != nil {
				return checked, fmt.Errorf("reconcile: %w", err)
			}
		}
	}
	if err := h.resolvePending(ctx, now.Add(-pendingGrace)); err != nil {
		h.Logger.Warn("reconcile: pending terminations", "err", err)
	}
	return checked, nil
}

// reconcileOne queries one authorization and records the answer.
func (h *Handler) reconcileOne(ctx context.Context, code, subMchID, known string) string {
	a, err := h.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	if err != nil {
		var ae *payscore.APIError
		if !errors.Is(err, payscore.ErrBadSignature) && errors.As(err, &ae) {
			switch {
			case ae.Code == payscore.CodeOrderNotExist:
				h.Logger.Warn("reconcile: WeChat Pay does not know the authorization", "authorization_code", code, "sub_mchid", subMchID)
				return reconcileNotFound
			case ae.Status == http.StatusTooManyRequests || ae.Code == payscore.CodeFrequencyLimited:
				h.Logger.Warn("reconcile: rate limited; the run stops", "authorization_code", code)
				return reconcileRateLimited
			}
		}
		h.Logger.Warn("reconcile: query failed", "authorization_code", code, "err", err)
		return reconcileError
	}
	if err := h.saveQueried(ctx, code, subMchID, a, sourceReconcile); err != nil {
		h.Logger.Error("reconcile: record state", "authorization_code", code, "err", err)
		return reconcileError
	}
	if string(a.State) != known {
		h.Logger.Info("reconcile: state learned", "authorization_code", code, "was", known, "now", string(a.State))
		return reconcileChanged
	}
	return reconcileUnchanged
}

// RunReconciler runs Reconcile now and then every interval until ctx ends.
// Failures are logged; the loop goes on.
func (h *Handler) RunReconciler(ctx context.Context, every, maxAge time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := h.Reconcile(ctx, maxAge)
		switch {
		case err != nil && ctx.Err() == nil:
			h.Logger.Error("reconcile", "err", err)
		case n > 0:
			h.Logger.Info("reconciled", "checked", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
