package views

import (
	"context"
	"time"
)

// LookupView is the look-up screen: the search form, the live answer of
// WeChat Pay (or why there is none, beside the last state we knew), and the
// code's local history.
type LookupView struct {
	Form LookupForm
	// AskSubMch shows the sub-merchant select: the code is unknown locally,
	// so WeChat Pay cannot be asked without one.
	AskSubMch    bool
	SubMerchants []LookupSubMerchant
	// Searched is true once a valid code was looked up (a result, an error
	// and the history are shown).
	Searched bool
	// Live is WeChat Pay's answer; nil when the query failed.
	Live *LookupAuthorization
	// Upstream says why the query failed; nil when it did not.
	Upstream *UpstreamError
	// Local is the last state known locally, shown when the query failed;
	// nil when nothing is known.
	Local *LookupLocal
	// Now is the time ages are measured from.
	Now     time.Time
	History LookupHistory
	// Terminate is the terminate form; nil when the person may not terminate
	// or there is nothing to terminate.
	Terminate *TerminateForm
	// CrossSite is set when the page was opened from another site: only
	// the last state known locally is shown, and LiveURL is the button
	// that asks WeChat Pay (clicked here, it is a same-origin request).
	CrossSite bool
	LiveURL   string

	// Query is what was typed into the search (code, openid or
	// sub-merchant); "" for a look-up by authorization_code.
	Query string
	// NoMatch: the search matched nothing.
	NoMatch bool
	// DidYouMean lists known codes that differ only in case from the code
	// looked up.
	DidYouMean []CodeSuggestion
	// Results is the list a search found (a user's or a sub-merchant's
	// authorizations); nil when one authorization is shown.
	Results *AuthorizationList
	// PageURL is the authorization's own page, /authorizations/{code}.
	PageURL string
	// Summary says where the authorization stands; Timeline is what
	// happened to it, in order.
	Summary  *AuthorizationSummary
	Timeline []TimelineEvent
}

// LookupForm is the search form with what was typed and what went wrong.
type LookupForm struct {
	AuthorizationCode string
	SubMchID          string
	Errors            map[string]string // by field name
}

// LookupSubMerchant is one choice of the sub-merchant select.
type LookupSubMerchant struct {
	SubMchID string
	Name     string
}

// LookupAuthorization is every field of a query answer. Optional fields the
// answer did not carry are empty (times nil) and shown as "—".
type LookupAuthorization struct {
	AuthorizationCode        string
	AuthorizationState       string
	AppID                    string
	MchID                    string
	SubMchID                 string
	SubAppID                 string
	ChannelID                string
	ServiceID                string
	OpenID                   string
	SubOpenID                string
	UserLabel                string
	NotifyURL                string
	AuthorizationSuccessTime *time.Time
	CancelAuthorizationTime  *time.Time
	RequestID                string
}

// LookupLocal is the last state of an authorization known locally.
type LookupLocal struct {
	State     string
	Source    string
	CheckedAt time.Time // when we last learned anything about it
	OpenID    string
	SubOpenID string
}

// LookupHistory is everything recorded locally about one authorization code.
type LookupHistory struct {
	Link         *HistoryLink
	Callbacks    []HistoryCallback
	Terminations []HistoryTermination
	Audit        []HistoryAudit
}

// HistoryLink is the link that started an authorization.
type HistoryLink struct {
	ID              int64
	Href            string // empty when the person may not open links
	SubMchID        string
	SubMerchantName string
	CreatedBy       string
	CreatedAt       time.Time
	TokenExpiresAt  time.Time
	Opens           int
}

// HistoryCallback is one notification received for the code.
type HistoryCallback struct {
	ID              int64
	Href            string // empty when the callback screen is not available
	NotificationID  string
	EventType       string
	OpenOrCloseTime *time.Time
	ReceivedAt      time.Time
	Deliveries      int
	Applied         bool
}

// HistoryTermination is one termination request for the code.
type HistoryTermination struct {
	ID           int64
	Reason       string
	Status       string // pending, succeeded, failed
	RequestID    string
	ErrorCode    string
	ErrorMessage string
	Username     string
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

// HistoryAudit is one audit entry whose target is the code.
type HistoryAudit struct {
	At        time.Time
	Username  string
	IP        string // empty unless the viewer is an admin
	Action    string
	Reason    string
	Result    string
	RequestID string
}

// TerminateForm is the terminate form with its values and errors.
type TerminateForm struct {
	AuthorizationCode string
	SubMchID          string
	Reason            string
	// Reasons are the common reasons offered; any other text is allowed.
	Reasons []string
	Errors  map[string]string // by field name
}

// Terminate steps.
const (
	TerminateStepForm    = "form"    // enter a reason
	TerminateStepConfirm = "confirm" // confirm, with the password when it is due
	TerminateStepResult  = "result"  // WeChat Pay refused, or the outcome is not known
)

// TerminateView is the terminate page: the form again (invalid reason), the
// confirm step, or a result that is not a success.
type TerminateView struct {
	Step string
	Form TerminateForm
	// NeedPassword asks for the password again: the person signed in too
	// long ago for a sensitive action.
	NeedPassword bool
	// NeedCode asks for a fresh TOTP code instead: the person has
	// two-factor.
	NeedCode bool
	// SSOHref, for a single sign-on user, is where they confirm who they
	// are at the provider (instead of a password they do not have).
	SSOHref string
	// Upstream is why WeChat Pay did not terminate; nil when unknown.
	Upstream *UpstreamError
	// Outcome is the termination's recorded status: failed or pending.
	Outcome string
	// State is the authorization's state after the attempt, if known.
	State    string
	BackHref string
	// Facts name the authorization on the confirm step (ux2).
	Facts TerminateFacts
	// NotDone: WeChat Pay's answer was lost and a query at once showed the
	// authorization still on; the page says that one thing (ux2).
	NotDone bool
}

// FormatAgo says how long before now t was, in words: "12 分钟前".
func FormatAgo(ctx context.Context, now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return T(ctx, "support.ago.now")
	case d < time.Hour:
		return Tn(ctx, "support.ago.minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return Tn(ctx, "support.ago.hours", int(d/time.Hour))
	}
	return Tn(ctx, "support.ago.days", int(d/(24*time.Hour)))
}

// supportDash shows an absent optional value as "—".
func supportDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// supportTime shows an optional time in Asia/Shanghai, or "—".
func supportTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return FormatTime(*t)
}

// supportStateKey is the catalog key describing an authorization state.
func supportStateKey(state string) string {
	switch state {
	case StateAvailable, StateUnavailable, StateUnbindUser:
		return "support.state." + state
	}
	return "support.state.unknown"
}

// supportBadge is the badge's class for a state or an outcome.
func supportBadge(state string) string {
	switch state {
	case StateAvailable, StateUnavailable, StateUnbindUser:
		return "badge " + state
	case "succeeded":
		return "badge ok"
	case "failed":
		return "badge bad"
	case "pending":
		return "badge warn"
	}
	return "badge"
}
