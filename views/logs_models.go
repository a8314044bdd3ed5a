package views

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// CallbackFilterForm is the callback log's filter form: the values as typed
// (query parameters named as the notification's fields) and what is wrong
// with them.
type CallbackFilterForm struct {
	EventType         string
	Outcome           string
	AuthorizationCode string
	SubMchID          string
	OpenID            string
	From, To          string // yyyy-mm-dd, Asia/Shanghai days, both included
	Errors            map[string]string
}

// CallbacksView is the callback log.
type CallbacksView struct {
	Filter     CallbackFilterForm
	EventTypes []string // choices of the event_type filter
	Outcomes   []string // choices of the outcome filter
	// Refused is true when the list shows refused attempts instead of
	// notifications (outcome=refused).
	Refused  bool
	Rows     []CallbackRow
	Refusals []RefusalRow
	// NextURL is the next (older) page, "" on the last page; FirstURL the
	// newest page, "" when this is it.
	NextURL  string
	FirstURL string
	// PollURL fetches rows newer than the newest shown, "" when the page
	// does not poll (an older page, or invalid filters).
	PollURL string
	// Polling is true in the poll answer: only new rows and the poller.
	Polling bool
	CSVURL  string
}

// CallbackRow is one notification in the log.
type CallbackRow struct {
	ID                int64
	Href              string // the detail page, carrying the list's filters
	NotificationID    string
	EventType         string
	Outcome           string // accepted or stale: what the first delivery did
	AuthorizationCode string
	SubMchID          string
	OpenID            string
	SubOpenID         string
	OpenOrCloseTime   time.Time
	Deliveries        int
	FirstReceived     time.Time
}

// RefusalRow is one refused notification attempt, or several of the same
// reason from the same address within a minute (Count, ReceivedAt the first,
// LastAt the last).
type RefusalRow struct {
	ID             int64
	ReceivedAt     time.Time
	LastAt         time.Time
	Count          int
	RemoteAddr     string
	Reason         string
	Serial         string
	NotificationID string
}

// Href is the refusal's diagnosis page.
func (r RefusalRow) Href() string { return "/callbacks/refusals/" + strconv.FormatInt(r.ID, 10) }

// CallbackDetailView is one notification: envelope, payload and deliveries.
type CallbackDetailView struct {
	Row        CallbackRow
	CreateTime string
	Serial     string
	Envelope   string // pretty-printed JSON, or the raw text if it is not JSON
	Payload    string
	Deliveries []DeliveryRow
	Refusals   []RefusalRow // refused attempts carrying the same notification id
	BackURL    string       // the list, with the filters it was opened from
}

// DeliveryRow is one delivery of a notification.
type DeliveryRow struct {
	ReceivedAt time.Time
	RemoteAddr string
	Serial     string
	Outcome    string // accepted, stale, duplicate
}

// AuditFilterForm is the audit log's filter form.
type AuditFilterForm struct {
	Username string
	Action   string
	Target   string
	From, To string // yyyy-mm-dd, Asia/Shanghai days, both included
	Errors   map[string]string
}

// AuditView is the audit log.
type AuditView struct {
	Filter   AuditFilterForm
	Rows     []AuditRow
	NextURL  string
	FirstURL string
	CSVURL   string
}

// AuditRow is one audit entry.
type AuditRow struct {
	ID        int64
	At        time.Time
	Username  string
	IP        string
	Action    string
	Target    string
	Reason    string
	Result    string
	RequestID string
	Detail    string
}

// OverviewView is the start page.
type OverviewView struct {
	Username string
	// MyLinks are the person's latest links (operators and admins).
	MyLinks []LinkRow
	// MyLinksURL lists all of them.
	MyLinksURL           string
	ActiveAuthorizations int
	AwaitingUser         int
	Callbacks24h         int
	Refusals24h          int
	// RefusalKinds counts the last 24 hours' refusals by kind (probes,
	// forgeries, … apart); RefusalPeak is the busiest minute's.
	RefusalKinds       []RefusalKindRow
	RefusalPeak        int
	TerminatedToday    int
	LatestCallbacks    []CallbackRow
	RecentTerminations []TerminationRow
	// Emergency is the landing pages' switch, filled for admins only.
	Emergency EmergencyView
	// SigningKeys are the keys that signed the notifications of the last
	// 24 hours, the latest used first.
	SigningKeys []SigningKeyRow
	// Certificates are the platform certificates the console verifies
	// with (configured or downloaded), the latest expiry first; empty in
	// public-key mode.
	Certificates []CertificateRow
	// CertificateError is the last download's failure, if it failed.
	CertificateError string
	// Charts are the last 30 days (charts.templ).
	Charts ChartsView
	// Health says when the last notification arrived and whether WeChat
	// Pay answered the last call.
	Health HealthView
}

// SigningKeyRow is one key that signed accepted notifications.
type SigningKeyRow struct {
	Serial string
	// Kind is "public_key", "certificate" or "unknown" (a serial no
	// longer configured).
	Kind         string
	Deliveries   int
	LastReceived time.Time
	// Expires is the certificate's expiry; zero for the public key.
	Expires time.Time
}

// CertificateRow is one platform certificate.
type CertificateRow struct {
	Serial     string
	NotAfter   time.Time
	Configured bool // from WECHATPAY_PLATFORM_CERT
	Downloaded bool // from GET /v3/certificates
	// ExpiresSoon is true within 30 days of NotAfter (or past it).
	ExpiresSoon bool
}

// TerminationRow is one termination in the overview.
type TerminationRow struct {
	AuthorizationCode string
	SubMchID          string
	Reason            string
	Status            string // pending, succeeded, failed
	Username          string
	RequestID         string
	CreatedAt         time.Time
}

// lookupURL is the look-up page of an authorization_code.
func lookupURL(code string) templ.SafeURL {
	return templ.SafeURL("/authorizations?authorization_code=" + url.QueryEscape(code))
}

// eventLabel names a notification event; an unknown one shows as sent.
func eventLabel(ctx context.Context, eventType string) string {
	key := "callbacks.event." + strings.TrimPrefix(eventType, "PAYSCORE.")
	if s := T(ctx, key); s != key {
		return s
	}
	return eventType
}

func eventClass(eventType string) string {
	switch eventType {
	case "PAYSCORE.USER_OPEN_SERVICE":
		return "ok"
	case "PAYSCORE.USER_CLOSE_SERVICE":
		return "bad"
	}
	return ""
}

func outcomeClass(outcome string) string {
	switch outcome {
	case "accepted", "succeeded":
		return "ok"
	case "stale", "duplicate", "pending":
		return "warn"
	case "refused", "failed":
		return "bad"
	}
	return ""
}

// resultClass colours an audit result.
func resultClass(result string) string {
	switch strings.ToLower(result) {
	case "ok", "success", "succeeded", "accepted":
		return "ok"
	case "pending", "requested":
		return "warn"
	case "":
		return ""
	}
	return "bad"
}
