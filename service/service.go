// Package service holds the console's domain rules between the HTTP layer
// and the store: issuing and renewing links, terminating authorizations,
// reconciling with WeChat Pay, looking authorizations up, users and
// sign-in, sub-merchants and the emergency switch. Each service is built
// from narrow interfaces over the store and the Pay Score client, a clock
// and a logger; it checks states, keeps idempotency, and writes its audit
// entry in the same store transaction as the change it records.
package service

import (
	"errors"
	"log/slog"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// Actor is who acts: a signed-in person, the command line, or the console
// itself (System).
type Actor struct {
	UserID   int64
	Username string
	IP       string
}

// SystemUsername names the console itself in the audit log (user id 0).
const SystemUsername = "system"

// System is the console acting on its own (resolver, reconciler).
var System = Actor{Username: SystemUsername}

// entry fills in who acted, and from where.
func (a Actor) entry(e store.AuditEntry) store.AuditEntry {
	e.UserID, e.Username, e.IP = a.UserID, a.Username, a.IP
	return e
}

// Kind is the class of a service error; the HTTP layer maps it to a status.
type Kind int

// Kinds of service errors.
const (
	// Internal: a fault of the console (database, configuration).
	Internal Kind = iota
	// Invalid: the input breaks a rule; the person can correct it.
	Invalid
	// NotFound: what was named does not exist.
	NotFound
	// Conflict: the state does not allow the action now.
	Conflict
	// Forbidden: the actor may not do this.
	Forbidden
	// Upstream: WeChat Pay refused, or could not be reached or believed.
	Upstream
)

// Error is a service error: its Kind, the i18n catalog key of what to tell
// the person (may be empty), and the cause.
type Error struct {
	Kind Kind
	Key  string
	Err  error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	if e.Key != "" {
		return "service: " + e.Key
	}
	return "service: error"
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf is the Kind of err: an *Error's own, NotFound and Conflict for the
// store's errors, Internal otherwise.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, store.ErrNotFound):
		return NotFound
	case errors.Is(err, store.ErrConflict):
		return Conflict
	}
	return Internal
}

// KeyOf is the catalog key of err, if it is an *Error with one.
func KeyOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Key
	}
	return ""
}

func newError(kind Kind, key string, err error) *Error { return &Error{Kind: kind, Key: key, Err: err} }

// nowOr is now(), or time.Now when no clock was given.
func nowOr(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

// loggerOr is l, or the default logger when none was given.
func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
