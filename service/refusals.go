package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// AuditNotificationReverify is the audit action of re-verifying a kept
// refused delivery (POST /callbacks/refusals/{id}/reverify).
const AuditNotificationReverify = "notification.reverify"

// Kinds of refused notifications (store.Refusal.Kind): the overview and the
// metric payscore_notifications_refused_total{kind} count them apart.
const (
	RefusalProbe      = "probe"       // a WeChat Pay signature probe (WECHATPAY/SIGNTEST/): refusing it is right
	RefusalForged     = "forged"      // a known key, a signature that does not verify
	RefusalUnknownKey = "unknown_key" // Wechatpay-Serial names no key we have
	RefusalDecryption = "decryption"  // signed, but the APIv3 key does not decrypt it
	RefusalClock      = "clock"       // Wechatpay-Timestamp too far from our clock
	RefusalHeaders    = "headers"     // a Wechatpay-* header missing
	RefusalMalformed  = "malformed"   // too large, not the notification format, other event types
	RefusalOwnership  = "ownership"   // verified, but not for us
	RefusalThrottled  = "throttled"   // turned away unchecked (rate_limited, busy)
	RefusalInternal   = "internal"
)

// RefusalKinds lists the kinds, for metrics and the overview.
var RefusalKinds = []string{RefusalProbe, RefusalForged, RefusalUnknownKey, RefusalDecryption, RefusalClock,
	RefusalHeaders, RefusalMalformed, RefusalOwnership, RefusalThrottled, RefusalInternal}

// Refusal reasons of the HTTP layer (before the verifier).
const (
	ReasonRateLimited = "rate_limited"
	ReasonBusy        = "busy"
	ReasonTooLarge    = "too_large"
)

// RefusalKind is the kind of a refusal reason; probe when the delivery
// carried a probe signature (whatever check it failed).
func RefusalKind(reason string, probe bool) string {
	switch reason {
	case ReasonRateLimited, ReasonBusy:
		return RefusalThrottled
	case "internal":
		return RefusalInternal
	}
	if probe {
		return RefusalProbe
	}
	switch reason {
	case payscore.ReasonBadSignature:
		return RefusalForged
	case payscore.ReasonUnknownSerial:
		return RefusalUnknownKey
	case payscore.ReasonDecryptFailed:
		return RefusalDecryption
	case payscore.ReasonBadTimestamp:
		return RefusalClock
	case payscore.ReasonMissingHeader:
		return RefusalHeaders
	case ReasonNotOwner, ReasonUnknownSubMchID, ReasonSubMchIDMismatch, ReasonAppIDMismatch:
		return RefusalOwnership
	}
	return RefusalMalformed
}

// RefusalStep is the step a refusal reason failed at (payscore.Step*).
func RefusalStep(reason string) string {
	switch reason {
	case ReasonRateLimited, ReasonBusy:
		return payscore.StepBudget
	case ReasonTooLarge:
		return payscore.StepBody
	case ReasonNotOwner, ReasonUnknownSubMchID, ReasonSubMchIDMismatch, ReasonAppIDMismatch:
		return payscore.StepOwnership
	}
	return payscore.StepOf(reason)
}

// keptKind reports whether a refusal of kind keeps its headers and body
// for a re-verify: those a configuration change can make verify.
func keptKind(kind string) bool {
	return kind == RefusalUnknownKey || kind == RefusalForged || kind == RefusalDecryption
}

// keptHeaders are the headers a kept delivery keeps: what verification reads.
var keptHeaders = []string{"Wechatpay-Serial", "Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce",
	"Wechatpay-Signature-Type", "Request-Id"}

// DiagnosedRefusal builds the refusal of a delivery refused before or by
// the verifier, received at receivedAt: its kind, step and what was
// received (payscore.Describe); the raw headers and body kept when the
// kind is one a configuration change can fix and the body is at most
// store.MaxKeptBody. body is nil when it was not read.
func DiagnosedRefusal(reason, untrustedID string, header http.Header, body []byte, receivedAt time.Time) store.Refusal {
	d := payscore.Describe(header, body, receivedAt)
	r := store.Refusal{Reason: reason, NotificationID: untrustedID, Serial: d.Serial, Kind: RefusalKind(reason, d.Probe),
		Step: RefusalStep(reason), Timestamp: d.Timestamp, Skew: d.Skew, SkewKnown: d.SkewKnown}
	if body != nil {
		r.BodyRead, r.BodySize, r.BodySHA256 = true, d.BodySize, d.BodySHA256
	}
	if r.Kind == RefusalProbe {
		r.KeepKey = RefusalProbe // probes are counted apart from forgeries
	}
	if keptKind(r.Kind) && body != nil && len(body) <= store.MaxKeptBody {
		kept := map[string]string{}
		for _, k := range keptHeaders {
			if v := header.Get(k); v != "" {
				kept[k] = v
			}
		}
		if js, err := json.Marshal(kept); err == nil {
			r.RawHeaders, r.RawBody = string(js), append([]byte{}, body...)
			// Each notification keeps its row (and delivery) within the
			// minute; without an id, the first of the minute is kept.
			r.KeepKey = untrustedID
		}
	}
	return r
}

// ownershipRefusal fills what a verified notification's refusal shows:
// the serial, skew and body; field names the field that did not match.
func ownershipRefusal(n *payscore.Notification, remoteAddr, reason, field string) store.Refusal {
	sum := sha256.Sum256(n.Envelope)
	r := store.Refusal{Serial: n.Serial, NotificationID: n.ID, RemoteAddr: remoteAddr, Verified: true, Reason: reason,
		Kind: RefusalOwnership, Step: payscore.StepOwnership, Detail: field,
		BodyRead: true, BodySize: len(n.Envelope), BodySHA256: hex.EncodeToString(sum[:])}
	if !n.Timestamp.IsZero() {
		r.Timestamp = strconv.FormatInt(n.Timestamp.Unix(), 10)
		if !n.ReceivedAt.IsZero() {
			r.Skew, r.SkewKnown = n.ReceivedAt.Unix()-n.Timestamp.Unix(), true
		}
	}
	return r
}

// ReceivedParser verifies a kept delivery as of the time it was received
// (payscore.NotifyVerifier.ParseReceived): the receiver's verifier.
type ReceivedParser interface {
	ParseReceived(ctx context.Context, header http.Header, body []byte, receivedAt time.Time) (*payscore.Notification, error)
}

// RefusalStore is what re-verifying needs beyond NotificationStore.
type RefusalStore interface {
	RefusalByID(ctx context.Context, id int64) (*store.Refusal, error)
	MarkRefusalReverified(ctx context.Context, id int64, rv store.Reverification, audit store.AuditEntry) error
}

// Outcome of a re-verify that failed again.
const ReverifyRefused = "refused"

// ReverifyResult is what a re-verify did.
type ReverifyResult struct {
	// Outcome is the store's (accepted, duplicate, stale) when it now
	// verifies and is ours, else ReverifyRefused.
	Outcome string
	// Reason is the new refusal reason when refused.
	Reason string
	// NotificationID is the verified notification's id, when it verified.
	NotificationID string
}

// Reverify runs a kept refused delivery through the receiver again, with
// the configuration the console has now: parser (the receiver's verifier,
// the timestamp checked against the time the delivery was received), then
// Receive, exactly as a delivery arriving now. Verified and ours, it is
// stored once by its notification id (a second re-verify is a duplicate)
// and its authorization updated as usual. The refusal row records the
// outcome, audited in the same transaction (notification.reverify). A
// refusal without a kept delivery is Invalid; an unknown id NotFound.
func (s *Notifications) Reverify(ctx context.Context, actor Actor, id int64, parser ReceivedParser) (*ReverifyResult, error) {
	if s.Refusals == nil {
		return nil, newError(Internal, "", errors.New("re-verify is not configured"))
	}
	r, err := s.Refusals.RefusalByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(NotFound, "", err)
	}
	if err != nil {
		return nil, newError(Internal, "", err)
	}
	if !r.Kept() {
		return nil, newError(Invalid, "diag.err.not_kept", errors.New("refusal keeps no delivery"))
	}
	if parser == nil {
		return nil, newError(Internal, "", errors.New("re-verify: the receiver's verifier cannot verify a kept delivery"))
	}
	var kept map[string]string
	if err := json.Unmarshal([]byte(r.RawHeaders), &kept); err != nil {
		return nil, newError(Internal, "", fmt.Errorf("kept headers: %w", err))
	}
	header := http.Header{}
	for k, v := range kept {
		header.Set(k, v)
	}
	// The verifier's clock when it was received: the timestamp plus the
	// skew it had then (a kept delivery passed the timestamp check).
	receivedAt := r.ReceivedAt
	if ts, err := strconv.ParseInt(r.Timestamp, 10, 64); err == nil && r.SkewKnown {
		receivedAt = time.Unix(ts+r.Skew, 0)
	}
	res := &ReverifyResult{}
	n, err := parser.ParseReceived(ctx, header, r.RawBody, receivedAt)
	var ne *payscore.NotifyError
	switch {
	case errors.As(err, &ne):
		res.Outcome, res.Reason = ReverifyRefused, ne.Reason
	case err != nil:
		return nil, newError(Internal, "", err)
	default:
		res.NotificationID = n.ID
		outcome, err := s.Receive(ctx, n, r.RemoteAddr)
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			res.Outcome, res.Reason = ReverifyRefused, refused.Reason
		case err != nil:
			return nil, newError(Internal, "", err)
		default:
			res.Outcome = outcome
		}
	}
	detail := "outcome=" + res.Outcome
	if res.Reason != "" {
		detail += " reason=" + res.Reason
	}
	if res.NotificationID != "" {
		detail += " notification_id=" + res.NotificationID
	}
	result := "ok"
	if res.Outcome == ReverifyRefused {
		result = "refused"
	}
	audit := actor.entry(store.AuditEntry{Action: AuditNotificationReverify, Target: "refusal:" + strconv.FormatInt(id, 10),
		Result: result, Detail: detail})
	if err := s.Refusals.MarkRefusalReverified(ctx, id, store.Reverification{By: actor.Username, Outcome: res.Outcome, Reason: res.Reason}, audit); err != nil {
		return nil, newError(Internal, "", err)
	}
	return res, nil
}
