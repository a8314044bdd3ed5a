package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// NotifyParser verifies and decrypts a notification (payscore.NotifyVerifier).
type NotifyParser interface {
	Parse(ctx context.Context, header http.Header, body []byte) (*payscore.Notification, error)
}

// NotifyStore is what the receiver needs from the database.
type NotifyStore interface {
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
	RecordNotification(ctx context.Context, n store.Notification) (string, error)
	RecordRefusal(ctx context.Context, r store.Refusal) error
}

// Receiver is the notification endpoint's own configuration.
type Receiver struct {
	Parser    NotifyParser
	Store     NotifyStore
	MchID     string // WECHATPAY_MCHID: notifications must name us
	ServiceID string // PAYSCORE_SERVICE_ID
	// StoreTimeout bounds the wait for the commit (default 4 s): WeChat Pay
	// gives up on an answer after 5 s, so a busy database answers 503 in
	// time and WeChat Pay delivers again.
	StoreTimeout time.Duration
}

// Refusal reasons found by the receiver itself (the parser has its own).
const (
	reasonTooLarge        = "too_large"
	reasonNotOwner        = "not_owner"
	reasonUnknownSubMchID = "unknown_sub_mchid"
)

type notifyMetrics struct{ outcomes *prometheus.CounterVec }

func newNotifyMetrics(reg prometheus.Registerer) *notifyMetrics {
	m := &notifyMetrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payscore_notifications_total",
		Help: "Notification deliveries by outcome: accepted, stale, duplicate, refused:<reason>, error.",
	}, []string{"outcome"})}
	reg.MustRegister(m.outcomes)
	return m
}

// notify receives WeChat Pay's notifications. Nothing reads the body before
// it is read here, once, size-limited; the parser verifies the signature over
// exactly those bytes. The answer is 204 only after the commit.
func (h *Handler) notify(c echo.Context) error {
	r := h.Receiver
	req := c.Request()
	ctx := req.Context()
	body, err := io.ReadAll(io.LimitReader(req.Body, payscore.MaxNotificationBytes+1))
	if err != nil {
		return h.refuse(c, http.StatusBadRequest, store.Refusal{Reason: payscore.ReasonMalformed}, "cannot read body")
	}
	if len(body) > payscore.MaxNotificationBytes {
		return h.refuse(c, http.StatusRequestEntityTooLarge, store.Refusal{Reason: reasonTooLarge}, "body too large")
	}
	n, err := r.Parser.Parse(ctx, req.Header, body)
	if err != nil {
		var ne *payscore.NotifyError
		if !errors.As(err, &ne) {
			h.Logger.Error("notification: parse", "err", err)
			return h.refuse(c, http.StatusInternalServerError, store.Refusal{Reason: "internal"}, "internal error")
		}
		status := http.StatusBadRequest
		switch ne.Reason {
		case payscore.ReasonMissingHeader, payscore.ReasonBadTimestamp, payscore.ReasonBadSignature, payscore.ReasonUnknownSerial:
			status = http.StatusUnauthorized
		}
		h.Logger.Warn("notification refused", "reason", ne.Reason, "err", err, "ip", c.RealIP())
		return h.refuse(c, status, store.Refusal{Reason: ne.Reason, NotificationID: ne.NotificationID}, "refused: "+ne.Reason)
	}
	p := n.Payload
	refusal := store.Refusal{Serial: n.Serial, NotificationID: n.ID}
	if err := p.CheckOwner(r.MchID, r.ServiceID); err != nil {
		h.Logger.Warn("notification refused: not ours", "id", n.ID, "err", err)
		refusal.Reason = reasonNotOwner
		return h.refuse(c, http.StatusBadRequest, refusal, "not for this merchant")
	}
	if _, known := h.knownSubMchIDs.Load(p.SubMchID); known {
		// Registered before: sub-merchants are never deleted (only disabled,
		// and a disabled one's users still send real events).
	} else if _, err := r.Store.SubMerchantByMchID(ctx, p.SubMchID); errors.Is(err, store.ErrNotFound) {
		h.Logger.Warn("notification refused: unknown sub_mchid", "id", n.ID, "sub_mchid", p.SubMchID)
		refusal.Reason = reasonUnknownSubMchID
		return h.refuse(c, http.StatusBadRequest, refusal, "unknown sub_mchid")
	} else if err != nil {
		h.Logger.Error("notification: look up sub-merchant", "err", err)
		h.notifyMetrics.outcomes.WithLabelValues("error").Inc()
		return failJSON(c, http.StatusInternalServerError, "internal error")
	} else {
		h.knownSubMchIDs.Store(p.SubMchID, struct{}{})
	}
	at := p.OpenOrCloseTime
	if at.IsZero() {
		at = n.CreateTime
	}
	timeout := r.StoreTimeout
	if timeout <= 0 {
		timeout = 4 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := r.Store.RecordNotification(sctx, store.Notification{
		NotificationID: n.ID, EventType: n.EventType, AuthorizationCode: p.AuthorizationCode, SubMchID: p.SubMchID,
		OpenID: p.OpenID, SubOpenID: p.SubOpenID, OpenOrCloseTime: at, CreateTime: n.CreateTime.Format("2006-01-02T15:04:05Z07:00"),
		Serial: n.Serial, Envelope: n.Envelope, Payload: n.Plaintext, RemoteAddr: c.RealIP(),
	})
	if err != nil {
		// Not known to be committed: a 5xx makes WeChat Pay deliver it
		// again, and a retry of one that did commit is a harmless duplicate.
		h.Logger.Error("notification: record", "id", n.ID, "err", err)
		h.notifyMetrics.outcomes.WithLabelValues("error").Inc()
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusServiceUnavailable
		}
		return failJSON(c, status, "storage unavailable, retry later")
	}
	h.notifyMetrics.outcomes.WithLabelValues(outcome).Inc()
	return c.NoContent(http.StatusNoContent)
}

// refuse records a refused attempt and answers WeChat Pay's failure format.
func (h *Handler) refuse(c echo.Context, status int, r store.Refusal, msg string) error {
	h.notifyMetrics.outcomes.WithLabelValues("refused:" + r.Reason).Inc()
	if r.Serial == "" {
		r.Serial = c.Request().Header.Get("Wechatpay-Serial")
	}
	r.RemoteAddr = c.RealIP()
	if err := h.Receiver.Store.RecordRefusal(c.Request().Context(), r); err != nil {
		h.Logger.Error("notification: record refusal", "err", err)
	}
	return failJSON(c, status, msg)
}

func failJSON(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"code": "FAIL", "message": msg})
}
