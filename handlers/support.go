package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// lookupAuthorization is GET /authorizations: validate the code, ask WeChat
// Pay live, record what it says, and show the code's local history beside
// it. When WeChat Pay cannot answer, the page says why in the spec's words
// and shows the last state known locally with its age.
func (h *Handler) lookupAuthorization(c echo.Context) error {
	if c.QueryParams().Has("q") && !c.QueryParams().Has("authorization_code") {
		return h.searchAuthorizations(c)
	}
	code := strings.TrimSpace(c.QueryParam("authorization_code"))
	return h.showAuthorization(c, h.lookupView(c, code), code, c.QueryParams().Has("authorization_code"))
}

// lookupView is the look-up page's view before anything is looked up.
func (h *Handler) lookupView(c echo.Context, code string) views.LookupView {
	return views.LookupView{
		Now: h.Now(),
		Form: views.LookupForm{
			AuthorizationCode: code,
			SubMchID:          strings.TrimSpace(c.QueryParam("sub_mchid")),
			Errors:            map[string]string{},
		},
	}
}

// showAuthorization shows one authorization code: its timeline, WeChat
// Pay's live answer and the local records (asked: a code was given, even
// an empty one).
func (h *Handler) showAuthorization(c echo.Context, v views.LookupView, code string, asked bool) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	me := currentIdentity(c).User
	render := func(status int) error {
		return h.renderPage(c, status, views.LookupPage(h.page(c, views.T(ctx, "support.title")), v), "lookup")
	}
	if code == "" && !asked {
		return render(http.StatusOK)
	}
	if payscore.ValidateAuthorizationCode(code) != nil {
		v.Form.Errors["authorization_code"] = views.T(ctx, "support.err.code")
		return render(http.StatusUnprocessableEntity)
	}
	subMchID, err := h.Services.Lookup.KnownSubMchID(rctx, code)
	if err != nil {
		return errInternal(err)
	}
	if subMchID == "" {
		// Unknown locally: WeChat Pay needs the sub-merchant, so ask for it;
		// and say so when a known code differs only in case.
		v.AskSubMch = true
		if v.DidYouMean == nil {
			variants, err := h.Services.Lookup.CaseVariants(rctx, code)
			if err != nil {
				return errInternal(err)
			}
			v.DidYouMean = suggestions(variants)
		}
		subs, err := h.Services.SubMerchants.List(rctx)
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
	v.PageURL = views.AuthorizationURL(code)
	status := http.StatusOK
	var found service.Found
	if crossSite(c) {
		// Opened from another site (a link in a mail, a page that wants
		// us to spend our query quota or to learn what we hold): the last
		// state known here, and a button to ask WeChat Pay, which a click
		// on this page sends same-origin. Never a live query cross-site.
		v.CrossSite = true
		v.LiveURL = "/authorizations?" + url.Values{"authorization_code": {code}, "sub_mchid": {subMchID}}.Encode()
		found, err = h.Services.Lookup.Known(rctx, code)
	} else {
		found, err = h.Services.Lookup.Lookup(rctx, code, subMchID)
	}
	if err != nil {
		return errInternal(err)
	}
	live := found.Live
	if found.QueryErr != nil {
		v.Upstream, status = upstreamFailure(ctx, found.QueryErr)
	} else if live != nil {
		v.Live = liveView(live)
	}
	if local := found.Local; local != nil {
		v.Local = &views.LookupLocal{State: local.State, Source: local.Source, CheckedAt: local.CheckedAt,
			OpenID: local.OpenID, SubOpenID: local.SubOpenID}
	}
	v.History = h.historyView(found.History, me.Role)
	v.Summary, v.Timeline = h.timelineView(found, me.Role)
	// The terminate form is offered to those who may use it, for a code the
	// console can resolve to its sub-merchant, while the authorization is on
	// or its state cannot be learned right now.
	maybeActive := (live != nil && live.State == payscore.StateAvailable) || (live == nil && status == http.StatusBadGateway)
	if found.Local != nil && maybeActive && h.routeAllows(me.Role, http.MethodPost, terminateRoute) {
		v.Terminate = &views.TerminateForm{AuthorizationCode: code, SubMchID: subMchID, Reasons: commonReasons}
	}
	return render(status)
}

// terminateRoute is the terminate route as the route table names it.
const terminateRoute = "/authorizations/:code/terminate"

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

// historyView is the view of what is recorded locally about a code. Links
// and callbacks link to their own pages for the roles that may open them.
func (h *Handler) historyView(hist service.History, role string) views.LookupHistory {
	var out views.LookupHistory
	if link := hist.Link; link != nil {
		out.Link = &views.HistoryLink{ID: link.ID, SubMchID: link.SubMchID, SubMerchantName: link.SubMerchantName,
			CreatedBy: link.CreatedByName, CreatedAt: link.CreatedAt, TokenExpiresAt: link.TokenExpiresAt, Opens: link.Opens}
		if h.routeAllows(role, http.MethodGet, "/links/:id") {
			out.Link.Href = "/links/" + strconv.FormatInt(link.ID, 10)
		}
	}
	showCallback := h.routeAllows(role, http.MethodGet, "/callbacks/:id")
	for _, cb := range hist.Callbacks {
		row := views.HistoryCallback{ID: cb.ID, NotificationID: cb.NotificationID, EventType: cb.EventType,
			OpenOrCloseTime: cb.OpenOrCloseTime, ReceivedAt: cb.FirstReceivedAt, Deliveries: cb.Deliveries, Applied: cb.Applied}
		if showCallback {
			row.Href = "/callbacks/" + strconv.FormatInt(cb.ID, 10)
		}
		out.Callbacks = append(out.Callbacks, row)
	}
	for _, t := range hist.Terminations {
		out.Terminations = append(out.Terminations, views.HistoryTermination{ID: t.ID, Reason: t.Reason, Status: t.Status,
			RequestID: t.RequestID, ErrorCode: t.ErrorCode, ErrorMessage: t.ErrorMessage, Username: t.Username,
			CreatedAt: t.CreatedAt, FinishedAt: t.FinishedAt})
	}
	for _, e := range hist.Audit {
		row := views.HistoryAudit{At: e.At, Username: e.Username, Action: e.Action, Reason: e.Reason, Result: e.Result, RequestID: e.RequestID}
		// Addresses are for admins, who see them on the audit screen too.
		if role == store.RoleAdmin {
			row.IP = e.IP
		}
		out.Audit = append(out.Audit, row)
	}
	return out
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

// crossSite reports whether the browser says the request comes from
// another site's page (Sec-Fetch-Site: cross-site).
func crossSite(c echo.Context) bool {
	return c.Request().Header.Get("Sec-Fetch-Site") == "cross-site"
}
