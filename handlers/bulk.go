package handlers

import (
	"cmp"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// Route paths of the bulk screens, as the route table names them.
const (
	offboardRoute = "/sub-merchants/:id/offboard"
	bulkLookupMax = 4 << 20 // a pasted or uploaded list of 10,000 codes is well under this
	// jobPageItems bounds the items a job's page lists (the CSV has all).
	jobPageItems = 200
	// jobListLimit bounds the jobs the bulk page lists.
	jobListLimit = 20
)

// bulkPage is GET /bulk: the bulk look-up form, the sub-merchants support
// may offboard, and the latest jobs the person may open.
func (h *Handler) bulkPage(c echo.Context) error {
	v, err := h.bulkView(c)
	if err != nil {
		return err
	}
	return h.renderBulk(c, http.StatusOK, v)
}

func (h *Handler) renderBulk(c echo.Context, status int, v views.BulkView) error {
	ctx := h.langContext(c)
	return h.render(c, status, views.BulkPage(h.page(c, views.T(ctx, "bulk.title")), v))
}

func (h *Handler) bulkView(c echo.Context) (views.BulkView, error) {
	rctx := c.Request().Context()
	role := currentIdentity(c).User.Role
	v := views.BulkView{Lookup: views.BulkLookupForm{Max: service.MaxBulkCodes}}
	v.CanOffboard = h.routeAllows(role, http.MethodPost, offboardRoute)
	if v.CanOffboard {
		subs, err := h.Services.SubMerchants.List(rctx)
		if err != nil {
			return v, errInternal(err)
		}
		for _, m := range subs {
			v.SubMerchants = append(v.SubMerchants, views.OffboardSubMerchant{ID: m.ID, SubMchID: m.SubMchID, Name: m.Name, Disabled: m.Disabled})
		}
	}
	jobs, err := h.Services.Bulk.Jobs(rctx, "", jobListLimit)
	if err != nil {
		return v, errInternal(err)
	}
	for i := range jobs {
		if h.mayOpenJob(role, &jobs[i]) {
			v.Jobs = append(v.Jobs, jobRow(&jobs[i]))
		}
	}
	return v, nil
}

// bulkLookup is POST /bulk/lookup: codes pasted (field codes) and/or
// uploaded (file), live=1 for live queries. A list that is too long, holds
// an invalid code or a code twice is refused (422) with the reason and the
// codes; otherwise the job starts and the browser goes to its page.
func (h *Handler) bulkLookup(c echo.Context) error {
	ctx := h.langContext(c)
	text := c.FormValue("codes")
	if fh, err := c.FormFile("file"); err == nil {
		f, err := fh.Open()
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Message: "bulk.err.file", Err: err}
		}
		b, err := io.ReadAll(io.LimitReader(f, bulkLookupMax))
		f.Close()
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Message: "bulk.err.file", Err: err}
		}
		text += "\n" + string(b)
	} else if !errors.Is(err, http.ErrMissingFile) && !strings.Contains(err.Error(), "multipart") {
		return &Error{Status: http.StatusBadRequest, Message: "bulk.err.file", Err: err}
	}
	live := c.FormValue("live") == "1"
	codes, err := service.ParseCodes(text)
	if err != nil {
		v, verr := h.bulkView(c)
		if verr != nil {
			return verr
		}
		v.Lookup.Codes, v.Lookup.Live = c.FormValue("codes"), live
		key := service.KeyOf(err)
		v.Lookup.Error = views.T(ctx, key)
		var cl *service.CodeListError
		if errors.As(err, &cl) {
			if cl.TooMany {
				v.Lookup.Error = views.Tn(ctx, "bulk.err.too_many", cl.Count, service.MaxBulkCodes)
				v.Lookup.Codes = "" // not echoed back: it is the problem
			}
			for _, b := range cl.Invalid {
				v.Lookup.Invalid = append(v.Lookup.Invalid, views.BadCodeView{Line: b.Line, Code: b.Code})
			}
			for _, b := range cl.Duplicates {
				v.Lookup.Duplicates = append(v.Lookup.Duplicates, views.BadCodeView{Line: b.Line, Code: b.Code})
			}
		}
		return h.renderBulk(c, http.StatusUnprocessableEntity, v)
	}
	id, err := h.Services.Bulk.StartLookup(c.Request().Context(), actor(c), codes, live)
	if err != nil {
		return err
	}
	h.addFlash(c, "success", views.T(ctx, "bulk.started"))
	return c.Redirect(http.StatusSeeOther, "/jobs/"+strconv.FormatInt(id, 10))
}

// offboardPage is GET /sub-merchants/:id/offboard: the preview.
func (h *Handler) offboardPage(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	v, err := h.offboardView(c, id)
	if err != nil {
		return err
	}
	return h.renderOffboard(c, http.StatusOK, v)
}

func (h *Handler) renderOffboard(c echo.Context, status int, v views.OffboardView) error {
	ctx := h.langContext(c)
	return h.render(c, status, views.OffboardPage(h.page(c, views.T(ctx, "bulk.offboard.title")), v))
}

func (h *Handler) offboardView(c echo.Context, id int64) (views.OffboardView, error) {
	rctx := c.Request().Context()
	p, err := h.Services.Bulk.PreviewOffboard(rctx, id)
	if err != nil {
		if service.KindOf(err) == service.NotFound {
			return views.OffboardView{}, errNotFound()
		}
		return views.OffboardView{}, errInternal(err)
	}
	m := p.SubMerchant
	v := views.OffboardView{
		SubMerchant: views.OffboardSubMerchant{ID: m.ID, SubMchID: m.SubMchID, Name: m.Name, Disabled: m.Disabled},
		Count:       p.Count, More: p.Count - len(p.Codes), Reasons: commonReasons,
		Form: views.OffboardForm{Errors: map[string]string{}},
	}
	for _, a := range p.Codes {
		v.Codes = append(v.Codes, views.OffboardCode{AuthorizationCode: a.AuthorizationCode, CheckedAt: a.CheckedAt})
	}
	if p.Running != nil {
		r := jobRow(p.Running)
		v.Running = &r
	}
	if pause, err := h.Services.Emergency.State(rctx); err == nil {
		v.Paused = pause.Paused
	}
	return v, nil
}

// startOffboard is POST /sub-merchants/:id/offboard: fields reason and
// confirm_sub_mchid (the sub_mchid typed out); the route's step-up asks
// first for a fresh TOTP code (or the password) when the last
// authentication is older than service.ReauthAfter. Anything wrong is 422
// with the preview again and nothing started; otherwise the job starts
// (audited bulk.terminate.start) and the browser goes to its page.
func (h *Handler) startOffboard(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound()
	}
	v, err := h.offboardView(c, id)
	if err != nil {
		return err
	}
	v.Form.Reason, v.Form.Confirm = trimReason(c.FormValue("reason")), strings.TrimSpace(c.FormValue("confirm_sub_mchid"))
	if key := service.ReasonKey(v.Form.Reason); key != "" {
		v.Form.Errors["reason"] = views.T(ctx, key)
	}
	if v.Form.Confirm != v.SubMerchant.SubMchID {
		v.Form.Errors["confirm_sub_mchid"] = views.T(ctx, "bulk.err.confirm")
	}
	if len(v.Form.Errors) > 0 {
		return h.renderOffboard(c, http.StatusUnprocessableEntity, v)
	}
	jobID, err := h.Services.Bulk.StartOffboard(c.Request().Context(), actor(c), id, v.Form.Reason, v.Form.Confirm)
	if err != nil {
		if k := service.KindOf(err); k == service.Invalid || k == service.Conflict {
			h.addFlash(c, "error", views.T(ctx, service.KeyOf(err)))
			return h.renderOffboard(c, kindStatus[k], v)
		}
		return err
	}
	h.addFlash(c, "success", views.T(ctx, "bulk.started"))
	return c.Redirect(http.StatusSeeOther, "/jobs/"+strconv.FormatInt(jobID, 10))
}

// jobParam reads /jobs/:id (or /jobs/:id.csv) and checks the person may
// open the job: an offboarding is for those the route table lets offboard.
func (h *Handler) jobParam(c echo.Context) (*store.BulkJob, bool, error) {
	raw := c.Param("id")
	csv := strings.HasSuffix(raw, ".csv")
	id, err := strconv.ParseInt(strings.TrimSuffix(raw, ".csv"), 10, 64)
	if err != nil || id <= 0 {
		return nil, false, errNotFound()
	}
	j, err := h.Services.Bulk.Job(c.Request().Context(), id)
	if err != nil {
		if service.KindOf(err) == service.NotFound {
			return nil, false, errNotFound()
		}
		return nil, false, errInternal(err)
	}
	if !h.mayOpenJob(currentIdentity(c).User.Role, j) {
		return nil, false, errForbidden()
	}
	return j, csv, nil
}

// mayOpenJob: offboardings are for the roles that may offboard; bulk
// look-ups for every role (each may look codes up).
func (h *Handler) mayOpenJob(role string, j *store.BulkJob) bool {
	if j.Kind == store.BulkTerminate {
		return h.routeAllows(role, http.MethodPost, offboardRoute)
	}
	return h.routeAllows(role, http.MethodPost, "/bulk/lookup")
}

// mayCancelJob: an offboarding, whoever may offboard; a look-up, who
// started it, or an admin.
func (h *Handler) mayCancelJob(u *store.User, j *store.BulkJob) bool {
	if j.Kind == store.BulkTerminate {
		return h.routeAllows(u.Role, http.MethodPost, offboardRoute)
	}
	return u.ID == j.UserID || u.Role == store.RoleAdmin
}

// job is GET /jobs/:id: the job's page, or its progress fragment for
// htmx's polling; GET /jobs/:id.csv is its results as CSV.
func (h *Handler) job(c echo.Context) error {
	j, csv, err := h.jobParam(c)
	if err != nil {
		return err
	}
	if csv {
		return h.jobCSV(c, j)
	}
	ctx := h.langContext(c)
	v := views.JobView{Job: jobRow(j), CanCancel: j.Status == store.JobRunning && h.mayCancelJob(currentIdentity(c).User, j)}
	v.Counts = jobCounts(j)
	if !isFragment(c) {
		items, err := h.Services.Bulk.Items(c.Request().Context(), j.ID, 0, jobPageItems)
		if err != nil {
			return errInternal(err)
		}
		for _, it := range items {
			v.Items = append(v.Items, views.JobItemRow{Seq: it.Seq, AuthorizationCode: it.AuthorizationCode, Status: it.Status,
				Outcome: it.Outcome, LocalState: it.LocalState, State: it.State, ErrorCode: it.ErrorCode, RequestID: it.RequestID,
				TerminatedBySupport: it.TerminatedBySupport})
		}
		v.More = j.Total - len(v.Items)
	}
	title := views.T(ctx, "bulk.kind."+j.Kind) + " #" + strconv.FormatInt(j.ID, 10)
	return h.renderPage(c, http.StatusOK, views.JobPage(h.page(c, title), v), views.JobProgressFragment)
}

// jobCounts are a job's figures: outcomes of done items, then the items
// not done, in a fixed order.
func jobCounts(j *store.BulkJob) []views.JobCount {
	var out []views.JobCount
	for _, o := range []string{store.TerminationSucceeded, service.OutcomeSkipped, store.TerminationFailed, store.TerminationPending,
		service.OutcomeOK, service.OutcomeLocal, service.OutcomeError, service.OutcomeUnknown} {
		if n := j.Outcomes[o]; n > 0 {
			out = append(out, views.JobCount{Key: "bulk.outcome." + o, N: n})
		}
	}
	for _, s := range []string{store.ItemQueued, store.ItemCalling, store.ItemCanceled} {
		if n := j.Counts[s]; n > 0 {
			out = append(out, views.JobCount{Key: "bulk.item." + s, N: n})
		}
	}
	return out
}

// jobCSV streams a job's items as CSV (UTF-8 with BOM, formula-safe), in
// order, one row per code.
func (h *Handler) jobCSV(c echo.Context, j *store.BulkJob) error {
	var header []string
	if j.Kind == store.BulkTerminate {
		header = []string{"seq", "authorization_code", "sub_mchid", "status", "outcome", "state", "request_id", "error_code", "error_message", "started_at", "finished_at", "ended_by"}
	} else {
		header = []string{"seq", "authorization_code", "sub_mchid", "local_state", "local_checked_at", "live_state", "outcome", "request_id", "error_code", "error_message", "finished_at", "ended_by"}
	}
	s, err := h.startCSV(c, "job-"+strconv.FormatInt(j.ID, 10), header)
	if err != nil {
		return err
	}
	after := 0
	for {
		items, err := h.Services.Bulk.Items(c.Request().Context(), j.ID, after, csvPageSize)
		if err != nil {
			h.Logger.Error("job CSV", "job", j.ID, "err", err)
			return nil // headers are out: the download ends short
		}
		for _, it := range items {
			var row []string
			if j.Kind == store.BulkTerminate {
				row = []string{strconv.Itoa(it.Seq), it.AuthorizationCode, it.SubMchID, it.Status, it.Outcome, it.State, it.RequestID,
					it.ErrorCode, it.ErrorMessage, csvTimePtr(it.StartedAt), csvTimePtr(it.FinishedAt), endedBy(it.State, it.TerminatedBySupport)}
			} else {
				row = []string{strconv.Itoa(it.Seq), it.AuthorizationCode, it.SubMchID, it.LocalState, csvTimePtr(it.LocalCheckedAt), it.State,
					it.Outcome, it.RequestID, it.ErrorCode, it.ErrorMessage, csvTimePtr(it.FinishedAt), endedBy(cmp.Or(it.State, it.LocalState), it.TerminatedBySupport)}
			}
			if err := s.write(row...); err != nil {
				return nil
			}
			after = it.Seq
		}
		if err := s.flush(); err != nil || len(items) < csvPageSize {
			return nil
		}
	}
}

// cancelJob is POST /jobs/:id/cancel: queued codes are dropped, the one
// being called finishes (audited bulk.terminate.cancel / bulk.lookup.cancel).
func (h *Handler) cancelJob(c echo.Context) error {
	ctx := h.langContext(c)
	j, csv, err := h.jobParam(c)
	if err != nil {
		return err
	}
	if csv || !h.mayCancelJob(currentIdentity(c).User, j) {
		return errForbidden()
	}
	if err := h.Services.Bulk.Cancel(c.Request().Context(), actor(c), j.ID); err != nil {
		return err
	}
	h.addFlash(c, "success", views.T(ctx, "bulk.canceled"))
	return c.Redirect(http.StatusSeeOther, "/jobs/"+strconv.FormatInt(j.ID, 10))
}

// jobRow is the view of a job.
func jobRow(j *store.BulkJob) views.JobRow {
	return views.JobRow{ID: j.ID, Kind: j.Kind, Status: j.Status, SubMchID: j.SubMchID, Reason: j.Reason, Live: j.Live,
		Username: j.Username, CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt, CanceledBy: j.CanceledBy,
		Total: j.Total, Finished: j.Finished()}
}

// endedBy is the CSV's ended_by of an authorization in a state: "support"
// when a termination from this console ended it, "user" when it is
// UNAVAILABLE otherwise (closed in WeChat), "" while it is not over.
func endedBy(state string, terminatedBySupport bool) string {
	if state != store.StateUnavailable {
		return ""
	}
	if terminatedBySupport {
		return "support"
	}
	return "user"
}
