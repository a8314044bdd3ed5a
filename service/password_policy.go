package service

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The password policy (ASVS 5.0 §6.2, NIST SP 800-63B): at least
// MinPasswordLength characters; not only whitespace, not one character
// repeated (nor a unit of up to four repeated), not a simple sequence
// (0123456789, abcdefghij, a keyboard row or column, or their reverse), not
// the username nor containing it, and not one of the 10,000 most common
// passwords (bundled: data/10k-most-common.txt), also when only digits and
// punctuation are added around it. No composition rules beyond that.

// Catalog keys of the policy's refusals.
const (
	KeyPasswordShort    = "users.err.password"
	KeyPasswordSimple   = "users.err.password_simple"
	KeyPasswordUsername = "users.err.password_username"
	KeyPasswordCommon   = "users.err.password_common"
)

// PasswordKeys lists the policy's catalog keys.
var PasswordKeys = []string{KeyPasswordShort, KeyPasswordSimple, KeyPasswordUsername, KeyPasswordCommon}

// Errors of the policy.
var (
	ErrPasswordSimple   = errors.New("password is too simple (whitespace, one repeated character or a sequence)")
	ErrPasswordUsername = errors.New("password is or contains the username")
	ErrPasswordCommon   = errors.New("password is one of the most common passwords")
)

//go:embed data/10k-most-common.txt
var commonPasswordsText string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10000)
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line = strings.ToLower(strings.TrimSpace(line)); line != "" {
			set[line] = struct{}{}
		}
	}
	return set
})

// CheckPasswordPolicy checks password, to be username's, against the
// policy: nil, or an *Error (Invalid) whose Key names the rule it breaks.
func CheckPasswordPolicy(username, password string) error {
	invalid := func(key string, err error) error { return newError(Invalid, key, err) }
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return invalid(KeyPasswordShort, ErrPasswordTooShort)
	}
	lower := strings.ToLower(password)
	if strings.TrimSpace(password) == "" || repeatedUnit(lower) || isSequence(lower) {
		return invalid(KeyPasswordSimple, ErrPasswordSimple)
	}
	if u := strings.ToLower(strings.TrimSpace(username)); u != "" && strings.Contains(lower, u) {
		return invalid(KeyPasswordUsername, ErrPasswordUsername)
	}
	if isCommon(lower) {
		return invalid(KeyPasswordCommon, ErrPasswordCommon)
	}
	return nil
}

// repeatedUnit reports whether s is one unit of at most four characters
// repeated: "aaaaaaaaaa", "ababababab", "1234123412".
func repeatedUnit(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		same := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i-unit] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// keyboardLines are the runs a "simple sequence" may be cut from, besides
// steps of one code point: keyboard rows and columns (US layout).
var keyboardLines = []string{
	"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "qwertyuiopasdfghjklzxcvbnm",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
	"01234567890123456789", "98765432109876543210",
}

// isSequence reports whether s climbs or falls one code point at a time
// (abcdefghij, 9876543210) or is cut from a keyboard line, either way.
func isSequence(s string) bool {
	r := []rune(s)
	if len(r) >= 2 {
		step := r[1] - r[0]
		if step == 1 || step == -1 {
			seq := true
			for i := 2; i < len(r); i++ {
				if r[i]-r[i-1] != step {
					seq = false
					break
				}
			}
			if seq {
				return true
			}
		}
	}
	rev := []rune(s)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, line := range keyboardLines {
		if strings.Contains(line, s) || strings.Contains(line, string(rev)) {
			return true
		}
	}
	return false
}

// isCommon reports whether s (lower case) is a common password, or one with
// only digits, punctuation or spaces added before or after it.
func isCommon(s string) bool {
	set := commonPasswords()
	if _, ok := set[s]; ok {
		return true
	}
	base := strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	if utf8.RuneCountInString(base) < 4 || base == s {
		return false
	}
	_, ok := set[base]
	return ok
}
