package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// outcomeRefused is the callback log's outcome filter for refused attempts,
// which live beside the notifications rather than among them.
const outcomeRefused = "refused"

var (
	callbackEventTypes = []string{store.EventOpen, store.EventClose}
	callbackOutcomes   = []string{store.OutcomeAccepted, store.OutcomeDuplicate, store.OutcomeStale, outcomeRefused}
	logSubMchIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)
)

// maxOpenIDLen bounds the openid filter; WeChat's openids are 28 characters.
const maxOpenIDLen = 128

// callbackQuery is a callback-log request: the filter as typed, what the
// store is asked, and the query string that reproduces the filter.
type callbackQuery struct {
	form    views.CallbackFilterForm
	filter  store.CallbackFilter
	refusal store.RefusalFilter
	refused bool
	// qs is the filter as a query string, without cursors.
	qs string
}

// parseCallbackQuery reads and validates the callback log's filters.
func parseCallbackQuery(ctx context.Context, c echo.Context) callbackQuery {
	f := views.CallbackFilterForm{
		EventType:         trimmedQuery(c, "event_type"),
		Outcome:           trimmedQuery(c, "outcome"),
		AuthorizationCode: trimmedQuery(c, "authorization_code"),
		SubMchID:          trimmedQuery(c, "sub_mchid"),
		OpenID:            trimmedQuery(c, "openid"),
		From:              trimmedQuery(c, "from"),
		To:                trimmedQuery(c, "to"),
		Errors:            map[string]string{},
	}
	if f.EventType != "" && !slices.Contains(callbackEventTypes, f.EventType) {
		f.Errors["event_type"] = views.T(ctx, "callbacks.err.event_type")
	}
	if f.Outcome != "" && !slices.Contains(callbackOutcomes, f.Outcome) {
		f.Errors["outcome"] = views.T(ctx, "callbacks.err.outcome")
	}
	if f.AuthorizationCode != "" && payscore.ValidateAuthorizationCode(f.AuthorizationCode) != nil {
		f.Errors["authorization_code"] = views.T(ctx, "callbacks.err.authorization_code")
	}
	if f.SubMchID != "" && !logSubMchIDPattern.MatchString(f.SubMchID) {
		f.Errors["sub_mchid"] = views.T(ctx, "callbacks.err.sub_mchid")
	}
	if len(f.OpenID) > maxOpenIDLen {
		f.Errors["openid"] = views.T(ctx, "logs.err.long")
	}
	from, to := dayRange(ctx, f.From, f.To, f.Errors)
	q := callbackQuery{
		form:    f,
		refused: f.Outcome == outcomeRefused,
		filter: store.CallbackFilter{EventType: f.EventType, Outcome: f.Outcome, AuthorizationCode: f.AuthorizationCode,
			SubMchID: f.SubMchID, OpenID: f.OpenID, From: from, To: to},
		refusal: store.RefusalFilter{From: from, To: to},
		qs: encodeQuery("event_type", f.EventType, "outcome", f.Outcome, "authorization_code", f.AuthorizationCode,
			"sub_mchid", f.SubMchID, "openid", f.OpenID, "from", f.From, "to", f.To),
	}
	return q
}

// callbacks is the callback log. With HX-Request and an after cursor it is
// the poller's answer: only rows newer than after, or 204 when there are
// none (htmx swaps nothing on 204).
func (h *Handler) callbacks(c echo.Context) error {
	ctx := h.langContext(c)
	q := parseCallbackQuery(ctx, c)
	before, err := keysetCursor(c, "before")
	if err != nil {
		return err
	}
	after, err := keysetCursor(c, "after")
	if err != nil {
		return err
	}
	gaps, err := gapsParam(c)
	if err != nil {
		return err
	}
	var newest int64 // the poll cursor: the highest id shown
	v := views.CallbacksView{Filter: q.form, EventTypes: callbackEventTypes, Outcomes: callbackOutcomes, Refused: q.refused}
	page := func(status int) error {
		// A poll renders no layout: it must not take the flash messages
		// queued for the next page (h.page would).
		var p views.Page
		if !v.Polling {
			p = h.page(c, views.T(ctx, "callbacks.title"))
		}
		frag := "callback-rows"
		if q.refused {
			frag = "refusal-rows"
		}
		return h.renderPage(c, status, views.CallbacksPage(p, v), frag)
	}
	if len(q.form.Errors) > 0 {
		return page(http.StatusUnprocessableEntity)
	}
	polling := isFragment(c) && c.QueryParams().Has("after")
	rctx := c.Request().Context()

	limit := logPageSize + 1 // one more than shown: is there a next page?
	var ids []int64
	if q.refused {
		f := q.refusal
		f.Before, f.Limit = before, limit
		if polling {
			f.Before, f.After, f.Limit = 0, after, logPageSize
		}
		rows, err := h.Logs.RefusalLog(rctx, f)
		if err != nil {
			return errInternal(err)
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
			v.Refusals = append(v.Refusals, refusalRow(r))
		}
		if len(v.Refusals) > logPageSize {
			v.Refusals = v.Refusals[:logPageSize]
		}
	} else {
		f := q.filter
		f.Before, f.Limit = before, limit
		if polling {
			f.Before, f.After, f.Limit = 0, after, logPageSize
		}
		var rows []store.Callback
		var fresh []int64
		var err error
		if polling || before == 0 {
			// The rows and the ids missing among them, in one snapshot.
			rows, fresh, err = h.Logs.CallbacksWithGaps(rctx, f)
		} else {
			rows, err = h.Logs.Callbacks(rctx, f)
		}
		if err != nil {
			return errInternal(err)
		}
		if polling || before == 0 {
			// Rows that commit late (a lower id visible after a higher
			// one) are asked for again until they arrive: the gaps.
			if rows, gaps, err = h.pollGaps(rctx, f, rows, fresh, polling, gaps); err != nil {
				return errInternal(err)
			}
			newest = after
			for _, cb := range rows {
				newest = max(newest, cb.ID)
			}
		}
		for _, cb := range rows {
			ids = append(ids, cb.ID)
			v.Rows = append(v.Rows, callbackRow(cb, q.qs, before))
		}
		// A page shows logPageSize rows (it read one more: is there a next
		// page?). A poll shows all it has: its new rows and the late ones
		// the cursor is already past — cut, they would never come again.
		if !polling && len(v.Rows) > logPageSize {
			v.Rows = v.Rows[:logPageSize]
		}
	}

	if polling {
		if len(ids) == 0 {
			varyHTMX(c)
			return c.NoContent(http.StatusNoContent)
		}
		v.Polling = true
		if q.refused {
			newest = ids[0]
		}
		v.PollURL = withQuery("/callbacks", q.qs, "after", strconv.FormatInt(newest, 10), "gaps", formatGaps(gaps), pollParam, "1")
		return page(http.StatusOK)
	}

	if len(ids) > logPageSize {
		v.NextURL = withQuery("/callbacks", q.qs, "before", strconv.FormatInt(ids[logPageSize-1], 10))
	}
	if before > 0 {
		v.FirstURL = withQuery("/callbacks", q.qs)
	} else {
		// Only the newest page polls: new rows belong at its top.
		if q.refused && len(ids) > 0 {
			newest = ids[0]
		}
		v.PollURL = withQuery("/callbacks", q.qs, "after", strconv.FormatInt(newest, 10), "gaps", formatGaps(gaps), pollParam, "1")
	}
	v.CSVURL = withQuery("/callbacks.csv", q.qs)
	return page(http.StatusOK)
}

// callbackRow is the view of one notification; its link to the detail page
// carries the list's filters and page, so "back" returns to the same list.
func callbackRow(cb store.Callback, qs string, before int64) views.CallbackRow {
	r := views.CallbackRow{
		ID: cb.ID, NotificationID: cb.NotificationID, EventType: cb.EventType, AuthorizationCode: cb.AuthorizationCode,
		SubMchID: cb.SubMchID, OpenID: cb.OpenID, SubOpenID: cb.SubOpenID, Deliveries: cb.Deliveries, FirstReceived: cb.FirstReceivedAt,
		Outcome: store.OutcomeStale,
	}
	if cb.Applied {
		r.Outcome = store.OutcomeAccepted
	}
	if cb.OpenOrCloseTime != nil {
		r.OpenOrCloseTime = *cb.OpenOrCloseTime
	}
	var b string
	if before > 0 {
		b = strconv.FormatInt(before, 10)
	}
	r.Href = withQuery("/callbacks/"+strconv.FormatInt(cb.ID, 10), qs, "before", b)
	return r
}

func refusalRow(r store.Refusal) views.RefusalRow {
	return views.RefusalRow{ID: r.ID, ReceivedAt: r.ReceivedAt, LastAt: r.LastAt, Count: r.Count, RemoteAddr: r.RemoteAddr, Reason: r.Reason,
		Serial: r.Serial, NotificationID: r.NotificationID}
}

// callback is one notification: envelope and payload pretty-printed, its
// deliveries, and refused attempts that carried the same id.
func (h *Handler) callback(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	rctx := c.Request().Context()
	cb, deliveries, err := h.Logs.CallbackByID(rctx, id)
	if err != nil {
		return err // store.ErrNotFound answers 404
	}
	refusals, err := h.Logs.RefusalLog(rctx, store.RefusalFilter{NotificationID: cb.NotificationID, Limit: logPageSize})
	if err != nil {
		return errInternal(err)
	}
	// The back link rebuilds the list's query from known parameters only.
	q := parseCallbackQuery(ctx, c)
	before, _ := keysetCursor(c, "before")
	var b string
	if before > 0 {
		b = strconv.FormatInt(before, 10)
	}
	v := views.CallbackDetailView{
		Row:        callbackRow(*cb, "", 0),
		CreateTime: cb.CreateTime,
		Serial:     cb.Serial,
		Envelope:   prettyJSON(cb.Envelope),
		Payload:    prettyJSON(cb.Payload),
		BackURL:    withQuery("/callbacks", q.qs, "before", b),
	}
	for _, d := range deliveries {
		v.Deliveries = append(v.Deliveries, views.DeliveryRow{ReceivedAt: d.ReceivedAt, RemoteAddr: d.RemoteAddr, Serial: d.Serial, Outcome: d.Outcome})
	}
	for _, r := range refusals {
		v.Refusals = append(v.Refusals, refusalRow(r))
	}
	return h.render(c, http.StatusOK, views.CallbackDetailPage(h.page(c, views.T(ctx, "callbacks.detail.title")+" "+cb.NotificationID), v))
}

// prettyJSON indents JSON for reading; text that is not JSON is shown as
// it was stored. The page escapes it either way.
func prettyJSON(s string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		return s
	}
	return buf.String()
}

// callbacksCSV streams the callback log of the current filter (every page,
// not only the one on screen) as CSV.
func (h *Handler) callbacksCSV(c echo.Context) error {
	ctx := h.langContext(c)
	q := parseCallbackQuery(ctx, c)
	if len(q.form.Errors) > 0 {
		v := views.CallbacksView{Filter: q.form, EventTypes: callbackEventTypes, Outcomes: callbackOutcomes, Refused: q.refused}
		return h.render(c, http.StatusUnprocessableEntity, views.CallbacksPage(h.page(c, views.T(ctx, "callbacks.title")), v))
	}
	rctx := c.Request().Context()
	// Who took which openids home: audited before the first byte, and no
	// download without its entry.
	if err := h.Services.Audit.Record(rctx, actor(c), store.AuditEntry{Action: service.AuditExportCallbacks,
		Target: "callbacks", Result: "ok", Detail: exportDetail(q.qs)}); err != nil {
		return errInternal(err)
	}
	if q.refused {
		s, err := h.startCSV(c, "refusals", []string{"id", "received_at", "remote_addr", "reason", "serial", "notification_id", "count", "last_received_at"})
		if err != nil {
			return s.end(err)
		}
		f := q.refusal
		f.Limit = csvPageSize
		for {
			rows, err := h.Logs.RefusalLog(rctx, f)
			if err != nil || len(rows) == 0 {
				return s.end(err)
			}
			for _, r := range rows {
				if err := s.write(strconv.FormatInt(r.ID, 10), csvTime(r.ReceivedAt), r.RemoteAddr, r.Reason, r.Serial, r.NotificationID,
					strconv.Itoa(r.Count), csvTime(r.LastAt)); err != nil {
					return s.end(err)
				}
			}
			if err := s.flush(); err != nil {
				return s.end(err)
			}
			f.Before = rows[len(rows)-1].ID
		}
	}
	s, err := h.startCSV(c, "callbacks", []string{"id", "notification_id", "event_type", "outcome", "authorization_code", "sub_mchid",
		"openid", "sub_openid", "openorclose_time", "create_time", "deliveries", "first_received_at", "last_received_at", "serial"})
	if err != nil {
		return s.end(err)
	}
	f := q.filter
	f.Limit = csvPageSize
	for {
		rows, err := h.Logs.Callbacks(rctx, f)
		if err != nil || len(rows) == 0 {
			return s.end(err)
		}
		for _, cb := range rows {
			outcome := store.OutcomeStale
			if cb.Applied {
				outcome = store.OutcomeAccepted
			}
			if err := s.write(strconv.FormatInt(cb.ID, 10), cb.NotificationID, cb.EventType, outcome, cb.AuthorizationCode, cb.SubMchID,
				cb.OpenID, cb.SubOpenID, csvTimePtr(cb.OpenOrCloseTime), csvTimeText(cb.CreateTime), strconv.Itoa(cb.Deliveries),
				csvTime(cb.FirstReceivedAt), csvTime(cb.LastReceivedAt), cb.Serial); err != nil {
				return s.end(err)
			}
		}
		if err := s.flush(); err != nil {
			return s.end(err)
		}
		f.Before = rows[len(rows)-1].ID
	}
}

// exportDetail is a download's filter for its audit entry ("all" when
// none), bounded like any detail.
func exportDetail(qs string) string {
	if qs == "" {
		return "filter=all"
	}
	if len(qs) > 500 {
		qs = qs[:500]
	}
	return "filter=" + qs
}
