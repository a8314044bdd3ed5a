package handlers

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/payscore-console/payscore-console/payscore"
)

// fuzzSubMchID is the one registered sub-merchant of the fuzzed receiver.
const fuzzSubMchID = "1900000001"

// fuzzPlatformKey is the fuzzed receiver's platform key: 1024 bits, the
// smallest crypto/rsa accepts, because signing every input with a 2048-bit
// key would take most of the fuzzer's time; the code paths are the same.
var fuzzPlatformKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })

// newReceiverFuzzServer is newReceiverServer for a *testing.F: the receiver
// with a real verifier for the notifier's keys, sub-merchant 1900000001
// registered, and panics reported to w.
func newReceiverFuzzServer(tb testing.TB, w *panicWatch) (*testServer, *notifier) {
	tb.Helper()
	key, err := fuzzPlatformKey()
	if err != nil {
		tb.Fatal(err)
	}
	ts, n := newReceiverServerWithKey(tb, key, withPanicWatch(w))
	// Every input comes from one address: the per-address refusal budget
	// (TestNotifyRefusalBudget) would answer most of them 429 unchecked.
	ts.h.refusalBudget.off = true
	return ts, n
}

// sealEnvelope encrypts plaintext, as is, into a notification envelope whose
// event_type is eventType; the id is derived from the plaintext, so every
// distinct payload the fuzzer finds is a new notification.
func (n *notifier) sealEnvelope(t testing.TB, eventType string, plaintext []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher([]byte(n.apiV3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	const nonce, ad = "0123456789ab", "payscore"
	sum := sha256.Sum256(plaintext)
	body, err := json.Marshal(map[string]any{
		"id": "EV-" + hex.EncodeToString(sum[:12]), "create_time": time.Now().Format(time.RFC3339),
		"resource_type": "encrypt-resource", "event_type": eventType, "summary": "授权成功",
		"resource": map[string]string{"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": ad,
			"original_type": "payscore", "ciphertext": base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(ad)))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// openEnvelope is an independent reading of an accepted notification: the
// envelope's id and event_type, and the resource decrypted with the APIv3
// key and parsed as a JSON object.
func (n *notifier) openEnvelope(body []byte) (id, eventType string, payload map[string]json.RawMessage, ok bool) {
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return "", "", nil, false
	}
	var res struct {
		Ciphertext     string `json:"ciphertext"`
		Nonce          string `json:"nonce"`
		AssociatedData string `json:"associated_data"`
	}
	if json.Unmarshal(env["id"], &id) != nil || json.Unmarshal(env["event_type"], &eventType) != nil ||
		json.Unmarshal(env["resource"], &res) != nil {
		return "", "", nil, false
	}
	ct, err := base64.StdEncoding.DecodeString(res.Ciphertext)
	if err != nil || len(res.Nonce) != 12 {
		return "", "", nil, false
	}
	block, _ := aes.NewCipher([]byte(n.apiV3Key))
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, []byte(res.Nonce), ct, []byte(res.AssociatedData))
	if err != nil || json.Unmarshal(pt, &payload) != nil || payload == nil {
		return "", "", nil, false
	}
	return id, eventType, payload, true
}

// payloadIsOurs says whether a decrypted payload names us: mchid and
// sub_mchid in either spelling (every spelling given agrees), our
// service_id, the registered sub-merchant, and a user id.
func (n *notifier) payloadIsOurs(p map[string]json.RawMessage) (bool, string) {
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(p[k], &s)
		return s
	}
	agree := func(want string, keys ...string) bool {
		seen := false
		for _, k := range keys {
			if v := str(k); v != "" {
				if v != want {
					return false
				}
				seen = true
			}
		}
		return seen
	}
	switch {
	case !agree(n.mchID, "mchid", "mch_id"):
		return false, "mchid is not ours"
	case str("service_id") != n.service:
		return false, "service_id is not ours"
	case !agree(fuzzSubMchID, "sub_mchid", "sub_mch_id"):
		return false, "sub_mchid is not registered"
	case str("openid") == "" && str("sub_openid") == "":
		return false, "no user id"
	}
	return true, ""
}

// fuzzRequest builds FuzzNotifyReceiver's request from its inputs (see
// there), returning it with the body and serial it carries.
func (n *notifier) fuzzRequest(t testing.TB, body, plaintext []byte, sig, stamp, nonce, serial string, signed, oversize bool) (*http.Request, []byte, string) {
	t.Helper()
	if len(plaintext) > 0 {
		body = n.sealEnvelope(t, string(body), plaintext)
	}
	if oversize {
		// JSON whitespace: still the same envelope, but past the limit.
		body = append(body, bytes.Repeat([]byte(" "), payscore.MaxNotificationBytes)...)
	}
	if signed {
		if stamp == "" {
			stamp = strconv.FormatInt(time.Now().Unix(), 10)
		}
		if nonce == "" {
			nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
		}
		if serial == "" {
			serial = n.keyID
		}
		var err error
		if sig, err = utils.SignSHA256WithRSA(stamp+"\n"+nonce+"\n"+string(body)+"\n", n.key); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/notify/payscore", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Wechatpay-Signature", sig)
	req.Header.Set("Wechatpay-Timestamp", stamp)
	req.Header.Set("Wechatpay-Nonce", nonce)
	req.Header.Set("Wechatpay-Serial", serial)
	return req, body, serial
}

// FuzzNotifyReceiver drives POST /notify/payscore through the whole Echo
// stack (middleware, receiver, verifier, store) with fuzzed bodies and
// headers. With a non-empty plaintext, the body is an envelope encrypting
// plaintext whose event_type is body. With signed, the four Wechatpay-*
// headers carry a valid signature over the body, using the fuzzed
// timestamp, nonce and serial when they are not empty, so the fuzzer
// reaches decryption, payload parsing and the ownership checks; otherwise
// the headers are the fuzzed strings as they are. With oversize, 64 KiB of
// JSON whitespace follows the body (large inputs would slow the fuzzer).
//
// Invariants: no panic; the status is 204, 400, 401, 413, 500 or 503; a 204
// only for a signed body under our key whose decrypted payload is a
// notification for us, and then it is in the log; never a 2xx unsigned; a
// refusal adds no callback, delivery or authorization row and answers
// {"code":"FAIL","message":…}.
func FuzzNotifyReceiver(f *testing.F) {
	var w panicWatch
	ts, n := newReceiverFuzzServer(f, &w)

	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	js := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	open, closing := payscore.EventUserOpenService, payscore.EventUserCloseService
	edit := func(event string, change func(map[string]any)) []byte {
		p := n.payload(event, "FUZZ-1", at)
		change(p)
		return js(p)
	}
	seeds := []struct {
		event, plain              string
		sig, stamp, nonce, serial string
		signed                    bool
	}{
		{event: open, plain: string(js(n.payload(open, "FUZZ-1", at))), signed: true},
		{event: closing, plain: string(js(n.payload(closing, "FUZZ-1", at.Add(time.Hour)))), signed: true},
		{event: open, plain: string(edit(open, func(p map[string]any) {
			p["mch_id"], p["sub_mch_id"] = p["mchid"], p["sub_mchid"]
			delete(p, "mchid")
			delete(p, "sub_mchid")
		})), signed: true},
		{event: open, plain: string(edit(open, func(p map[string]any) { p["mchid"] = "1230000110" })), signed: true},
		{event: open, plain: string(edit(open, func(p map[string]any) { p["sub_mchid"] = "1900000002" })), signed: true},
		{event: open, plain: string(edit(open, func(p map[string]any) { p["service_id"] = "500002" })), signed: true},
		{event: open, plain: string(edit(open, func(p map[string]any) { delete(p, "openid"); p["sub_openid"] = "o-sub" })), signed: true},
		{event: "PAYSCORE.OTHER", plain: string(js(n.payload(open, "FUZZ-1", at))), signed: true},
		{event: open, plain: "not json", signed: true},
		{event: `{"id":"EV-1","resource":null}`, signed: true},
		{event: open, plain: string(js(n.payload(open, "FUZZ-1", at))), serial: "PUB_KEY_ID_999", signed: true},
		{event: open, plain: string(js(n.payload(open, "FUZZ-1", at))), stamp: "1500000000", signed: true},
		{event: open, plain: string(js(n.payload(open, "FUZZ-1", at))), sig: "WECHATPAY/SIGNTEST/AAAA", stamp: strconv.FormatInt(time.Now().Unix(), 10),
			nonce: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", serial: n.keyID},
		{event: "{}", sig: "", stamp: "", nonce: "", serial: ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.event), []byte(s.plain), s.sig, s.stamp, s.nonce, s.serial, s.signed, false)
	}
	// Over 64 KiB: 413, signed or not.
	f.Add([]byte(open), js(n.payload(open, "FUZZ-1", at)), "", "", "", "", true, true)

	// The row counts after the last refusal: a refusal changes none, so
	// the next input need not count them again (inputs run one at a time).
	countAll := func(t *testing.T) [3]int {
		return [3]int{countRows(t, ts.db, "callbacks"), countRows(t, ts.db, "callback_deliveries"), countRows(t, ts.db, "authorizations")}
	}
	var rows [3]int
	rowsKnown := false
	f.Fuzz(func(t *testing.T, body, plaintext []byte, sig, stamp, nonce, serial string, signed, oversize bool) {
		req, body, serial := n.fuzzRequest(t, body, plaintext, sig, stamp, nonce, serial, signed, oversize)
		before := rows
		if !rowsKnown {
			before = countAll(t)
		}
		rowsKnown = false
		rec := httptest.NewRecorder()
		ts.e.ServeHTTP(rec, req)
		w.check(t)

		switch rec.Code {
		case http.StatusNoContent:
			if !signed {
				t.Fatalf("204 for an unsigned body %q", body)
			}
			if strings.TrimSpace(serial) != n.keyID {
				t.Fatalf("204 under serial %q, not ours", serial)
			}
			id, event, payload, ok := n.openEnvelope(body)
			if !ok {
				t.Fatalf("204 for a body that does not decrypt to a JSON object: %q", body)
			}
			if event != open && event != closing {
				t.Fatalf("204 for event_type %q", event)
			}
			if ours, why := n.payloadIsOurs(payload); !ours {
				t.Fatalf("204 for a payload that is not ours (%s): %v", why, payload)
			}
			if c, err := queryInt(t, ts.db, `SELECT count(*) FROM callbacks WHERE notification_id = ?`, id); err != nil || c != 1 {
				t.Fatalf("204 but %d callbacks with id %q (%v)", c, id, err)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("204 with a body: %q", rec.Body)
			}
			return
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusInternalServerError, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d (%s)", rec.Code, rec.Body)
		}
		if rec.Code/100 == 2 {
			t.Fatalf("2xx refusal")
		}
		after := countAll(t)
		if after != before {
			t.Fatalf("refusal %d changed callbacks, deliveries, authorizations from %v to %v", rec.Code, before, after)
		}
		rows, rowsKnown = after, true
		var fail map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &fail); err != nil {
			t.Fatalf("refusal %d body is not JSON: %q", rec.Code, rec.Body)
		}
		if msg, _ := fail["message"].(string); len(fail) != 2 || fail["code"] != "FAIL" || msg == "" {
			t.Fatalf(`refusal %d body %q, want {"code":"FAIL","message":…}`, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("refusal Content-Type %q", ct)
		}
	})
}

// TestNotifyFuzzCorpus keeps the committed corpus meaningful: a seed named
// <status>-… must get that status, so the seeds keep reaching the checks
// they were written for (a signature, the payload parser, ownership).
func TestNotifyFuzzCorpus(t *testing.T) {
	var w panicWatch
	ts, n := newReceiverFuzzServer(t, &w)
	dir := filepath.Join("testdata", "fuzz", "FuzzNotifyReceiver")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "-")
		want, err := strconv.Atoi(prefix)
		if err != nil {
			continue // a regression seed found by the fuzzer: the target checks it
		}
		named++
		t.Run(e.Name(), func(t *testing.T) {
			v := readCorpusFile(t, filepath.Join(dir, e.Name()))
			if len(v) != 8 {
				t.Fatalf("%d values, want 8", len(v))
			}
			req, _, _ := n.fuzzRequest(t, v[0].([]byte), v[1].([]byte), v[2].(string), v[3].(string), v[4].(string), v[5].(string), v[6].(bool), v[7].(bool))
			rec := httptest.NewRecorder()
			ts.e.ServeHTTP(rec, req)
			w.check(t)
			if rec.Code != want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, want, rec.Body)
			}
		})
	}
	if named < 20 {
		t.Errorf("only %d named seeds in %s", named, dir)
	}
}
