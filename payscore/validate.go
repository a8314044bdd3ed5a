package payscore

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits from the spec's parameter tables.
const (
	// MaxIDLen is the byte limit of service_id, channel_id, appid, sub_appid and
	// sub_mchid (string[1, 32]).
	MaxIDLen = 32
	// MaxAuthorizationCodeLen is the byte limit of authorization_code (string[1, 32]).
	MaxAuthorizationCodeLen = 32
	// MaxNotifyURLLen is the byte limit of notify_url (string[1, 255]).
	MaxNotifyURLLen = 255
	// MaxReasonRunes is the limit of reason in characters (string[1, 50]); reasons
	// are usually Chinese, so the limit counts runes, not bytes.
	MaxReasonRunes = 50
)

// ValidationError reports one request field that breaks the spec's limits. It is
// returned before anything is sent to WeChat Pay.
type ValidationError struct {
	// Field is the API's own name of the field, e.g. "authorization_code".
	Field string
	// Message says what is wrong, in English, without echoing the value.
	Message string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return "payscore: invalid " + e.Field + ": " + e.Message
}

func invalid(field, msg string) *ValidationError {
	return &ValidationError{Field: field, Message: msg}
}

// validateID checks an identifier of type string[1, max]: required, at most max
// bytes, and free of spaces and control characters (ids travel in URLs and
// JSON; a stray space is always a typing mistake).
func validateID(field, s string, max int) error {
	if s == "" {
		return invalid(field, "is required")
	}
	if len(s) > max {
		return invalid(field, "must be at most "+strconv.Itoa(max)+" bytes")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return invalid(field, "must not contain spaces or control characters")
		}
	}
	return nil
}

// ValidateServiceID checks service_id: required, 1–32 bytes.
func ValidateServiceID(s string) error { return validateID("service_id", s, MaxIDLen) }

// ValidateChannelID checks channel_id: required, 1–32 bytes.
func ValidateChannelID(s string) error { return validateID("channel_id", s, MaxIDLen) }

// ValidateAppID checks appid: required, 1–32 bytes.
func ValidateAppID(s string) error { return validateID("appid", s, MaxIDLen) }

// ValidateSubMchID checks sub_mchid: required, 1–32 bytes.
func ValidateSubMchID(s string) error { return validateID("sub_mchid", s, MaxIDLen) }

// ValidateSubAppID checks sub_appid, which is optional: the empty string is
// valid, anything else must be 1–32 bytes.
func ValidateSubAppID(s string) error {
	if s == "" {
		return nil
	}
	return validateID("sub_appid", s, MaxIDLen)
}

// ValidateAuthorizationCode checks authorization_code: required, at most 32
// bytes, made only of digits, ASCII letters and _ - | *.
func ValidateAuthorizationCode(s string) error {
	const field = "authorization_code"
	if s == "" {
		return invalid(field, "is required")
	}
	if len(s) > MaxAuthorizationCodeLen {
		return invalid(field, "must be at most 32 characters")
	}
	for i := 0; i < len(s); i++ {
		if !isCodeByte(s[i]) {
			return invalid(field, "may contain only digits, letters and _ - | *")
		}
	}
	return nil
}

func isCodeByte(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case c == '_', c == '-', c == '|', c == '*':
		return true
	}
	return false
}

// ValidateReason checks the termination reason: required (not only spaces),
// 1–50 characters counted as runes, valid UTF-8, no control characters.
func ValidateReason(s string) error {
	const field = "reason"
	if strings.TrimSpace(s) == "" {
		return invalid(field, "is required")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxReasonRunes {
		return invalid(field, "must be at most 50 characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "must not contain control characters")
		}
		if unicode.Is(unicode.Cf, r) {
			// Bidirectional overrides, zero-width spaces: the reason
			// shows to the user in WeChat, and must read as it is.
			return invalid(field, "must not contain invisible format characters")
		}
	}
	return nil
}

// ValidateNotifyURL checks notify_url, which is optional: the empty string is
// valid; otherwise it must be an absolute http(s) URL of at most 255 bytes with
// a host, no user info, no query string and no fragment (WeChat Pay calls it as
// is and forbids parameters). With requireHTTPS (live mode) only https is
// accepted, as the spec demands.
func ValidateNotifyURL(s string, requireHTTPS bool) error {
	const field = "notify_url"
	if s == "" {
		return nil
	}
	if len(s) > MaxNotifyURLLen {
		return invalid(field, "must be at most 255 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid(field, "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid(field, "must be an absolute http or https URL")
	case u.Host == "" || u.Opaque != "":
		return invalid(field, "must be an absolute URL with a host")
	case u.User != nil:
		return invalid(field, "must not contain user information")
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "?"):
		return invalid(field, "must not have a query string")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return invalid(field, "must not have a fragment")
	case requireHTTPS && u.Scheme != "https":
		return invalid(field, "must use https")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return invalid(field, "must not contain spaces or control characters")
		}
	}
	return nil
}

// Validate checks every field of a pre-authorization request except the
// notify_url's scheme policy, which depends on the client's configuration.
func (r PreAuthorizeRequest) Validate(requireHTTPS bool) error {
	if err := ValidateSubMchID(r.SubMchID); err != nil {
		return err
	}
	if err := ValidateSubAppID(r.SubAppID); err != nil {
		return err
	}
	if err := ValidateAuthorizationCode(r.AuthorizationCode); err != nil {
		return err
	}
	return ValidateNotifyURL(r.NotifyURL, requireHTTPS)
}

// Validate checks every field of a query request.
func (r QueryRequest) Validate() error {
	if err := ValidateAuthorizationCode(r.AuthorizationCode); err != nil {
		return err
	}
	return ValidateSubMchID(r.SubMchID)
}

// Validate checks every field of a termination request.
func (r TerminateRequest) Validate() error {
	if err := ValidateAuthorizationCode(r.AuthorizationCode); err != nil {
		return err
	}
	if err := ValidateSubMchID(r.SubMchID); err != nil {
		return err
	}
	return ValidateReason(r.Reason)
}
