package handlers

import (
	"context"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// testPublicKeyID is the notifier's key id (newReceiverServerWithKey).
const testPublicKeyID = "PUB_KEY_ID_0114232134912410000000000000"

// swapParser is the receiver's verifier, replaced as a restart with a new
// configuration would replace it.
type swapParser struct {
	v atomic.Pointer[payscore.NotifyVerifier]
}

func (s *swapParser) Parse(ctx context.Context, h http.Header, b []byte) (*payscore.Notification, error) {
	return s.v.Load().Parse(ctx, h, b)
}

func (s *swapParser) ParseReceived(ctx context.Context, h http.Header, b []byte, at time.Time) (*payscore.Notification, error) {
	return s.v.Load().ParseReceived(ctx, h, b, at)
}

// verifierFor is the verifier serve builds from a configuration with that
// WeChat Pay public key (id) and APIv3 key.
func verifierFor(t testing.TB, key *rsa.PublicKey, keyID, apiV3Key string) *payscore.NotifyVerifier {
	t.Helper()
	v, err := payscore.NewNotifyVerifier(payscore.Config{APIv3Key: apiV3Key, PublicKey: key, PublicKeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lastRefusal is the newest refusal row.
func lastRefusal(t testing.TB, db *store.DB) store.Refusal {
	t.Helper()
	rows, err := db.RefusalLog(context.Background(), store.RefusalFilter{Limit: 1})
	if err != nil || len(rows) == 0 {
		t.Fatalf("refusal log: %v, %d rows", err, len(rows))
	}
	return rows[0]
}

// secretPayload holds values only the decrypted payload carries: none may
// appear on a refusal's page.
var secretPayload = []string{"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "SECRET-CODE-1", "wx9999999999999999", "1900000002"}

// TestRefusalDiagnosisPages: a refusal's page for each failure kind, each
// built from a real request to the real receiver over HTTP: the step that
// failed and the likely cause, the serial against the configured key, the
// skew, the body's size and SHA-256, the field that did not match; never
// the decrypted payload. Kept deliveries are those of the signature and
// decryption kind.
func TestRefusalDiagnosisPages(t *testing.T) {
	key, otherKey := testKeys(t)
	// The overview's and the page's configured keys, as serve sets them.
	ts, n := newReceiverServerWithKey(t, key, func(d *testWiring) { d.Keys = VerifyKeys{PublicKeyID: testPublicKeyID} })
	ts.h.refusalBudget.off = true
	ctx := context.Background()
	ours, err := ts.db.SubMerchantByMchID(ctx, "1900000001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000002", Name: "另一商户"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.CreateLink(ctx, store.Link{Slug: "slug-diag-0000000001", SubMerchantID: ours.ID,
		AuthorizationCode: "SECRET-CODE-1", Token: "tok", TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: n.url}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute)
	payload := func(mutate func(map[string]any)) map[string]any {
		p := n.payload(payscore.EventUserOpenService, "SECRET-CODE-1", at)
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	signed := func(id string, p map[string]any, apiV3Key string) ([]byte, http.Header) {
		b := n.envelope(t, id, payscore.EventUserOpenService, p, apiV3Key)
		return b, n.headers(t, b, n.key, n.keyID, time.Now())
	}
	admin := ts.client(t, store.RoleAdmin)
	viewer := ts.client(t, store.RoleViewer)

	for _, tt := range []struct {
		name, reason, kind, step, cause, field string
		kept                                   bool
		make                                   func() ([]byte, http.Header)
	}{
		{"HeadersMissing", payscore.ReasonMissingHeader, service.RefusalHeaders, payscore.StepHeaders, "diag.cause.headers", "", false,
			func() ([]byte, http.Header) {
				b, h := signed("EV-D-headers", payload(nil), n.apiV3Key)
				h.Del("Wechatpay-Nonce")
				return b, h
			}},
		{"TimestampSkewed", payscore.ReasonBadTimestamp, service.RefusalClock, payscore.StepTimestamp, "diag.cause.clock", "", false,
			func() ([]byte, http.Header) {
				b := n.envelope(t, "EV-D-clock", payscore.EventUserOpenService, payload(nil), n.apiV3Key)
				return b, n.headers(t, b, n.key, n.keyID, time.Now().Add(-10*time.Minute))
			}},
		{"Forged", payscore.ReasonBadSignature, service.RefusalForged, payscore.StepSignature, "diag.cause.forged", "", true,
			func() ([]byte, http.Header) {
				b := n.envelope(t, "EV-D-forged", payscore.EventUserOpenService, payload(nil), n.apiV3Key)
				return b, n.headers(t, b, otherKey, n.keyID, time.Now())
			}},
		{"BodyReserialised", payscore.ReasonBadSignature, service.RefusalForged, payscore.StepSignature, "diag.cause.forged", "", true,
			func() ([]byte, http.Header) {
				b, h := signed("EV-D-proxy", payload(nil), n.apiV3Key)
				return []byte(strings.Replace(string(b), `","`, `", "`, 1)), h
			}},
		{"UnknownSerial", payscore.ReasonUnknownSerial, service.RefusalUnknownKey, payscore.StepSignature, "diag.cause.unknown_key", "", true,
			func() ([]byte, http.Header) {
				b := n.envelope(t, "EV-D-serial", payscore.EventUserOpenService, payload(nil), n.apiV3Key)
				return b, n.headers(t, b, n.key, "PUB_KEY_ID_0114232134912410000000009999", time.Now())
			}},
		{"WrongAPIv3Key", payscore.ReasonDecryptFailed, service.RefusalDecryption, payscore.StepDecryption, "diag.cause.decryption", "", true,
			func() ([]byte, http.Header) {
				return signed("EV-D-decrypt", payload(nil), "ffffffffffffffffffffffffffffffff")
			}},
		{"SubMchIDMismatch", service.ReasonSubMchIDMismatch, service.RefusalOwnership, payscore.StepOwnership, "diag.cause.ownership.sub_mchid", "sub_mchid", false,
			func() ([]byte, http.Header) {
				return signed("EV-D-submchid", payload(func(p map[string]any) { p["sub_mchid"] = "1900000002" }), n.apiV3Key)
			}},
		{"AppIDMismatch", service.ReasonAppIDMismatch, service.RefusalOwnership, payscore.StepOwnership, "diag.cause.ownership.appid", "appid", false,
			func() ([]byte, http.Header) {
				return signed("EV-D-appid", payload(func(p map[string]any) { p["appid"] = "wx9999999999999999" }), n.apiV3Key)
			}},
		{"SignTestProbe", payscore.ReasonBadSignature, service.RefusalProbe, payscore.StepSignature, "diag.cause.probe", "", false,
			func() ([]byte, http.Header) {
				b, h := signed("EV-D-probe", payload(nil), n.apiV3Key)
				h.Set("Wechatpay-Signature", payscore.SignatureProbePrefix+h.Get("Wechatpay-Signature"))
				return b, h
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, h := tt.make()
			status, _ := n.send(t, body, h)
			if status < 400 {
				t.Fatalf("status = %d, want a refusal", status)
			}
			r := lastRefusal(t, ts.db)
			if r.Reason != tt.reason || r.Kind != tt.kind {
				t.Fatalf("refusal = %s/%s, want %s/%s", r.Reason, r.Kind, tt.reason, tt.kind)
			}
			path := "/callbacks/refusals/" + strconv.FormatInt(r.ID, 10)
			for _, lang := range []string{"en", "zh"} {
				page := admin.get(t, path, "Cookie", "lang="+lang)
				if page.status != http.StatusOK {
					t.Fatalf("GET %s: %d", path, page.status)
				}
				if got, _ := page.doc.Find(`[data-testid="diag-step"]`).Attr("data-step"); got != tt.step {
					t.Errorf("step = %q, want %q", got, tt.step)
				}
				if got, _ := page.doc.Find(`[data-testid="diag-cause"]`).Attr("data-cause"); got != tt.cause {
					t.Errorf("cause = %q, want %q", got, tt.cause)
				}
				if cause := page.text(`[data-testid="diag-cause"]`); strings.Contains(cause, "diag.cause") {
					t.Errorf("cause not in words: %q", cause)
				}
				for _, secret := range secretPayload {
					if strings.Contains(page.body, secret) {
						t.Errorf("the page shows %q, decrypted data of the refused payload", secret)
					}
				}
				if got := page.text(`[data-testid="diag-field"]`); got != tt.field {
					t.Errorf("field = %q, want %q", got, tt.field)
				}
				if got := page.text(`[data-testid="diag-body-size"]`); !strings.Contains(got, strconv.Itoa(len(body))) {
					t.Errorf("body size = %q, want %d", got, len(body))
				}
				if got := page.text(`[data-testid="diag-body-sha256"]`); got != payscore.Describe(h, body, time.Now()).BodySHA256 {
					t.Errorf("sha256 = %q", got)
				}
				if got := page.text(`[data-testid="diag-serial"]`); got != h.Get("Wechatpay-Serial") {
					t.Errorf("serial = %q, want %q", got, h.Get("Wechatpay-Serial"))
				}
				if got := page.text(`[data-testid="diag-public-key-id"]`); got != n.keyID {
					t.Errorf("public key id = %q, want %q", got, n.keyID)
				}
				wantMatch := "public_key"
				if tt.kind == service.RefusalUnknownKey {
					wantMatch = "none"
				}
				if got, _ := page.doc.Find(`[data-testid="diag-serial-match"]`).Attr("data-match"); got != wantMatch {
					t.Errorf("serial match = %q, want %q", got, wantMatch)
				}
				skew, _ := page.doc.Find(`[data-testid="diag-skew"]`).Attr("data-skew")
				s, _ := strconv.Atoi(skew)
				if tt.kind == service.RefusalClock {
					if s < 590 || s > 610 || !page.has(`[data-testid="diag-skew-too-far"]`) {
						t.Errorf("skew = %q, want about 600 s, flagged", skew)
					}
				} else if skew == "" || s < -5 || s > 5 || page.has(`[data-testid="diag-skew-too-far"]`) {
					t.Errorf("skew = %q, want about 0", skew)
				}
				if kept := page.has(`[data-testid="diag-kept-body"]`); kept != tt.kept {
					t.Errorf("kept = %v, want %v", kept, tt.kept)
				}
				if form := page.has(`[data-testid="reverify-form"]`); form != tt.kept {
					t.Errorf("re-verify form = %v, want %v (admin)", form, tt.kept)
				}
			}
			if page := viewer.get(t, path); page.status != http.StatusOK || page.has(`[data-testid="reverify-form"]`) {
				t.Errorf("viewer: status %d, re-verify form %v; want 200 without the form", page.status, page.has(`[data-testid="reverify-form"]`))
			}
			full, err := ts.db.RefusalByID(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if full.Kept() != tt.kept {
				t.Errorf("stored kept = %v, want %v", full.Kept(), tt.kept)
			}
		})
	}
	t.Run("ListLinksToPages", func(t *testing.T) {
		page := admin.get(t, "/callbacks?outcome=refused")
		if n := page.doc.Find(`[data-testid="refusal-link"]`).Length(); n < 9 {
			t.Errorf("refusal links = %d, want 9", n)
		}
	})
	t.Run("MetricsCountKindsApart", func(t *testing.T) {
		m := ts.anonymous(t).get(t, "/metrics", metricsAuth...).body
		for _, want := range []string{`payscore_notifications_refused_total{kind="probe"} 1`, `payscore_notifications_refused_total{kind="forged"} 2`,
			`payscore_notifications_refused_total{kind="ownership"} 2`, `payscore_notifications_refused_total{kind="unknown_key"} 1`} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("OverviewCountsKindsApart", func(t *testing.T) {
		page := admin.get(t, "/")
		for kind, want := range map[string]string{"probe": "1", "forged": "2", "ownership": "2"} {
			if got := page.text(`[data-testid="refusal-kind-` + kind + `"] [data-testid="refusal-kind-count"]`); got != want {
				t.Errorf("overview %s = %q, want %s", kind, got, want)
			}
		}
	})
	t.Run("OverviewReadsOlderRowsKindFromReason", func(t *testing.T) {
		// A row from before the diagnosis has no kind: it counts under the
		// kind its reason says, not as malformed.
		malformed := admin.get(t, "/").text(`[data-testid="refusal-kind-malformed"] [data-testid="refusal-kind-count"]`)
		if _, err := openSQL(t, ts.db).Exec(`UPDATE callback_refusals SET kind = '' WHERE kind = 'forged' AND reason = ?`, payscore.ReasonBadSignature); err != nil {
			t.Fatal(err)
		}
		page := admin.get(t, "/")
		if got := page.text(`[data-testid="refusal-kind-forged"] [data-testid="refusal-kind-count"]`); got != "2" {
			t.Errorf("overview forged = %q, want 2 (older rows read from their reason)", got)
		}
		if got := page.text(`[data-testid="refusal-kind-malformed"] [data-testid="refusal-kind-count"]`); got != malformed {
			t.Errorf("overview malformed = %q, want %q as before", got, malformed)
		}
		if n := page.doc.Find(`[data-testid="refusal-kind-forged"]`).Length(); n != 1 {
			t.Errorf("forged shown %d times, want once", n)
		}
	})
}

// TestRefusalReverifyAfterKeyChange: a notification signed with a public
// key the console does not know, and one encrypted with an APIv3 key it does
// not have, are refused and kept; after the console is reconfigured with
// the right keys (as a restart would), an admin re-verifies each: it goes
// through the receiver, is stored once and updates the authorization; a
// second re-verify stores nothing more; a non-admin gets 403, a POST
// without the CSRF token 403; each re-verify is audited.
func TestRefusalReverifyAfterKeyChange(t *testing.T) {
	key, otherKey := testKeys(t)
	const apiV3Key = "0123456789abcdef0123456789abcdef"
	parser := &swapParser{}
	// At first the console has another public key (id) and another APIv3 key.
	parser.v.Store(verifierFor(t, &otherKey.PublicKey, "PUB_KEY_ID_OLD", "ffffffffffffffffffffffffffffffff"))
	ts, n := newReceiverServerWithKey(t, key, func(d *testWiring) {
		d.Receiver = Receiver{Parser: parser}
		d.Keys = VerifyKeys{PublicKeyID: testPublicKeyID}
	})
	ctx := context.Background()
	if _, err := ts.db.CreateLink(ctx, store.Link{Slug: "slug-diag-0000000002", SubMerchantID: 1,
		AuthorizationCode: "REV-1", Token: "tok", TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: n.url}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute)

	// Signed with the key whose id the console does not have: unknown_serial.
	b1, h1 := n.valid(t, "EV-REV-1", payscore.EventUserOpenService, "REV-1", at)
	if status, _ := n.send(t, b1, h1); status != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", status)
	}
	unknown := lastRefusal(t, ts.db)
	if unknown.Reason != payscore.ReasonUnknownSerial {
		t.Fatalf("reason = %s", unknown.Reason)
	}
	// The public key now known, the APIv3 key still wrong: decrypt_failed.
	parser.v.Store(verifierFor(t, &key.PublicKey, n.keyID, "ffffffffffffffffffffffffffffffff"))
	b2, h2 := n.valid(t, "EV-REV-2", payscore.EventUserCloseService, "REV-1", at.Add(time.Minute))
	if status, _ := n.send(t, b2, h2); status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", status)
	}
	undecrypted := lastRefusal(t, ts.db)
	if undecrypted.Reason != payscore.ReasonDecryptFailed {
		t.Fatalf("reason = %s", undecrypted.Reason)
	}
	if got := countRows(t, ts.db, "callbacks"); got != 0 {
		t.Fatalf("callbacks = %d, want 0", got)
	}

	admin := ts.client(t, store.RoleAdmin)
	path := func(r store.Refusal) string {
		return "/callbacks/refusals/" + strconv.FormatInt(r.ID, 10) + "/reverify"
	}

	t.Run("StillRefusedShowsTheNewDiagnosis", func(t *testing.T) {
		// The APIv3 key is still wrong: the decryption refusal stays refused.
		res := admin.post(t, path(undecrypted), nil)
		if res.status != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", res.status)
		}
		page := admin.get(t, "/callbacks/refusals/"+strconv.FormatInt(undecrypted.ID, 10))
		if got, _ := page.doc.Find(`[data-testid="diag-reverify"]`).Attr("data-outcome"); got != service.ReverifyRefused {
			t.Errorf("outcome = %q, want refused", got)
		}
		if !strings.Contains(page.text(`[data-testid="diag-reverify-cause"]`), "APIv3") {
			t.Errorf("new cause = %q, want the APIv3 key's", page.text(`[data-testid="diag-reverify-cause"]`))
		}
		if got := countRows(t, ts.db, "callbacks"); got != 0 {
			t.Fatalf("callbacks = %d, want 0", got)
		}
	})

	// Reconfigured with the right keys, as a restart would.
	parser.v.Store(verifierFor(t, &key.PublicKey, n.keyID, apiV3Key))

	t.Run("ErrNonAdmin", func(t *testing.T) {
		for _, role := range []string{store.RoleOperator, store.RoleSupport, store.RoleViewer} {
			if got := ts.client(t, role).post(t, path(unknown), nil).status; got != http.StatusForbidden {
				t.Errorf("%s: status = %d, want 403", role, got)
			}
		}
	})
	t.Run("ErrNoCSRF", func(t *testing.T) {
		if got := admin.postRaw(t, path(unknown), url.Values{}).status; got != http.StatusForbidden {
			t.Errorf("status = %d, want 403", got)
		}
	})
	if got := countRows(t, ts.db, "callbacks"); got != 0 {
		t.Fatalf("callbacks = %d after refused re-verifies, want 0", got)
	}

	t.Run("Accepted", func(t *testing.T) {
		for _, r := range []store.Refusal{unknown, undecrypted} {
			if res := admin.post(t, path(r), nil); res.status != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303", res.status)
			}
			page := admin.get(t, "/callbacks/refusals/"+strconv.FormatInt(r.ID, 10))
			if got, _ := page.doc.Find(`[data-testid="diag-reverify"]`).Attr("data-outcome"); got != store.OutcomeAccepted {
				t.Errorf("outcome = %q, want accepted", got)
			}
			for _, secret := range secretPayload {
				if strings.Contains(page.body, secret) {
					t.Errorf("the refusal page shows %q", secret)
				}
			}
		}
		if got := countRows(t, ts.db, "callbacks"); got != 2 {
			t.Errorf("callbacks = %d, want 2", got)
		}
		// Open, then close (newer): the authorization follows both.
		a, err := ts.db.AuthorizationByCode(ctx, "REV-1")
		if err != nil || a.State != store.StateUnavailable {
			t.Errorf("authorization = %+v, %v; want UNAVAILABLE", a, err)
		}
	})
	t.Run("TwiceStoredOnce", func(t *testing.T) {
		if res := admin.post(t, path(unknown), nil); res.status != http.StatusSeeOther {
			t.Fatalf("status = %d", res.status)
		}
		if got := countRows(t, ts.db, "callbacks"); got != 2 {
			t.Errorf("callbacks = %d, want 2", got)
		}
		id, err := queryInt(t, ts.db, `SELECT count(*) FROM callbacks WHERE notification_id = 'EV-REV-1'`)
		if err != nil || id != 1 {
			t.Errorf("EV-REV-1 stored %d times (%v), want once", id, err)
		}
		page := admin.get(t, "/callbacks/refusals/"+strconv.FormatInt(unknown.ID, 10))
		if got, _ := page.doc.Find(`[data-testid="diag-reverify"]`).Attr("data-outcome"); got != store.OutcomeDuplicate {
			t.Errorf("outcome = %q, want duplicate", got)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		entries, err := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditNotificationReverify, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		// One refused, two accepted, one duplicate; none for the 403s.
		if len(entries) != 4 {
			t.Fatalf("audit entries = %d, want 4: %+v", len(entries), entries)
		}
		for _, e := range entries {
			if e.Username != store.RoleAdmin || !strings.HasPrefix(e.Target, "refusal:") {
				t.Errorf("entry = %+v", e)
			}
		}
	})
	t.Run("StepUpAfterReauthWindow", func(t *testing.T) {
		// An authentication older than service.ReauthAfter is asked for
		// again before anything is re-verified.
		audited := func() int {
			entries, err := ts.db.AuditLog(ctx, store.AuditFilter{Action: service.AuditNotificationReverify, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(entries)
		}
		before := audited()
		ts.clock.Advance(service.ReauthAfter + time.Minute)
		res := admin.post(t, path(unknown), nil)
		held := res.doc.Find(`input[name="_form"]`).AttrOr("value", "")
		if res.status != http.StatusOK || held == "" {
			t.Fatalf("no step-up asked: %d", res.status)
		}
		if got := audited(); got != before {
			t.Fatalf("re-verified before the step-up: %d entries, want %d", got, before)
		}
		if res := admin.post(t, path(unknown), url.Values{"_stepup": {"1"}, "_form": {held}, "password": {testPassword}}); res.status != http.StatusSeeOther {
			t.Fatalf("after the step-up: %d, want 303", res.status)
		}
		if got := audited(); got != before+1 {
			t.Errorf("audit entries = %d, want %d", got, before+1)
		}
		if got := countRows(t, ts.db, "callbacks"); got != 2 {
			t.Errorf("callbacks = %d, want 2", got)
		}
	})
}
