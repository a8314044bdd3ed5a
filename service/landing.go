package service

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// slugPattern is what randomSlug makes; anything else is not looked up.
var slugPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// LandingStore is what the end user's landing page needs from the database.
type LandingStore interface {
	LandingPause(ctx context.Context) (store.LandingPause, error)
	LinkBySlug(ctx context.Context, slug string) (*store.Link, error)
	LinkOpened(ctx context.Context, id int64) error
}

// LandingMode is what a visit of a landing page comes to, before anything
// about the browser is known.
type LandingMode int

// Landing modes, in the order they are decided.
const (
	// LandingPaused: the emergency switch is on.
	LandingPaused LandingMode = iota + 1
	// LandingNotFound: no link of that name.
	LandingNotFound
	// LandingDisabled: the link's sub-merchant is disabled; it issues
	// nothing (no token).
	LandingDisabled
	// LandingDone: the user has already authorized.
	LandingDone
	// LandingEnded: the authorization was closed by the user or ended by a
	// termination: the code cannot be used again.
	LandingEnded
	// LandingOpen: the user may authorize (in WeChat, with its token). An
	// expired token is renewed by AutoRenew.OnOpen once the visitor is one
	// who can use it (in a recent enough WeChat).
	LandingOpen
)

// LandingVisit is a visit's outcome; Link is set from LandingDone on, and
// for LandingPaused when the name is a link's (every state names the
// merchant).
type LandingVisit struct {
	Mode LandingMode
	Link *store.Link
}

// Landing decides what the end user's landing page shows.
type Landing struct {
	Store  LandingStore
	Now    func() time.Time
	Logger *slog.Logger
}

// Link finds the link of a landing page's name; store.ErrNotFound for a
// name the console could not have made.
func (s *Landing) Link(ctx context.Context, slug string) (*store.Link, error) {
	if !slugPattern.MatchString(slug) {
		return nil, store.ErrNotFound
	}
	return s.Store.LinkBySlug(ctx, slug)
}

// Visit is a visit of the landing page slug: paused, unknown, of a disabled
// sub-merchant, already authorized, ended, or open. A visit of a link is
// counted (best effort: the user still gets the page).
func (s *Landing) Visit(ctx context.Context, slug string) (LandingVisit, error) {
	p, err := s.Store.LandingPause(ctx)
	if err != nil {
		return LandingVisit{}, err
	}
	l, err := s.Link(ctx, slug)
	if p.Paused {
		return LandingVisit{Mode: LandingPaused, Link: l}, nil
	}
	if KindOf(err) == NotFound {
		return LandingVisit{Mode: LandingNotFound}, nil
	}
	if err != nil {
		return LandingVisit{}, err
	}
	if l.SubMerchantDisabled {
		return LandingVisit{Mode: LandingDisabled}, nil
	}
	if err := s.Store.LinkOpened(ctx, l.ID); err != nil {
		loggerOr(s.Logger).Error("count link open", "link", l.ID, "err", err)
	}
	switch l.State {
	case store.StateAvailable:
		return LandingVisit{Mode: LandingDone, Link: l}, nil
	case store.StateUnavailable:
		return LandingVisit{Mode: LandingEnded, Link: l}, nil
	}
	return LandingVisit{Mode: LandingOpen, Link: l}, nil
}
