package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// DefaultNotifyStoreTimeout bounds the wait for a notification's commit:
// WeChat Pay gives up on an answer after 5 s, so a busy database is
// reported in time and WeChat Pay delivers again.
const DefaultNotifyStoreTimeout = 4 * time.Second

// Refusal reasons the receiving rules find in a verified notification (the
// verifier has its own, payscore.Reason*).
const (
	ReasonNotOwner        = "not_owner"
	ReasonUnknownSubMchID = "unknown_sub_mchid"
	// ReasonSubMchIDMismatch: the code is one of our links, issued for
	// another sub-merchant than the notification names.
	ReasonSubMchIDMismatch = "sub_mchid_mismatch"
	// ReasonAppIDMismatch: the code is one of our links, and the
	// notification's appid is not PAYSCORE_APPID or its sub_appid not the
	// link's.
	ReasonAppIDMismatch = "appid_mismatch"
)

// NotificationStore is what receiving notifications needs from the
// database.
type NotificationStore interface {
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
	RecordNotification(ctx context.Context, n store.Notification) (string, error)
	RecordRefusal(ctx context.Context, r store.Refusal) error
}

// ErrNotRecorded: the store did not commit the notification (or not in
// time: the error then wraps context.DeadlineExceeded too).
var ErrNotRecorded = errors.New("service: notification not recorded")

// RefusedError is a verified notification the rules refuse; the refusal is
// already recorded.
type RefusedError struct {
	Reason string // ReasonNotOwner, ReasonUnknownSubMchID, ReasonSubMchIDMismatch or ReasonAppIDMismatch
	Err    error
}

// Error implements error.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("notification refused: %s: %v", e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *RefusedError) Unwrap() error { return e.Err }

// Notifications decides what happens to WeChat Pay's authorization
// notifications once the HTTP layer has read them and payscore has
// verified and decrypted them: ours or not, from a registered
// sub-merchant or not, and what is recorded.
type Notifications struct {
	Store NotificationStore
	// MchID and ServiceID are ours: a notification must name both.
	MchID, ServiceID string
	// AppID is PAYSCORE_APPID: a notification for one of our links must
	// name it (and the link's sub_appid, when it carries one).
	AppID string
	// StoreTimeout bounds the wait for the commit (default
	// DefaultNotifyStoreTimeout).
	StoreTimeout time.Duration
	Logger       *slog.Logger
	// Refusals serves re-verifying kept refused deliveries (Reverify).
	Refusals RefusalStore

	// known remembers registered sub_mchids already seen, sparing a query
	// per notification.
	known sync.Map
}

// Receive records a verified notification: refused (*RefusedError,
// recorded as a refusal) unless it names our merchant and service and a
// registered sub-merchant; otherwise stored once by its id, its
// authorization updated only if newer. The outcome is the store's:
// store.OutcomeAccepted, OutcomeStale or OutcomeDuplicate. ErrNotRecorded
// means the notification is not known to be committed (also wrapping
// context.DeadlineExceeded when the commit did not come in time); WeChat
// Pay's next delivery of it is then harmless either way.
func (s *Notifications) Receive(ctx context.Context, n *payscore.Notification, remoteAddr string) (string, error) {
	logger := loggerOr(s.Logger)
	p := n.Payload
	// Signed by WeChat Pay from here on: a refusal keeps its own row per id
	// (store.Refusal.Verified, ownershipRefusal).
	if err := p.CheckOwner(s.MchID, s.ServiceID); err != nil {
		logger.Warn("notification refused: not ours", "id", n.ID, "err", err)
		field := "mchid"
		if p.MchID == s.MchID {
			field = "service_id"
		}
		return "", s.refused(ctx, ownershipRefusal(n, remoteAddr, ReasonNotOwner, field), err)
	}
	if _, known := s.known.Load(p.SubMchID); known {
		// Registered before: sub-merchants are never deleted (only disabled,
		// and a disabled one's users still send real events).
	} else if _, err := s.Store.SubMerchantByMchID(ctx, p.SubMchID); errors.Is(err, store.ErrNotFound) {
		logger.Warn("notification refused: unknown sub_mchid", "id", n.ID, "sub_mchid", p.SubMchID)
		return "", s.refused(ctx, ownershipRefusal(n, remoteAddr, ReasonUnknownSubMchID, "sub_mchid"), err)
	} else if err != nil {
		return "", fmt.Errorf("notification: look up sub-merchant: %w", err)
	} else {
		s.known.Store(p.SubMchID, struct{}{})
	}
	at := p.OpenOrCloseTime
	if at.IsZero() {
		at = n.CreateTime
	}
	timeout := s.StoreTimeout
	if timeout <= 0 {
		timeout = DefaultNotifyStoreTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := s.Store.RecordNotification(sctx, store.Notification{
		NotificationID: n.ID, EventType: n.EventType, AuthorizationCode: p.AuthorizationCode, SubMchID: p.SubMchID,
		OpenID: p.OpenID, SubOpenID: p.SubOpenID, OpenOrCloseTime: at, CreateTime: n.CreateTime.Format("2006-01-02T15:04:05Z07:00"),
		Serial: n.Serial, Envelope: n.Envelope, Payload: n.Plaintext, RemoteAddr: remoteAddr,
		// Ours field by field: a code of one of our links must come with
		// the sub-merchant and the appids it was issued for. The store
		// checks it in the transaction that would write it.
		SubAppID: p.SubAppID, ForeignAppID: s.AppID != "" && p.AppID != s.AppID,
	})
	var mismatch *store.LinkMismatchError
	if errors.As(err, &mismatch) {
		reason := ReasonAppIDMismatch
		if mismatch.Field == "sub_mchid" {
			reason = ReasonSubMchIDMismatch
		}
		logger.Warn("notification refused: "+mismatch.Field+" does not match the link", "id", n.ID, "authorization_code", p.AuthorizationCode,
			"sub_mchid", p.SubMchID, "link_sub_mchid", mismatch.LinkSubMchID, "appid", p.AppID, "sub_appid", p.SubAppID)
		return "", s.refused(ctx, ownershipRefusal(n, remoteAddr, reason, mismatch.Field), err)
	}
	if err != nil {
		return "", fmt.Errorf("notification %s: %w: %w", n.ID, ErrNotRecorded, err)
	}
	return outcome, nil
}

// RefusalTimeout bounds the wait for a refusal's commit: a refused attempt
// is not worth more.
const RefusalTimeout = 2 * time.Second

// refused records r and returns its *RefusedError.
func (s *Notifications) refused(ctx context.Context, r store.Refusal, cause error) error {
	s.Refuse(ctx, r)
	return &RefusedError{Reason: r.Reason, Err: cause}
}

// Refuse records an attempt refused before it could be believed (too
// large, unsigned, badly signed, malformed). It goes through the store's
// group-commit writer, aggregated (reason, address, minute): a flood of
// junk shares commits and rows, and costs no synced transaction each.
// Recording is best effort, its wait bounded (RefusalTimeout).
func (s *Notifications) Refuse(ctx context.Context, r store.Refusal) {
	ctx, cancel := context.WithTimeout(ctx, RefusalTimeout)
	defer cancel()
	if err := s.Store.RecordRefusal(ctx, r); err != nil {
		loggerOr(s.Logger).Error("notification: record refusal", "err", err)
	}
}
