package payscore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

const (
	testMchID       = "1900000109"
	testMchSerial   = "3775B6A45ACD588826D15E583A95F5DD8C7E8B9A"
	testPubKeyID    = "PUB_KEY_ID_0119000001092025010100000000000001"
	testAPIv3Key    = "0123456789abcdefghijklmnopqrstuv"
	testOtherV3Key  = "vutsrqponmlkjihgfedcba9876543210"
	testServiceID   = "2002000000000558128851361561536"
	testChannelID   = "1230000109"
	testAppID       = "wxd678efh567hg6787"
	testSubMchID    = "1230000110"
	testCode        = "1234323JKHDFE1243252"
	testGCMNonce    = "Kj7QIyUiYx1q"
	testAssociated  = "payscore"
	testOpenPayload = `{"appid":"wxd678efh567hg6787","mch_id":"1900000109","sub_appid":"wxd678efh567hg6787","sub_mch_id":"1230000110","service_id":"2002000000000558128851361561536","sub_openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","user_service_status":"USER_OPEN_SERVICE","openorclose_time":"20180225112233","authorization_code":"4534323JKHDFE1243252"}`
)

// testKeys are generated once per test binary: RSA key generation is slow.
type testKeys struct {
	merchant   *rsa.PrivateKey // signs our requests
	pubKey     *rsa.PrivateKey // WeChat Pay's key in public-key mode
	platform   *rsa.PrivateKey // WeChat Pay's platform-certificate key
	stranger   *rsa.PrivateKey // nobody we trust
	cert       *x509.Certificate
	certSerial string
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func getKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		keys.merchant, keys.pubKey, keys.platform, keys.stranger = gen(), gen(), gen(), gen()
		serial, _ := new(big.Int).SetString("5157F09EFDC096DE15EBE81A47057A72", 16)
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: "Tenpay.com Root CA test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keys.platform.PublicKey, keys.platform)
		if err != nil {
			panic(err)
		}
		if keys.cert, err = x509.ParseCertificate(der); err != nil {
			panic(err)
		}
		keys.certSerial = utils.GetCertificateSerialNumber(*keys.cert)
	})
	return keys
}

// baseConfig is a public-key-mode configuration; callers adjust it.
func baseConfig(t testing.TB) Config {
	k := getKeys(t)
	return Config{
		MchID: testMchID, CertSerial: testMchSerial, PrivateKey: k.merchant, APIv3Key: testAPIv3Key,
		PublicKey: &k.pubKey.PublicKey, PublicKeyID: testPubKeyID,
		ServiceID: testServiceID, ChannelID: testChannelID, AppID: testAppID,
	}
}

// signHeaders signs "ts\nnonce\nbody\n" the way WeChat Pay does, with the
// SDK's utils, and sets the Wechatpay-* headers. Signing with a valid key
// cannot fail, so it panics rather than taking a *testing.T (it runs in
// server goroutines too).
func signHeaders(h http.Header, key *rsa.PrivateKey, serial string, ts int64, body []byte) {
	nonce := "n" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sig, err := utils.SignSHA256WithRSA(fmt.Sprintf("%d\n%s\n%s\n", ts, nonce, body), key)
	if err != nil {
		panic(err)
	}
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
}

// ---- fake WeChat Pay -------------------------------------------------------

type recordedRequest struct {
	Method, URI string
	Body        []byte
	Auth        string
	Serial      string // Wechatpay-Serial the client says it can verify
	At          time.Time
}

// responder answers one request.
type responder func(w http.ResponseWriter, r *http.Request)

// fakeWxPay is a scripted WeChat Pay: it verifies every request's
// Authorization signature with the merchant's public key, records the
// request, and answers with the next scripted responder (the last one repeats).
type fakeWxPay struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	reqs      []recordedRequest
	script    []responder
	authFails []string
}

func newFakeWxPay(t testing.TB, script ...responder) *fakeWxPay {
	f := &fakeWxPay{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWxPay) base() string { return f.srv.URL + "/sandbox" }

func (f *fakeWxPay) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recordedRequest{Method: r.Method, URI: r.RequestURI, Body: body, Auth: r.Header.Get("Authorization"),
		Serial: r.Header.Get("Wechatpay-Serial"), At: time.Now()}
	authErr := verifyAuthorization(r.Context(), getKeys(f.t).merchant, r.Method, r.RequestURI, body, rec.Auth)

	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	if authErr != nil {
		f.authFails = append(f.authFails, authErr.Error())
	}
	var next responder
	if len(f.script) > 0 {
		next = f.script[0]
		if len(f.script) > 1 {
			f.script = f.script[1:]
		}
	}
	f.mu.Unlock()

	if authErr != nil {
		signedReply(http.StatusUnauthorized, `{"code":"SIGN_ERROR","message":"bad request signature"}`)(w, r)
		return
	}
	if next == nil {
		http.Error(w, "no script", http.StatusTeapot)
		return
	}
	next(w, r)
}

func (f *fakeWxPay) requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.reqs...)
}

// checkAuth fails the test if any request was not signed correctly.
func (f *fakeWxPay) checkAuth(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.authFails {
		t.Errorf("request Authorization not valid: %s", e)
	}
}

// verifyAuthorization checks the WECHATPAY2-SHA256-RSA2048 Authorization
// header with the merchant's public key, through the SDK's verifier.
func verifyAuthorization(ctx context.Context, merchant *rsa.PrivateKey, method, uri string, body []byte, header string) error {
	const scheme = "WECHATPAY2-SHA256-RSA2048 "
	if !strings.HasPrefix(header, scheme) {
		return fmt.Errorf("scheme of %q", header)
	}
	params := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(header, scheme), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("parameter %q", kv)
		}
		params[k] = strings.Trim(v, `"`)
	}
	if params["mchid"] != testMchID || params["serial_no"] != testMchSerial {
		return fmt.Errorf("mchid %q serial_no %q", params["mchid"], params["serial_no"])
	}
	ts, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q", params["timestamp"])
	}
	msg := fmt.Sprintf("%s\n%s\n%s\n%s\n%s\n", method, uri, params["timestamp"], params["nonce_str"], body)
	v := verifiers.NewSHA256WithRSAPubkeyVerifier(testMchSerial, merchant.PublicKey)
	return v.Verify(ctx, testMchSerial, msg, params["signature"])
}

// signedBy answers status/body signed with key under serial, plus extra headers.
func signedBy(key *rsa.PrivateKey, serial string, status int, body string, extra ...string) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		signHeaders(h, key, serial, time.Now().Unix(), []byte(body))
		h.Set("Request-ID", "req-"+strconv.Itoa(status))
		if body != "" {
			h.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// signedReply answers signed with WeChat Pay's public-key-mode key.
func signedReply(status int, body string, extra ...string) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		signedBy(keys.pubKey, testPubKeyID, status, body, extra...)(w, r)
	}
}

// unsignedReply answers with no Wechatpay-* headers at all.
func unsignedReply(status int, body string) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// tamperedReply signs one body and sends another.
func tamperedReply(status int, signed, sent string) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		signHeaders(w.Header(), keys.pubKey, testPubKeyID, time.Now().Unix(), []byte(signed))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, sent)
	}
}

// slowReply waits d (or until the client gives up) before answering.
func slowReply(d time.Duration, then responder) responder {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			then(w, r)
		case <-r.Context().Done():
		}
	}
}

// ---- notifications --------------------------------------------------------

type notifyOpts struct {
	eventType string
	payload   string
	apiV3Key  string
	key       *rsa.PrivateKey
	serial    string
	ts        int64
	nonce     string // GCM nonce
	// envelope, when set, replaces the generated envelope entirely.
	envelope []byte
}

// encryptResource encrypts plaintext with AEAD_AES_256_GCM as WeChat Pay
// does (the SDK only decrypts), returning base64 ciphertext.
func encryptResource(t testing.TB, key, nonce, associated string, plaintext []byte) string {
	t.Helper()
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(associated)))
}

type testResource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

type testEnvelope struct {
	ID           string       `json:"id"`
	CreateTime   string       `json:"create_time"`
	ResourceType string       `json:"resource_type"`
	EventType    string       `json:"event_type"`
	Resource     testResource `json:"resource"`
	Summary      string       `json:"summary"`
}

func buildEnvelope(t testing.TB, o notifyOpts) []byte {
	t.Helper()
	if o.apiV3Key == "" {
		o.apiV3Key = testAPIv3Key
	}
	if o.nonce == "" {
		o.nonce = testGCMNonce
	}
	if o.eventType == "" {
		o.eventType = EventUserOpenService
	}
	if o.payload == "" {
		o.payload = testOpenPayload
	}
	env := testEnvelope{
		ID: "EV-2018022511223320873", CreateTime: "2015-05-20T13:29:35+08:00",
		ResourceType: "encrypt-resource", EventType: o.eventType, Summary: "授权成功",
		Resource: testResource{OriginalType: "payscore", Algorithm: "AEAD_AES_256_GCM", AssociatedData: testAssociated,
			Nonce: o.nonce, Ciphertext: encryptResource(t, o.apiV3Key, o.nonce, testAssociated, []byte(o.payload))},
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildNotification returns signed headers and body of a notification.
func buildNotification(t testing.TB, o notifyOpts) (http.Header, []byte) {
	t.Helper()
	k := getKeys(t)
	body := o.envelope
	if body == nil {
		body = buildEnvelope(t, o)
	}
	if o.key == nil {
		o.key, o.serial = k.pubKey, testPubKeyID
	}
	if o.ts == 0 {
		o.ts = time.Now().Unix()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Request-ID", "notify-req-1")
	signHeaders(h, o.key, o.serial, o.ts, body)
	return h, body
}

func newTestVerifier(t testing.TB, mutate func(*Config)) *NotifyVerifier {
	t.Helper()
	cfg := baseConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewNotifyVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// flipBit flips one bit of the resource ciphertext and returns the new envelope.
func flipCiphertextBit(t testing.TB, body []byte) []byte {
	t.Helper()
	var env testEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(env.Resource.Ciphertext)
	ct[0] ^= 0x01
	env.Resource.Ciphertext = base64.StdEncoding.EncodeToString(ct)
	b, _ := json.Marshal(env)
	return b
}
