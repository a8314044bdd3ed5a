package payscore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// MaxNotificationBytes is the largest notification body accepted (64 KiB);
// real ones are about 1 KiB. Receivers should refuse larger bodies with 413
// before calling Parse.
const MaxNotificationBytes = 64 << 10

// MaxClockSkew is the largest accepted difference between a notification's
// Wechatpay-Timestamp and our clock (the SDK's consts.FiveMinute): a skew of
// 299 s is accepted, 300 s and more refused, as the SDK does.
const MaxClockSkew = consts.FiveMinute * time.Second

// The notification event types; no others are accepted.
const (
	EventUserOpenService  = "PAYSCORE.USER_OPEN_SERVICE"
	EventUserCloseService = "PAYSCORE.USER_CLOSE_SERVICE"
)

// The user_service_status values of a notification payload.
const (
	StatusUserOpenService  = "USER_OPEN_SERVICE"
	StatusUserCloseService = "USER_CLOSE_SERVICE"
)

// Reasons a notification is refused (NotifyError.Reason).
const (
	ReasonMissingHeader = "missing_header"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonBadSignature  = "bad_signature"
	ReasonUnknownSerial = "unknown_serial"
	ReasonDecryptFailed = "decrypt_failed"
	ReasonBadEventType  = "bad_event_type"
	ReasonMalformed     = "malformed"
)

// shanghai is Beijing time, fixed so that parsing does not depend on tzdata.
var shanghai = time.FixedZone("CST", 8*3600)

// NotifyError is the refusal of a notification. It never contains decrypted data.
type NotifyError struct {
	// Reason is a short machine word: missing_header, bad_timestamp,
	// bad_signature, unknown_serial, decrypt_failed, bad_event_type or malformed.
	Reason string
	// NotificationID is the envelope's id when it could be read. It is NOT
	// authenticated when the refusal happened before or at verification: use it
	// for logs only.
	NotificationID string
	// Err says more, for logs.
	Err error
}

// Error implements error.
func (e *NotifyError) Error() string {
	s := "payscore: notification refused: " + e.Reason
	if e.NotificationID != "" {
		s += " (id " + strconv.Quote(e.NotificationID) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *NotifyError) Unwrap() error { return e.Err }

// Notification is a verified, decrypted Pay Score notification.
type Notification struct {
	// ID is the notification id (unique; duplicates are deliveries of the same notification).
	ID string
	// CreateTime is the envelope's create_time.
	CreateTime time.Time
	// EventType is EventUserOpenService or EventUserCloseService.
	EventType string
	// ResourceType is the envelope's resource_type ("encrypt-resource").
	ResourceType string
	// Summary is the envelope's summary; it may be empty.
	Summary string
	// OriginalType and AssociatedData are the resource's fields of that name.
	OriginalType, AssociatedData string
	// Serial is the Wechatpay-Serial whose key verified the signature (a
	// PUB_KEY_ID_… or a platform certificate serial).
	Serial string
	// Timestamp is the Wechatpay-Timestamp header.
	Timestamp time.Time
	// ReceivedAt is our clock's time the timestamp was checked against:
	// now, or the time of the first delivery for a re-verified one
	// (ParseReceived).
	ReceivedAt time.Time
	// RequestID is the Request-ID header, if any.
	RequestID string
	// Envelope is the raw body, exactly as received and verified.
	Envelope []byte
	// Plaintext is the decrypted resource.
	Plaintext []byte
	// Payload is Plaintext, parsed.
	Payload Payload
}

// Payload is the decrypted content of a notification. The spec's table says
// mchid / sub_mchid while its example says mch_id / sub_mch_id: both are read.
type Payload struct {
	AppID             string // appid
	MchID             string // mchid, or mch_id
	SubAppID          string // sub_appid, optional
	SubMchID          string // sub_mchid, or sub_mch_id
	ChannelID         string // channel_id, optional
	ServiceID         string // service_id
	OpenID            string // openid: one of OpenID and SubOpenID is set
	SubOpenID         string // sub_openid
	UserServiceStatus string // user_service_status, optional: USER_OPEN_SERVICE or USER_CLOSE_SERVICE
	AuthorizationCode string // authorization_code, optional
	// OpenOrCloseTime is openorclose_time (Beijing time); zero when absent.
	OpenOrCloseTime time.Time
}

// UserID returns the user's identifier: sub_openid when present, else openid.
func (p Payload) UserID() string {
	if p.SubOpenID != "" {
		return p.SubOpenID
	}
	return p.OpenID
}

// ErrNotOwner is matched (errors.Is) by CheckOwner's errors.
var ErrNotOwner = errors.New("payscore: notification is not for this merchant")

// CheckOwner reports whether the payload belongs to us: our merchant id and
// service id. Whether sub_mchid is a registered sub-merchant is for the caller
// to check against its records.
func (p Payload) CheckOwner(mchID, serviceID string) error {
	if p.MchID != mchID {
		return fmt.Errorf("%w: mchid does not match", ErrNotOwner)
	}
	if p.ServiceID != serviceID {
		return fmt.Errorf("%w: service_id does not match", ErrNotOwner)
	}
	return nil
}

// NotifyVerifier verifies and decrypts notifications with the SDK's
// notify.Handler. It is safe for concurrent use.
type NotifyVerifier struct {
	handler   *notify.Handler
	validator *validators.WechatPayNotifyValidator
	// verifier and apiV3Key are the SDK verifier and key the handler was
	// built with; ParseReceived uses them without the handler's wall-clock
	// check (diagnose.go).
	verifier auth.Verifier
	apiV3Key string
	known    func(context.Context, string) bool
	now      func() time.Time
}

// NewNotifyVerifier builds a verifier from cfg's WeChat Pay key(s) — public
// key, platform certificates, or both — and its APIv3Key. It uses cfg.Now as
// the clock.
func NewNotifyVerifier(cfg Config) (*NotifyVerifier, error) {
	if len(cfg.APIv3Key) != 32 {
		return nil, errors.New("payscore: config: APIv3Key must be 32 bytes")
	}
	verifier, known, err := cfg.verifier()
	if err != nil {
		return nil, err
	}
	h, err := notify.NewRSANotifyHandler(cfg.APIv3Key, verifier)
	if err != nil {
		return nil, fmt.Errorf("payscore: notify handler: %w", err)
	}
	return &NotifyVerifier{
		handler:   h,
		validator: validators.NewWechatPayNotifyValidator(verifier),
		verifier:  verifier,
		apiV3Key:  cfg.APIv3Key,
		known:     known,
		now:       cfg.now,
	}, nil
}

// Parse verifies a notification over its raw body bytes and decrypts it. A
// refusal is a *NotifyError. Checks, in order: the four Wechatpay-* headers are
// present; the timestamp is within MaxClockSkew of our clock; the serial is one
// of ours; the SDK verifies the signature and decrypts AEAD_AES_256_GCM; the
// event type is allowed; the payload parses strictly.
func (v *NotifyVerifier) Parse(ctx context.Context, header http.Header, body []byte) (*Notification, error) {
	return v.parse(ctx, header, body, time.Time{})
}

// ParseReceived is Parse for a delivery received earlier, at receivedAt by
// our clock, and kept (a refused one re-verified after a configuration
// change): the same checks in the same order, the timestamp checked
// against receivedAt instead of now. The SDK's notify handler checks the
// timestamp against the wall clock, so the signature is verified by the
// same SDK verifier it uses and the resource decrypted by the SDK's
// utils.DecryptAES256GCM, as the handler does.
func (v *NotifyVerifier) ParseReceived(ctx context.Context, header http.Header, body []byte, receivedAt time.Time) (*Notification, error) {
	if receivedAt.IsZero() {
		return nil, errors.New("payscore: ParseReceived: no receipt time")
	}
	return v.parse(ctx, header, body, receivedAt)
}

// parse is Parse (receivedAt zero: live, now) and ParseReceived.
func (v *NotifyVerifier) parse(ctx context.Context, header http.Header, body []byte, receivedAt time.Time) (*Notification, error) {
	live := receivedAt.IsZero()
	refuse := func(reason string, err error) (*Notification, error) {
		// Read only for a refusal: an accepted body's id comes from the
		// verified envelope.
		return nil, &NotifyError{Reason: reason, NotificationID: untrustedID(body), Err: err}
	}
	if len(body) > MaxNotificationBytes {
		return refuse(ReasonMalformed, errors.New("body larger than 64 KiB"))
	}

	// 1. Headers present. The SDK checks them too, but reports them as
	// generic failures; and never let an odd header skip verification.
	for _, h := range []string{consts.WechatPaySignature, consts.WechatPayTimestamp, consts.WechatPayNonce, consts.WechatPaySerial} {
		if strings.TrimSpace(header.Get(h)) == "" {
			return refuse(ReasonMissingHeader, errors.New("header "+h+" missing"))
		}
	}

	// 2. Timestamp against the injected clock. The SDK checks it again
	// against time.Now; the same check on time.Now here keeps the reason exact.
	ts, err := strconv.ParseInt(strings.TrimSpace(header.Get(consts.WechatPayTimestamp)), 10, 64)
	if err != nil {
		return refuse(ReasonBadTimestamp, errors.New("Wechatpay-Timestamp is not a number"))
	}
	clocks := []time.Time{v.now(), time.Now()}
	if !live {
		clocks = []time.Time{receivedAt}
	}
	for _, now := range clocks {
		if skew := now.Unix() - ts; skew >= consts.FiveMinute || skew <= -consts.FiveMinute {
			return refuse(ReasonBadTimestamp, fmt.Errorf("Wechatpay-Timestamp is %d s away from our clock", skew))
		}
	}

	// 3. A key we know. In platform-certificate mode with downloads, a
	// serial not yet known makes the certificates download first: after a
	// rotation, the first notification signed with the new certificate is
	// accepted.
	serial := strings.TrimSpace(header.Get(consts.WechatPaySerial))
	if !v.known(ctx, serial) {
		return refuse(ReasonUnknownSerial, fmt.Errorf("Wechatpay-Serial %q is not configured", serial))
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://notify.invalid/", bytes.NewReader(body))
	if err != nil {
		return refuse(ReasonMalformed, err)
	}
	req.Header = header.Clone()

	// 4. The envelope must have the shape the SDK relies on (it panics on a
	// missing resource or a nonce that is not 12 bytes). When it does not,
	// the signature is still checked first, with the SDK's validator alone,
	// so a forged body is reported as such.
	env, envReason, envErr := parseEnvelope(body)
	if envErr != nil {
		if err := v.validator.Validate(ctx, req); err != nil {
			return refuse(ReasonBadSignature, sdkError(err))
		}
		return refuse(envReason, envErr)
	}

	// 5. Signature and decryption by the SDK, over the raw bytes. The content
	// is taken raw and parsed strictly below.
	var plaintext json.RawMessage
	var nr *notify.Request
	if live {
		nr, err = v.handler.ParseNotifyRequest(ctx, req, &plaintext)
	} else {
		nr, err = v.verifyReceived(ctx, header, body, ts)
	}
	if err != nil {
		switch {
		case nr == nil && strings.HasPrefix(err.Error(), "parse request body error"):
			return refuse(ReasonMalformed, sdkError(err))
		case nr == nil:
			return refuse(ReasonBadSignature, sdkError(err))
		case nr.Resource == nil || nr.Resource.Plaintext == "":
			return refuse(ReasonDecryptFailed, sdkError(err))
		default:
			// Decrypted, but not JSON. Say nothing of the content.
			return refuse(ReasonMalformed, errors.New("decrypted resource is not JSON"))
		}
	}
	if strings.HasPrefix(header.Get(consts.WechatPaySignature), "WECHATPAY/SIGNTEST/") {
		// A signature probe can never verify; refuse it even if it somehow did.
		return refuse(ReasonBadSignature, errors.New("signature probe"))
	}

	// Verified: from here on the id is authentic.
	if env.eventType != EventUserOpenService && env.eventType != EventUserCloseService {
		return refuse(ReasonBadEventType, fmt.Errorf("event_type %q is not accepted", env.eventType))
	}
	pt := []byte(nr.Resource.Plaintext)
	payload, err := parsePayload(pt)
	if err != nil {
		return refuse(ReasonMalformed, err)
	}
	want := strings.TrimPrefix(env.eventType, "PAYSCORE.")
	if payload.UserServiceStatus != "" && payload.UserServiceStatus != want {
		return refuse(ReasonMalformed, errors.New("user_service_status does not match event_type"))
	}
	if live {
		receivedAt = clocks[0]
	}
	return &Notification{
		ReceivedAt:     receivedAt,
		ID:             env.id,
		CreateTime:     env.createTime,
		EventType:      env.eventType,
		ResourceType:   env.resourceType,
		Summary:        env.summary,
		OriginalType:   env.originalType,
		AssociatedData: env.associatedData,
		Serial:         serial,
		Timestamp:      time.Unix(ts, 0),
		RequestID:      header.Get(consts.RequestID),
		Envelope:       bytes.Clone(body),
		Plaintext:      pt,
		Payload:        payload,
	}, nil
}

// verifyReceived is the SDK handler's ParseNotifyRequest without its
// wall-clock check (the caller checked the timestamp against the time of
// receipt): the SDK verifier over the same message, then the SDK's
// AEAD_AES_256_GCM decryption. Its errors read as the handler's, so that
// parse maps them to the same reasons.
func (v *NotifyVerifier) verifyReceived(ctx context.Context, header http.Header, body []byte, ts int64) (*notify.Request, error) {
	if t := header.Get("Wechatpay-Signature-Type"); t != "" && t != "WECHATPAY2-SHA256-RSA2048" {
		return nil, fmt.Errorf("unsupported Wechatpay-Signature-Type: %s", t)
	}
	h := func(k string) string { return strings.TrimSpace(header.Get(k)) }
	message := fmt.Sprintf("%d\n%s\n%s\n", ts, h(consts.WechatPayNonce), body)
	if err := v.verifier.Verify(ctx, h(consts.WechatPaySerial), message, h(consts.WechatPaySignature)); err != nil {
		return nil, fmt.Errorf("invalid notification, err: validate verify fail serial=[%s] err=%w", h(consts.WechatPaySerial), err)
	}
	nr := new(notify.Request)
	if err := json.Unmarshal(body, nr); err != nil {
		return nil, fmt.Errorf("parse request body error: %v", err)
	}
	if nr.Resource == nil {
		return nil, errors.New("parse request body error: no resource")
	}
	pt, err := utils.DecryptAES256GCM(v.apiV3Key, nr.Resource.AssociatedData, nr.Resource.Nonce, nr.Resource.Ciphertext)
	if err != nil {
		return nr, fmt.Errorf("%s decrypt error: %v", nr.Resource.Algorithm, err)
	}
	nr.Resource.Plaintext = pt
	if !json.Valid([]byte(pt)) {
		return nr, errors.New("unmarshal plaintext to content failed")
	}
	return nr, nil
}

// sdkError keeps the SDK's explanation but drops the dump of the whole
// *http.Request it appends.
func sdkError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ", request: "); i >= 0 {
		msg = msg[:i]
	}
	return errors.New("wechatpay-go: " + msg)
}

// untrustedID reads the envelope's id for logging, trusting nothing.
func untrustedID(body []byte) string {
	var e struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(e.ID, &id) != nil || len(id) > 64 || !utf8.ValidString(id) {
		return ""
	}
	return id
}

// envelope is the notification body, read strictly before and after the SDK.
type envelope struct {
	id, eventType, resourceType, summary string
	createTime                           time.Time
	algorithm, originalType              string
	associatedData                       string
}

// object is a JSON object read with exact (case-sensitive) key matching.
type object map[string]json.RawMessage

func parseObject(b []byte) (object, error) {
	var o object
	if err := json.Unmarshal(b, &o); err != nil || o == nil {
		return nil, errors.New("not a JSON object")
	}
	return o, nil
}

// str reads key as a string: absent is "", null or another type is an error.
func (o object) str(key string) (string, error) {
	raw, ok := o[key]
	if !ok {
		return "", nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", errors.New(key + " is not a string")
	}
	return s, nil
}

// need reads a required string of at most max bytes.
func (o object) need(key string, max int) (string, error) {
	s, err := o.str(key)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", errors.New(key + " is missing")
	}
	if len(s) > max {
		return "", errors.New(key + " is too long")
	}
	return s, nil
}

// opt reads an optional string of at most max bytes.
func (o object) opt(key string, max int) (string, error) {
	s, err := o.str(key)
	if err == nil && len(s) > max {
		err = errors.New(key + " is too long")
	}
	return s, err
}

// alias reads a field the spec spells two ways; both may be present only if equal.
func (o object) alias(a, b string, max int) (string, error) {
	x, err := o.opt(a, max)
	if err != nil {
		return "", err
	}
	y, err := o.opt(b, max)
	if err != nil {
		return "", err
	}
	if x != "" && y != "" && x != y {
		return "", errors.New(a + " and " + b + " disagree")
	}
	if x == "" {
		x = y
	}
	if x == "" {
		return "", errors.New(a + " is missing")
	}
	return x, nil
}

// rawEnvelope is the envelope as JSON; pointers tell absent (or null)
// fields from empty ones. One struct decode: the envelope is parsed on every
// delivery, at thousands a second, and the signature already vouches for
// it; the decrypted payload, which the console acts on, is read strictly
// by parsePayload.
type rawEnvelope struct {
	ID           *string `json:"id"`
	CreateTime   *string `json:"create_time"`
	EventType    *string `json:"event_type"`
	ResourceType *string `json:"resource_type"`
	Summary      *string `json:"summary"`
	Resource     *struct {
		Algorithm      *string `json:"algorithm"`
		Ciphertext     *string `json:"ciphertext"`
		Nonce          *string `json:"nonce"`
		AssociatedData *string `json:"associated_data"`
		OriginalType   *string `json:"original_type"`
	} `json:"resource"`
}

// field checks one envelope string: required or not, at most max bytes.
func field(name string, v *string, max int, required bool) (string, error) {
	if v == nil || *v == "" {
		if required {
			return "", errors.New(name + " is missing")
		}
		return "", nil
	}
	if len(*v) > max {
		return "", errors.New(name + " is too long")
	}
	return *v, nil
}

// parseEnvelope reads the notification envelope and checks the shape the SDK
// relies on. The reason is malformed, or decrypt_failed for an algorithm
// other than AEAD_AES_256_GCM or a nonce that is not 12 bytes.
func parseEnvelope(body []byte) (envelope, string, error) {
	var e envelope
	var raw rawEnvelope
	if err := json.Unmarshal(body, &raw); err != nil {
		return e, ReasonMalformed, errors.New("envelope is not a JSON object of strings")
	}
	var ct string
	var err error
	for _, f := range []struct {
		dst      *string
		name     string
		v        *string
		max      int
		required bool
	}{
		{&e.id, "id", raw.ID, 64, true},
		{&ct, "create_time", raw.CreateTime, 64, true},
		{&e.eventType, "event_type", raw.EventType, 64, true},
		{&e.resourceType, "resource_type", raw.ResourceType, 64, true},
		{&e.summary, "summary", raw.Summary, 256, false},
	} {
		if *f.dst, err = field(f.name, f.v, f.max, f.required); err != nil {
			return e, ReasonMalformed, err
		}
	}
	if e.createTime, err = time.Parse(time.RFC3339, ct); err != nil {
		return e, ReasonMalformed, errors.New("create_time is not RFC 3339")
	}
	r := raw.Resource
	if r == nil {
		return e, ReasonMalformed, errors.New("resource is missing")
	}
	if e.algorithm, err = field("resource.algorithm", r.Algorithm, 64, true); err != nil {
		return e, ReasonMalformed, err
	}
	if e.algorithm != "AEAD_AES_256_GCM" {
		return e, ReasonDecryptFailed, fmt.Errorf("resource.algorithm %q is not AEAD_AES_256_GCM", e.algorithm)
	}
	if _, err = field("resource.ciphertext", r.Ciphertext, MaxNotificationBytes, true); err != nil {
		return e, ReasonMalformed, err
	}
	nonce, err := field("resource.nonce", r.Nonce, 64, true)
	if err != nil {
		return e, ReasonMalformed, err
	}
	if len(nonce) != 12 {
		return e, ReasonDecryptFailed, errors.New("resource.nonce is not 12 bytes")
	}
	if e.associatedData, err = field("resource.associated_data", r.AssociatedData, 256, false); err != nil {
		return e, ReasonMalformed, err
	}
	if e.originalType, err = field("resource.original_type", r.OriginalType, 64, false); err != nil {
		return e, ReasonMalformed, err
	}
	return e, "", nil
}

// parsePayload reads the decrypted resource strictly: a single JSON object
// (no trailing commas or data), exact key names, string values, required
// fields present, spec lengths. Unknown keys are ignored so that a field
// WeChat Pay adds later does not make every notification fail. Errors name
// fields, never values.
func parsePayload(b []byte) (Payload, error) {
	var p Payload
	o, err := parseObject(b)
	if err != nil {
		return p, errors.New("decrypted resource is " + err.Error())
	}
	steps := []struct {
		dst *string
		get func() (string, error)
	}{
		{&p.AppID, func() (string, error) { return o.need("appid", MaxIDLen) }},
		{&p.MchID, func() (string, error) { return o.alias("mchid", "mch_id", MaxIDLen) }},
		{&p.SubAppID, func() (string, error) { return o.opt("sub_appid", MaxIDLen) }},
		{&p.SubMchID, func() (string, error) { return o.alias("sub_mchid", "sub_mch_id", MaxIDLen) }},
		{&p.ChannelID, func() (string, error) { return o.opt("channel_id", MaxIDLen) }},
		{&p.ServiceID, func() (string, error) { return o.need("service_id", MaxIDLen) }},
		{&p.OpenID, func() (string, error) { return o.opt("openid", 128) }},
		{&p.SubOpenID, func() (string, error) { return o.opt("sub_openid", 128) }},
		{&p.UserServiceStatus, func() (string, error) { return o.opt("user_service_status", 32) }},
		{&p.AuthorizationCode, func() (string, error) { return o.opt("authorization_code", MaxAuthorizationCodeLen) }},
	}
	for _, s := range steps {
		if *s.dst, err = s.get(); err != nil {
			return Payload{}, err
		}
	}
	if p.OpenID == "" && p.SubOpenID == "" {
		return Payload{}, errors.New("openid or sub_openid is required")
	}
	switch p.UserServiceStatus {
	case "", StatusUserOpenService, StatusUserCloseService:
	default:
		return Payload{}, errors.New("user_service_status is not a known value")
	}
	if p.AuthorizationCode != "" {
		if err := ValidateAuthorizationCode(p.AuthorizationCode); err != nil {
			return Payload{}, errors.New("authorization_code has characters outside [0-9A-Za-z_-|*]")
		}
	}
	t, err := o.opt("openorclose_time", 32)
	if err != nil {
		return Payload{}, err
	}
	if t != "" {
		if len(t) != 14 {
			return Payload{}, errors.New("openorclose_time is not yyyyMMddHHmmss")
		}
		if p.OpenOrCloseTime, err = time.ParseInLocation("20060102150405", t, shanghai); err != nil {
			return Payload{}, errors.New("openorclose_time is not yyyyMMddHHmmss")
		}
	}
	return p, nil
}
