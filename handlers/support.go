package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// SupportStore is what the look-up and terminate screens, and the
// reconciliation behind them, need from the database.
type SupportStore interface {
	LinkByCode(ctx context.Context, code string) (*store.Link, error)
	AuthorizationByCode(ctx context.Context, code string) (*store.Authorization, error)
	SaveAuthorization(ctx context.Context, a store.Authorization) (bool, error)
	SubMerchants(ctx context.Context) ([]store.SubMerchant, error)
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
	Callbacks(ctx context.Context, f store.CallbackFilter) ([]store.Callback, error)
	TerminationsByCode(ctx context.Context, code string) ([]store.Termination, error)
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	BeginTermination(ctx context.Context, t store.Termination, audit store.AuditEntry) (int64, error)
	FinishTermination(ctx context.Context, id int64, status, requestID, errCode, errMsg string, audit store.AuditEntry) error
	PendingTerminations(ctx context.Context) ([]store.Termination, error)
	LinksToReconcile(ctx context.Context, expiredBefore time.Time, limit int) ([]store.Link, error)
	MarkLinkReconciled(ctx context.Context, id int64) error
	LinkReconcileFailed(ctx context.Context, id int64) error
	AuthorizationsToRecheck(ctx context.Context, before time.Time, limit int) ([]store.Authorization, error)
	ReauthSession(ctx context.Context, idHash string) error
}

// historyLimit bounds each list of a code's history.
const historyLimit = 50

// lookupAuthorization is GET /authorizations: validate the code, ask WeChat
// Pay live, record what it says, and show the code's local history beside
// it. When WeChat Pay cannot answer, the page says why in the spec's words
// and shows the last state known locally with its age.
func (h *Handler) lookupAuthorization(c echo.Context) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	me := currentIdentity(c).User
	v := views.LookupView{
		Now: h.Now(),
		Form: views.LookupForm{
			AuthorizationCode: strings.TrimSpace(c.QueryParam("authorization_code")),
			SubMchID:          strings.TrimSpace(c.QueryParam("sub_mchid")),
			Errors:            map[string]string{},
		},
	}
	render := func(status int) error {
		return h.renderPage(c, status, views.LookupPage(h.page(c, views.T(ctx, "support.title")), v), "lookup")
	}
	code := v.Form.AuthorizationCode
	if code == "" && !c.QueryParams().Has("authorization_code") {
		return render(http.StatusOK)
	}
	if payscore.ValidateAuthorizationCode(code) != nil {
		v.Form.Errors["authorization_code"] = views.T(ctx, "support.err.code")
		return render(http.StatusUnprocessableEntity)
	}
	subMchID, err := h.knownSubMchID(rctx, code)
	if err != nil {
		return errInternal(err)
	}
	if subMchID == "" {
		// Unknown locally: WeChat Pay needs the sub-merchant, so ask for it.
		v.AskSubMch = true
		subs, err := h.Store.SubMerchants(rctx)
		if err != nil {
			return errInternal(err)
		}
		// Disabled sub-merchants are listed too: their users' authorizations
		// still need looking after.
		for _, m := range subs {
			v.SubMerchants = append(v.SubMerchants, views.LookupSubMerchant{SubMchID: m.SubMchID, Name: m.Name})
		}
		if v.Form.SubMchID == "" {
			return render(http.StatusOK)
		}
		if !slices.ContainsFunc(subs, func(m store.SubMerchant) bool { return m.SubMchID == v.Form.SubMchID }) ||
			payscore.ValidateSubMchID(v.Form.SubMchID) != nil {
			v.Form.Errors["sub_mchid"] = views.T(ctx, "support.err.sub_mchid")
			return render(http.StatusUnprocessableEntity)
		}
		subMchID = v.Form.SubMchID
	}

	v.Searched = true
	status := http.StatusOK
	live, qerr := h.PayScore.Query(rctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: subMchID})
	if qerr != nil {
		h.Logger.Warn("look-up: query failed", "authorization_code", code, "err", qerr)
		v.Upstream, status = upstreamFailure(ctx, qerr)
	} else {
		v.Live = liveView(live)
		if err := h.saveQueried(rctx, code, subMchID, live, sourceQuery); err != nil {
			return errInternal(err)
		}
	}
	local, err := h.Store.AuthorizationByCode(rctx, code)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errInternal(err)
	}
	if local != nil {
		v.Local = &views.LookupLocal{State: local.State, Source: local.Source, CheckedAt: local.CheckedAt,
			OpenID: local.OpenID, SubOpenID: local.SubOpenID}
	}
	if v.History, err = h.codeHistory(rctx, code, me.Role); err != nil {
		return errInternal(err)
	}
	// The terminate form is offered to those who may use it, for a code the
	// console can resolve to its sub-merchant, while the authorization is on
	// or its state cannot be learned right now.
	maybeActive := (live != nil && live.State == payscore.StateAvailable) || (live == nil && status == http.StatusBadGateway)
	if local != nil && maybeActive && h.routeAllows(me.Role, http.MethodPost, terminateRoute) {
		v.Terminate = &views.TerminateForm{AuthorizationCode: code, SubMchID: subMchID, Reasons: commonReasons}
	}
	return render(status)
}

// terminateRoute is the terminate route as the route table names it.
const terminateRoute = "/authorizations/:code/terminate"

// Sources of a state recorded from a query.
const (
	sourceQuery     = "query"
	sourceReconcile = "reconcile"
)

// knownSubMchID finds the sub-merchant of a code from local records: the
// link that started it, or a state learned earlier. "" when the code is
// unknown locally.
func (h *Handler) knownSubMchID(ctx context.Context, code string) (string, error) {
	link, err := h.Store.LinkByCode(ctx, code)
	if err == nil {
		return link.SubMchID, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	a, err := h.Store.AuthorizationByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return a.SubMchID, nil
}

// saveQueried records a query's answer as the code's current state. The
// answer is at least as new as now and as the events it reports: WeChat Pay's
// clock and ours differ a little, and a live answer must not lose to a
// notification of the very event it reports.
func (h *Handler) saveQueried(ctx context.Context, code, subMchID string, a *payscore.Authorization, source string) error {
	if !a.State.Known() {
		h.Logger.Warn("query: unknown authorization_state not recorded", "authorization_code", code, "state", string(a.State))
		return nil
	}
	at := h.Now()
	for _, t := range []*time.Time{a.AuthorizationSuccessTime, a.CancelAuthorizationTime} {
		if t != nil && t.After(at) {
			at = *t
		}
	}
	_, err := h.Store.SaveAuthorization(ctx, store.Authorization{
		AuthorizationCode: code, SubMchID: subMchID, State: string(a.State),
		OpenID: a.OpenID, SubOpenID: a.SubOpenID, UserLabel: a.UserLabel,
		SuccessTime: a.AuthorizationSuccessTime, CancelTime: a.CancelAuthorizationTime,
		StateTime: at, Source: source,
	})
	return err
}

// liveView is the view of a query's answer.
func liveView(a *payscore.Authorization) *views.LookupAuthorization {
	return &views.LookupAuthorization{
		AuthorizationCode: a.AuthorizationCode, AuthorizationState: string(a.State),
		AppID: a.AppID, MchID: a.MchID, SubMchID: a.SubMchID, SubAppID: a.SubAppID,
		ChannelID: a.ChannelID, ServiceID: a.ServiceID, OpenID: a.OpenID, SubOpenID: a.SubOpenID,
		UserLabel: a.UserLabel, NotifyURL: a.NotifyURL,
		AuthorizationSuccessTime: a.AuthorizationSuccessTime, CancelAuthorizationTime: a.CancelAuthorizationTime,
		RequestID: a.RequestID,
	}
}

// upstreamFailure explains a failed WeChat Pay call in the spec's words and
// picks the status the page answers with: 404 for ORDER_NOT_EXIST, 409 for
// an authorization whose state does not allow the call, 502 otherwise.
func upstreamFailure(ctx context.Context, err error) (*views.SupportError, int) {
	var (
		ae *payscore.APIError
		te *payscore.TransportError
	)
	switch {
	case errors.Is(err, payscore.ErrBadSignature):
		// Checked first: such an answer is never believed, whatever it says.
		return &views.SupportError{Explanation: views.T(ctx, "support.err.badsig"), Remedy: views.T(ctx, "support.err.badsig.remedy")}, http.StatusBadGateway
	case errors.As(err, &ae):
		explanation, remedy := ae.Explain(views.Lang(ctx))
		status := http.StatusBadGateway
		switch strings.ReplaceAll(ae.Code, " ", "") {
		case payscore.CodeOrderNotExist:
			status = http.StatusNotFound
		case payscore.CodeInvalidOrderState, payscore.CodeOrderCanceled, payscore.CodeOrderDone:
			status = http.StatusConflict
		}
		return &views.SupportError{Explanation: explanation, Remedy: remedy, Code: ae.Code, Message: ae.Message, RequestID: ae.RequestID}, status
	case errors.As(err, &te):
		key := "support.err.network"
		if te.Timeout {
			key = "support.err.timeout"
		}
		return &views.SupportError{Explanation: views.T(ctx, key), Remedy: views.T(ctx, "support.err.remedy.retry")}, http.StatusBadGateway
	}
	return &views.SupportError{Explanation: views.T(ctx, "support.err.malformed"), Remedy: views.T(ctx, "support.err.remedy.retry")}, http.StatusBadGateway
}

// codeHistory gathers what is recorded locally about a code. Links and
// callbacks link to their own pages for the roles that may open them.
func (h *Handler) codeHistory(ctx context.Context, code, role string) (views.LookupHistory, error) {
	var out views.LookupHistory
	link, err := h.Store.LinkByCode(ctx, code)
	switch {
	case err == nil:
		out.Link = &views.HistoryLink{ID: link.ID, SubMchID: link.SubMchID, SubMerchantName: link.SubMerchantName,
			CreatedBy: link.CreatedByName, CreatedAt: link.CreatedAt, TokenExpiresAt: link.TokenExpiresAt, Opens: link.Opens}
		if h.routeAllows(role, http.MethodGet, "/links/:id") {
			out.Link.Href = "/links/" + strconv.FormatInt(link.ID, 10)
		}
	case !errors.Is(err, store.ErrNotFound):
		return out, err
	}
	callbacks, err := h.Store.Callbacks(ctx, store.CallbackFilter{AuthorizationCode: code, Limit: historyLimit})
	if err != nil {
		return out, err
	}
	showCallback := h.routeAllows(role, http.MethodGet, "/callbacks/:id")
	for _, cb := range callbacks {
		row := views.HistoryCallback{ID: cb.ID, NotificationID: cb.NotificationID, EventType: cb.EventType,
			OpenOrCloseTime: cb.OpenOrCloseTime, ReceivedAt: cb.FirstReceivedAt, Deliveries: cb.Deliveries, Applied: cb.Applied}
		if showCallback {
			row.Href = "/callbacks/" + strconv.FormatInt(cb.ID, 10)
		}
		out.Callbacks = append(out.Callbacks, row)
	}
	terminations, err := h.Store.TerminationsByCode(ctx, code)
	if err != nil {
		return out, err
	}
	for _, t := range terminations {
		out.Terminations = append(out.Terminations, views.HistoryTermination{ID: t.ID, Reason: t.Reason, Status: t.Status,
			RequestID: t.RequestID, ErrorCode: t.ErrorCode, ErrorMessage: t.ErrorMessage, Username: t.Username,
			CreatedAt: t.CreatedAt, FinishedAt: t.FinishedAt})
	}
	entries, err := h.Store.AuditLog(ctx, store.AuditFilter{Target: code, Limit: historyLimit})
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		row := views.HistoryAudit{At: e.At, Username: e.Username, Action: e.Action, Reason: e.Reason, Result: e.Result, RequestID: e.RequestID}
		// Addresses are for admins, who see them on the audit screen too.
		if role == store.RoleAdmin {
			row.IP = e.IP
		}
		out.Audit = append(out.Audit, row)
	}
	return out, nil
}

// routeAllows reports whether the route table lets role use a route; a
// route not (yet) in the table allows no one.
func (h *Handler) routeAllows(role, method, path string) bool {
	for _, r := range h.routes() {
		if r.method == method && r.path == path {
			return r.roles == nil || slices.Contains(r.roles, role)
		}
	}
	return false
}

// codeParam is the :code path parameter, unescaped: Echo routes on the raw
// path when the request escaped something (as "|" is) and then hands out the
// parameter still escaped.
func codeParam(c echo.Context) (string, bool) {
	code := c.Param("code")
	if c.Request().URL.RawPath != "" {
		var err error
		if code, err = url.PathUnescape(code); err != nil {
			return "", false
		}
	}
	return code, payscore.ValidateAuthorizationCode(code) == nil
}
