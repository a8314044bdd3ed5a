package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/sandbox"
)

var beijingTZ = time.FixedZone("UTC+8", 8*3600)

// agree pre-authorizes code and has the user agree; it returns the
// authorization as agreed.
func (e *env) agree(t *testing.T, code, subAppID string) sandbox.Authorization {
	t.Helper()
	a, err := e.sb.Agree(context.Background(), e.mustToken(t, code, "1230000109", subAppID))
	if err != nil {
		t.Fatalf("agree %s: %v", code, err)
	}
	return a
}

func (e *env) deliver(t *testing.T, want int) {
	t.Helper()
	n, err := e.sb.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if n != want {
		t.Fatalf("deliver at %v: sent %d, want %d", e.clock.Now().Format(time.TimeOnly), n, want)
	}
}

func (e *env) lastDelivery(t *testing.T) delivery {
	t.Helper()
	d := e.recv.deliveries()
	if len(d) == 0 {
		t.Fatal("no delivery")
	}
	return d[len(d)-1]
}

// TestNotificationsPassSDK: every kind of sandbox notification is accepted
// by the official SDK's notify handler and carries the spec's fields.
func TestNotificationsPassSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	checkEnvelope := func(t *testing.T, d delivery, event, summary string) map[string]any {
		t.Helper()
		if got, want := d.Header.Get("Wechatpay-Serial"), e.creds.PublicKeyID; got != want {
			t.Errorf("Wechatpay-Serial: got %q, want %q", got, want)
		}
		req, p := e.parse(t, d)
		if !regexp.MustCompile(`^EV-\d{22,33}$`).MatchString(req.ID) {
			t.Errorf("id: got %q", req.ID)
		}
		if req.ResourceType != "encrypt-resource" || req.EventType != event || req.Summary != summary {
			t.Errorf("envelope: got %q %q %q", req.ResourceType, req.EventType, req.Summary)
		}
		r := req.Resource
		if r.Algorithm != "AEAD_AES_256_GCM" || len(r.Nonce) != 12 || r.AssociatedData == "" || r.OriginalType == "" {
			t.Errorf("resource: %+v", r)
		}
		if req.CreateTime == nil {
			t.Error("create_time missing")
		} else if _, off := req.CreateTime.Zone(); off != 8*3600 {
			t.Errorf("create_time offset %d, want +08:00", off)
		}
		return p
	}
	checkPayload := func(t *testing.T, p map[string]any, want map[string]any, absent ...string) {
		t.Helper()
		for k, v := range want {
			if p[k] != v {
				t.Errorf("payload %s: got %v, want %v", k, p[k], v)
			}
		}
		for _, k := range absent {
			if _, ok := p[k]; ok {
				t.Errorf("payload %s present, want absent", k)
			}
		}
	}

	t.Run("OpenWithOpenID", func(t *testing.T) {
		a := e.agree(t, "NOTE1", "")
		e.deliver(t, 1)
		p := checkEnvelope(t, e.lastDelivery(t), "PAYSCORE.USER_OPEN_SERVICE", "授权成功")
		checkPayload(t, p, map[string]any{
			"appid": e.creds.AppID, "mchid": e.creds.MchID, "sub_mchid": "1230000109", "channel_id": e.creds.ChannelID,
			"service_id": e.creds.ServiceID, "openid": a.OpenID, "user_service_status": "USER_OPEN_SERVICE",
			"openorclose_time": a.SuccessTime.In(beijingTZ).Format("20060102150405"), "authorization_code": "NOTE1",
		}, "sub_openid", "sub_appid", "mch_id", "sub_mch_id")
	})
	t.Run("OpenWithSubOpenID", func(t *testing.T) {
		a := e.agree(t, "NOTE2", "wxsub0000000000001")
		e.deliver(t, 1)
		p := checkEnvelope(t, e.lastDelivery(t), "PAYSCORE.USER_OPEN_SERVICE", "授权成功")
		checkPayload(t, p, map[string]any{"sub_appid": "wxsub0000000000001", "sub_openid": a.OpenID}, "openid")
	})
	t.Run("CloseByUser", func(t *testing.T) {
		if err := e.sb.UserClose(ctx, "NOTE1"); err != nil {
			t.Fatal(err)
		}
		a, _ := e.sb.Authorization(ctx, "NOTE1")
		e.deliver(t, 1)
		p := checkEnvelope(t, e.lastDelivery(t), "PAYSCORE.USER_CLOSE_SERVICE", "解除授权成功")
		checkPayload(t, p, map[string]any{
			"user_service_status": "USER_CLOSE_SERVICE", "openid": a.OpenID,
			"openorclose_time": a.CancelTime.In(beijingTZ).Format("20060102150405"),
		})
		if err := e.sb.UserClose(ctx, "NOTE1"); !errors.Is(err, sandbox.ErrInvalidState) {
			t.Errorf("closing twice: got %v, want ErrInvalidState", err)
		}
	})
	t.Run("CloseByMerchant", func(t *testing.T) {
		if _, err := e.terminate(e.client, "NOTE2", "1230000109", "商户解除"); err != nil {
			t.Fatal(err)
		}
		e.deliver(t, 1)
		p := checkEnvelope(t, e.lastDelivery(t), "PAYSCORE.USER_CLOSE_SERVICE", "解除授权成功")
		checkPayload(t, p, map[string]any{"user_service_status": "USER_CLOSE_SERVICE", "authorization_code": "NOTE2"})
	})
	t.Run("ExampleSpelling", func(t *testing.T) {
		if err := e.sb.SetSettings(ctx, sandbox.Settings{ExampleSpelling: true}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.SetSettings(ctx, sandbox.Settings{})
		e.agree(t, "NOTE3", "")
		e.deliver(t, 1)
		p := checkEnvelope(t, e.lastDelivery(t), "PAYSCORE.USER_OPEN_SERVICE", "授权成功")
		checkPayload(t, p, map[string]any{"mch_id": e.creds.MchID, "sub_mch_id": "1230000109"}, "mchid", "sub_mchid")
	})
	t.Run("ResendFreshSignatureSameBody", func(t *testing.T) {
		ns, err := e.sb.Notifications(ctx, "NOTE3")
		if err != nil || len(ns) != 1 {
			t.Fatalf("notifications: %v %d", err, len(ns))
		}
		first := e.lastDelivery(t)
		at, err := e.sb.Resend(ctx, ns[0].ID)
		if err != nil || !at.OK() {
			t.Fatalf("resend: %v %+v", err, at)
		}
		again := e.lastDelivery(t)
		if string(again.Body) != string(first.Body) {
			t.Error("a resend changed the body")
		}
		if again.Header.Get("Wechatpay-Nonce") == first.Header.Get("Wechatpay-Nonce") {
			t.Error("a resend reused the nonce")
		}
		e.parse(t, again)
	})
	t.Run("ForgedRefused", func(t *testing.T) {
		before := len(e.recv.deliveries())
		at, err := e.sb.SendForged(ctx, "NOTE3")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := at.Kind, sandbox.AttemptForged; got != want {
			t.Errorf("kind: got %q, want %q", got, want)
		}
		d := e.recv.deliveries()
		if len(d) != before+1 {
			t.Fatalf("forged: %d deliveries, want 1", len(d)-before)
		}
		payload := map[string]any{}
		if _, err := e.notifyHandler(t).ParseNotifyRequest(ctx, d[len(d)-1].request(), &payload); err == nil {
			t.Error("the SDK accepted a forged notification")
		}
		// Sent once, never retried.
		e.clock.Add(time.Hour)
		defer e.clock.Add(-time.Hour)
		e.deliver(t, 0)
	})
	t.Run("NoNotifyURL", func(t *testing.T) {
		b := e.preAuthBody("NOURL", "1230000109", "")
		delete(b, "notify_url")
		res, err := e.preAuthorize(e.client, b)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Token string `json:"apply_permissions_token"`
		}
		decodeResult(t, res, &out)
		if _, err := e.sb.Agree(ctx, out.Token); err != nil {
			t.Fatal(err)
		}
		e.deliver(t, 0)
		ns, _ := e.sb.Notifications(ctx, "NOURL")
		if len(ns) != 1 || ns[0].Status != sandbox.NotificationNoURL {
			t.Fatalf("notifications: %+v", ns)
		}
		if _, err := e.sb.Resend(ctx, ns[0].ID); !errors.Is(err, sandbox.ErrNoNotifyURL) {
			t.Errorf("resend: got %v, want ErrNoNotifyURL", err)
		}
	})
}

// TestRetrySchedule: 500, 500, 204 → attempts at 0 s, 15 s and 30 s, then
// nothing more.
func TestRetrySchedule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.recv.answer(500, 500)
	e.agree(t, "RETRY", "")
	t0 := e.clock.Now()
	for _, step := range []struct {
		at   time.Duration
		sent int
	}{{0, 1}, {14 * time.Second, 0}, {15 * time.Second, 1}, {29 * time.Second, 0}, {30 * time.Second, 1}, {time.Hour, 0}, {80 * time.Hour, 0}} {
		e.clock.Set(t0.Add(step.at))
		e.deliver(t, step.sent)
	}
	ns, err := e.sb.Notifications(ctx, "RETRY")
	if err != nil || len(ns) != 1 {
		t.Fatalf("notifications: %v %d", err, len(ns))
	}
	n := ns[0]
	if got, want := n.Status, sandbox.NotificationDelivered; got != want {
		t.Errorf("status: got %q, want %q", got, want)
	}
	wantAt := []time.Duration{0, 15 * time.Second, 30 * time.Second}
	wantCode := []int{500, 500, 204}
	if len(n.Attempts) != len(wantAt) {
		t.Fatalf("attempts: got %d, want %d", len(n.Attempts), len(wantAt))
	}
	for i, a := range n.Attempts {
		if got := a.At.Sub(t0); got != wantAt[i] {
			t.Errorf("attempt %d at +%v, want +%v", i, got, wantAt[i])
		}
		if a.StatusCode != wantCode[i] || a.OK() != (wantCode[i] == 204) {
			t.Errorf("attempt %d: status %d ok=%v, want %d", i, a.StatusCode, a.OK(), wantCode[i])
		}
	}
}

// TestRetryGivesUpAfterThreeDays follows the whole default schedule against
// a receiver that always fails.
func TestRetryGivesUpAfterThreeDays(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	always500 := make([]int, 200)
	for i := range always500 {
		always500[i] = 500
	}
	e.recv.answer(always500...)
	e.agree(t, "GIVEUP", "")
	t0 := e.clock.Now()

	// The spec, computed here independently: 0s/15s/15s/30s/180s/1800s×4/
	// 3600s, then every 3600 s, no attempt later than 3 days after the first.
	gaps := []time.Duration{0, 15, 15, 30, 180, 1800, 1800, 1800, 1800, 3600}
	var want []time.Duration
	for at, i := time.Duration(0), 0; ; i++ {
		if i > 0 {
			at += gaps[min(i, len(gaps)-1)] * time.Second
		}
		if at > 72*time.Hour {
			break
		}
		want = append(want, at)
	}

	for range 500 {
		n, err := e.sb.Notifications(ctx, "GIVEUP")
		if err != nil {
			t.Fatal(err)
		}
		if n[0].Status != sandbox.NotificationPending {
			break
		}
		e.clock.Set(n[0].NextAttemptAt)
		e.deliver(t, 1)
	}
	ns, _ := e.sb.Notifications(ctx, "GIVEUP")
	n := ns[0]
	if got, want := n.Status, sandbox.NotificationFailed; got != want {
		t.Errorf("status: got %q, want %q", got, want)
	}
	if got, want := len(n.Attempts), len(want); got != want {
		t.Fatalf("attempts: got %d, want %d", got, want)
	}
	for i, a := range n.Attempts {
		if got := a.At.Sub(t0); got != want[i] {
			t.Errorf("attempt %d at +%v, want +%v", i, got, want[i])
		}
	}
	if !n.NextAttemptAt.IsZero() {
		t.Errorf("next attempt %v after giving up", n.NextAttemptAt)
	}
	e.clock.Add(7 * 24 * time.Hour)
	e.deliver(t, 0)
}

// TestDuplicates: the option sends each delivered notification twice with
// the same id; Duplicate sends one twice at once.
func TestDuplicates(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.sb.SetSettings(ctx, sandbox.Settings{Duplicates: true}); err != nil {
		t.Fatal(err)
	}
	e.agree(t, "DUP", "")
	e.deliver(t, 2)
	d := e.recv.deliveries()
	if len(d) != 2 {
		t.Fatalf("deliveries: got %d, want 2", len(d))
	}
	r1, _ := e.parse(t, d[0])
	r2, _ := e.parse(t, d[1])
	if r1.ID != r2.ID {
		t.Errorf("ids differ: %s, %s", r1.ID, r2.ID)
	}
	ns, _ := e.sb.Notifications(ctx, "DUP")
	if kinds := []string{ns[0].Attempts[0].Kind, ns[0].Attempts[1].Kind}; kinds[0] != sandbox.AttemptScheduled || kinds[1] != sandbox.AttemptDuplicate {
		t.Errorf("attempt kinds: %v", kinds)
	}

	ats, err := e.sb.Duplicate(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ats) != 2 || !ats[0].OK() || !ats[1].OK() {
		t.Errorf("duplicate attempts: %+v", ats)
	}
	d = e.recv.deliveries()
	if len(d) != 4 {
		t.Fatalf("deliveries: got %d, want 4", len(d))
	}
	for _, x := range d[2:] {
		if r, _ := e.parse(t, x); r.ID != r1.ID {
			t.Errorf("duplicate id %s, want %s", r.ID, r1.ID)
		}
	}
}

// TestRunDeliversAtOnce: the background loop sends a new notification
// without waiting for a tick.
func TestRunDeliversAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.sb.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.agree(t, "RUN", "")
	deadline := time.Now().Add(3 * time.Second)
	for len(e.recv.deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not deliver")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.parse(t, e.recv.deliveries()[0])
}

// TestNotifyReceiverStatus: only 200 and 204 count as success.
func TestNotifyReceiverStatus(t *testing.T) {
	e := newEnv(t)
	e.recv.answer(http.StatusAccepted, http.StatusOK)
	e.agree(t, "STATUS", "")
	e.deliver(t, 1)
	e.clock.Add(15 * time.Second)
	e.deliver(t, 1)
	ns, _ := e.sb.Notifications(context.Background(), "STATUS")
	if got, want := ns[0].Status, sandbox.NotificationDelivered; got != want {
		t.Errorf("status: got %q, want %q", got, want)
	}
	if ns[0].Attempts[0].OK() {
		t.Error("202 counted as success")
	}
}
