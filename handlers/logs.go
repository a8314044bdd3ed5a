package handlers

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// LogStore is what the callback log, audit log and overview need from the
// database.
type LogStore interface {
	Callbacks(ctx context.Context, f store.CallbackFilter) ([]store.Callback, error)
	CallbackByID(ctx context.Context, id int64) (*store.Callback, []store.Delivery, error)
	RefusalLog(ctx context.Context, f store.RefusalFilter) ([]store.Refusal, error)
	RefusalByID(ctx context.Context, id int64) (*store.Refusal, error)
	RefusalKinds(ctx context.Context, since time.Time) ([]store.RefusalKindCount, int, error)
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	OverviewFigures(ctx context.Context, now, dayStart time.Time) (store.Overview, error)
	RecentTerminations(ctx context.Context, since time.Time, limit int) ([]store.Termination, error)
	// The live poll's gaps (handlers/callbacks_poll.go).
	CallbackIDsIn(ctx context.Context, ids []int64) (map[int64]bool, error)
	CallbacksWithGaps(ctx context.Context, f store.CallbackFilter) ([]store.Callback, []int64, error)
	SettledCallbackID(ctx context.Context, t time.Time) (int64, error)
	CallbacksByIDs(ctx context.Context, f store.CallbackFilter, ids []int64) ([]store.Callback, error)
}

// Page sizes of the logs. The CSV export reads in larger keyset pages and
// writes each before reading the next: memory stays flat however many rows.
const (
	logPageSize = 50
	csvPageSize = 1000
	// csvWriteWindow is how long the client has to take each CSV page: the
	// server's WriteTimeout would otherwise cut a long export off, while a
	// stalled client still times out.
	csvWriteWindow = 30 * time.Second
)

// dateLayout is how filter dates are typed (input type=date).
const dateLayout = "2006-01-02"

// parseDay reads a yyyy-mm-dd filter date as the start of that day in
// Asia/Shanghai; "" is the zero time (no bound).
func parseDay(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation(dateLayout, s, views.Shanghai)
	return t, err == nil
}

// dayRange validates a from / to pair (both days included) and returns the
// half-open interval [from, to+1 day) it covers. Errors go into errs by
// field name.
func dayRange(ctx context.Context, fromS, toS string, errs map[string]string) (from, to time.Time) {
	from, ok := parseDay(fromS)
	if !ok {
		errs["from"] = views.T(ctx, "logs.err.date")
	}
	toDay, ok2 := parseDay(toS)
	if !ok2 {
		errs["to"] = views.T(ctx, "logs.err.date")
	}
	if !toDay.IsZero() {
		to = toDay.AddDate(0, 0, 1)
	}
	if ok && ok2 && !from.IsZero() && !toDay.IsZero() && toDay.Before(from) {
		errs["to"] = views.T(ctx, "logs.err.range")
	}
	return from, to
}

// startOfDay is the start of t's day in Asia/Shanghai.
func startOfDay(t time.Time) time.Time {
	t = t.In(views.Shanghai)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, views.Shanghai)
}

// keysetCursor reads a keyset cursor (a row id) from the query; absent is 0.
func keysetCursor(c echo.Context, name string) (int64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest()
	}
	return n, nil
}

// trimmedQuery trims a query parameter.
func trimmedQuery(c echo.Context, name string) string { return strings.TrimSpace(c.QueryParam(name)) }

// encodeQuery builds a query string from name, value pairs, leaving out
// empty values, in the given order (stable URLs for the same filter).
func encodeQuery(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(pairs[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}

// withQuery joins a path and a query string.
func withQuery(path, q string, more ...string) string {
	extra := encodeQuery(more...)
	switch {
	case q != "" && extra != "":
		return path + "?" + q + "&" + extra
	case q != "":
		return path + "?" + q
	case extra != "":
		return path + "?" + extra
	}
	return path
}

// csvSafe guards a cell against formula injection: a spreadsheet runs a
// cell that starts with = + - @ (or a tab or carriage return, which some
// strip before looking) as a formula, so such a cell gets a leading '.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvStream writes a CSV download as it is read: the header row first, then
// each keyset page of rows, flushed to the client before the next page is
// read. A failure after the first byte cannot change the status any more:
// it is logged and the download ends short.
type csvStream struct {
	h    *Handler
	c    echo.Context
	w    *csv.Writer
	rc   *http.ResponseController
	rows int
}

// startCSV sends the headers of a CSV download named name-<time>.csv, the
// UTF-8 byte order mark (without it Excel reads UTF-8 as the local code
// page and garbles Chinese) and the header row. The stream comes back even
// with an error, for end to log it.
func (h *Handler) startCSV(c echo.Context, name string, header []string) (*csvStream, error) {
	res := c.Response()
	stamp := h.Now().In(views.Shanghai).Format("20060102-150405")
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+"-"+stamp+`.csv"`)
	res.Header().Set("Cache-Control", "no-store")
	res.Header().Set("X-Accel-Buffering", "no") // a proxy in front must not hold the stream back
	s := &csvStream{h: h, c: c, rc: http.NewResponseController(res)}
	_ = s.rc.SetWriteDeadline(time.Now().Add(csvWriteWindow))
	res.WriteHeader(http.StatusOK)
	s.w = csv.NewWriter(res)
	if _, err := res.Write([]byte("\uFEFF")); err != nil {
		return s, err
	}
	return s, s.w.Write(header)
}

// write writes one row, each cell guarded against formula injection.
func (s *csvStream) write(cells ...string) error {
	for i, v := range cells {
		cells[i] = csvSafe(v)
	}
	s.rows++
	return s.w.Write(cells)
}

// flush sends what is buffered to the client and gives it another window.
func (s *csvStream) flush() error {
	s.w.Flush()
	if err := s.w.Error(); err != nil {
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(csvWriteWindow))
	return s.rc.Flush()
}

// end finishes the stream; err is what stopped it, if anything.
func (s *csvStream) end(err error) error {
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		// The status went out with the first byte: all that is left is to
		// say so in the log. The client sees a truncated file.
		s.h.Logger.Error("csv export cut short", "path", s.c.Request().URL.Path, "rows", s.rows, "err", err)
	}
	return nil
}

// csvTime formats a time for a CSV cell in Beijing time with its offset,
// "2026-12-02T00:27:38+08:00", so a spreadsheet or script reading the file
// elsewhere knows the zone; "" for the zero time.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(views.Shanghai).Format(time.RFC3339)
}

// csvTimeText reformats a time WeChat Pay sent as text (RFC 3339) the same
// way; text that is not a time is kept as it came.
func csvTimeText(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return csvTime(t)
}

func csvTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return csvTime(*t)
}
