package service

import (
	"context"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TestSkewedClockKeepsCloseNotification: states are ordered by WeChat Pay's
// own times. Our clock runs 10 minutes ahead; a look-up records AVAILABLE
// (authorization_success_time T); the user then closes the service at
// WeChat's T+2 min — earlier than our clock was at the look-up. The close
// notification still applies.
func TestSkewedClockKeepsCloseNotification(t *testing.T) {
	ctx := context.Background()
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute} {
		t.Run("OKSkew"+skew.String(), func(t *testing.T) {
			e := newEnv(t)
			wechat := testStart // WeChat Pay's clock
			e.now = wechat.Add(skew)
			if _, err := e.svc.Links.Create(ctx, alice, "1900000101", "SKEW-1"); err != nil {
				t.Fatal(err)
			}
			agreedAt := wechat.Add(time.Minute)
			e.ps.query = func(payscore.QueryRequest) (*payscore.Authorization, error) {
				return &payscore.Authorization{State: payscore.StateAvailable, AuthorizationSuccessTime: &agreedAt, RequestID: "REQ-Q"}, nil
			}
			e.now = agreedAt.Add(30 * time.Second).Add(skew)
			found, err := e.svc.Lookup.Lookup(ctx, "SKEW-1", "1900000101")
			if err != nil || found.Local == nil || found.Local.State != store.StateAvailable {
				t.Fatalf("look-up: %+v, %v; want AVAILABLE recorded", found.Local, err)
			}
			closedAt := wechat.Add(2 * time.Minute)
			e.now = closedAt.Add(skew)
			outcome, err := e.db.RecordNotification(ctx, store.Notification{NotificationID: "EV-CLOSE", EventType: store.EventClose,
				AuthorizationCode: "SKEW-1", SubMchID: "1900000101", OpenID: "o1", OpenOrCloseTime: closedAt,
				CreateTime: closedAt.Format(time.RFC3339), Envelope: []byte("{}"), Payload: []byte("{}")})
			if err != nil {
				t.Fatal(err)
			}
			a, _ := e.db.AuthorizationByCode(ctx, "SKEW-1")
			if outcome != store.OutcomeAccepted || a.State != store.StateUnavailable {
				t.Errorf("close notification: %s, state %s; want accepted, UNAVAILABLE", outcome, a.State)
			}
			// An older answer (a query of the open, answered late) does not
			// bring the code back.
			e.now = e.now.Add(time.Minute)
			if _, err := e.svc.Lookup.Lookup(ctx, "SKEW-1", "1900000101"); err != nil {
				t.Fatal(err)
			}
			if a, _ := e.db.AuthorizationByCode(ctx, "SKEW-1"); a.State != store.StateUnavailable {
				t.Errorf("after a stale query answer: %s, want UNAVAILABLE", a.State)
			}
		})
	}
}
