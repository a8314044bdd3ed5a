package payscore

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fixedClock returns a clock stopped at the start of a fresh second, so the
// SDK's own check (on the real time.Now) agrees with ours for the rest of
// that second.
func fixedClock(t *testing.T) (time.Time, func() time.Time) {
	t.Helper()
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
	start := time.Now().Truncate(time.Second)
	return start, func() time.Time { return start }
}

func wantRefusal(t *testing.T, n *Notification, err error, reason string) *NotifyError {
	t.Helper()
	var ne *NotifyError
	if !errors.As(err, &ne) {
		t.Fatalf("got %+v, %v; want a *NotifyError %s", n, err, reason)
	}
	if n != nil {
		t.Errorf("a refused notification returned data")
	}
	if ne.Reason != reason {
		t.Fatalf("reason %q (%v), want %q", ne.Reason, err, reason)
	}
	return ne
}

func TestNotifyParseValid(t *testing.T) {
	t.Run("OKOpen", func(t *testing.T) {
		v := newTestVerifier(t, nil)
		h, body := buildNotification(t, notifyOpts{})
		n, err := v.Parse(context.Background(), h, body)
		if err != nil {
			t.Fatal(err)
		}
		want := Payload{AppID: testAppID, MchID: testMchID, SubAppID: testAppID, SubMchID: testSubMchID,
			ServiceID: testServiceID, SubOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", UserServiceStatus: StatusUserOpenService,
			AuthorizationCode: "4534323JKHDFE1243252",
			OpenOrCloseTime:   time.Date(2018, 2, 25, 3, 22, 33, 0, time.UTC)}
		got := n.Payload
		if !got.OpenOrCloseTime.Equal(want.OpenOrCloseTime) {
			t.Errorf("openorclose_time %v, want %v (Beijing 11:22:33)", got.OpenOrCloseTime, want.OpenOrCloseTime)
		}
		got.OpenOrCloseTime = want.OpenOrCloseTime
		if got != want {
			t.Errorf("payload\n got %+v\nwant %+v", got, want)
		}
		if n.ID != "EV-2018022511223320873" || n.EventType != EventUserOpenService || n.ResourceType != "encrypt-resource" ||
			n.Summary != "授权成功" || n.Serial != testPubKeyID || n.RequestID != "notify-req-1" || n.AssociatedData != testAssociated {
			t.Errorf("notification %+v", n)
		}
		if !n.CreateTime.Equal(time.Date(2015, 5, 20, 5, 29, 35, 0, time.UTC)) {
			t.Errorf("create_time %v", n.CreateTime)
		}
		if !bytes.Equal(n.Envelope, body) || string(n.Plaintext) != testOpenPayload {
			t.Errorf("envelope/plaintext not kept verbatim")
		}
		if err := n.Payload.CheckOwner(testMchID, testServiceID); err != nil {
			t.Errorf("CheckOwner: %v", err)
		}
		if err := n.Payload.CheckOwner("1900000999", testServiceID); !errors.Is(err, ErrNotOwner) {
			t.Errorf("CheckOwner other mchid: %v", err)
		}
		if err := n.Payload.CheckOwner(testMchID, "500001"); !errors.Is(err, ErrNotOwner) {
			t.Errorf("CheckOwner other service: %v", err)
		}
	})
	t.Run("OKCloseWithTableSpelling", func(t *testing.T) {
		v := newTestVerifier(t, nil)
		payload := `{"appid":"wxd678efh567hg6787","mchid":"1900000109","sub_mchid":"1230000110","channel_id":"1230000109",
			"service_id":"500001","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","user_service_status":"USER_CLOSE_SERVICE",
			"openorclose_time":"20180225112233","future_field":{"x":1}}`
		h, body := buildNotification(t, notifyOpts{eventType: EventUserCloseService, payload: payload})
		n, err := v.Parse(context.Background(), h, body)
		if err != nil {
			t.Fatal(err)
		}
		p := n.Payload
		if n.EventType != EventUserCloseService || p.MchID != testMchID || p.SubMchID != testSubMchID || p.ChannelID != testChannelID ||
			p.OpenID == "" || p.SubOpenID != "" || p.UserID() != p.OpenID || p.AuthorizationCode != "" {
			t.Errorf("payload %+v", p)
		}
	})
	t.Run("OKBothSpellingsAgree", func(t *testing.T) {
		v := newTestVerifier(t, nil)
		payload := strings.Replace(testOpenPayload, `"mch_id":"1900000109"`, `"mch_id":"1900000109","mchid":"1900000109"`, 1)
		h, body := buildNotification(t, notifyOpts{payload: payload})
		if _, err := v.Parse(context.Background(), h, body); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNotifyParseRefusals(t *testing.T) {
	k := getKeys(t)
	tests := []struct {
		name   string
		build  func(t *testing.T) (http.Header, []byte)
		reason string
	}{
		{"ErrOneByteBodyChange", func(t *testing.T) (http.Header, []byte) {
			h, body := buildNotification(t, notifyOpts{})
			b := bytes.Replace(body, []byte("EV-2018"), []byte("EV-2019"), 1)
			return h, b
		}, ReasonBadSignature},
		{"ErrWrongKey", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{key: k.stranger, serial: testPubKeyID})
		}, ReasonBadSignature},
		{"ErrUnknownSerial", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{key: k.pubKey, serial: "PUB_KEY_ID_0000000000000000000000000000000000"})
		}, ReasonUnknownSerial},
		{"ErrSignatureProbe", func(t *testing.T) (http.Header, []byte) {
			h, body := buildNotification(t, notifyOpts{})
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature")[19:])
			return h, body
		}, ReasonBadSignature},
		{"ErrSignatureTypeUnknown", func(t *testing.T) (http.Header, []byte) {
			h, body := buildNotification(t, notifyOpts{})
			h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3")
			return h, body
		}, ReasonBadSignature},
		{"ErrWrongAPIv3Key", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{apiV3Key: testOtherV3Key})
		}, ReasonDecryptFailed},
		{"ErrFlippedCiphertextBit", func(t *testing.T) (http.Header, []byte) {
			// Re-signed after the flip: only AEAD authentication can catch it.
			return buildNotification(t, notifyOpts{envelope: flipCiphertextBit(t, buildEnvelope(t, notifyOpts{}))})
		}, ReasonDecryptFailed},
		{"ErrBadEventType", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{eventType: "TRANSACTION.SUCCESS"})
		}, ReasonBadEventType},
		{"ErrEventStatusMismatch", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{eventType: EventUserCloseService})
		}, ReasonMalformed},
		{"ErrTrailingCommaPayload", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{payload: strings.TrimSuffix(testOpenPayload, "}") + ",}"})
		}, ReasonMalformed},
		{"ErrTrailingCommaEnvelope", func(t *testing.T) (http.Header, []byte) {
			env := buildEnvelope(t, notifyOpts{})
			env = append(bytes.TrimSuffix(env, []byte("}")), []byte(",}")...)
			return buildNotification(t, notifyOpts{envelope: env})
		}, ReasonMalformed},
		{"ErrNoOpenID", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{payload: strings.Replace(testOpenPayload, `"sub_openid"`, `"unrelated"`, 1)})
		}, ReasonMalformed},
		{"ErrSpellingsDisagree", func(t *testing.T) (http.Header, []byte) {
			p := strings.Replace(testOpenPayload, `"mch_id":"1900000109"`, `"mch_id":"1900000109","mchid":"1900000999"`, 1)
			return buildNotification(t, notifyOpts{payload: p})
		}, ReasonMalformed},
		{"ErrNumberInsteadOfString", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{payload: strings.Replace(testOpenPayload, `"sub_mch_id":"1230000110"`, `"sub_mch_id":1230000110`, 1)})
		}, ReasonMalformed},
		{"ErrCaseVariantKey", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{payload: strings.Replace(testOpenPayload, `"service_id"`, `"SERVICE_ID"`, 1)})
		}, ReasonMalformed},
		{"ErrBadOpenOrCloseTime", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{payload: strings.Replace(testOpenPayload, `20180225112233`, `2018-02-25T11:22:33+08:00`, 1)})
		}, ReasonMalformed},
		{"ErrSignedEnvelopeWithoutResource", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{envelope: []byte(`{"id":"EV-1","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"x"}`)})
		}, ReasonMalformed},
		{"ErrUnsignedEnvelopeWithoutResource", func(t *testing.T) (http.Header, []byte) {
			h, _ := buildNotification(t, notifyOpts{})
			return h, []byte(`{"id":"EV-1","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE"}`)
		}, ReasonBadSignature},
		{"ErrSignedShortGCMNonce", func(t *testing.T) (http.Header, []byte) {
			env := bytes.Replace(buildEnvelope(t, notifyOpts{}), []byte(testGCMNonce), []byte("short"), 1)
			return buildNotification(t, notifyOpts{envelope: env})
		}, ReasonDecryptFailed},
		{"ErrNotJSON", func(t *testing.T) (http.Header, []byte) {
			return buildNotification(t, notifyOpts{envelope: []byte("hello")})
		}, ReasonMalformed},
		{"ErrTimestampNotANumber", func(t *testing.T) (http.Header, []byte) {
			h, body := buildNotification(t, notifyOpts{})
			h.Set("Wechatpay-Timestamp", "soon")
			return h, body
		}, ReasonBadTimestamp},
	}
	for _, header := range []string{"Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"} {
		tests = append(tests, struct {
			name   string
			build  func(t *testing.T) (http.Header, []byte)
			reason string
		}{"ErrMissing" + strings.TrimPrefix(header, "Wechatpay-"), func(t *testing.T) (http.Header, []byte) {
			h, body := buildNotification(t, notifyOpts{})
			h.Del(header)
			return h, body
		}, ReasonMissingHeader})
	}
	v := newTestVerifier(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body := tt.build(t)
			n, err := v.Parse(context.Background(), h, body)
			ne := wantRefusal(t, n, err, tt.reason)
			for _, secret := range []string{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "4534323JKHDFE1243252", "1230000110", testAPIv3Key} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains decrypted data or a key", err)
				}
			}
			if tt.reason != ReasonMalformed && strings.HasPrefix(string(body), `{"id":"EV-2018022511223320873"`) &&
				ne.NotificationID != "EV-2018022511223320873" && tt.name != "ErrOneByteBodyChange" {
				t.Errorf("NotificationID %q not filled from the envelope", ne.NotificationID)
			}
		})
	}
}

func TestNotifyTimestampWindow(t *testing.T) {
	start, clock := fixedClock(t)
	v := newTestVerifier(t, func(c *Config) { c.Now = clock })
	for _, tt := range []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"OKPast299", -299, true},
		{"OKFuture299", 299, true},
		{"ErrPast301", -301, false},
		{"ErrFuture301", 301, false},
		{"ErrPast300", -300, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, body := buildNotification(t, notifyOpts{ts: start.Unix() + tt.offset})
			n, err := v.Parse(context.Background(), h, body)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, n, err, ReasonBadTimestamp)
		})
	}
	t.Run("ErrInjectedClockDecides", func(t *testing.T) {
		// Signed "now" by the real clock, but our clock is an hour ahead.
		v := newTestVerifier(t, func(c *Config) { c.Now = func() time.Time { return time.Now().Add(time.Hour) } })
		h, body := buildNotification(t, notifyOpts{})
		n, err := v.Parse(context.Background(), h, body)
		wantRefusal(t, n, err, ReasonBadTimestamp)
	})
}

func TestNotifyModes(t *testing.T) {
	k := getKeys(t)
	certOnly := func(c *Config) { c.PublicKey, c.PublicKeyID, c.PlatformCerts = nil, "", []*x509.Certificate{k.cert} }
	both := func(c *Config) { c.PlatformCerts = []*x509.Certificate{k.cert} }
	pubSigned := notifyOpts{key: k.pubKey, serial: testPubKeyID}
	certSigned := notifyOpts{key: k.platform, serial: k.certSerial}
	tests := []struct {
		name   string
		mutate func(*Config)
		opts   notifyOpts
		reason string // "" = accepted
	}{
		{"OKPublicKeyMode", nil, pubSigned, ""},
		{"ErrPublicKeyModeCertSigned", nil, certSigned, ReasonUnknownSerial},
		{"OKCertMode", certOnly, certSigned, ""},
		{"ErrCertModePubSigned", certOnly, pubSigned, ReasonUnknownSerial},
		{"OKBothPubSigned", both, pubSigned, ""},
		{"OKBothCertSigned", both, certSigned, ""},
		{"ErrBothCertSerialSignedByPubKey", both, notifyOpts{key: k.pubKey, serial: k.certSerial}, ReasonBadSignature},
		{"ErrBothPubSerialSignedByCertKey", both, notifyOpts{key: k.platform, serial: testPubKeyID}, ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, tt.mutate)
			h, body := buildNotification(t, tt.opts)
			n, err := v.Parse(context.Background(), h, body)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n.Serial != tt.opts.serial {
					t.Errorf("serial %q, want %q", n.Serial, tt.opts.serial)
				}
				return
			}
			wantRefusal(t, n, err, tt.reason)
		})
	}
}

func TestNewNotifyVerifierConfig(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"ErrShortAPIv3Key": func(c *Config) { c.APIv3Key = "short" },
		"ErrNoKeys":        func(c *Config) { c.PublicKey, c.PublicKeyID = nil, "" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(t)
			mutate(&cfg)
			if _, err := NewNotifyVerifier(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func BenchmarkNotifyParse(b *testing.B) {
	v := newTestVerifier(b, nil)
	h, body := buildNotification(b, notifyOpts{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Parse(ctx, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
