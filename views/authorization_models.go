package views

import "time"

// Display states: the API's UNAVAILABLE told apart by how it ended. They
// are shown, never sent to WeChat Pay.
const (
	// StateTerminated: UNAVAILABLE after a termination from this console
	// (解除, by support).
	StateTerminated = "TERMINATED"
	// StateClosed: UNAVAILABLE otherwise: the user closed (关闭) the
	// service in WeChat.
	StateClosed = "CLOSED"
)

// DisplayState is the state a list shows: the API's state, with
// UNAVAILABLE split into terminated by support and closed by the user.
func DisplayState(state string, terminatedBySupport bool) string {
	if state != StateUnavailable {
		return state
	}
	if terminatedBySupport {
		return StateTerminated
	}
	return StateClosed
}

// displayStateKey is the catalog key of a display state.
func displayStateKey(state string) string {
	switch state {
	case StateTerminated, StateClosed:
		return "ux1.state." + state
	}
	return stateKey(state)
}

// displayStateClass is the badge class of a display state.
func displayStateClass(state string) string {
	switch state {
	case StateTerminated:
		return "badge UNAVAILABLE terminated"
	case StateClosed:
		return "badge UNAVAILABLE closed"
	}
	return stateClass(state)
}

// Timeline event kinds, in the order an authorization goes through them.
const (
	TimelineCreated       = "created"      // the link was created
	TimelineOpened        = "opened"       // the landing page was opened (count, last)
	TimelineNotOpened     = "not_opened"   // nobody opened the landing page yet
	TimelineAgreed        = "agreed"       // the user agreed: 开启
	TimelineNotification  = "notification" // a notification from WeChat Pay
	TimelineTerminated    = "terminated"   // support ended it: 解除
	TimelineTermFailed    = "terminate_failed"
	TimelineTermPending   = "terminate_pending"
	TimelineClosed        = "closed"   // the user closed it: 关闭
	TimelineAwaitingAgree = "awaiting" // no agreement yet
)

// TimelineEvent is one step of an authorization's timeline.
type TimelineEvent struct {
	Kind string
	At   time.Time // zero when not known
	// By is who acted (the link's creator, the person who terminated).
	By     string
	Reason string
	OpenID string
	// Count and Last: how many times and when last the landing page was
	// opened (TimelineOpened).
	Count int
	Last  time.Time
	// EventType, Deliveries: the notification's.
	EventType  string
	Deliveries int
	// Status, RequestID, ErrorCode, ErrorMessage: a termination's.
	RequestID    string
	ErrorCode    string
	ErrorMessage string
	// Href opens the link or the notification, "" when the person may not.
	Href  string
	Label string // the link's "#42"
}

// AuthorizationSummary is the one line at the top of an authorization's
// page: where it stands and, once ended, how.
type AuthorizationSummary struct {
	State  string // a display state; "" when unknown
	At     time.Time
	By     string // who terminated it
	Reason string
	OpenID string
}

// AuthorizationList is a search's list: every authorization of a user or
// of a sub-merchant, each linking to its page.
type AuthorizationList struct {
	// By is what matched: "openid" or "sub_mchid".
	By string
	// Query is what was searched; SubMerchantName names the sub-merchant.
	Query           string
	SubMerchantName string
	Rows            []AuthorizationListRow
	More            bool
}

// AuthorizationListRow is one authorization in a list.
type AuthorizationListRow struct {
	Code            string
	Href            string
	SubMchID        string
	SubMerchantName string
	State           string // a display state
	OpenID          string
	SuccessTime     *time.Time
	CancelTime      *time.Time
	StateTime       time.Time
}

// CodeSuggestion is a known code that differs from the one typed only in case.
type CodeSuggestion struct {
	Code string
	Href string
}
