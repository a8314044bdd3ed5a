package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// commonReasons are offered beside free text. They are sent to WeChat Pay as
// they are, so they stay in Chinese whatever the interface language.
var commonReasons = []string{"用户申请解除", "商户停止服务", "重复授权", "风险控制"}

// terminateAuthorization is POST /authorizations/:code/terminate. Without
// confirm=1 it checks the reason (the typed field reason, else the common
// reason chosen, reason_choice) and shows the confirm step, naming the
// sub-merchant, the user's openid, the state and when the user agreed; edit=1
// (the confirm step's cancel) shows the form again with the reason kept. The
// confirm step asks for a fresh TOTP code, or the password without
// two-factor, when the last authentication is older than ReauthAfter (see
// stepup.go). With confirm=1 it records
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
	subMchID, err := h.Services.Terminations.KnownSubMchID(rctx, code)
	if err != nil {
		return errInternal(err)
	}
	if subMchID == "" {
		// Only what the console knows is terminated: the sub-merchant comes
		// from its records, never from the form.
		return &Error{Status: http.StatusNotFound, Message: "support.terminate.unknown"}
	}
	// The reason typed wins over a common reason chosen (reason_choice).
	reason := trimReason(c.FormValue("reason"))
	if reason == "" {
		reason = trimReason(c.FormValue("reason_choice"))
	}
	v := views.TerminateView{
		Step:     views.TerminateStepForm,
		BackHref: views.LookupURL(code),
		Form: views.TerminateForm{AuthorizationCode: code, SubMchID: subMchID, Reasons: commonReasons,
			Reason: reason, Errors: map[string]string{}},
	}
	render := func(status int) error {
		return h.render(c, status, views.TerminatePage(h.page(c, views.T(ctx, "support.terminate.title")), v))
	}
	if c.FormValue("edit") == "1" {
		// Cancel on the confirm step: the form again, the reason kept.
		return render(http.StatusOK)
	}
	if key := reasonError(v.Form.Reason); key != "" {
		v.Form.Errors["reason"] = views.T(ctx, key)
		return render(http.StatusUnprocessableEntity)
	}
	v.Step = views.TerminateStepConfirm
	if v.Facts, err = h.terminateFacts(rctx, code, subMchID); err != nil {
		return errInternal(err)
	}
	if h.needsReauth(c) {
		// The step-up: a fresh TOTP code with two-factor, else the password.
		v.NeedCode = currentIdentity(c).User.MFA
		v.NeedPassword = !v.NeedCode
		// A single sign-on user without a code steps up at the provider
		// (their password check below always fails: they have none).
		v.SSOHref = h.ssoStepUpHref(c, v.BackHref)
	}
	if c.FormValue("confirm") != "1" {
		return render(http.StatusOK)
	}
	if v.NeedPassword || v.NeedCode {
		ok, ended, err := h.checkStepUp(c, service.AuditTerminateReauth, code)
		if err != nil {
			return err
		}
		if ended {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		if !ok {
			field, key := "password", "support.err.password"
			if v.NeedCode {
				field, key = "code", "stepup.err.code"
			}
			if c.FormValue(field) == "" {
				key = "support.err." + field + ".required"
			}
			v.Form.Errors[field] = views.T(ctx, key)
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
	case service.HasInvisible(reason):
		return service.KeyInvisible
	case payscore.ValidateReason(reason) != nil:
		return "support.err.reason.invalid"
	}
	return ""
}

// runTermination runs the termination saga (service.Terminations) and shows
// its outcome: success goes back to the look-up; anything else shows the
// result step with WeChat Pay's answer.
func (h *Handler) runTermination(c echo.Context, v views.TerminateView) error {
	ctx := h.langContext(c)
	code := v.Form.AuthorizationCode
	res, err := h.Services.Terminations.Terminate(c.Request().Context(), actor(c), code, v.Form.SubMchID, v.Form.Reason)
	if service.KindOf(err) == service.Conflict {
		return err // one in flight already: 409
	}
	if err != nil {
		return errInternal(err)
	}
	if res.Ended != nil {
		// Already over: no call was made. Say when and how it ended.
		h.addFlash(c, "info", endedText(ctx, code, res.Ended))
		return c.Redirect(http.StatusSeeOther, views.LookupURL(code))
	}
	if res.Status == store.TerminationSucceeded {
		key := "support.terminate.done"
		if res.Confirmed {
			key = "support.terminate.done.confirmed"
		}
		h.addFlash(c, "success", views.Tf(ctx, key, code, res.State))
		return c.Redirect(http.StatusSeeOther, views.LookupURL(code))
	}
	v.Step, v.Outcome, v.State, v.NotDone = views.TerminateStepResult, res.Status, res.State, res.NotDone
	status := http.StatusBadGateway
	if res.CallErr != nil {
		v.Upstream, status = upstreamFailure(ctx, res.CallErr)
	}
	return h.render(c, status, views.TerminatePage(h.page(c, views.T(ctx, "support.terminate.title")), v))
}

// endedText says when and how an authorization that was already over
// ended.
func endedText(ctx context.Context, code string, e *service.Ended) string {
	when := views.T(ctx, "support.terminate.over.when.unknown")
	if e.At != nil {
		when = views.FormatTime(*e.At)
	}
	switch e.How {
	case service.EndedByUser:
		return views.Tf(ctx, "support.terminate.over.user", code, when)
	case service.EndedByTerminated:
		return views.Tf(ctx, "support.terminate.over.terminated", code, when, e.By)
	}
	return views.Tf(ctx, "support.terminate.over.unknown", code, when)
}
