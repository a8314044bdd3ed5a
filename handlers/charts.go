package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// chartMetrics are the CSV's columns: every day count the charts read.
var chartMetrics = []string{store.MetricLinksCreated, store.FunnelMetric(store.FunnelOpened), store.FunnelMetric(store.FunnelCheckOK),
	store.FunnelMetric(store.FunnelCheckOld), store.FunnelMetric(store.FunnelCheckOutside), store.FunnelMetric(store.FunnelInvoked),
	store.FunnelMetric(store.FunnelAnswerOK), store.FunnelMetric(store.FunnelAnswerCancel), store.FunnelMetric(store.FunnelAnswerError),
	store.MetricOpened, store.MetricClosed, store.MetricTerminated, store.MetricTermFailed, store.MetricRefused}

// chartsView maps a report to the charts and funnel tables. withRefusals:
// refusals belong to no sub-merchant, so only the overview shows them.
func chartsView(r service.Report, withRefusals bool) views.ChartsView {
	d := r.Daily
	notifications := []views.ChartSeries{{Label: "charts.received", Class: "s-received",
		Values: sum(d.Values(store.MetricOpened), d.Values(store.MetricClosed))}}
	if withRefusals {
		notifications = append(notifications, views.ChartSeries{Label: "charts.refused", Class: "s-refused", Values: d.Values(store.MetricRefused)})
	}
	v := views.ChartsView{Charts: []views.Chart{
		{ID: "authorizations", Title: "charts.authorizations", Days: d.Days, Stacked: true, Series: []views.ChartSeries{
			{Label: "charts.opened", Class: "s-opened", Values: d.Values(store.MetricOpened)},
			{Label: "charts.closed", Class: "s-closed", Values: d.Values(store.MetricClosed)}}},
		{ID: "terminations", Title: "charts.terminations", Days: d.Days, Stacked: true, Series: []views.ChartSeries{
			{Label: "charts.terminated", Class: "s-terminated", Values: d.Values(store.MetricTerminated)},
			{Label: "charts.termfailed", Class: "s-failed", Values: d.Values(store.MetricTermFailed)}}},
		{ID: "notifications", Title: "charts.notifications", Days: d.Days, Series: notifications},
		{ID: "funnel", Title: "charts.funnel", Days: d.Days, Series: []views.ChartSeries{
			{Label: "funnel.created", Class: "s-created", Values: d.Values(store.MetricLinksCreated)},
			{Label: "funnel.opened", Class: "s-fopened", Values: d.Values(store.FunnelMetric(store.FunnelOpened))},
			{Label: "funnel.invoked", Class: "s-invoked", Values: d.Values(store.FunnelMetric(store.FunnelInvoked))},
			{Label: "funnel.agreed", Class: "s-agreed", Values: d.Values(store.MetricOpened)}}},
	}}
	v.Total = views.FunnelRow{Created: d.Total(store.MetricLinksCreated), Opened: d.Total(store.FunnelMetric(store.FunnelOpened)),
		Invoked: d.Total(store.FunnelMetric(store.FunnelInvoked)), Agreed: d.Total(store.MetricOpened)}
	created, opened, invoked, agreed := v.Charts[3].Series[0].Values, v.Charts[3].Series[1].Values, v.Charts[3].Series[2].Values, v.Charts[3].Series[3].Values
	for i := len(d.Days) - 1; i >= 0; i-- {
		v.ByDay = append(v.ByDay, views.FunnelRow{Label: d.Days[i], Created: created[i], Opened: opened[i], Invoked: invoked[i], Agreed: agreed[i]})
	}
	for _, m := range r.BySubMerchant {
		v.BySubMerchant = append(v.BySubMerchant, views.FunnelRow{Label: m.Name, Href: "/sub-merchants/" + strconv.FormatInt(m.ID, 10),
			Created: m.Counts[store.MetricLinksCreated], Opened: m.Counts[store.FunnelMetric(store.FunnelOpened)],
			Invoked: m.Counts[store.FunnelMetric(store.FunnelInvoked)], Agreed: m.Counts[store.MetricOpened]})
	}
	return v
}

func sum(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// subMerchantPage is one sub-merchant's last 30 days: its charts and funnel.
func (h *Handler) subMerchantPage(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	m, err := h.Services.Stats.SubMerchant(c.Request().Context(), id)
	if err != nil {
		return err
	}
	r, err := h.Services.Stats.Report(c.Request().Context(), m.SubMchID)
	if err != nil {
		return errInternal(err)
	}
	v := views.SubMerchantPageView{ID: m.ID, SubMchID: m.SubMchID, Name: m.Name, Disabled: m.Disabled, Charts: chartsView(r, false)}
	return h.render(c, http.StatusOK, views.SubMerchantPage(h.page(c, views.Tf(ctx, "submerchant.title", m.Name)), v))
}

// statsCSV is the charts' numbers as CSV: one row per day of the last 30,
// one column per count; ?sub_mchid= for one sub-merchant.
func (h *Handler) statsCSV(c echo.Context) error {
	sub := c.QueryParam("sub_mchid")
	if sub != "" {
		if _, err := h.Services.Stats.SubMerchantByMchID(c.Request().Context(), sub); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNotFound()
			}
			return errInternal(err)
		}
	}
	r, err := h.Services.Stats.Report(c.Request().Context(), sub)
	if err != nil {
		return errInternal(err)
	}
	s, err := h.startCSV(c, "stats", append([]string{"day"}, chartMetrics...))
	if err != nil {
		return s.end(err)
	}
	cols := make([][]int, len(chartMetrics))
	for i, m := range chartMetrics {
		cols[i] = r.Daily.Values(m)
	}
	for i, day := range r.Daily.Days {
		row := []string{day}
		for _, col := range cols {
			row = append(row, strconv.Itoa(col[i]))
		}
		if err := s.write(row...); err != nil {
			return s.end(err)
		}
	}
	return s.end(nil)
}
