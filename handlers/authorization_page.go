package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// authorizationPage is GET /authorizations/{code}: one authorization's
// page, the stable address of a code (the same page as
// /authorizations?authorization_code=…; sub_mchid as there).
func (h *Handler) authorizationPage(c echo.Context) error {
	code, ok := codeParam(c)
	if !ok {
		return errNotFound()
	}
	return h.showAuthorization(c, h.lookupView(c, code), code, true)
}

// searchAuthorizations is GET /authorizations?q=…: a code known here (matched
// case-sensitively) shows its page; a sub-merchant or a user lists their
// authorizations (one user's single authorization shows its page); a code
// unknown here is asked of WeChat Pay with a sub-merchant, with the codes
// that differ only in case offered.
func (h *Handler) searchAuthorizations(c echo.Context) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	q := strings.TrimSpace(c.QueryParam("q"))
	v := h.lookupView(c, "")
	v.Query = q
	if q == "" {
		return h.showAuthorization(c, v, "", false)
	}
	res, err := h.Services.Lookup.Search(rctx, q)
	if err != nil {
		return errInternal(err)
	}
	switch res.By {
	case service.SearchByCode:
		v.Form.AuthorizationCode = res.Code
		v.DidYouMean = suggestions(res.DidYouMean)
		if v.DidYouMean == nil {
			v.DidYouMean = []views.CodeSuggestion{} // looked for: none
		}
		return h.showAuthorization(c, v, res.Code, true)
	case service.SearchByOpenID:
		if len(res.Matches) == 1 {
			code := res.Matches[0].AuthorizationCode
			v.Form.AuthorizationCode = code
			v.Form.SubMchID = ""
			return h.showAuthorization(c, v, code, true)
		}
		v.Results = authorizationList(res, q)
	case service.SearchBySubMerchant:
		v.Results = authorizationList(res, q)
		v.Results.Query, v.Results.SubMerchantName = res.SubMerchant.SubMchID, res.SubMerchant.Name
	default:
		v.NoMatch = true
	}
	return h.renderPage(c, http.StatusOK, views.LookupPage(h.page(c, views.T(ctx, "support.title")), v), "lookup")
}

// suggestions are the did-you-mean links of codes.
func suggestions(codes []string) []views.CodeSuggestion {
	var out []views.CodeSuggestion
	for _, c := range codes {
		out = append(out, views.CodeSuggestion{Code: c, Href: views.AuthorizationURL(c)})
	}
	return out
}

// authorizationList is the view of a search's list.
func authorizationList(res service.SearchResult, q string) *views.AuthorizationList {
	l := &views.AuthorizationList{By: res.By, Query: q, More: res.More}
	for _, r := range res.Matches {
		openid := r.OpenID
		if openid == "" {
			openid = r.SubOpenID
		}
		l.Rows = append(l.Rows, views.AuthorizationListRow{Code: r.AuthorizationCode, Href: views.AuthorizationURL(r.AuthorizationCode),
			SubMchID: r.SubMchID, SubMerchantName: r.SubMerchantName, State: views.DisplayState(r.State, r.TerminatedBySupport),
			OpenID: openid, SuccessTime: r.SuccessTime, CancelTime: r.CancelTime, StateTime: r.StateTime})
	}
	return l
}

// timelineView tells what happened to an authorization, in order: the link
// created (by whom), its landing page opened (how often, last when), the
// user's agreement (openid, time), the notifications, and how it ended —
// terminated by support (who, why) or closed by the user. The state is
// WeChat Pay's live answer when there is one, else the last known locally.
func (h *Handler) timelineView(found service.Found, role string) (*views.AuthorizationSummary, []views.TimelineEvent) {
	var state, openid string
	var success, cancel *time.Time
	if l := found.Live; l != nil {
		state, openid, success, cancel = string(l.State), l.OpenID, l.AuthorizationSuccessTime, l.CancelAuthorizationTime
		if openid == "" {
			openid = l.SubOpenID
		}
	}
	if a := found.Local; a != nil {
		if state == "" {
			state = a.State
		}
		if openid == "" {
			openid = a.OpenID
		}
		if openid == "" {
			openid = a.SubOpenID
		}
		if success == nil {
			success = a.SuccessTime
		}
		if cancel == nil {
			cancel = a.CancelTime
		}
	}
	hist := found.History
	var head, rest []views.TimelineEvent
	if link := hist.Link; link != nil {
		e := views.TimelineEvent{Kind: views.TimelineCreated, At: link.CreatedAt, By: link.CreatedByName, Label: "#" + strconv.FormatInt(link.ID, 10)}
		if h.routeAllows(role, http.MethodGet, "/links/:id") {
			e.Href = "/links/" + strconv.FormatInt(link.ID, 10)
		}
		head = append(head, e)
		if link.Opens > 0 {
			e := views.TimelineEvent{Kind: views.TimelineOpened, Count: link.Opens}
			if link.LastOpenedAt != nil {
				e.Last = *link.LastOpenedAt
			}
			head = append(head, e)
		} else {
			head = append(head, views.TimelineEvent{Kind: views.TimelineNotOpened})
		}
	}
	showCallback := h.routeAllows(role, http.MethodGet, "/callbacks/:id")
	var openCB, closeCB *store.Callback
	for i, cb := range hist.Callbacks {
		e := views.TimelineEvent{Kind: views.TimelineNotification, At: cb.FirstReceivedAt, EventType: cb.EventType, Deliveries: cb.Deliveries}
		if showCallback {
			e.Href = "/callbacks/" + strconv.FormatInt(cb.ID, 10)
		}
		rest = append(rest, e)
		switch cb.EventType {
		case store.EventOpen:
			openCB = &hist.Callbacks[i]
		case store.EventClose:
			closeCB = &hist.Callbacks[i]
		}
	}
	agreedAt := success
	if agreedAt == nil && openCB != nil {
		agreedAt = openCB.OpenOrCloseTime
	}
	if openid == "" && openCB != nil {
		openid = openCB.OpenID
	}
	agreed := agreedAt != nil || openCB != nil || state == store.StateAvailable
	if agreed {
		e := views.TimelineEvent{Kind: views.TimelineAgreed, OpenID: openid}
		if agreedAt != nil {
			e.At = *agreedAt
		}
		rest = append(rest, e)
	}
	var succeeded *store.Termination
	for i, t := range hist.Terminations {
		e := views.TimelineEvent{Kind: views.TimelineTermPending, At: t.CreatedAt, By: t.Username, Reason: t.Reason,
			RequestID: t.RequestID, ErrorCode: t.ErrorCode, ErrorMessage: t.ErrorMessage}
		if e.By == "" {
			e.By = service.SystemUsername
		}
		switch t.Status {
		case store.TerminationSucceeded:
			e.Kind = views.TimelineTerminated
			if t.FinishedAt != nil {
				e.At = *t.FinishedAt
			}
			if succeeded == nil || t.CreatedAt.After(succeeded.CreatedAt) {
				succeeded = &hist.Terminations[i]
			}
		case store.TerminationFailed:
			e.Kind = views.TimelineTermFailed
		}
		rest = append(rest, e)
	}
	display := views.DisplayState(state, succeeded != nil)
	summary := &views.AuthorizationSummary{State: display}
	switch display {
	case views.StateAvailable:
		summary.OpenID = openid
		if agreedAt != nil {
			summary.At = *agreedAt
		}
	case views.StateTerminated:
		summary.By, summary.Reason = succeeded.Username, succeeded.Reason
		if summary.By == "" {
			summary.By = service.SystemUsername
		}
		switch {
		case succeeded.FinishedAt != nil:
			summary.At = *succeeded.FinishedAt
		case cancel != nil:
			summary.At = *cancel
		}
	case views.StateClosed:
		at := cancel
		if at == nil && closeCB != nil {
			at = closeCB.OpenOrCloseTime
		}
		e := views.TimelineEvent{Kind: views.TimelineClosed}
		if at != nil {
			e.At, summary.At = *at, *at
		}
		rest = append(rest, e)
	}
	// In time order; events of the same second (or with no time) keep the
	// order of the story: agreement, notification, termination, close.
	slices.SortStableFunc(rest, func(a, b views.TimelineEvent) int {
		if a.At.IsZero() || b.At.IsZero() {
			return timelineRank(a) - timelineRank(b)
		}
		if c := a.At.Truncate(time.Second).Compare(b.At.Truncate(time.Second)); c != 0 {
			return c
		}
		return timelineRank(a) - timelineRank(b)
	})
	out := append(head, rest...)
	if !agreed && (state == store.StateUnbindUser || state == "") && len(out) > 0 {
		out = append(out, views.TimelineEvent{Kind: views.TimelineAwaitingAgree})
	}
	return summary, out
}

// timelineRank orders a timeline's events that carry the same second: the
// user's agreement before its notification, a termination or a close
// before the close notification it brings.
func timelineRank(e views.TimelineEvent) int {
	switch e.Kind {
	case views.TimelineAgreed:
		return 0
	case views.TimelineNotification:
		if e.EventType == store.EventClose {
			return 4
		}
		return 1
	case views.TimelineTermPending, views.TimelineTermFailed, views.TimelineTerminated:
		return 2
	}
	return 3
}
