package views

import (
	"strings"
	"time"
)

// AccountView is /account: one's own password, two-factor and sessions.
type AccountView struct {
	Username string
	Role     string
	MFA      MFAStatus
	Sessions []SessionRow
	Forms    AccountForms
}

// AccountForms carries the errors of the page's forms, by field name
// (current_password, password, code).
type AccountForms struct {
	Errors map[string]string
}

// MFAStatus is a person's two-factor state.
type MFAStatus struct {
	Enabled      bool
	Required     bool // their role must have it (MFA_REQUIRED_ROLES)
	EnabledAt    time.Time
	RecoveryLeft int
	Pending      *MFAEnrolment // an enrolment awaiting its first code
}

// MFAEnrolment is what an authenticator app reads: the otpauth:// URI, as
// text and as a QR code (a data: URI of a PNG), and the secret to type.
type MFAEnrolment struct {
	URI       string
	Secret    string
	QRDataURI string
}

// RecoveryCodesView shows the recovery codes, the one time they are shown.
type RecoveryCodesView struct {
	Codes []string
}

// SessionRow is one signed-in browser.
type SessionRow struct {
	ID        int64
	UserID    int64
	IP        string
	Browser   string // a short name: "Chrome on Windows"
	UserAgent string
	Started   time.Time
	LastSeen  time.Time
	Current   bool // the session this page was loaded with
}

// LoginCodeForm is the second sign-in step.
type LoginCodeForm struct {
	Error string
}

// StepUpView asks for a fresh code (or the password) before a dangerous
// act; Held is the sealed form that goes on once it is right.
type StepUpView struct {
	Action   string
	Held     string
	NeedCode bool
	Error    string
	// SSOHref, for a single sign-on user, is where they confirm who they
	// are at the provider instead (then send the form again).
	SSOHref string
}

// BrowserName names a browser and its system from a User-Agent, roughly:
// enough for a person to tell their sessions apart.
func BrowserName(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"MicroMessenger", "WeChat"}, {"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"},
		{"HeadlessChrome", "Headless Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " · " + system
	case browser != "":
		return browser
	case system != "":
		return system
	case ua == "":
		return "?"
	}
	if len(ua) > 40 {
		return ua[:40] + "…"
	}
	return ua
}
