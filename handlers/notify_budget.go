package handlers

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/payscore-console/payscore-console/service"
)

// Refusal budget of one client address at the notification endpoint:
// refusalBurst unsigned or badly signed attempts at once, refusalRate a
// second after that. Past it, the address's requests are answered 429
// before their body is read or their signature checked (still counted, as
// refusals "rate_limited", aggregated like the others). WeChat Pay sends
// from its own addresses and never fails the check unless our keys are
// wrong, when its retries (hours apart) are refused all the same; a flood
// from a few addresses then costs next to nothing, and real notifications
// keep their answer times.
const (
	refusalBurst = 20
	refusalRate  = 5
	// maxBudgetAddrs bounds the addresses remembered; past it the memory
	// starts over (a flood from that many addresses is spread thin anyway).
	maxBudgetAddrs = 10000
)

// reasonRateLimited is the refusal reason of an address over its budget.
const reasonRateLimited = service.ReasonRateLimited

type refusalBudget struct {
	mu    sync.Mutex
	addrs map[string]*rate.Limiter
	off   bool // tests that send every kind of junk from one address
	// rate is the refill per second; zero means refusalRate. Tests that
	// count the burst exactly set it near zero, so a slow machine's
	// refill between attempts does not move the edge.
	rate rate.Limit
}

// exhausted reports whether addr has no refusal left to spend.
func (b *refusalBudget) exhausted(addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.off {
		return false
	}
	l := b.addrs[addr]
	return l != nil && l.Tokens() < 1
}

// charge spends one of addr's refusals.
func (b *refusalBudget) charge(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addrs == nil || len(b.addrs) >= maxBudgetAddrs {
		b.addrs = map[string]*rate.Limiter{}
	}
	l := b.addrs[addr]
	if l == nil {
		r := b.rate
		if r == 0 {
			r = refusalRate
		}
		l = rate.NewLimiter(r, refusalBurst)
		b.addrs[addr] = l
	}
	l.Allow()
}

// Strangers' lane: notifications from an address that has not delivered a
// signed notification lately are verified at most strangerSlots at a time
// (half the cores, at least one), at most maxStrangersWaiting waiting, each
// at most strangerWait; past that they are answered 503 unchecked (WeChat
// Pay retries a 5xx). Addresses that delivered a signed notification within
// knownFor skip the line. A flood from many addresses then takes at most
// its lane's share of the CPU, and WeChat Pay's notifications, from
// addresses it has used before, keep their answer times.
const (
	maxStrangersWaiting = 256
	strangerWait        = 2 * time.Second
	knownFor            = 24 * time.Hour
)

// reasonBusy is the refusal reason of a stranger turned away by a full lane.
const reasonBusy = service.ReasonBusy

type senderLanes struct {
	once      sync.Once
	mu        sync.Mutex
	known     map[string]time.Time
	strangers chan struct{}
	waiting   atomic.Int32
}

func (l *senderLanes) init() {
	l.once.Do(func() {
		l.strangers = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
		l.known = map[string]time.Time{}
	})
}

// isKnown reports whether addr delivered a signed notification lately.
func (l *senderLanes) isKnown(addr string, now time.Time) bool {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.known[addr]
	return ok && now.Sub(at) < knownFor
}

// markKnown records that addr delivered a signed notification.
func (l *senderLanes) markKnown(addr string, now time.Time) {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.known) >= maxBudgetAddrs {
		l.known = map[string]time.Time{}
	}
	l.known[addr] = now
}

// enter waits for a place in the strangers' lane; ok is false when the lane
// is full or the wait too long. release must be called when ok.
func (l *senderLanes) enter(ctx context.Context) (release func(), ok bool) {
	l.init()
	if l.waiting.Add(1) > maxStrangersWaiting {
		l.waiting.Add(-1)
		return nil, false
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(strangerWait)
	defer t.Stop()
	select {
	case l.strangers <- struct{}{}:
		return func() { <-l.strangers }, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}
