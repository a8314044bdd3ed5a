package payscore

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestParseReceived: a kept delivery re-verified later goes through the same
// checks as Parse, its timestamp checked against the time it was received
// instead of now: hours later it verifies and decrypts as Parse did; a
// timestamp more than 5 minutes from the receipt time is refused; a bad
// signature, an unknown serial, a wrong APIv3 key and a probe give the
// reasons Parse gives.
func TestParseReceived(t *testing.T) {
	ctx := context.Background()
	k := getKeys(t)
	v := newTestVerifier(t, nil)
	sent := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	h, body := buildNotification(t, notifyOpts{ts: sent.Unix()})
	if _, err := v.Parse(ctx, h, body); err == nil {
		t.Fatal("Parse accepted a 3-hour-old timestamp")
	}
	t.Run("OKAsReceived", func(t *testing.T) {
		n, err := v.ParseReceived(ctx, h, body, sent.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n.ID != "EV-2018022511223320873" || string(n.Plaintext) != testOpenPayload || n.Serial != testPubKeyID ||
			!n.ReceivedAt.Equal(sent.Add(2*time.Second)) || n.Payload.SubMchID != testSubMchID {
			t.Errorf("notification %+v", n)
		}
	})
	t.Run("ErrSkewAgainstReceipt", func(t *testing.T) {
		n, err := v.ParseReceived(ctx, h, body, sent.Add(MaxClockSkew))
		wantRefusal(t, n, err, ReasonBadTimestamp)
	})
	t.Run("ErrNoReceiptTime", func(t *testing.T) {
		if _, err := v.ParseReceived(ctx, h, body, time.Time{}); err == nil {
			t.Error("no receipt time accepted")
		}
	})
	for _, tt := range []struct {
		name, reason string
		opts         notifyOpts
		probe        bool
	}{
		{"ErrStranger", ReasonBadSignature, notifyOpts{key: k.stranger, serial: testPubKeyID}, false},
		{"ErrUnknownSerial", ReasonUnknownSerial, notifyOpts{key: k.pubKey, serial: "PUB_KEY_ID_OTHER"}, false},
		{"ErrAPIv3Key", ReasonDecryptFailed, notifyOpts{apiV3Key: "ffffffffffffffffffffffffffffffff"}, false},
		{"ErrProbe", ReasonBadSignature, notifyOpts{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.ts = sent.Unix()
			h, body := buildNotification(t, tt.opts)
			if tt.probe {
				h.Set("Wechatpay-Signature", SignatureProbePrefix+h.Get("Wechatpay-Signature")[19:])
			}
			n, err := v.ParseReceived(ctx, h, body, sent)
			wantRefusal(t, n, err, tt.reason)
			// Parse, now, on a fresh delivery of the same kind: the same reason.
			tt.opts.ts = time.Now().Unix()
			h2, body2 := buildNotification(t, tt.opts)
			if tt.probe {
				h2.Set("Wechatpay-Signature", SignatureProbePrefix+h2.Get("Wechatpay-Signature")[19:])
			}
			n, err = v.Parse(ctx, h2, body2)
			wantRefusal(t, n, err, tt.reason)
			if got := Describe(h2, body2, time.Now()); got.Probe != tt.probe || !got.SkewKnown || got.Skew < -2 || got.Skew > 2 ||
				got.BodySize != len(body2) || len(got.BodySHA256) != 64 || got.Timestamp != strconv.FormatInt(tt.opts.ts, 10) {
				t.Errorf("Describe = %+v", got)
			}
		})
	}
}
