package payscore

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
)

// SignatureProbePrefix starts the Wechatpay-Signature of WeChat Pay's
// signature probes: deliveries signed on purpose with a signature that
// cannot verify, to check that the merchant verifies. Refusing them is
// right (Parse refuses them as bad_signature).
const SignatureProbePrefix = "WECHATPAY/SIGNTEST/"

// IsSignatureProbe reports whether header carries a probe signature.
func IsSignatureProbe(header http.Header) bool {
	return strings.HasPrefix(strings.TrimSpace(header.Get(consts.WechatPaySignature)), SignatureProbePrefix)
}

// Received is what a refused delivery's diagnosis says of it, read without
// trusting it and without decrypting anything.
type Received struct {
	// Serial is Wechatpay-Serial as received.
	Serial string
	// Timestamp is Wechatpay-Timestamp as received (at most 32 bytes);
	// Skew is our clock minus it in seconds, when SkewKnown (a number).
	Timestamp string
	Skew      int64
	SkewKnown bool
	// BodySize and BodySHA256 are of the body as received.
	BodySize   int
	BodySHA256 string
	// Probe: the signature is a WeChat Pay signature probe.
	Probe bool
}

// Describe reads what a refusal's diagnosis shows of a delivery received at
// now: the serial, the timestamp's skew, the body's size and SHA-256.
func Describe(header http.Header, body []byte, now time.Time) Received {
	ts := strings.TrimSpace(header.Get(consts.WechatPayTimestamp))
	if len(ts) > 32 {
		ts = ts[:32]
	}
	sum := sha256.Sum256(body)
	r := Received{Serial: strings.TrimSpace(header.Get(consts.WechatPaySerial)), Timestamp: ts, BodySize: len(body),
		BodySHA256: hex.EncodeToString(sum[:]), Probe: IsSignatureProbe(header)}
	if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
		r.Skew, r.SkewKnown = now.Unix()-n, true
	}
	return r
}

// The step of the checks a refusal failed at, in Parse's order, then the
// receiver's rules.
const (
	StepBudget     = "budget"     // turned away before any check (too many refusals, busy)
	StepBody       = "body"       // the body: too large, not the expected JSON, event type
	StepHeaders    = "headers"    // a Wechatpay-* header is missing
	StepTimestamp  = "timestamp"  // Wechatpay-Timestamp too far from our clock
	StepSignature  = "signature"  // unknown serial or a signature that does not verify
	StepDecryption = "decryption" // AEAD_AES_256_GCM with the APIv3 key
	StepOwnership  = "ownership"  // verified, but not for us (the receiver's rules)
	StepInternal   = "internal"
)

// StepOf is the step a verifier refusal reason failed at.
func StepOf(reason string) string {
	switch reason {
	case ReasonMissingHeader:
		return StepHeaders
	case ReasonBadTimestamp:
		return StepTimestamp
	case ReasonBadSignature, ReasonUnknownSerial:
		return StepSignature
	case ReasonDecryptFailed:
		return StepDecryption
	case ReasonMalformed, ReasonBadEventType:
		return StepBody
	}
	return StepInternal
}
