package service

import (
	"context"
	"errors"
	"log/slog"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/payscore-console/payscore-console/store"
)

// MaxPauseReason is the limit of the emergency switch's reason, in runes.
const MaxPauseReason = 200

// EmergencyStore is what the emergency switch needs from the database.
type EmergencyStore interface {
	LandingPause(ctx context.Context) (store.LandingPause, error)
	SetLandingPauseAudited(ctx context.Context, paused bool, reason, by string, audit store.AuditEntry) error
}

// Emergency is the switch that pauses every landing page (WeChat's
// acceptance review asks for one).
type Emergency struct {
	Store  EmergencyStore
	Now    func() time.Time
	Logger *slog.Logger
}

// State reads the switch; never switched is "not paused".
func (s *Emergency) State(ctx context.Context) (store.LandingPause, error) {
	return s.Store.LandingPause(ctx)
}

// ValidPauseReason reports whether reason may go with the switch: at most
// MaxPauseReason runes, valid UTF-8, no control or invisible format
// characters; pausing needs one.
func ValidPauseReason(paused bool, reason string) bool {
	if paused && reason == "" {
		return false
	}
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxPauseReason {
		return false
	}
	for _, r := range reason {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// Set pauses every landing page (paused) or switches them back on, audited
// in the same transaction. A bad reason is Invalid (emergency.err.reason).
func (s *Emergency) Set(ctx context.Context, actor Actor, paused bool, reason string) error {
	if HasInvisible(reason) {
		return newError(Invalid, KeyInvisible, errors.New("service: invisible characters in the pause reason"))
	}
	if !ValidPauseReason(paused, reason) {
		return newError(Invalid, "emergency.err.reason", errors.New("service: invalid pause reason"))
	}
	action := "landing.resume"
	if paused {
		action = "landing.pause"
	}
	if err := s.Store.SetLandingPauseAudited(ctx, paused, reason, actor.Username,
		actor.entry(store.AuditEntry{Action: action, Target: "landing", Reason: reason, Result: "ok"})); err != nil {
		return err
	}
	loggerOr(s.Logger).Warn("emergency switch", "action", action, "by", actor.Username, "reason", reason)
	return nil
}
