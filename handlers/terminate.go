package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// ReauthAfter is how long after giving their password a person may
// terminate an authorization without giving it again (ASVS re-authentication
// for sensitive actions).
const ReauthAfter = 15 * time.Minute

// Wrong passwords at the re-authentication step: this many within
// ReauthAfter end the session, so a stolen session cannot guess the password
// through the terminate form.
const maxReauthFailures = 5

// commonReasons are offered beside free text. They are sent to WeChat Pay as
// they are, so they stay in Chinese whatever the interface language.
var commonReasons = []string{"用户申请解除", "商户停止服务", "重复授权", "风险控制"}

// Audit actions of a termination.
const (
	auditTerminateRequest = "terminate.request"
	auditTerminateResult  = "terminate.result"
	auditTerminateReauth  = "terminate.reauth"
)

// terminateAuthorization is POST /authorizations/:code/terminate. Without
// confirm=1 it checks the reason and shows the confirm step (asking for the
// password when the sign-in is older than ReauthAfter); with it, it records
// the request as pending, calls WeChat Pay once, records the outcome, queries
// the new state and goes back to the look-up.
func (h *Handler) terminateAuthorization(c echo.Context) error {
	// A termination may spend the client's whole 15 s deadline on the call
	// and as much again on the query that settles an unknown outcome: give
	// this answer more than the server's 30 s write time-out, so that the
	// person sees the result instead of a cut connection.
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(time.Minute))
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	code, ok := codeParam(c)
	if !ok {
		return errNotFound()
	}
	subMchID, err := h.knownSubMchID(rctx, code)
	if err != nil {
		return errInternal(err)
	}
	if subMchID == "" {
		// Only what the console knows is terminated: the sub-merchant comes
		// from its records, never from the form.
		return &Error{Status: http.StatusNotFound, Message: "support.terminate.unknown"}
	}
	v := views.TerminateView{
		Step:     views.TerminateStepForm,
		BackHref: views.LookupURL(code),
		Form: views.TerminateForm{AuthorizationCode: code, SubMchID: subMchID, Reasons: commonReasons,
			Reason: trimReason(c.FormValue("reason")), Errors: map[string]string{}},
	}
	render := func(status int) error {
		return h.render(c, status, views.TerminatePage(h.page(c, views.T(ctx, "support.terminate.title")), v))
	}
	if key := reasonError(v.Form.Reason); key != "" {
		v.Form.Errors["reason"] = views.T(ctx, key)
		return render(http.StatusUnprocessableEntity)
	}
	v.Step = views.TerminateStepConfirm
	v.NeedPassword = h.needsReauth(c)
	if c.FormValue("confirm") != "1" {
		return render(http.StatusOK)
	}
	if v.NeedPassword {
		ok, ended, err := h.reauthenticate(c, code, c.FormValue("password"))
		if err != nil {
			return err
		}
		if ended {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		if !ok {
			key := "support.err.password"
			if c.FormValue("password") == "" {
				key = "support.err.password.required"
			}
			v.Form.Errors["password"] = views.T(ctx, key)
			return render(http.StatusUnprocessableEntity)
		}
	}
	return h.runTermination(c, v)
}

// trimReason drops the spaces around a typed reason (full-width ones
// included): they are never meant.
func trimReason(s string) string { return strings.TrimSpace(s) }

// reasonError is the catalog key of what is wrong with a reason, or "". The
// limit counts characters, not bytes: reasons are usually Chinese.
func reasonError(reason string) string {
	switch {
	case reason == "":
		return "support.err.reason.required"
	case utf8.RuneCountInString(reason) > payscore.MaxReasonRunes:
		return "support.err.reason.long"
	case payscore.ValidateReason(reason) != nil:
		return "support.err.reason.invalid"
	}
	return ""
}

// needsReauth reports whether the person gave their password longer ago
// than ReauthAfter.
func (h *Handler) needsReauth(c echo.Context) bool {
	id := currentIdentity(c)
	authAt, _ := id.Session.Values[valAuthAt].(time.Time)
	return authAt.IsZero() || h.Now().Sub(authAt) > ReauthAfter
}

// reauthenticate checks the password given at the confirm step. A wrong
// one is refused and audited; too many end the session (ended).
func (h *Handler) reauthenticate(c echo.Context, code, password string) (ok, ended bool, err error) {
	id := currentIdentity(c)
	rctx := c.Request().Context()
	if password == "" {
		return false, false, nil // asked again; nothing was guessed
	}
	ok, err = CheckPassword(id.User.PasswordHash, password)
	if err != nil {
		return false, false, errInternal(err)
	}
	if ok {
		if err := h.Store.ReauthSession(rctx, hashID(id.Session.ID)); err != nil {
			return false, false, errInternal(err)
		}
		h.Logger.Info("re-authenticated", "username", id.User.Username, "ip", c.RealIP())
		return true, false, nil
	}
	h.Logger.Warn("re-authentication failed", "username", id.User.Username, "ip", c.RealIP())
	h.audit(c, store.AuditEntry{Action: auditTerminateReauth, Target: code, Result: "failed"})
	recent, err := h.Store.AuditLog(rctx, store.AuditFilter{Username: id.User.Username, Action: auditTerminateReauth,
		From: h.Now().Add(-ReauthAfter), Limit: maxReauthFailures})
	if err != nil {
		return false, false, errInternal(err)
	}
	if len(recent) >= maxReauthFailures {
		h.Logger.Warn("re-authentication: too many failures, session ended", "username", id.User.Username)
		id.Session.Options.MaxAge = -1
		if err := id.Session.Save(c.Request(), c.Response()); err != nil {
			return false, false, errInternal(err)
		}
		return false, true, nil
	}
	return false, false, nil
}

// terminationOutcome is what became of a termination request.
type terminationOutcome struct {
	status    string // store.TerminationSucceeded, TerminationFailed or TerminationPending
	requestID string
	errCode   string
	errMsg    string
	// confirmed is true when WeChat Pay's answer was lost and a query
	// showed the authorization ended.
	confirmed bool
	// live is the state queried after the call; nil if not queried or the
	// query failed.
	live     *payscore.Authorization
	queryErr error
}

// runTermination writes the intent, calls WeChat Pay once, and writes the
// outcome. A second submit for the same code while one is in flight is
// refused by the store before any call (409).
func (h *Handler) runTermination(c echo.Context, v views.TerminateView) error {
	ctx := h.langContext(c)
	code, sub, reason := v.Form.AuthorizationCode, v.Form.SubMchID, v.Form.Reason
	// The outcome must be recorded even if the browser goes away: the
	// client's own deadlines bound the calls.
	bg := context.WithoutCancel(c.Request().Context())
	id, err := h.Store.BeginTermination(bg,
		store.Termination{AuthorizationCode: code, SubMchID: sub, Reason: reason, UserID: currentIdentity(c).User.ID},
		h.auditEntry(c, store.AuditEntry{Action: auditTerminateRequest, Target: code, Reason: reason, Result: store.TerminationPending, Detail: "sub_mchid=" + sub}))
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: http.StatusConflict, Message: "support.terminate.inflight", Err: err}
	}
	if err != nil {
		return errInternal(err)
	}
	requestID, callErr := h.PayScore.Terminate(bg, payscore.TerminateRequest{AuthorizationCode: code, SubMchID: sub, Reason: reason})
	out := h.settleTermination(bg, code, sub, requestID, callErr)
	if out.status != store.TerminationPending {
		result := h.auditEntry(c, store.AuditEntry{Action: auditTerminateResult, Target: code, Reason: reason,
			Result: out.status, RequestID: out.requestID, Detail: resultDetail(out)})
		// ErrConflict: the resolver settled it meanwhile; its outcome stands
		// and the page shows the state WeChat Pay reports.
		if err := h.Store.FinishTermination(bg, id, out.status, out.requestID, out.errCode, out.errMsg, result); err != nil && !errors.Is(err, store.ErrConflict) {
			return errInternal(err)
		}
	}
	// Show the state WeChat Pay has now, and record it.
	if out.live == nil && out.queryErr == nil {
		out.live, out.queryErr = h.PayScore.Query(bg, payscore.QueryRequest{AuthorizationCode: code, SubMchID: sub})
	}
	state := ""
	if out.live != nil {
		state = string(out.live.State)
		if err := h.saveQueried(bg, code, sub, out.live, sourceQuery); err != nil {
			return errInternal(err)
		}
	} else if a, err := h.Store.AuthorizationByCode(bg, code); err == nil {
		state = a.State
	}
	if out.status == store.TerminationSucceeded {
		key := "support.terminate.done"
		if out.confirmed {
			key = "support.terminate.done.confirmed"
		}
		h.addFlash(c, "success", views.Tf(ctx, key, code, state))
		return c.Redirect(http.StatusSeeOther, views.LookupURL(code))
	}
	v.Step, v.Outcome, v.State = views.TerminateStepResult, out.status, state
	status := http.StatusBadGateway
	if callErr != nil {
		v.Upstream, status = upstreamFailure(ctx, callErr)
	}
	return h.render(c, status, views.TerminatePage(h.page(c, views.T(ctx, "support.terminate.title")), v))
}

// settleTermination decides a termination's outcome from WeChat Pay's
// answer. A refusal (4xx) is final. An answer that was lost (time-out,
// network, 5xx) or cannot be believed (bad signature) leaves the outcome
// unknown: a query decides it — UNAVAILABLE means it ended, any other state
// that it did not — and if the query fails too it stays pending, for the
// reconciler or the next start to settle.
func (h *Handler) settleTermination(ctx context.Context, code, sub, requestID string, callErr error) terminationOutcome {
	var ae *payscore.APIError
	var ve *payscore.ValidationError
	switch {
	case callErr == nil:
		return terminationOutcome{status: store.TerminationSucceeded, requestID: requestID}
	case errors.As(callErr, &ve):
		// Refused before sending: nothing reached WeChat Pay.
		return terminationOutcome{status: store.TerminationFailed, errCode: "VALIDATION", errMsg: ve.Error()}
	case !errors.Is(callErr, payscore.ErrBadSignature) && errors.As(callErr, &ae) && ae.Status < http.StatusInternalServerError:
		return terminationOutcome{status: store.TerminationFailed, requestID: ae.RequestID, errCode: ae.Code, errMsg: ae.Message}
	}
	h.Logger.Warn("terminate: outcome unknown, querying", "authorization_code", code, "err", callErr)
	out := terminationOutcome{}
	out.live, out.queryErr = h.PayScore.Query(ctx, payscore.QueryRequest{AuthorizationCode: code, SubMchID: sub})
	switch {
	case out.queryErr != nil:
		h.Logger.Error("terminate: outcome unknown and query failed; left pending", "authorization_code", code, "err", out.queryErr)
		out.status = store.TerminationPending
	case out.live.State == payscore.StateUnavailable:
		out.status, out.requestID, out.confirmed = store.TerminationSucceeded, out.live.RequestID, true
	default:
		out.status, out.errCode, out.errMsg = store.TerminationFailed, unconfirmedCode(callErr), callErr.Error()
		if ae != nil {
			out.requestID = ae.RequestID
		}
	}
	return out
}

// unconfirmedCode is the error code recorded for a termination whose answer
// was lost and that a query showed did not happen.
func unconfirmedCode(err error) string {
	var ae *payscore.APIError
	switch {
	case errors.Is(err, payscore.ErrBadSignature):
		return "BAD_SIGNATURE"
	case errors.As(err, &ae) && ae.Code != "":
		return ae.Code
	}
	return "NO_ANSWER"
}

// resultDetail is the audit detail of an outcome.
func resultDetail(out terminationOutcome) string {
	switch {
	case out.confirmed:
		return "confirmed by query"
	case out.errCode != "":
		return out.errCode + ": " + out.errMsg
	}
	return ""
}

// auditEntry fills in who and from where, for entries the store writes in
// the same transaction as the change they describe.
func (h *Handler) auditEntry(c echo.Context, e store.AuditEntry) store.AuditEntry {
	if id := currentIdentity(c); id != nil {
		e.UserID, e.Username = id.User.ID, id.User.Username
	}
	e.IP = c.RealIP()
	return e
}
