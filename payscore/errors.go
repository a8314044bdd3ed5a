package payscore

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error codes of the acquiring-bank Pay Score APIs, as listed in the spec's
// error tables.
const (
	CodeSystemError       = "SYSTEM_ERROR"
	CodeParamError        = "PARAM_ERROR"
	CodeNoAuth            = "NO_AUTH"
	CodeFrequencyLimited  = "FREQUENCY_LIMITED"
	CodeInvalidRequest    = "INVALID_REQUEST"
	CodeOrderNotExist     = "ORDER_NOT_EXIST" // the spec's table misprints it as "ORDER_NOT_ EXIST"
	CodeInvalidOrderState = "INVALID_ORDER_STATE"
	CodeOrderCanceled     = "ORDER_CANCELED"
	CodeOrderDone         = "ORDER_DONE"
)

// CodeSignError is APIv3's answer to a request whose merchant signature
// WeChat Pay could not verify (401, unsigned): wrong certificate serial,
// wrong private key, or a clock more than 5 minutes off.
const CodeSignError = "SIGN_ERROR"

// ErrBadSignature is matched (errors.Is) by every error caused by a WeChat Pay
// response that is forged: a 2xx without a valid signature, or any answer
// whose Wechatpay-* signature headers fail verification. Such a response is
// never treated as data and never retried. (An error answer with no
// Wechatpay-* header at all is an unsigned APIError instead.)
var ErrBadSignature = errors.New("payscore: response signature invalid")

// APIError is an error answer from WeChat Pay: a non-2xx status with the
// standard {"code","message"} body. It is signed, unless Unsigned says
// otherwise.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is WeChat Pay's error code, e.g. "PARAM_ERROR"; empty when the body
	// had none.
	Code string
	// Message is WeChat Pay's own description of the error.
	Message string
	// RequestID is the Request-ID header, to quote to WeChat Pay support.
	RequestID string
	// Unsigned is true when the answer carried no Wechatpay-* header at all.
	// WeChat Pay does not sign its answers to requests it could not
	// authenticate (401 SIGN_ERROR), and its gateway may answer 429 or 5xx
	// unsigned. An unsigned error can only make a call fail, never succeed,
	// so it is shown as WeChat's answer; an unsigned 2xx is a forgery
	// (ErrBadSignature).
	Unsigned bool
}

// Error implements error.
func (e *APIError) Error() string {
	s := "payscore: WeChat Pay answered " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (Request-ID " + e.RequestID + ")"
	}
	if e.Unsigned {
		s += " [unsigned]"
	}
	return s
}

// Temporary reports whether calling again later with the same parameters may
// succeed: system errors (5xx) and rate limiting (429).
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests ||
		e.Code == CodeSystemError || e.Code == CodeFrequencyLimited
}

// TransportError reports a call whose outcome is unknown: network failure,
// time-out, cancellation, or an unsigned 5xx from something in front of WeChat
// Pay (a gateway or proxy). For a POST, WeChat Pay may or may not have acted:
// query before calling again with different parameters.
type TransportError struct {
	// Call is the API call: "preauthorize", "query" or "terminate".
	Call string
	// Attempts is how many requests were sent.
	Attempts int
	// Timeout is true when an attempt or the overall deadline expired.
	Timeout bool
	// Status is the HTTP status of an unsigned 5xx answer, otherwise 0.
	Status int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *TransportError) Error() string {
	what := "transport error"
	if e.Timeout {
		what = "time-out"
	}
	if e.Status != 0 {
		what = "unsigned HTTP " + strconv.Itoa(e.Status) + " answer"
	}
	return fmt.Sprintf("payscore: %s: %s after %d attempt(s): %v", e.Call, what, e.Attempts, e.Err)
}

// Unwrap returns the underlying error, so errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.Err }

// AfterUnknownError is the final error of a call an earlier attempt of which
// had an unknown outcome (no answer in time, a network failure, a 5xx): that
// attempt may have taken effect at WeChat Pay, so an answer about the state
// ("INVALID_ORDER_STATE" to a retried terminate) may be the consequence of
// the call itself. Classify reports it as Failure.AfterUnknown; errors.As
// still finds the final *APIError underneath.
type AfterUnknownError struct {
	// Attempts is how many requests were sent in all.
	Attempts int
	// Err is the final attempt's error.
	Err error
}

// Error implements error.
func (e *AfterUnknownError) Error() string {
	return e.Err.Error() + " (after an earlier attempt whose outcome is unknown; " + strconv.Itoa(e.Attempts) + " attempts)"
}

// Unwrap returns the final attempt's error.
func (e *AfterUnknownError) Unwrap() error { return e.Err }
