package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// Sources of a state recorded from a query.
const (
	SourceQuery     = "query"
	SourceReconcile = "reconcile"
)

// HistoryLimit bounds each list of a code's history.
const HistoryLimit = 50

// AuthorizationSaver records what WeChat Pay says about an authorization.
type AuthorizationSaver interface {
	SaveAuthorization(ctx context.Context, a store.Authorization) (bool, error)
}

// LookupStore is what looking an authorization up needs from the database.
type LookupStore interface {
	AuthorizationSaver
	LinkByCode(ctx context.Context, code string) (*store.Link, error)
	AuthorizationByCode(ctx context.Context, code string) (*store.Authorization, error)
	Callbacks(ctx context.Context, f store.CallbackFilter) ([]store.Callback, error)
	TerminationsByCode(ctx context.Context, code string) ([]store.Termination, error)
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	SearchStore
}

// Querier is the query call of the Pay Score API.
type Querier interface {
	Query(ctx context.Context, req payscore.QueryRequest) (*payscore.Authorization, error)
}

// Lookup looks authorizations up: live at WeChat Pay, recording what it
// says, with the code's local history beside it.
type Lookup struct {
	Store    LookupStore
	PayScore Querier
	Now      func() time.Time
	Logger   *slog.Logger
}

// History is what is recorded locally about a code.
type History struct {
	Link         *store.Link // nil when no link of ours started it
	Callbacks    []store.Callback
	Terminations []store.Termination
	Audit        []store.AuditEntry
}

// Found is the result of a look-up.
type Found struct {
	// Live is WeChat Pay's answer; nil when the query failed.
	Live *payscore.Authorization
	// QueryErr is why the query failed.
	QueryErr error
	// Local is the last state known locally; nil when none.
	Local   *store.Authorization
	History History
}

// KnownSubMchID finds the sub-merchant of a code from local records: the
// link that started it, or a state learned earlier. "" when the code is
// unknown locally.
func (s *Lookup) KnownSubMchID(ctx context.Context, code string) (string, error) {
	return knownSubMchID(ctx, s.Store, code)
}

func knownSubMchID(ctx context.Context, st interface {
	LinkByCode(ctx context.Context, code string) (*store.Link, error)
	AuthorizationByCode(ctx context.Context, code string) (*store.Authorization, error)
}, code string) (string, error) {
	link, err := st.LinkByCode(ctx, code)
	if err == nil {
		return link.SubMchID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	a, err := st.AuthorizationByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return a.SubMchID, nil
}

// Lookup asks WeChat Pay about code of sub-merchant subMchID, records the
// answer, and gathers the local state and history. A failed query is not
// an error: Found.QueryErr says why, and the local facts are still given.
func (s *Lookup) Lookup(ctx context.Context, code, subMchID string) (Found, error) {
	var out Found
	out.Live, out.QueryErr = s.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	if out.QueryErr != nil {
		loggerOr(s.Logger).Warn("look-up: query failed", "authorization_code", code, "err", out.QueryErr)
		out.Live = nil
	} else if err := saveQueried(ctx, s.Store, s.Now, s.Logger, code, subMchID, out.Live, SourceQuery); err != nil {
		return out, err
	}
	local, err := s.Store.AuthorizationByCode(ctx, code)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	out.Local = local
	out.History, err = s.History(ctx, code)
	return out, err
}

// Known gathers what is known locally about code, without asking WeChat
// Pay (Found.Live and QueryErr stay nil): for a look-up that must not
// reach out, such as one a link on another site opened.
func (s *Lookup) Known(ctx context.Context, code string) (Found, error) {
	var out Found
	local, err := s.Store.AuthorizationByCode(ctx, code)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	out.Local = local
	out.History, err = s.History(ctx, code)
	return out, err
}

// History gathers what is recorded locally about a code.
func (s *Lookup) History(ctx context.Context, code string) (History, error) {
	var out History
	link, err := s.Store.LinkByCode(ctx, code)
	switch {
	case err == nil:
		out.Link = link
	case !errors.Is(err, store.ErrNotFound):
		return out, err
	}
	if out.Callbacks, err = s.Store.Callbacks(ctx, store.CallbackFilter{AuthorizationCode: code, Limit: HistoryLimit}); err != nil {
		return out, err
	}
	if out.Terminations, err = s.Store.TerminationsByCode(ctx, code); err != nil {
		return out, err
	}
	out.Audit, err = s.Store.AuditLog(ctx, store.AuditFilter{Target: code, Limit: HistoryLimit})
	return out, err
}

// saveQueried records a query's answer as the code's current state, placed
// in time by WeChat Pay's own clock: AVAILABLE at authorization_success_time,
// UNAVAILABLE at cancel_authorization_time (the times of the events the
// state reports, which a notification of the same event carries too, and
// which a later event's notification exceeds). Our clock is used only when
// WeChat Pay gives no time at all (a code nobody agreed to), so a skewed
// clock here can never make a query answer look newer than a close
// notification that came after it.
func saveQueried(ctx context.Context, st AuthorizationSaver, now func() time.Time, logger *slog.Logger, code, subMchID string, a *payscore.Authorization, source string) error {
	if !a.State.Known() {
		loggerOr(logger).Warn("query: unknown authorization_state not recorded", "authorization_code", code, "state", string(a.State))
		return nil
	}
	_, err := st.SaveAuthorization(ctx, store.Authorization{
		AuthorizationCode: code, SubMchID: subMchID, State: string(a.State),
		OpenID: a.OpenID, SubOpenID: a.SubOpenID, UserLabel: a.UserLabel,
		SuccessTime: a.AuthorizationSuccessTime, CancelTime: a.CancelAuthorizationTime,
		StateTime: queriedStateTime(a, now), Source: source,
	})
	return err
}

// queriedStateTime is when the state a query reports became true, by
// WeChat Pay's clock when it says.
func queriedStateTime(a *payscore.Authorization, now func() time.Time) time.Time {
	var at *time.Time
	switch a.State {
	case payscore.StateAvailable:
		at = a.AuthorizationSuccessTime
	case payscore.StateUnavailable:
		at = a.CancelAuthorizationTime
	}
	if at == nil {
		// The state's own event has no time: the latest event WeChat Pay
		// reports, if any.
		for _, t := range []*time.Time{a.AuthorizationSuccessTime, a.CancelAuthorizationTime} {
			if t != nil && (at == nil || t.After(*at)) {
				at = t
			}
		}
	}
	if at != nil {
		return *at
	}
	return nowOr(now)
}
