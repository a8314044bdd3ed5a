package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// PendingGrace is how old a pending termination must be before the
	// reconciler settles it: far longer than a termination request takes
	// (the client gives up after 15 s, the query after it as long), so it
	// never races the request still running it.
	PendingGrace = 5 * time.Minute
)

// Outcomes of one reconciliation query, the label of payscore_reconcile_total.
const (
	reconcileChanged     = "changed"      // WeChat Pay's state differed from ours; recorded
	reconcileUnchanged   = "unchanged"    // it agreed with ours
	reconcileNotFound    = "not_found"    // ORDER_NOT_EXIST
	reconcileRateLimited = "rate_limited" // 429 or FREQUENCY_LIMITED, signed or not: the run stops
	reconcileSignError   = "sign_error"   // 401 SIGN_ERROR: WeChat Pay cannot authenticate us; the run stops
	reconcileError       = "error"        // no usable answer; tried again next run
)

// ReconcileStore is what reconciling needs from the database.
type ReconcileStore interface {
	AuthorizationSaver
	LinksToReconcile(ctx context.Context, expiredBefore time.Time, limit int) ([]store.Link, error)
	MarkLinkReconciled(ctx context.Context, id int64) error
	LinkReconcileFailed(ctx context.Context, id int64) error
	AuthorizationsToRecheck(ctx context.Context, before time.Time, limit int) ([]store.Authorization, error)
}

// Reconciler asks WeChat Pay about what the console may have missed.
type Reconciler struct {
	Store    ReconcileStore
	PayScore Querier
	// Terminations settles pending terminations at the end of each run.
	Terminations *Terminations
	Now          func() time.Time
	Logger       *slog.Logger
	// Registerer receives payscore_reconcile_total (none when nil).
	Registerer prometheus.Registerer

	counterOnce sync.Once
	counter     *prometheus.CounterVec
}

// outcomes is payscore_reconcile_total, registered on first use; a
// registry that already has it gives the registered one back.
func (s *Reconciler) outcomes() *prometheus.CounterVec {
	s.counterOnce.Do(func() { s.counter = s.register() })
	return s.counter
}

func (s *Reconciler) register() *prometheus.CounterVec {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payscore_reconcile_total",
		Help: "Reconciliation queries by outcome: changed, unchanged, not_found, rate_limited, error.",
	}, []string{"outcome"})
	if s.Registerer != nil {
		if err := s.Registerer.Register(cv); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					cv = existing
				}
			} else {
				loggerOr(s.Logger).Error("reconcile: register metrics", "err", err)
			}
		}
	}
	return cv
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
// and counted in payscore_reconcile_total, never fatal; a rate limit (429 or
// FREQUENCY_LIMITED, signed or not) and SIGN_ERROR end the run early. The error returned is the database's, or ctx's.
func (s *Reconciler) Reconcile(ctx context.Context, maxAge time.Duration) (int, error) {
	counter := s.outcomes()
	now := nowOr(s.Now)
	checked := 0
	links, err := s.Store.LinksToReconcile(ctx, now, reconcileBatch)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	for _, l := range links {
		if err := ctx.Err(); err != nil {
			return checked, err
		}
		outcome := s.reconcileOne(ctx, l.AuthorizationCode, l.SubMchID, l.State)
		counter.WithLabelValues(outcome).Inc()
		switch outcome {
		case reconcileRateLimited, reconcileSignError:
			return checked, nil
		case reconcileError:
			// Asked again after a growing delay, so that links that keep
			// failing do not hold the head of every run.
			if err := s.Store.LinkReconcileFailed(ctx, l.ID); err != nil {
				return checked, fmt.Errorf("reconcile: %w", err)
			}
			continue
		case reconcileChanged, reconcileUnchanged:
			checked++
		}
		if err := s.Store.MarkLinkReconciled(ctx, l.ID); err != nil {
			return checked, fmt.Errorf("reconcile: %w", err)
		}
	}
	stale, err := s.Store.AuthorizationsToRecheck(ctx, now.Add(-maxAge), reconcileBatch)
	if err != nil {
		return checked, fmt.Errorf("reconcile: %w", err)
	}
	for _, a := range stale {
		if err := ctx.Err(); err != nil {
			return checked, err
		}
		outcome := s.reconcileOne(ctx, a.AuthorizationCode, a.SubMchID, a.State)
		counter.WithLabelValues(outcome).Inc()
		switch outcome {
		case reconcileRateLimited, reconcileSignError:
			return checked, nil
		case reconcileChanged, reconcileUnchanged:
			checked++
		case reconcileNotFound, reconcileError:
			// Nothing learned: note the check (an older state time never
			// overwrites), so the code waits maxAge like the others instead
			// of heading every run.
			a.StateTime = time.Time{}
			if _, err := s.Store.SaveAuthorization(ctx, a); err != nil {
				return checked, fmt.Errorf("reconcile: %w", err)
			}
		}
	}
	if s.Terminations != nil {
		if err := s.Terminations.ResolveAbandoned(ctx, PendingGrace); err != nil {
			loggerOr(s.Logger).Warn("reconcile: pending terminations", "err", err)
		}
	}
	return checked, nil
}

// reconcileOne queries one authorization and records the answer.
func (s *Reconciler) reconcileOne(ctx context.Context, code, subMchID, known string) string {
	log := loggerOr(s.Logger)
	a, err := s.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	if err != nil {
		f := payscore.Classify(err)
		switch {
		case f.Kind != payscore.FailureForged && f.Code == payscore.CodeOrderNotExist:
			log.Warn("reconcile: WeChat Pay does not know the authorization", "authorization_code", code, "sub_mchid", subMchID)
			return reconcileNotFound
		case f.Kind == payscore.FailureRateLimited:
			log.Warn("reconcile: rate limited; the run stops", "authorization_code", code, "signed", f.Signed)
			return reconcileRateLimited
		case f.Kind == payscore.FailureRefused && f.NormalizedCode() == payscore.CodeSignError:
			// Every further query would be refused the same way.
			log.Error("reconcile: WeChat Pay cannot verify our signature (check the merchant serial, private key and clock); the run stops",
				"authorization_code", code, "request_id", f.RequestID)
			return reconcileSignError
		}
		log.Warn("reconcile: query failed", "authorization_code", code, "err", err)
		return reconcileError
	}
	if err := saveQueried(ctx, s.Store, s.Now, s.Logger, code, subMchID, a, SourceReconcile); err != nil {
		log.Error("reconcile: record state", "authorization_code", code, "err", err)
		return reconcileError
	}
	if string(a.State) != known {
		log.Info("reconcile: state learned", "authorization_code", code, "was", known, "now", string(a.State))
		return reconcileChanged
	}
	return reconcileUnchanged
}

// Run runs Reconcile now and then every interval until ctx ends. Failures
// are logged; the loop goes on.
func (s *Reconciler) Run(ctx context.Context, every, maxAge time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Reconcile(ctx, maxAge)
		switch {
		case err != nil && ctx.Err() == nil:
			loggerOr(s.Logger).Error("reconcile", "err", err)
		case n > 0:
			loggerOr(s.Logger).Info("reconciled", "checked", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
