package payscore

import (
	"errors"
	"net/http"
	"strings"
)

// FailureKind says what became of a call that failed: whether WeChat Pay
// answered, whether the answer can be believed, and whether the outcome is
// known.
type FailureKind int

// Kinds of failure, from Classify.
const (
	// FailureNone: no error.
	FailureNone FailureKind = iota
	// FailureInvalid: the request was refused here, before sending; nothing
	// reached WeChat Pay.
	FailureInvalid
	// FailureRefused: WeChat Pay answered 4xx with an error code; it did
	// not act. Signed says whether the answer carried a valid signature
	// (WeChat does not sign answers to requests it could not authenticate,
	// e.g. 401 SIGN_ERROR, nor some gateway answers); an unsigned 4xx keeps
	// its code, message and Request-ID.
	FailureRefused
	// FailureRateLimited: 429 or FREQUENCY_LIMITED, signed or not; call
	// again later.
	FailureRateLimited
	// FailureForged: a 2xx answer without a valid signature, or any answer
	// whose signature headers do not verify; it is never believed.
	FailureForged
	// FailureUnknown: time-out, network failure or 5xx: WeChat Pay may or
	// may not have acted. Also any error not from this package.
	FailureUnknown
)

// String names the kind, for logs.
func (k FailureKind) String() string {
	switch k {
	case FailureNone:
		return "none"
	case FailureInvalid:
		return "invalid"
	case FailureRefused:
		return "refused"
	case FailureRateLimited:
		return "rate_limited"
	case FailureForged:
		return "forged"
	}
	return "unknown"
}

// Failure is a failed call as the rest of the console needs to see it: one
// answer to "is this an API error, a bad signature, a rate limit, or
// unknown?".
type Failure struct {
	Kind FailureKind
	// Status is the HTTP status of WeChat Pay's answer; 0 when none came.
	Status int
	// Code and Message are WeChat Pay's error code and message, when it
	// answered with them (Refused, RateLimited, a signed 5xx).
	Code    string
	Message string
	// RequestID is the answer's Request-ID, to quote to WeChat Pay.
	RequestID string
	// Signed is true when the answer's signature was verified.
	Signed bool
	// Timeout is true when the outcome is unknown because a deadline
	// expired (rather than the network failing).
	Timeout bool
	// Field is the request field refused before sending (Invalid).
	Field string
	// AfterUnknown is true when an earlier attempt of the same call had an
	// unknown outcome (the client retried after a time-out, a network
	// failure or a 5xx): WeChat Pay may have acted on that attempt, so a
	// refusal about the state (INVALID_ORDER_STATE, ORDER_CANCELED,
	// ORDER_DONE) may be the call's own effect. See StateError.
	AfterUnknown bool
	// Err is the error classified.
	Err error
}

// Classify sorts any error a Client call returned into one Failure. A nil
// error is FailureNone; an error this package did not make is
// FailureUnknown.
func Classify(err error) Failure {
	f := Failure{Err: err}
	var au *AfterUnknownError
	f.AfterUnknown = errors.As(err, &au)
	var (
		ve *ValidationError
		ae *APIError
		te *TransportError
	)
	switch {
	case err == nil:
		f.Kind = FailureNone
	case errors.Is(err, ErrBadSignature):
		// Checked first: such an answer is never believed, whatever it says.
		f.Kind = FailureForged
	case errors.As(err, &ve):
		f.Kind, f.Field = FailureInvalid, ve.Field
	case errors.As(err, &ae):
		f.Status, f.Code, f.Message, f.RequestID, f.Signed = ae.Status, ae.Code, ae.Message, ae.RequestID, !ae.Unsigned
		switch {
		case ae.Status >= http.StatusInternalServerError:
			f.Kind = FailureUnknown
		case ae.Status == http.StatusTooManyRequests || f.NormalizedCode() == CodeFrequencyLimited:
			f.Kind = FailureRateLimited
		default:
			f.Kind = FailureRefused
		}
	case errors.As(err, &te):
		f.Kind, f.Status, f.Timeout = FailureUnknown, te.Status, te.Timeout
	default:
		f.Kind = FailureUnknown
	}
	return f
}

// Answered reports whether WeChat Pay's own answer is known: a refusal, a
// rate limit, or a system error that came as WeChat Pay's JSON (signed, or
// unsigned with its code).
func (f Failure) Answered() bool {
	return f.Kind == FailureRefused || f.Kind == FailureRateLimited ||
		(f.Kind == FailureUnknown && f.Status != 0 && (f.Signed || f.Code != ""))
}

// StateError reports whether WeChat Pay refused because of the
// authorization's state: INVALID_ORDER_STATE, ORDER_CANCELED or ORDER_DONE.
func (f Failure) StateError() bool {
	if f.Kind != FailureRefused {
		return false
	}
	switch f.NormalizedCode() {
	case CodeInvalidOrderState, CodeOrderCanceled, CodeOrderDone:
		return true
	}
	return false
}

// NormalizedCode is Code without the stray spaces of the spec's table
// ("ORDER_NOT_ EXIST").
func (f Failure) NormalizedCode() string { return strings.ReplaceAll(f.Code, " ", "") }
