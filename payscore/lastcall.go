package payscore

import (
	"sync"
	"time"
)

// LastCall is the outcome of the latest call sent to WeChat Pay (GET
// /healthz and the overview show it).
type LastCall struct {
	// At is when the call ended.
	At time.Time
	// Call is CallPreAuthorize, CallQuery or CallTerminate.
	Call string
	// Outcome is the outcome label of payscore_api_request_duration_seconds
	// (ok, api_error, bad_signature, transport).
	Outcome string
	// Answered is true when WeChat Pay's own answer arrived: a success, a
	// refusal, a rate limit or a signed system error; false for a time-out,
	// a network failure or an answer whose signature did not verify.
	Answered bool
}

// lastCall keeps the latest LastCall; calls refused before sending
// (validation) are not calls and are not kept.
type lastCall struct {
	mu   sync.Mutex
	last LastCall
	set  bool
}

func (l *lastCall) record(call string, err error, at time.Time) {
	o := outcome(err)
	if o == OutcomeValidation {
		return
	}
	answered := err == nil || Classify(err).Answered()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.set = LastCall{At: at, Call: call, Outcome: o, Answered: answered}, true
}

// LastCall is the outcome of the latest call this client sent; false
// when it has sent none since it was built.
func (c *Client) LastCall() (LastCall, bool) {
	c.last.mu.Lock()
	defer c.last.mu.Unlock()
	return c.last.last, c.last.set
}
