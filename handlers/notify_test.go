package handlers

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/wiring"
)

// notifier plays WeChat Pay sending notifications: it encrypts payloads
// with the APIv3 key and signs them with the platform key, as the real one
// does. The receiver under test verifies them with payscore's verifier,
// built from the matching public key.
type notifier struct {
	key      *rsa.PrivateKey
	keyID    string
	apiV3Key string
	mchID    string
	service  string
	url      string
}

var (
	testKeysOnce    sync.Once
	testPlatformKey *rsa.PrivateKey
	testOtherKey    *rsa.PrivateKey
	testKeysGenErr  error
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	testKeysOnce.Do(func() {
		testPlatformKey, testKeysGenErr = rsa.GenerateKey(rand.Reader, 2048)
		if testKeysGenErr == nil {
			testOtherKey, testKeysGenErr = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if testKeysGenErr != nil {
		t.Fatal(testKeysGenErr)
	}
	return testPlatformKey, testOtherKey
}

// newReceiverServer configures the receiver with a real verifier for the
// notifier's keys (the test platform key); sub-merchant 1900000001 is
// registered. adjust changes the notification service.
func newReceiverServer(t testing.TB, adjust ...func(*service.Notifications)) (*testServer, *notifier) {
	t.Helper()
	key, _ := testKeys(t)
	return newReceiverServerWithKey(t, key, func(d *testWiring) {
		d.AdjustServices = func(s *service.Services) {
			for _, a := range adjust {
				a(s.Notifications)
			}
		}
	})
}

// newReceiverServerWithKey is newReceiverServer with a given platform key
// and a last change to the handlers' dependencies. The verifier and our
// merchant and service ids come from wiring.NewWeChatPay in live mode, as
// serve builds them, from a configuration with the notifier's keys.
func newReceiverServerWithKey(t testing.TB, key *rsa.PrivateKey, deps func(*testWiring)) (*testServer, *notifier) {
	t.Helper()
	n := &notifier{key: key, keyID: "PUB_KEY_ID_0114232134912410000000000000", apiV3Key: "0123456789abcdef0123456789abcdef",
		mchID: "1230000109", service: "500001"}
	ts := newTestServer(t, withDeps(func(d *testWiring) {
		w, err := wiring.NewWeChatPay(context.Background(), wiring.Options{
			DB: d.Store,
			PayScore: payscore.Config{MchID: n.mchID, CertSerial: "TEST-MERCHANT-SERIAL", PrivateKey: key,
				APIv3Key: n.apiV3Key, PublicKey: &key.PublicKey, PublicKeyID: n.keyID, APIBase: "https://api.mch.weixin.qq.com",
				ServiceID: n.service, ChannelID: "test-channel", AppID: "wxd678efh567hg6787", RequireHTTPSNotify: true},
			Tickets: payscore.TicketConfig{APIBase: "https://api.weixin.qq.com", AppID: "wxd678efh567hg6787", Secret: "test-mp-secret"},
		})
		if err != nil {
			t.Fatal(err)
		}
		d.Receiver = Receiver{Parser: w.Verifier}
		d.MchID, d.ServiceID, d.AppID = w.Config.MchID, w.Config.ServiceID, w.Config.AppID
		if deps != nil {
			deps(d)
		}
	}))
	if _, err := ts.db.CreateSubMerchant(context.Background(), store.SubMerchant{SubMchID: "1900000001", Name: "测试商户"}); err != nil {
		t.Fatal(err)
	}
	n.url = ts.URL + "/notify/payscore"
	return ts, n
}

// payload is a decrypted notification body.
func (n *notifier) payload(event, code string, at time.Time) map[string]any {
	status := "USER_OPEN_SERVICE"
	if event == payscore.EventUserCloseService {
		status = "USER_CLOSE_SERVICE"
	}
	return map[string]any{
		"appid": "wxd678efh567hg6787", "mchid": n.mchID, "sub_mchid": "1900000001", "service_id": n.service,
		"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "user_service_status": status,
		"openorclose_time": at.In(time.FixedZone("CST", 8*3600)).Format("20060102150405"), "authorization_code": code,
	}
}

// envelope encrypts a payload into a notification body.
func (n *notifier) envelope(t testing.TB, id, event string, payload any, apiV3Key string) []byte {
	t.Helper()
	plain, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher([]byte(apiV3Key))
	gcm, _ := cipher.NewGCM(block)
	nonce := "0123456789ab"
	ad := "payscore"
	ct := gcm.Seal(nil, []byte(nonce), plain, []byte(ad))
	body, _ := json.Marshal(map[string]any{
		"id": id, "create_time": time.Now().Format(time.RFC3339), "resource_type": "encrypt-resource", "event_type": event,
		"summary": "授权成功",
		"resource": map[string]string{"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.StdEncoding.EncodeToString(ct),
			"nonce": nonce, "associated_data": ad, "original_type": "payscore"},
	})
	return body
}

// headers signs a body as WeChat Pay would.
func (n *notifier) headers(t testing.TB, body []byte, key *rsa.PrivateKey, serial string, ts time.Time) http.Header {
	t.Helper()
	nonce := "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig, err := utils.SignSHA256WithRSA(stamp+"\n"+nonce+"\n"+string(body)+"\n", key)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Timestamp", stamp)
	h.Set("Wechatpay-Nonce", nonce)
	return h
}

// send posts a notification and returns the status and body.
func (n *notifier) send(t testing.TB, body []byte, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// valid builds a correctly signed notification.
func (n *notifier) valid(t testing.TB, id, event, code string, at time.Time) ([]byte, http.Header) {
	body := n.envelope(t, id, event, n.payload(event, code, at), n.apiV3Key)
	return body, n.headers(t, body, n.key, n.keyID, time.Now())
}

func countRows(t testing.TB, db *store.DB, table string) int {
	t.Helper()
	c, err := queryInt(t, db, `SELECT count(*) FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refusedAttempts counts the refused attempts kept (of reason, or all).
func refusedAttempts(t testing.TB, db *store.DB, reason string) int {
	t.Helper()
	rows, err := db.RefusalLog(context.Background(), store.RefusalFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if reason == "" || r.Reason == reason {
			n += r.Count
		}
	}
	return n
}

func TestNotifyAccepted(t *testing.T) {
	ts, n := newReceiverServer(t)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	body, h := n.valid(t, "EV-2018022511223320873", payscore.EventUserOpenService, "CODE-1", at)
	status, resp := n.send(t, body, h)
	if got, want := status, http.StatusNoContent; got != want {
		t.Fatalf("status = %d, want %d (%s)", got, want, resp)
	}
	a, err := ts.db.AuthorizationByCode(context.Background(), "CODE-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != store.StateAvailable || a.OpenID != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" || !a.StateTime.Equal(at) {
		t.Errorf("authorization = %+v", a)
	}
	cbs, err := ts.db.Callbacks(context.Background(), store.CallbackFilter{})
	if err != nil || len(cbs) != 1 {
		t.Fatalf("callbacks = %v, %v", cbs, err)
	}
	cb, _, err := ts.db.CallbackByID(context.Background(), cbs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Envelope != string(body) {
		t.Error("stored envelope differs from the bytes received")
	}
	if !strings.Contains(cb.Payload, `"authorization_code":"CODE-1"`) {
		t.Errorf("stored payload = %s", cb.Payload)
	}

	t.Run("ExampleSpellingAccepted", func(t *testing.T) {
		p := n.payload(payscore.EventUserOpenService, "CODE-2", at)
		p["mch_id"], p["sub_mch_id"] = p["mchid"], p["sub_mchid"]
		delete(p, "mchid")
		delete(p, "sub_mchid")
		body := n.envelope(t, "EV-spelling", payscore.EventUserOpenService, p, n.apiV3Key)
		if status, resp := n.send(t, body, n.headers(t, body, n.key, n.keyID, time.Now())); status != http.StatusNoContent {
			t.Fatalf("status = %d (%s)", status, resp)
		}
	})

	t.Run("OlderCloseAfterNewerOpenLeavesAvailable", func(t *testing.T) {
		body, h := n.valid(t, "EV-old-close", payscore.EventUserCloseService, "CODE-1", at.Add(-time.Hour))
		if status, resp := n.send(t, body, h); status != http.StatusNoContent {
			t.Fatalf("status = %d (%s)", status, resp)
		}
		a, _ := ts.db.AuthorizationByCode(context.Background(), "CODE-1")
		if got, want := a.State, store.StateAvailable; got != want {
			t.Errorf("state = %s, want %s", got, want)
		}
	})

	t.Run("MetricsCountOutcomes", func(t *testing.T) {
		res := ts.anonymous(t).get(t, "/metrics", metricsAuth...)
		for _, want := range []string{`payscore_notifications_total{outcome="accepted"} 2`, `payscore_notifications_total{outcome="stale"} 1`} {
			if !strings.Contains(res.body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

func TestNotifyConcurrentDuplicates(t *testing.T) {
	ts, n := newReceiverServer(t)
	body, h := n.valid(t, "EV-dup", payscore.EventUserOpenService, "CODE-D", time.Now())
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := n.send(t, body, h.Clone())
			statuses <- s
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusNoContent {
			t.Errorf("status = %d, want 204", s)
		}
	}
	if got, want := countRows(t, ts.db, "callbacks"), 1; got != want {
		t.Fatalf("callbacks = %d, want %d", got, want)
	}
	cbs, _ := ts.db.Callbacks(context.Background(), store.CallbackFilter{})
	if got, want := cbs[0].Deliveries, 50; got != want {
		t.Errorf("deliveries = %d, want %d", got, want)
	}
	if applied, err := queryInt(t, ts.db, `SELECT count(*) FROM callback_deliveries WHERE outcome = 'accepted'`); err != nil || applied != 1 {
		t.Errorf("state changes = %d, %v; want 1", applied, err)
	}
}

func TestNotifyRefused(t *testing.T) {
	ts, n := newReceiverServer(t)
	_, otherKey := testKeys(t)
	at := time.Now()
	good := func() ([]byte, http.Header) {
		return n.valid(t, "EV-refused", payscore.EventUserOpenService, "CODE-R", at)
	}
	tests := []struct {
		name   string
		make   func() ([]byte, http.Header)
		status int
		reason string
	}{
		{"ErrOneByteChanged", func() ([]byte, http.Header) {
			b, h := good()
			b = bytes.Replace(b, []byte(`"summary":"`), []byte(`"summary":"X`), 1)
			return b, h
		}, http.StatusUnauthorized, payscore.ReasonBadSignature},
		{"ErrWrongKey", func() ([]byte, http.Header) {
			b, _ := good()
			return b, n.headers(t, b, otherKey, n.keyID, time.Now())
		}, http.StatusUnauthorized, payscore.ReasonBadSignature},
		{"ErrUnknownSerial", func() ([]byte, http.Header) {
			b, _ := good()
			return b, n.headers(t, b, n.key, "PUB_KEY_ID_999", time.Now())
		}, http.StatusUnauthorized, payscore.ReasonUnknownSerial},
		{"ErrSignTestProbe", func() ([]byte, http.Header) {
			b, h := good()
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature"))
			return b, h
		}, http.StatusUnauthorized, payscore.ReasonBadSignature},
		{"ErrTimestamp301sOld", func() ([]byte, http.Header) {
			b, _ := good()
			return b, n.headers(t, b, n.key, n.keyID, time.Now().Add(-301*time.Second))
		}, http.StatusUnauthorized, payscore.ReasonBadTimestamp},
		{"ErrWrongAPIv3Key", func() ([]byte, http.Header) {
			b := n.envelope(t, "EV-refused", payscore.EventUserOpenService, n.payload(payscore.EventUserOpenService, "CODE-R", at), "ffffffffffffffffffffffffffffffff")
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, payscore.ReasonDecryptFailed},
		{"ErrOtherMerchant", func() ([]byte, http.Header) {
			p := n.payload(payscore.EventUserOpenService, "CODE-R", at)
			p["mchid"] = "1999999999"
			b := n.envelope(t, "EV-refused", payscore.EventUserOpenService, p, n.apiV3Key)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, service.ReasonNotOwner},
		{"ErrOtherService", func() ([]byte, http.Header) {
			p := n.payload(payscore.EventUserOpenService, "CODE-R", at)
			p["service_id"] = "999"
			b := n.envelope(t, "EV-refused", payscore.EventUserOpenService, p, n.apiV3Key)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, service.ReasonNotOwner},
		{"ErrUnregisteredSubMchID", func() ([]byte, http.Header) {
			p := n.payload(payscore.EventUserOpenService, "CODE-R", at)
			p["sub_mchid"] = "1900000099"
			b := n.envelope(t, "EV-refused", payscore.EventUserOpenService, p, n.apiV3Key)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, service.ReasonUnknownSubMchID},
		{"ErrBadEventType", func() ([]byte, http.Header) {
			b := n.envelope(t, "EV-refused", "TRANSACTION.SUCCESS", n.payload(payscore.EventUserOpenService, "CODE-R", at), n.apiV3Key)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, payscore.ReasonBadEventType},
		{"ErrSignedJunk", func() ([]byte, http.Header) {
			b := []byte(`{"id":"EV-junk","resource":"not an object"`)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusBadRequest, payscore.ReasonMalformed},
		{"ErrTooLarge", func() ([]byte, http.Header) {
			b := bytes.Repeat([]byte("x"), 2<<20)
			return b, n.headers(t, b, n.key, n.keyID, time.Now())
		}, http.StatusRequestEntityTooLarge, reasonTooLarge},
	}
	for _, h := range []string{"Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"} {
		tests = append(tests, struct {
			name   string
			make   func() ([]byte, http.Header)
			status int
			reason string
		}{"ErrMissing" + h, func() ([]byte, http.Header) {
			b, hd := good()
			hd.Del(h)
			return b, hd
		}, http.StatusUnauthorized, payscore.ReasonMissingHeader})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Refused attempts are aggregated (reason, address, minute):
			// each one is counted, not necessarily a row of its own.
			before := refusedAttempts(t, ts.db, "")
			beforeReason := refusedAttempts(t, ts.db, tt.reason)
			body, h := tt.make()
			status, resp := n.send(t, body, h)
			if status != tt.status {
				t.Errorf("status = %d, want %d (%s)", status, tt.status, resp)
			}
			var fail struct{ Code, Message string }
			if err := json.Unmarshal([]byte(resp), &fail); err != nil || fail.Code != "FAIL" || fail.Message == "" {
				t.Errorf("body = %q, want {\"code\":\"FAIL\",\"message\":…}", resp)
			}
			if got := countRows(t, ts.db, "callbacks"); got != 0 {
				t.Errorf("callbacks = %d, want 0", got)
			}
			if got := countRows(t, ts.db, "authorizations"); got != 0 {
				t.Errorf("authorizations = %d, want 0", got)
			}
			if got, want := refusedAttempts(t, ts.db, ""), before+1; got != want {
				t.Fatalf("refusals = %d, want %d", got, want)
			}
			if got, want := refusedAttempts(t, ts.db, tt.reason), beforeReason+1; got != want {
				t.Errorf("refusals with reason %q = %d, want %d", tt.reason, got, want)
			}
			all, _ := ts.db.RefusalLog(context.Background(), store.RefusalFilter{Limit: 100})
			if strings.Contains(fmt.Sprint(all), "oUpF8uMuAJO") {
				t.Error("a refusal holds decrypted data")
			}
		})
	}
}

// failingNotifyStore fails every write, as a full disk or a read-only
// database would.
type failingNotifyStore struct{ service.NotificationStore }

func (f failingNotifyStore) RecordNotification(context.Context, store.Notification) (string, error) {
	return "", errors.New("disk I/O error")
}

func TestNotifyCommitFails(t *testing.T) {
	_, n := newReceiverServer(t, func(s *service.Notifications) { s.Store = failingNotifyStore{s.Store} })
	body, h := n.valid(t, "EV-fail", payscore.EventUserOpenService, "CODE-F", time.Now())
	status, resp := n.send(t, body, h)
	if got, want := status, http.StatusInternalServerError; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if !strings.Contains(resp, `"code":"FAIL"`) {
		t.Errorf("body = %s", resp)
	}
}

// TestNotifyReadOnlyDatabase: a database that cannot be written answers 5xx,
// never 204, so WeChat Pay delivers again. A trigger that aborts every
// delivery row stands in for a database refusing writes (the store's own
// connection is out of the test's reach).
func TestNotifyReadOnlyDatabase(t *testing.T) {
	ts, n := newReceiverServer(t)
	raw := openSQL(t, ts.db)
	if _, err := raw.Exec(`CREATE TRIGGER test_refuse_writes BEFORE INSERT ON callback_deliveries BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END`); err != nil {
		t.Fatal(err)
	}
	body, h := n.valid(t, "EV-ro", payscore.EventUserOpenService, "CODE-RO", time.Now())
	if status, _ := n.send(t, body, h); status < 500 {
		t.Fatalf("status = %d, want 5xx", status)
	}
	if _, err := raw.Exec(`DROP TRIGGER test_refuse_writes`); err != nil {
		t.Fatal(err)
	}
	if status, _ := n.send(t, body, h); status != http.StatusNoContent {
		t.Fatalf("retry after recovery: status = %d, want 204", status)
	}
}

// TestSandboxNotificationLoop: the sandbox's real-format notifications, sent
// over loopback HTTP, pass the console's receiver and change the state.
func TestSandboxNotificationLoop(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	if _, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000001", Name: "测试商户"}); err != nil {
		t.Fatal(err)
	}
	res, err := wp.client.PreAuthorize(ctx, payscore.PreAuthorizeRequest{SubMchID: "1900000001", AuthorizationCode: "LOOP-1",
		NotifyURL: ts.URL + "/notify/payscore"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wp.sb.Agree(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	if got := wp.deliver(t); got != 1 {
		t.Fatalf("delivered %d notifications, want 1", got)
	}
	a, err := ts.db.AuthorizationByCode(ctx, "LOOP-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != store.StateAvailable || (a.OpenID == "" && a.SubOpenID == "") {
		t.Errorf("authorization = %+v, want AVAILABLE with a user id", a)
	}
	if err := wp.sb.UserClose(ctx, "LOOP-1"); err != nil {
		t.Fatal(err)
	}
	wp.deliver(t)
	if a, _ := ts.db.AuthorizationByCode(ctx, "LOOP-1"); a.State != store.StateUnavailable {
		t.Errorf("after the user closed: state = %s, want UNAVAILABLE", a.State)
	}
	if got, want := countRows(t, ts.db, "callbacks"), 2; got != want {
		t.Errorf("callbacks = %d, want %d", got, want)
	}
}

// TestNotifyBusyDatabase: while another connection holds the write lock,
// a notification is answered 503 within the store time-out — never 204 —
// and WeChat Pay's next delivery, once the lock is gone, is stored.
func TestNotifyBusyDatabase(t *testing.T) {
	ts, n := newReceiverServer(t, func(s *service.Notifications) { s.StoreTimeout = 300 * time.Millisecond })
	other, err := sql.Open("sqlite3", "file:"+ts.db.Path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	body, h := n.valid(t, "EV-busy", payscore.EventUserOpenService, "CODE-BUSY", time.Now())
	start := time.Now()
	status, resp := n.send(t, body, h)
	if got, want := status, http.StatusServiceUnavailable; got != want {
		t.Fatalf("status while locked = %d, want %d (%s)", got, want, resp)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %s, want within the store time-out", took)
	}
	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, resp = n.send(t, body, h)
		if status == http.StatusNoContent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != http.StatusNoContent {
		t.Fatalf("retry after the lock: status %d (%s)", status, resp)
	}
	if got, want := countRows(t, ts.db, "callbacks"), 1; got != want {
		t.Errorf("callbacks = %d, want %d", got, want)
	}
}
