package service

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// AutoRenewGap is the least time between two renewals of one link made by
// opening its landing page: a printed code opened by a crowd, or a
// refreshing bot, makes one pre-authorization a minute, not one per open.
const AutoRenewGap = time.Minute

// Why a landing page could not renew an expired token on the spot.
var (
	// ErrAutoRenewOff: an operator switched auto-renewal off for the link.
	ErrAutoRenewOff = errors.New("service: auto-renewal is off for this link")
	// ErrAutoRenewLimited: the link was renewed within AutoRenewGap and its
	// token is expired all the same (the renewal failed).
	ErrAutoRenewLimited = errors.New("service: the link was renewed less than a minute ago")
)

// AutoRenewStore is what auto-renewal needs from the database beyond Links'.
type AutoRenewStore interface {
	ClaimAutoRenew(ctx context.Context, id int64, gap time.Duration) (bool, error)
	SetLinkAutoRenewAudited(ctx context.Context, id int64, on bool, audit store.AuditEntry) error
	LinkByID(ctx context.Context, id int64) (*store.Link, error)
}

// AutoRenew keeps printed codes alive: opening a landing page whose token
// expired renews it on the spot through Links.Renew (which keeps the rules:
// same code when nobody agreed, one code one user otherwise), as the
// system, at most once per link per AutoRenewGap (the claim is stored, so
// it holds across instances). Operators switch it off per link.
type AutoRenew struct {
	Links  *Links
	Store  AutoRenewStore
	Now    func() time.Time
	Logger *slog.Logger
}

// OnOpen returns the link to serve for l, whose landing page is being
// opened: l itself while its token is valid; otherwise the link with a
// renewed token (a new link, with a new code, when the code had been agreed
// to: the caller sends the user to its page). Errors: ErrAutoRenewOff, ErrAutoRenewLimited, and Renew's
// (Conflict when its rules refuse, Upstream when WeChat Pay did).
func (a *AutoRenew) OnOpen(ctx context.Context, l *store.Link) (*store.Link, error) {
	if nowOr(a.Now).Before(l.TokenExpiresAt) {
		return l, nil
	}
	if !l.AutoRenew {
		return l, newError(Conflict, "landing.expired.off", ErrAutoRenewOff)
	}
	claimed, err := a.Store.ClaimAutoRenew(ctx, l.ID, AutoRenewGap)
	if err != nil {
		return l, newError(Internal, "", err)
	}
	if !claimed {
		// Another open renewed it a moment ago: its token is the one to serve.
		fresh, err := a.Store.LinkByID(ctx, l.ID)
		if err != nil {
			return l, err
		}
		if nowOr(a.Now).Before(fresh.TokenExpiresAt) {
			return fresh, nil
		}
		if !fresh.AutoRenew {
			return fresh, newError(Conflict, "landing.expired.off", ErrAutoRenewOff)
		}
		return fresh, newError(Conflict, "landing.expired.limited", ErrAutoRenewLimited)
	}
	r, err := a.Links.Renew(ctx, System, l.ID)
	if err != nil {
		loggerOr(a.Logger).Warn("renewal on open failed", "link", l.ID, "err", err)
		return l, err
	}
	if r.New != nil {
		// One code, one user: the code was agreed to once, so the renewal
		// issued a new code in a new link; that is the one to serve.
		return r.New, nil
	}
	fresh, err := a.Store.LinkByID(ctx, l.ID)
	if err != nil {
		return l, err
	}
	return fresh, nil
}

// Set switches auto-renewal of a link on or off, audited as
// link.auto_renew in the same transaction.
func (a *AutoRenew) Set(ctx context.Context, actor Actor, id int64, on bool) error {
	l, err := a.Store.LinkByID(ctx, id)
	if err != nil {
		return err
	}
	result := "off"
	if on {
		result = "on"
	}
	e := actor.entry(store.AuditEntry{Action: "link.auto_renew", Target: l.AuthorizationCode, Result: result,
		Detail: "link=" + strconv.FormatInt(l.ID, 10)})
	return a.Store.SetLinkAutoRenewAudited(ctx, id, on, e)
}
