package views

import (
	"strconv"
	"time"
)

// RefusalDetailView is a refused notification's diagnosis: what was
// received, which step refused it and the likely cause. It never holds
// decrypted data of the refused payload.
type RefusalDetailView struct {
	Row RefusalRow
	// Kind (probe, forged, unknown_key, decryption, clock, headers,
	// malformed, ownership, throttled, internal) and Step (budget, body,
	// headers, timestamp, signature, decryption, ownership, internal).
	Kind, Step string
	// Detail is the field that did not match (ownership failures).
	Detail string
	// Cause is the catalog key of the likely cause.
	Cause string
	// Keys: what Wechatpay-Serial was compared with.
	PublicKeyID string
	CertSerials []string
	// SerialMatch says which configured key the received serial names:
	// public_key, certificate or none.
	SerialMatch string
	// Timestamp is Wechatpay-Timestamp as received; Skew is our clock
	// minus it (seconds), when SkewKnown; MaxSkew the limit.
	Timestamp string
	Skew      int64
	SkewKnown bool
	MaxSkew   int64
	// BodySize and BodySHA256, when BodyRead.
	BodyRead   bool
	BodySize   int
	BodySHA256 string
	// Kept: the delivery's headers and body are kept for a re-verify;
	// KeptHeaders are those headers, KeptBody the body (the encrypted
	// envelope as received).
	Kept        bool
	KeptHeaders []KeptHeader
	KeptBody    string
	// ReverifyURL is the re-verify form's action, "" when the person may
	// not re-verify (admins only) or nothing is kept.
	ReverifyURL string
	// Reverify is the last re-verify.
	Reverify *ReverifyView
	BackURL  string
}

// KeptHeader is one header of a kept delivery.
type KeptHeader struct{ Name, Value string }

// ReverifyView is the outcome of the last re-verify.
type ReverifyView struct {
	At time.Time
	By string
	// Outcome: accepted, duplicate, stale or refused.
	Outcome string
	// Reason, Step and Cause (catalog key) of a refusal.
	Reason, Step, Cause string
}

// SkewText is the skew in words-free form: "+12 s" (our clock ahead) or "-7 s".
func (v RefusalDetailView) SkewText() string {
	s := strconv.FormatInt(v.Skew, 10)
	if v.Skew > 0 {
		s = "+" + s
	}
	return s + " s"
}

// SkewTooFar reports whether the skew is beyond the limit.
func (v RefusalDetailView) SkewTooFar() bool {
	return v.SkewKnown && (v.Skew >= v.MaxSkew || v.Skew <= -v.MaxSkew)
}

// RefusalKindRow is the count of one kind of refusal.
type RefusalKindRow struct {
	Kind  string
	Count int
}
