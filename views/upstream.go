package views

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// upstreamKnown are the WeChat Pay error codes the catalogue explains
// (upstream.<CODE> and upstream.<CODE>.do).
var upstreamKnown = map[string]bool{
	"SYSTEM_ERROR": true, "PARAM_ERROR": true, "NO_AUTH": true, "FREQUENCY_LIMITED": true,
	"INVALID_REQUEST": true, "SIGN_ERROR": true, "ORDER_NOT_EXIST": true, "INVALID_ORDER_STATE": true,
	"ORDER_CANCELED": true, "ORDER_DONE": true,
}

// upstreamOwnWords are the codes whose meaning lies in WeChat Pay's own
// message (which value is wrong, which rule is broken), so it is shown; for
// the others the explanation says it all, in this console's words (WeChat
// Pay's speak of orders, 订单).
var upstreamOwnWords = map[string]bool{"PARAM_ERROR": true, "INVALID_REQUEST": true, "SIGN_ERROR": true}

// UpstreamAnswer is the view of an error answer from WeChat Pay: code is
// its error code (normalized), raw what it sent, message its own words.
// The explanation and remedy are instructions for this console's users;
// code and Request-ID are kept to quote when escalating.
func UpstreamAnswer(ctx context.Context, status int, code, raw, message, requestID string, unsigned bool) *UpstreamError {
	e := &UpstreamError{Code: raw, RequestID: requestID, Unsigned: unsigned, NotFound: code == "ORDER_NOT_EXIST"}
	if upstreamKnown[code] {
		e.Explanation, e.Remedy = T(ctx, "upstream."+code), T(ctx, "upstream."+code+".do")
		if upstreamOwnWords[code] {
			e.Message = message
		}
		return e
	}
	what := "HTTP " + strconv.Itoa(status)
	if raw != "" {
		what += " " + raw
	}
	e.Explanation, e.Remedy, e.Message = Tf(ctx, "upstream.unknown", what), T(ctx, "upstream.unknown.do"), message
	return e
}

// Now is the clock Time's hover text is measured against.
var Now = time.Now

// Relative says how long before now t was ("12 分钟前"), or how long until
// it comes ("剩余 5 分钟").
func Relative(ctx context.Context, now, t time.Time) string {
	if d := t.Sub(now); d >= time.Minute {
		switch {
		case d < time.Hour:
			return Tn(ctx, "token.left.minutes", int(d/time.Minute))
		case d < 48*time.Hour:
			return Tn(ctx, "token.left.hours", int(d/time.Hour))
		}
		return Tn(ctx, "token.left.days", int(d/(24*time.Hour)))
	}
	return FormatAgo(ctx, now, t)
}

// AuditActionLabel is an audit action in words; an action without words
// shows its name.
func AuditActionLabel(ctx context.Context, action string) string {
	if _, ok := catalog["audit.action."+action]; ok {
		return T(ctx, "audit.action."+action)
	}
	if control, ok := strings.CutPrefix(action, "sandbox."); ok {
		return Tf(ctx, "audit.action.sandbox", control)
	}
	return action
}

// AuditResultLabel is an audit result in words; an unknown one shows as is.
func AuditResultLabel(ctx context.Context, result string) string {
	if _, ok := catalog["audit.result."+result]; ok {
		return T(ctx, "audit.result."+result)
	}
	return result
}

// RefusalReasonLabel is why a notification was refused, in words; a reason
// without words shows its key.
func RefusalReasonLabel(ctx context.Context, reason string) string {
	if _, ok := catalog["refusal.reason."+reason]; ok {
		return T(ctx, "refusal.reason."+reason)
	}
	return reason
}

// auditActionKnown says whether the action filter offers action.
func auditActionKnown(action string) bool { return slices.Contains(AuditActions, action) }

// NothingKnown is a look-up of a code WeChat Pay knows no authorization
// for (ORDER_NOT_EXIST) that nothing here knows either: the page says that
// one thing instead of empty sections.
func (v LookupView) NothingKnown() bool {
	h := v.History
	return v.Upstream != nil && v.Upstream.NotFound && v.Local == nil && v.Live == nil &&
		h.Link == nil && len(h.Callbacks) == 0 && len(h.Terminations) == 0 && len(h.Audit) == 0
}
