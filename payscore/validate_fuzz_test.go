package payscore

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Reference rules, written apart from validate.go: the spec's charset and
// length for authorization_code; for reason, 1–50 characters with no
// control character (\p{Cc}: C0, DEL, C1) nor format character (\p{Cf}:
// bidirectional overrides, zero-width spaces; issue 10) and at least one that is not
// white space (Unicode's White_Space property, spelled out because Go's
// regexp has no class for it; its control characters are excluded already).
var (
	refAuthorizationCode = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{1,32}$`)
	refReasonChars       = regexp.MustCompile(`^[^\p{Cc}\p{Cf}]{1,50}$`)
	refReasonNonSpace    = regexp.MustCompile(`[^ \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]`)
)

// checkValidationError requires err to be a *ValidationError naming field.
func checkValidationError(t *testing.T, err error, field string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != field || ve.Message == "" {
		t.Fatalf("error %v (%T), want a *ValidationError on %s", err, err, field)
	}
}

// FuzzValidateAuthorizationCode: ValidateAuthorizationCode accepts exactly
// what the spec's pattern [0-9A-Za-z_\-|*]{1,32} matches (a regexp reads
// invalid UTF-8 as U+FFFD, outside the class), and refuses with a
// *ValidationError on authorization_code.
func FuzzValidateAuthorizationCode(f *testing.F) {
	for _, s := range []string{"", "a", "CODE-1", "A|B*C-D_E", strings.Repeat("x", 32), strings.Repeat("x", 33), "a b", "a\x00",
		"é", "\xff", "CODE\n", "code%", "１２３", "a.b", "a+b", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateAuthorizationCode(s)
		if want := refAuthorizationCode.MatchString(s); (err == nil) != want {
			t.Fatalf("ValidateAuthorizationCode(%q) = %v, reference valid = %v", s, err, want)
		}
		if err != nil {
			checkValidationError(t, err, "authorization_code")
		}
	})
}

// FuzzValidateReason: ValidateReason accepts exactly the valid UTF-8
// strings of 1–50 runes, none a control or format character, not all white space;
// lengths are counted in runes (a Chinese reason of 50 characters is 150
// bytes and valid).
func FuzzValidateReason(f *testing.F) {
	for _, s := range []string{"", " ", "\u3000", "\u00a0x", "用户申请解约", strings.Repeat("解", 50), strings.Repeat("解", 51),
		strings.Repeat("a", 50), strings.Repeat("a", 51), "a\tb", "a\nb", "\x7f", "\u0085", "\u200b", "\xff", "a\xc3",
		"😀", strings.Repeat("😀", 50), " reason ", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateReason(s)
		want := utf8.ValidString(s) && refReasonChars.MatchString(s) && refReasonNonSpace.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("ValidateReason(%q) = %v, reference valid = %v", s, err, want)
		}
		if err != nil {
			checkValidationError(t, err, "reason")
		} else if n := utf8.RuneCountInString(s); n < 1 || n > MaxReasonRunes {
			t.Fatalf("ValidateReason(%q) accepted %d runes", s, n)
		}
	})
}
