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
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// NotifyParser verifies and decrypts a notification (payscore.NotifyVerifier).
type NotifyParser interface {
	Parse(ctx context.Context, header http.Header, body []byte) (*payscore.Notification, error)
}

// Receiver is the notification endpoint's own configuration; what is done
// with a verified notification is service.Notifications' to decide.
type Receiver struct {
	Parser NotifyParser
}

// reasonTooLarge: the body is over payscore.MaxNotificationBytes.
const reasonTooLarge = service.ReasonTooLarge

type notifyMetrics struct{ outcomes, refused *prometheus.CounterVec }

func newNotifyMetrics(reg prometheus.Registerer) *notifyMetrics {
	m := &notifyMetrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payscore_notifications_total",
		Help: "Notification deliveries by outcome: accepted, stale, duplicate, refused:<reason>, error.",
	}, []string{"outcome"}), refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payscore_notifications_refused_total",
		Help: "Refused notification deliveries by kind: probe (WeChat Pay's WECHATPAY/SIGNTEST signature probes), forged (a known key, " +
			"a signature that does not verify), unknown_key, decryption, clock, headers, malformed, ownership, throttled, internal.",
	}, []string{"kind"})}
	reg.MustRegister(m.outcomes, m.refused)
	for _, k := range service.RefusalKinds {
		m.refused.WithLabelValues(k) // every kind's series from 0: rate() sees the first one
	}
	return m
}

// notify receives WeChat Pay's notifications. Nothing reads the body before
// it is read here, once, size-limited; the parser verifies the signature over
// exactly those bytes; service.Notifications decides what is recorded. The
// answer is 204 only after the commit.
func (h *Handler) notify(c echo.Context) error {
	req := c.Request()
	if h.refusalBudget.exhausted(c.RealIP()) {
		// Too many refused attempts from this address: answered before
		// anything is read or checked.
		return h.refuse(c, http.StatusTooManyRequests, h.diagnosed(c, reasonRateLimited, "", nil), "too many refused attempts, retry later")
	}
	addr := c.RealIP()
	if !h.senders.isKnown(addr, time.Now()) {
		// Not a sender of signed notifications lately: through the
		// strangers' lane (notify_budget.go).
		release, ok := h.senders.enter(req.Context())
		if !ok {
			return h.refuse(c, http.StatusServiceUnavailable, h.diagnosed(c, reasonBusy, "", nil), "busy, retry later")
		}
		defer release()
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, payscore.MaxNotificationBytes+1))
	if err != nil {
		return h.refuse(c, http.StatusBadRequest, h.diagnosed(c, payscore.ReasonMalformed, "", nil), "cannot read body")
	}
	if len(body) > payscore.MaxNotificationBytes {
		// Size and hash of the first 64 KiB + 1 byte read: the rest is not.
		return h.refuse(c, http.StatusRequestEntityTooLarge, h.diagnosed(c, reasonTooLarge, "", body), "body too large")
	}
	n, err := h.Receiver.Parser.Parse(req.Context(), req.Header, body)
	if err != nil {
		var ne *payscore.NotifyError
		if !errors.As(err, &ne) {
			h.Logger.Error("notification: parse", "err", err)
			return h.refuse(c, http.StatusInternalServerError, h.diagnosed(c, "internal", "", body), "internal error")
		}
		h.Logger.Warn("notification refused", "reason", ne.Reason, "err", err, "ip", c.RealIP())
		return h.refuse(c, notifyRefusalStatus(ne.Reason), h.diagnosed(c, ne.Reason, ne.NotificationID, body), "refused: "+ne.Reason)
	}
	// Signed by WeChat Pay: its address skips the strangers' lane from now.
	h.senders.markKnown(addr, time.Now())
	outcome, err := h.Services.Notifications.Receive(req.Context(), n, c.RealIP())
	var refused *service.RefusedError
	switch {
	case errors.As(err, &refused):
		h.notifyMetrics.outcomes.WithLabelValues("refused:" + refused.Reason).Inc()
		h.notifyMetrics.refused.WithLabelValues(service.RefusalKind(refused.Reason, false)).Inc()
		return failJSON(c, http.StatusBadRequest, notifyRefusalMessage[refused.Reason])
	case err != nil && !errors.Is(err, service.ErrNotRecorded):
		h.Logger.Error("notification: receive", "id", n.ID, "err", err)
		h.notifyMetrics.outcomes.WithLabelValues("error").Inc()
		return failJSON(c, http.StatusInternalServerError, "internal error")
	case err != nil:
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

// notifyRefusalStatus is the status of a notification the verifier
// refused: 401 when it is not signed by WeChat Pay, 400 otherwise.
func notifyRefusalStatus(reason string) int {
	switch reason {
	case payscore.ReasonMissingHeader, payscore.ReasonBadTimestamp, payscore.ReasonBadSignature, payscore.ReasonUnknownSerial:
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

// notifyRefusalMessage is the answer's message for the service's refusals.
var notifyRefusalMessage = map[string]string{
	service.ReasonNotOwner:         "not for this merchant",
	service.ReasonUnknownSubMchID:  "unknown sub_mchid",
	service.ReasonSubMchIDMismatch: "sub_mchid does not match the authorization",
	service.ReasonAppIDMismatch:    "appid does not match the authorization",
}

// refuse records a refused attempt and answers WeChat Pay's failure format.
func (h *Handler) refuse(c echo.Context, status int, r store.Refusal, msg string) error {
	h.notifyMetrics.outcomes.WithLabelValues("refused:" + r.Reason).Inc()
	h.notifyMetrics.refused.WithLabelValues(r.Kind).Inc()
	if r.Serial == "" {
		r.Serial = c.Request().Header.Get("Wechatpay-Serial")
	}
	r.RemoteAddr = c.RealIP()
	if r.Reason != reasonRateLimited && r.Reason != reasonBusy {
		h.refusalBudget.charge(r.RemoteAddr)
	}
	h.Services.Notifications.Refuse(c.Request().Context(), r)
	return failJSON(c, status, msg)
}

// diagnosed is the refusal of the request for reason, with its diagnosis
// (service.DiagnosedRefusal); body is nil when it was not read. The skew
// is against the wall clock, which the verifier (and the SDK) check the
// timestamp against.
func (h *Handler) diagnosed(c echo.Context, reason, untrustedID string, body []byte) store.Refusal {
	return service.DiagnosedRefusal(reason, untrustedID, c.Request().Header, body, time.Now())
}

func failJSON(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"code": "FAIL", "message": msg})
}
