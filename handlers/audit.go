package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// Bounds of the audit log's text filters (the columns they match hold
// short identifiers).
const (
	maxAuditFilterLen = 64
	maxAuditTargetLen = 128
)

// auditQuery is an audit-log request: the filter as typed, what the store
// is asked, and the query string that reproduces the filter.
type auditQuery struct {
	form   views.AuditFilterForm
	filter store.AuditFilter
	qs     string
}

func parseAuditQuery(ctx context.Context, c echo.Context) auditQuery {
	f := views.AuditFilterForm{
		Username: trimmedQuery(c, "username"),
		Action:   trimmedQuery(c, "action"),
		Target:   trimmedQuery(c, "target"),
		From:     trimmedQuery(c, "from"),
		To:       trimmedQuery(c, "to"),
		Errors:   map[string]string{},
	}
	for _, field := range []struct {
		name, v string
		max     int
	}{{"username", f.Username, maxAuditFilterLen}, {"action", f.Action, maxAuditFilterLen}, {"target", f.Target, maxAuditTargetLen}} {
		if len(field.v) > field.max {
			f.Errors[field.name] = views.T(ctx, "logs.err.long")
		}
	}
	from, to := dayRange(ctx, f.From, f.To, f.Errors)
	return auditQuery{
		form:   f,
		filter: store.AuditFilter{Username: f.Username, Action: f.Action, Target: f.Target, From: from, To: to},
		qs:     encodeQuery("username", f.Username, "action", f.Action, "target", f.Target, "from", f.From, "to", f.To),
	}
}

// auditLog is the audit log, newest first, one keyset page at a time.
func (h *Handler) auditLog(c echo.Context) error {
	ctx := h.langContext(c)
	q := parseAuditQuery(ctx, c)
	before, err := keysetCursor(c, "before")
	if err != nil {
		return err
	}
	v := views.AuditView{Filter: q.form}
	p := h.page(c, views.T(ctx, "audit.title"))
	if len(q.form.Errors) > 0 {
		return h.render(c, http.StatusUnprocessableEntity, views.AuditPage(p, v))
	}
	f := q.filter
	f.Before, f.Limit = before, logPageSize+1
	entries, err := h.Logs.AuditLog(c.Request().Context(), f)
	if err != nil {
		return errInternal(err)
	}
	if len(entries) > logPageSize {
		entries = entries[:logPageSize]
		v.NextURL = withQuery("/audit", q.qs, "before", strconv.FormatInt(entries[logPageSize-1].ID, 10))
	}
	if before > 0 {
		v.FirstURL = withQuery("/audit", q.qs)
	}
	for _, e := range entries {
		v.Rows = append(v.Rows, views.AuditRow{ID: e.ID, At: e.At, Username: e.Username, IP: e.IP, Action: e.Action, Target: e.Target,
			Reason: e.Reason, Result: e.Result, RequestID: e.RequestID, Detail: e.Detail})
	}
	v.CSVURL = withQuery("/audit.csv", q.qs)
	return h.render(c, http.StatusOK, views.AuditPage(p, v))
}

// auditCSV streams the audit log of the current filter as CSV.
func (h *Handler) auditCSV(c echo.Context) error {
	ctx := h.langContext(c)
	q := parseAuditQuery(ctx, c)
	if len(q.form.Errors) > 0 {
		return h.render(c, http.StatusUnprocessableEntity, views.AuditPage(h.page(c, views.T(ctx, "audit.title")), views.AuditView{Filter: q.form}))
	}
	if err := h.Services.Audit.Record(c.Request().Context(), actor(c), store.AuditEntry{Action: service.AuditExportAudit,
		Target: "audit", Result: "ok", Detail: exportDetail(q.qs)}); err != nil {
		return errInternal(err)
	}
	s, err := h.startCSV(c, "audit", []string{"id", "at", "username", "ip", "action", "target", "reason", "result", "request_id", "detail", "user_id"})
	if err != nil {
		return s.end(err)
	}
	f := q.filter
	f.Limit = csvPageSize
	for {
		entries, err := h.Logs.AuditLog(c.Request().Context(), f)
		if err != nil || len(entries) == 0 {
			return s.end(err)
		}
		for _, e := range entries {
			if err := s.write(strconv.FormatInt(e.ID, 10), csvTime(e.At), e.Username, e.IP, e.Action, e.Target, e.Reason, e.Result,
				e.RequestID, e.Detail, strconv.FormatInt(e.UserID, 10)); err != nil {
				return s.end(err)
			}
		}
		if err := s.flush(); err != nil {
			return s.end(err)
		}
		f.Before = entries[len(entries)-1].ID
	}
}
