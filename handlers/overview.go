package handlers

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// How much the overview lists.
const (
	overviewLatestCallbacks   = 10
	overviewTerminations      = 10
	overviewTerminationWindow = 7 * 24 * time.Hour
	overviewMyLinks           = 5
)

// overview is the start page: figures from the store (each an index range
// or one row), the latest callbacks and recent terminations.
func (h *Handler) overview(c echo.Context) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	now := h.Now()
	figures, err := h.Logs.OverviewFigures(rctx, now, startOfDay(now))
	if err != nil {
		return errInternal(err)
	}
	latest, err := h.Logs.Callbacks(rctx, store.CallbackFilter{Limit: overviewLatestCallbacks})
	if err != nil {
		return errInternal(err)
	}
	terms, err := h.Logs.RecentTerminations(rctx, now.Add(-overviewTerminationWindow), overviewTerminations)
	if err != nil {
		return errInternal(err)
	}
	v := views.OverviewView{
		Username:             currentIdentity(c).User.Username,
		ActiveAuthorizations: figures.ActiveAuthorizations,
		AwaitingUser:         figures.AwaitingUser,
		Callbacks24h:         figures.Callbacks24h,
		Refusals24h:          figures.Refusals24h,
		TerminatedToday:      figures.TerminatedToday,
		Health:               h.healthView(rctx, true),
	}
	me := currentIdentity(c).User
	if me.Role == store.RoleAdmin {
		if v.Emergency, err = h.emergencyView(rctx); err != nil {
			return errInternal(err)
		}
	}
	kinds, peak, err := h.Logs.RefusalKinds(rctx, now.Add(-24*time.Hour))
	if err != nil {
		return errInternal(err)
	}
	for _, k := range kinds {
		kind := k.Kind
		if kind == "" {
			kind = service.RefusalKind(k.Reason, false) // a row from before the diagnosis: read from its reason
		}
		if i := slices.IndexFunc(v.RefusalKinds, func(r views.RefusalKindRow) bool { return r.Kind == kind }); i >= 0 {
			v.RefusalKinds[i].Count += k.Count
		} else {
			v.RefusalKinds = append(v.RefusalKinds, views.RefusalKindRow{Kind: kind, Count: k.Count})
		}
	}
	slices.SortStableFunc(v.RefusalKinds, func(a, b views.RefusalKindRow) int { return b.Count - a.Count })
	v.RefusalPeak = peak
	if me.Role == store.RoleOperator || me.Role == store.RoleAdmin {
		// The states of the person's own latest links.
		mine, err := h.Services.Links.List(rctx, store.LinkFilter{CreatedBy: me.Username, Limit: overviewMyLinks})
		if err != nil {
			return errInternal(err)
		}
		for _, l := range mine {
			v.MyLinks = append(v.MyLinks, views.LinkRow{ID: l.ID, SubMchID: l.SubMchID, SubMerchantName: l.SubMerchantName, Code: l.AuthorizationCode,
				State: l.State, Created: l.CreatedAt, TerminatedBySupport: l.TerminatedBySupport})
		}
		v.MyLinksURL = "/links?" + url.Values{"created_by": {me.Username}}.Encode()
	}
	h.keysView(&v, figures.NotificationKeys, now)
	report, err := h.Services.Stats.Report(rctx, "")
	if err != nil {
		return errInternal(err)
	}
	v.Charts = chartsView(report, true)
	for _, cb := range latest {
		v.LatestCallbacks = append(v.LatestCallbacks, callbackRow(cb, "", 0))
	}
	for _, t := range terms {
		v.RecentTerminations = append(v.RecentTerminations, views.TerminationRow{AuthorizationCode: t.AuthorizationCode, SubMchID: t.SubMchID,
			Reason: t.Reason, Status: t.Status, Username: t.Username, RequestID: t.RequestID, CreatedAt: t.CreatedAt})
	}
	return h.render(c, http.StatusOK, views.OverviewPage(h.page(c, views.T(ctx, "overview.title")), v))
}

// certificateWarning is how long before its expiry a certificate is
// flagged on the overview.
const certificateWarning = 30 * 24 * time.Hour

// keysView fills which key signed the notifications of the last 24 hours
// and when each platform certificate expires.
func (h *Handler) keysView(v *views.OverviewView, keys []store.NotificationKey, now time.Time) {
	certs := map[string]payscore.CertificateInfo{}
	if h.Keys.Certificates != nil {
		st := h.Keys.Certificates.Status()
		for _, c := range st.Certificates {
			certs[c.Serial] = c
			v.Certificates = append(v.Certificates, views.CertificateRow{Serial: c.Serial, NotAfter: c.NotAfter,
				Configured: c.Configured, Downloaded: c.Downloaded, ExpiresSoon: !now.Add(certificateWarning).Before(c.NotAfter)})
		}
		if st.LastError != nil {
			v.CertificateError = st.LastError.Error()
		}
	}
	for _, k := range keys {
		row := views.SigningKeyRow{Serial: k.Serial, Kind: "unknown", Deliveries: k.Deliveries, LastReceived: k.LastReceived}
		if c, ok := certs[k.Serial]; ok {
			row.Kind, row.Expires = "certificate", c.NotAfter
		} else if k.Serial == h.Keys.PublicKeyID && k.Serial != "" {
			row.Kind = "public_key"
		}
		v.SigningKeys = append(v.SigningKeys, row)
	}
}
