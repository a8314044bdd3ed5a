// Package views holds the console's templ components and the view models
// they take. Components never see store rows, SDK types or echo.Context.
package views

import "time"

// Page is what the layout needs to frame any screen.
type Page struct {
	Title   string
	Path    string // the current path, to mark the navigation
	User    *Me    // nil when signed out
	Nav     []NavItem
	Sandbox bool
	CSRF    string
	Flashes []Flash
	// Pause is the emergency switch while it is on (nil when off): every
	// page of every role shows it (ux2).
	Pause *PauseBanner
}

// PauseBanner is the emergency pause as every page shows it while it is on.
type PauseBanner struct {
	Reason string
	By     string
	At     time.Time
}

// Me is the signed-in person.
type Me struct {
	Username string
	Role     string
}

// NavItem is one entry of the navigation.
type NavItem struct {
	Label string // catalog key
	Href  string
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind string // success, error, info
	Text string
}

// LoginForm is the sign-in form with what was typed and what went wrong.
type LoginForm struct {
	Username string
	Error    string
	Next     string
	// SSO offers single sign-on (nil: not configured); LocalLoginOff says
	// password sign-in is for break-glass accounts only.
	SSO           *SSOOption
	LocalLoginOff bool
}

// ErrorView is an error page.
type ErrorView struct {
	Status  int
	Message string
}

// UsersView is the user management screen.
type UsersView struct {
	Users []UserRow
	Roles []string
	Form  UserForm
	Me    string
}

// UserRow is one user in the list.
type UserRow struct {
	ID       int64
	Username string
	Role     string
	Disabled bool
	Created  time.Time
	MFA      bool // two-factor enrolled
	Sessions []SessionRow
	// SSO: signs in with the identity provider (no local password);
	// BreakGlass: may use a password when LOCAL_LOGIN=off.
	SSO, BreakGlass bool
	// LockedAddresses is from how many addresses sign-in is locked now
	// (0: none); LockedUntil is when the last of those lockouts ends.
	LockedAddresses int
	LockedUntil     time.Time
}

// UserForm is the add-user form with its values and errors.
type UserForm struct {
	Username string
	Role     string
	Errors   map[string]string // by field name
	// PasswordError is what is wrong with the password set for user
	// PasswordErrorFor (the reset forms of the list).
	PasswordError    string
	PasswordErrorFor int64
}

// Shanghai is the time zone times are shown in. A fixed zone avoids
// depending on the machine's tzdata.
var Shanghai = time.FixedZone("CST", 8*3600)

// FormatTime shows a time in Asia/Shanghai, or "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Shanghai).Format("2006-01-02 15:04:05")
}
