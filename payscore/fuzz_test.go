package payscore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzNotifyParse feeds Parse envelopes it has not seen. With an empty
// plaintext, body is the raw envelope; otherwise plaintext is encrypted into a
// well-formed envelope whose event_type is body. When signed is true the
// body gets a valid signature, so the fuzzer reaches decryption and payload
// parsing; when false it carries a SIGNTEST probe signature and must be
// refused. Invariants: no panic; an unsigned body is never accepted; a
// refusal is a *NotifyError with a known reason and never shows decrypted
// data (the corpus plants "SECRET" in payload values); an accepted
// notification is complete and keeps the envelope verbatim.
func FuzzNotifyParse(f *testing.F) {
	v := newTestVerifier(f, nil)
	k := getKeys(f)
	reasons := map[string]bool{ReasonMissingHeader: true, ReasonBadTimestamp: true, ReasonBadSignature: true,
		ReasonUnknownSerial: true, ReasonDecryptFailed: true, ReasonBadEventType: true, ReasonMalformed: true}

	f.Fuzz(func(t *testing.T, body, plaintext []byte, signed bool) {
		if len(plaintext) > 0 {
			body = buildEnvelope(t, notifyOpts{eventType: string(body), payload: string(plaintext)})
		}
		h := http.Header{}
		if signed {
			signHeaders(h, k.pubKey, testPubKeyID, time.Now().Unix(), body)
		} else {
			signHeaders(h, k.pubKey, testPubKeyID, time.Now().Unix(), []byte("something else"))
			h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature")[19:])
		}

		n, err := v.Parse(context.Background(), h, body)
		if err != nil {
			var ne *NotifyError
			if !errors.As(err, &ne) || !reasons[ne.Reason] || n != nil {
				t.Fatalf("refusal %v (%T) with notification %v", err, err, n)
			}
			if bytes.Contains(plaintext, []byte("SECRET")) && strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("refusal shows decrypted data: %v", err)
			}
			return
		}
		if !signed {
			t.Fatalf("accepted a notification without a valid signature: %q", body)
		}
		p := n.Payload
		if n.ID == "" || (n.EventType != EventUserOpenService && n.EventType != EventUserCloseService) ||
			p.AppID == "" || p.MchID == "" || p.SubMchID == "" || p.ServiceID == "" || p.UserID() == "" {
			t.Fatalf("incomplete notification accepted: %+v", n)
		}
		if !bytes.Equal(n.Envelope, body) {
			t.Fatalf("envelope not kept verbatim")
		}
		if len(plaintext) > 0 && !bytes.Equal(n.Plaintext, plaintext) && strings.ToValidUTF8(string(plaintext), "\uFFFD") == string(plaintext) {
			t.Fatalf("plaintext %q, want %q", n.Plaintext, plaintext)
		}
	})
}

// TestFuzzCorpusValidSeeds keeps the committed corpus meaningful: the seeds
// named valid-* must be accepted, the others refused.
func TestFuzzCorpusValidSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzNotifyParse")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 6 {
		t.Fatalf("only %d seeds in %s", len(entries), dir)
	}
	v := newTestVerifier(t, nil)
	k := getKeys(t)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			body, plaintext, signed := parseCorpusFile(t, b)
			if len(plaintext) > 0 {
				body = buildEnvelope(t, notifyOpts{eventType: string(body), payload: string(plaintext)})
			}
			h := http.Header{}
			signHeaders(h, k.pubKey, testPubKeyID, time.Now().Unix(), body)
			if !signed {
				h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+h.Get("Wechatpay-Signature")[19:])
			}
			_, err = v.Parse(context.Background(), h, body)
			if valid := strings.HasPrefix(e.Name(), "valid-"); valid != (err == nil) {
				t.Errorf("valid=%v but Parse returned %v", valid, err)
			}
		})
	}
}

// parseCorpusFile reads a "go test fuzz v1" file of ([]byte, []byte, bool).
func parseCorpusFile(t *testing.T, b []byte) (body, plaintext []byte, signed bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("unexpected corpus file:\n%s", b)
	}
	unquote := func(s string) []byte {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
		u, err := strconv.Unquote(s)
		if err != nil {
			t.Fatalf("corpus value %s: %v", s, err)
		}
		return []byte(u)
	}
	return unquote(lines[1]), unquote(lines[2]), lines[3] == "bool(true)"
}
