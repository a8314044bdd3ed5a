package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// notification is a verified notification for the env's sub-merchant.
func notification(id, code string, at time.Time) *payscore.Notification {
	return &payscore.Notification{ID: id, CreateTime: at, EventType: payscore.EventUserOpenService, Serial: "PUB_KEY_ID_TEST",
		Envelope: []byte(`{}`), Plaintext: []byte(`{}`),
		Payload: payscore.Payload{MchID: "1230000109", ServiceID: "500001", SubMchID: "1900000101",
			OpenID: "oUser", UserServiceStatus: "USER_OPEN_SERVICE", AuthorizationCode: code, OpenOrCloseTime: at}}
}

// TestNotificationsReceive: the receiving rules without HTTP — ours or
// not, registered sub-merchant or not, each stored once, refusals recorded.
func TestNotificationsReceive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.svc.Notifications
	s.MchID, s.ServiceID = "1230000109", "500001"

	n := notification("EV-1", "CODE-1", testStart)
	if got, err := s.Receive(ctx, n, "10.0.0.1"); err != nil || got != store.OutcomeAccepted {
		t.Fatalf("first delivery: %q, %v; want accepted", got, err)
	}
	if got, err := s.Receive(ctx, n, "10.0.0.1"); err != nil || got != store.OutcomeDuplicate {
		t.Fatalf("second delivery: %q, %v; want duplicate", got, err)
	}
	a, err := e.db.AuthorizationByCode(ctx, "CODE-1")
	if err != nil || a.State != store.StateAvailable {
		t.Fatalf("authorization = %+v, %v; want AVAILABLE", a, err)
	}

	for _, tt := range []struct {
		name, reason string
		change       func(*payscore.Notification)
	}{
		{"other merchant", ReasonNotOwner, func(n *payscore.Notification) { n.Payload.MchID = "1230000999" }},
		{"other service", ReasonNotOwner, func(n *payscore.Notification) { n.Payload.ServiceID = "999" }},
		{"unknown sub-merchant", ReasonUnknownSubMchID, func(n *payscore.Notification) { n.Payload.SubMchID = "1900000999" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := notification("EV-"+tt.name, "CODE-X", testStart)
			tt.change(n)
			_, err := s.Receive(ctx, n, "10.0.0.2")
			var refused *RefusedError
			if !errors.As(err, &refused) || refused.Reason != tt.reason {
				t.Fatalf("err = %v, want a refusal %q", err, tt.reason)
			}
			latest, err := e.db.RefusalLog(ctx, store.RefusalFilter{Limit: 1})
			if err != nil || len(latest) != 1 || latest[0].Reason != tt.reason || latest[0].NotificationID != n.ID {
				t.Errorf("refusal log = %+v, %v", latest, err)
			}
		})
	}
	if _, err := e.db.AuthorizationByCode(ctx, "CODE-X"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused notification changed an authorization: %v", err)
	}
}
