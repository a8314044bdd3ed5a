package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Lease timing. An instance renews its leases every LeaseRenew; one that
// stops renewing (killed, cut off from the database) loses them LeaseTTL
// after its last renewal, and another instance takes over the background
// work then. A clean stop releases them at once.
const (
	LeaseTTL   = 10 * time.Second
	LeaseRenew = 2 * time.Second
)

// LeaseStore is what leases need from the database.
type LeaseStore interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	PruneInstanceLeases(ctx context.Context, before time.Time) (int64, error)
}

// NewInstanceID is a random id for this process (INSTANCE_ID overrides it):
// "i-" and 12 random characters. Random per process, so that two processes
// never share one by mistake (two holders of one lease).
func NewInstanceID() string {
	return "i-" + rand.Text()[:12]
}

// Coordinator keeps this instance's heartbeat lease and competes for the
// worker lease: the instance holding it runs the background work (the
// resolver of pending terminations, the reconciler and bulk jobs) — one
// instance at a time, whichever instances are up. The work's context ends
// when the lease is lost (not renewed within TTL) or the coordinator
// stops; a clean stop releases both leases.
type Coordinator struct {
	Store LeaseStore
	// Instance is this process's id (NewInstanceID or INSTANCE_ID).
	Instance string
	// TTL and Renew default to LeaseTTL and LeaseRenew.
	TTL, Renew time.Duration
	Now        func() time.Time
	Logger     *slog.Logger

	leader atomic.Bool
}

// Leader reports whether this instance holds the worker lease now.
func (c *Coordinator) Leader() bool { return c.leader.Load() }

func (c *Coordinator) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return LeaseTTL
}

func (c *Coordinator) every() time.Duration {
	if c.Renew > 0 {
		return c.Renew
	}
	return LeaseRenew
}

// Run renews the heartbeat and competes for the worker lease every Renew
// until ctx ends. While it holds the worker lease, work runs (once per
// tenure) with a context that ends when the lease is lost. Run returns
// after work has returned and the leases are released.
func (c *Coordinator) Run(ctx context.Context, work func(ctx context.Context)) {
	log := loggerOr(c.Logger).With("instance", c.Instance)
	now := func() time.Time { return nowOr(c.Now) }
	t := time.NewTicker(c.every())
	defer t.Stop()
	var (
		cancel    context.CancelFunc
		done      chan struct{}
		heldSince time.Time // last successful renewal of the worker lease
		wg        sync.WaitGroup
	)
	stopWork := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, done = nil, nil
		}
		c.leader.Store(false)
	}
	lastPrune := time.Time{}
	for {
		// The heartbeat first, then the worker lease: a holder's heartbeat
		// never lapses before its worker lease does.
		// Both renewals get one renewal period together: a database that
		// hangs (a partition, a stuck connection) must not hold the loop
		// past the moment the work has to stop.
		rctx, rcancel := context.WithTimeout(ctx, c.every())
		if _, err := c.Store.AcquireLease(rctx, store.InstanceLease(c.Instance), c.Instance, c.ttl()); err != nil && ctx.Err() == nil {
			log.Warn("lease: heartbeat not renewed", "err", err)
		}
		// The lease runs from the store's clock during the call, so from
		// no earlier than now: a renewal counts from its start.
		renewing := now()
		ok, err := c.Store.AcquireLease(rctx, store.LeaseWorker, c.Instance, c.ttl())
		rcancel()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			log.Warn("lease: worker lease not renewed", "err", err)
			// Still ours until it lapses. The work stops at the last tick
			// that leaves a whole renewal period before the lapse: the
			// next tick could come (and the work take its time to stop)
			// after it.
			if cancel != nil && !now().Before(heldSince.Add(c.ttl()-2*c.every())) {
				log.Error("lease: worker lease lapsing; background work stops")
				stopWork()
			}
		case ok:
			heldSince = renewing
			if cancel == nil {
				log.Info("lease: this instance runs the background work")
				c.leader.Store(true)
				wctx, wcancel := context.WithCancel(ctx)
				cancel = wcancel
				done = make(chan struct{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(done)
					work(wctx)
				}()
			}
			if now().Sub(lastPrune) > time.Hour {
				lastPrune = now()
				if _, err := c.Store.PruneInstanceLeases(ctx, now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
					log.Warn("lease: prune old instances", "err", err)
				}
			}
		default:
			if cancel != nil {
				log.Warn("lease: another instance took the worker lease; background work stops")
				stopWork()
			}
		}
		select {
		case <-ctx.Done():
			stopWork()
			wg.Wait()
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer rcancel()
			for _, name := range []string{store.LeaseWorker, store.InstanceLease(c.Instance)} {
				if err := c.Store.ReleaseLease(rctx, name, c.Instance); err != nil {
					log.Warn("lease: release", "lease", name, "err", fmt.Sprint(err))
				}
			}
			return
		case <-t.C:
		}
	}
}
