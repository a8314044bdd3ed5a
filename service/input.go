package service

import "unicode"

// KeyInvisible is the catalog key of text refused for an invisible format
// character.
const KeyInvisible = "input.err.invisible"

// HasInvisible reports whether s holds a format character (Unicode category
// Cf): the bidirectional overrides and isolates (U+202A–U+202E,
// U+2066–U+2069) that make text read differently from what it is, and the
// zero-width characters (U+200B–U+200F, U+2060, U+FEFF) that make two names
// look alike. Names, reasons and usernames refuse them: they end up in the
// audit log, on screens and at WeChat Pay.
func HasInvisible(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
