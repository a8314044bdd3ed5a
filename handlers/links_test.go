package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// fakePayScore answers pre-authorizations with a token (or err) and
// records them, to prove what was, or was not, sent to WeChat Pay.
type fakePayScore struct {
	mu    sync.Mutex
	calls []payscore.PreAuthorizeRequest
	err   error
}

func (f *fakePayScore) PreAuthorize(_ context.Context, req payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if f.err != nil {
		return payscore.PreAuthorizeResult{}, f.err
	}
	return payscore.PreAuthorizeResult{Token: "fake-token-" + req.AuthorizationCode, RequestID: "REQ-FAKE"}, nil
}

func (f *fakePayScore) Query(context.Context, payscore.QueryRequest) (*payscore.Authorization, error) {
	return nil, errors.New("fakePayScore: Query not used")
}

func (f *fakePayScore) Terminate(context.Context, payscore.TerminateRequest) (string, error) {
	return "", errors.New("fakePayScore: Terminate not used")
}

func (f *fakePayScore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// withFakePayScore points the handlers at f.
func withFakePayScore(f *fakePayScore) serverOption {
	return withDeps(func(d *testWiring) { d.PayScore, d.CodePrefix = f, "T" })
}

// addSubMerchant registers a sub-merchant directly in the store.
func (ts *testServer) addSubMerchant(t testing.TB, subMchID, name string, disabled bool) *store.SubMerchant {
	t.Helper()
	ctx := context.Background()
	m, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: subMchID, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if disabled {
		m.Disabled = true
		if m, err = ts.db.UpdateSubMerchant(ctx, *m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// seedLink stores a link without calling WeChat Pay.
func (ts *testServer) seedLink(t testing.TB, m *store.SubMerchant, code string, createdBy int64) *store.Link {
	t.Helper()
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	slug := base64.RawURLEncoding.EncodeToString(b)
	l, err := ts.db.CreateLink(context.Background(), store.Link{Slug: slug, SubMerchantID: m.ID, AuthorizationCode: code,
		Token: "tok-" + code, TokenExpiresAt: ts.clock.Now().Add(service.TokenLifetime), NotifyURL: ts.URL + "/notify/payscore", CreatedBy: createdBy})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// createLinkHTTP posts the new-link form and follows nothing: it requires
// a 303 to the link's page and returns the stored link.
func createLinkHTTP(t testing.TB, tc *testClient, subMchID, code string) *store.Link {
	t.Helper()
	res := tc.post(t, "/links", url.Values{"sub_mchid": {subMchID}, "authorization_code": {code}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("POST /links: status %d, want 303; upstream %q; errors %q", res.status, res.text(`[data-testid="upstream-error"]`), res.text(`.field-error`))
	}
	loc := res.header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/links/"), 10, 64)
	if err != nil || !strings.HasPrefix(loc, "/links/") {
		t.Fatalf("Location = %q, want /links/{id}", loc)
	}
	l, err := tc.ts.db.LinkByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// advanceActive moves the clock by d while tc keeps loading pages, so its
// session (30 min idle limit) stays alive.
func (ts *testServer) advanceActive(t testing.TB, tc *testClient, d time.Duration) {
	t.Helper()
	const step = 20 * time.Minute
	for d > 0 {
		s := min(d, step)
		ts.clock.Advance(s)
		d -= s
		if !tc.signedIn(t) {
			t.Fatal("signed out while the clock moved")
		}
	}
}

// decodeQR reads a PNG QR code back to its text.
func decodeQR(t testing.TB, b []byte) (string, image.Image) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// The console draws a pure, upright code with its quiet zone: read it as
	// such. gozxing's general finder-pattern detector misses about 1 in 120
	// of these pixel-perfect codes.
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("decode QR: %v", err)
	}
	return res.GetText(), img
}

// quietZoneModules measures the white margin left of the top-left finder
// pattern, in modules (the finder's top edge is 7 modules of dark).
func quietZoneModules(img image.Image) float64 {
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r+g+b < 3*0x8000
	}
	b := img.Bounds()
	for d := b.Min.X; d < b.Max.X; d++ {
		if !dark(d, d) {
			continue
		}
		// (d, d) is the finder's top-left corner: its top edge runs right.
		x := d
		for x < b.Max.X && dark(x, d) {
			x++
		}
		module := float64(x-d) / 7
		return float64(d-b.Min.X) / module
	}
	return 0
}

// TestLinkRoutesAccess: who may use the link screens.
func TestLinkRoutesAccess(t *testing.T) {
	f := &fakePayScore{}
	ts := newTestServer(t, withFakePayScore(f))
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	l := ts.seedLink(t, m, "ACCESS-1", ts.users[store.RoleOperator].ID)
	id := strconv.FormatInt(l.ID, 10)
	ops := func(anon, ok int) map[string]int {
		return map[string]int{"": anon, store.RoleAdmin: ok, store.RoleOperator: ok, store.RoleSupport: http.StatusForbidden, store.RoleViewer: http.StatusForbidden}
	}
	tests := []struct {
		method, path string
		form         url.Values
		want         map[string]int
	}{
		{"GET", "/links", nil, ops(http.StatusSeeOther, http.StatusOK)},
		{"GET", "/links/new", nil, ops(http.StatusSeeOther, http.StatusOK)},
		// An empty form is refused after the role check: nothing is created.
		{"POST", "/links", url.Values{}, ops(http.StatusUnauthorized, http.StatusUnprocessableEntity)},
		{"GET", "/links/" + id, nil, ops(http.StatusSeeOther, http.StatusOK)},
		{"GET", "/links/" + id + "/qr.png", nil, ops(http.StatusSeeOther, http.StatusOK)},
		{"GET", "/links/" + id + "/poster.png", nil, ops(http.StatusSeeOther, http.StatusOK)},
		// The token has not expired: refused after the role check.
		{"POST", "/links/" + id + "/renew", nil, ops(http.StatusUnauthorized, http.StatusConflict)},
		{"GET", "/links/999999", nil, ops(http.StatusSeeOther, http.StatusNotFound)},
	}
	for _, role := range allRoles {
		tc := ts.client(t, role)
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.path+" as "+roleName(role), func(t *testing.T) {
				var res *response
				if tt.method == http.MethodGet {
					res = tc.get(t, tt.path)
				} else {
					res = tc.post(t, tt.path, tt.form)
				}
				if got, want := res.status, tt.want[role]; got != want {
					t.Errorf("status = %d, want %d", got, want)
				}
			})
		}
	}
	if got := f.count(); got != 0 {
		t.Errorf("pre-authorizations = %d, want 0", got)
	}
	if got, want := countRows(t, ts.db, "links"), 1; got != want {
		t.Errorf("links = %d, want %d", got, want)
	}
}

func TestLinkNav(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		role            string
		wantLinks, want bool // links, sub-merchants
	}{
		{store.RoleAdmin, true, true},
		{store.RoleOperator, true, false},
		{store.RoleSupport, false, false},
		{store.RoleViewer, false, false},
	}
	for _, tt := range tests {
		t.Run("OK "+tt.role, func(t *testing.T) {
			res := ts.client(t, tt.role).get(t, "/")
			if got, want := res.has(`[data-testid="nav"] a[href="/links"]`), tt.wantLinks; got != want {
				t.Errorf("nav links = %v, want %v", got, want)
			}
			if got, want := res.has(`[data-testid="nav"] a[href="/sub-merchants"]`), tt.want; got != want {
				t.Errorf("nav sub-merchants = %v, want %v", got, want)
			}
		})
	}
}

// TestCreateLinkValidation: refusals made here, before WeChat Pay is called.
func TestCreateLinkValidation(t *testing.T) {
	tests := []struct {
		name      string
		form      url.Values
		wantField string // the field whose error shows
		wantText  string // part of the message
	}{
		{"ErrNoSubMerchant", url.Values{"sub_mchid": {""}}, "sub_mchid", ""},
		{"ErrUnknownSubMerchant", url.Values{"sub_mchid": {"1999999999"}}, "sub_mchid", ""},
		{"ErrDisabledSubMerchant", url.Values{"sub_mchid": {"1900000002"}}, "sub_mchid", ""},
		{"ErrCodeSpace", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"AB CD"}}, "authorization_code", ""},
		{"ErrCodeSlash", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"AB/CD"}}, "authorization_code", ""},
		{"ErrCodeChinese", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"授权1"}}, "authorization_code", ""},
		{"ErrCodeTooLong", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {strings.Repeat("A", 33)}}, "authorization_code", ""},
		{"ErrCodeUsedByLink", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"USED-1"}}, "authorization_code", "USED-1"},
		{"ErrCodeUsedByAuthorization", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"SEEN|2"}}, "authorization_code", "SEEN|2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePayScore{}
			ts := newTestServer(t, withFakePayScore(f))
			m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
			ts.addSubMerchant(t, "1900000002", "停用商户", true)
			ts.seedLink(t, m, "USED-1", 0)
			if _, err := ts.db.SaveAuthorization(context.Background(), store.Authorization{AuthorizationCode: "SEEN|2",
				SubMchID: "1900000001", State: store.StateAvailable, StateTime: ts.clock.Now(), Source: "query"}); err != nil {
				t.Fatal(err)
			}
			tc := ts.client(t, store.RoleOperator)
			res := tc.post(t, "/links", tt.form)
			if got, want := res.status, http.StatusUnprocessableEntity; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			msg := res.text(`[data-testid="error-` + tt.wantField + `"]`)
			if msg == "" {
				t.Fatalf("no error for %s in the page", tt.wantField)
			}
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("message %q lacks %q", msg, tt.wantText)
			}
			// The typed values are kept.
			if got, want := res.doc.Find(`input[name="authorization_code"]`).AttrOr("value", ""), tt.form.Get("authorization_code"); got != want {
				t.Errorf("code value = %q, want %q", got, want)
			}
			if sel := tt.form.Get("sub_mchid"); sel == "1900000001" {
				if got := res.doc.Find(`select[name="sub_mchid"] option[selected]`).AttrOr("value", ""); got != sel {
					t.Errorf("selected sub_mchid = %q, want %q", got, sel)
				}
			}
			// Disabled sub-merchants are not offered.
			if res.has(`select[name="sub_mchid"] option[value="1900000002"]`) {
				t.Error("a disabled sub-merchant is offered")
			}
			if got := f.count(); got != 0 {
				t.Errorf("pre-authorizations = %d, want 0 (refused locally first)", got)
			}
			if got, want := countRows(t, ts.db, "links"), 1; got != want {
				t.Errorf("links = %d, want %d", got, want)
			}
		})
	}
}

// TestCreateLinkClientValidation: a request the client refuses before
// sending (an http notify_url in live mode) is 422 with the field named.
func TestCreateLinkClientValidation(t *testing.T) {
	f := &fakePayScore{err: &payscore.ValidationError{Field: "notify_url", Message: "must use https"}}
	ts := newTestServer(t, withFakePayScore(f))
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	res := ts.client(t, store.RoleOperator).post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"CV-1"}})
	if got, want := res.status, http.StatusUnprocessableEntity; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got := res.text(`[data-testid="upstream-explanation"]`); !strings.Contains(got, "notify_url") {
		t.Errorf("explanation = %q, want it to name notify_url", got)
	}
	if got, want := countRows(t, ts.db, "links"), 0; got != want {
		t.Errorf("links = %d, want %d", got, want)
	}
}

// TestCreateLinkSandbox: the whole way over the sandbox, as in sandbox mode.
func TestCreateLinkSandbox(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := ts.client(t, store.RoleOperator)

	t.Run("OKGeneratedCode", func(t *testing.T) {
		l := createLinkHTTP(t, op, "1900000001", "")
		if !regexp.MustCompile(`^T[0-9]{14}[0-9A-Z]{6,}$`).MatchString(l.AuthorizationCode) || len(l.AuthorizationCode) > 32 {
			t.Errorf("generated code %q: want T + time + random, at most 32", l.AuthorizationCode)
		}
		if err := payscore.ValidateAuthorizationCode(l.AuthorizationCode); err != nil {
			t.Error(err)
		}
		if got, want := len(l.Slug), 24; got < want {
			t.Errorf("slug %q: %d characters, want ≥ %d (≥ 128 bits)", l.Slug, got, want)
		}
		if got, want := l.TokenExpiresAt, ts.clock.Now().Add(time.Hour); !got.Equal(want) {
			t.Errorf("token expires %v, want %v", got, want)
		}
		if got, want := l.CreatedBy, ts.users[store.RoleOperator].ID; got != want {
			t.Errorf("created by %d, want %d", got, want)
		}
		// WeChat Pay (the sandbox) got our notify_url and the sub-merchant.
		a, err := wp.sb.Authorization(ctx, l.AuthorizationCode)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.NotifyURL, ts.URL+"/notify/payscore"; got != want {
			t.Errorf("notify_url = %q, want %q", got, want)
		}
		if got, want := a.SubMchID, "1900000001"; got != want {
			t.Errorf("sub_mchid = %q, want %q", got, want)
		}
		audit, err := ts.db.AuditLog(ctx, store.AuditFilter{Action: "link.create"})
		if err != nil || len(audit) != 1 {
			t.Fatalf("audit = %v, %v; want one link.create", audit, err)
		}
		if got, want := audit[0].Target+" "+audit[0].Result+" "+audit[0].Username, l.AuthorizationCode+" ok operator"; got != want {
			t.Errorf("audit = %q, want %q", got, want)
		}
		if audit[0].RequestID == "" {
			t.Error("audit entry without WeChat Pay's Request-ID")
		}

		page := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10))
		if got, want := page.status, http.StatusOK; got != want {
			t.Fatalf("link page status = %d, want %d", got, want)
		}
		if got, want := page.text(`[data-testid="flash"]`), catalogZH("links.created.ok", l.AuthorizationCode); got != want {
			t.Errorf("flash = %q, want %q", got, want)
		}
		landing := ts.URL + "/h5/" + l.Slug
		if got, want := page.doc.Find(`[data-testid="landing-url"]`).AttrOr("value", ""), landing; got != want {
			t.Errorf("landing URL = %q, want %q", got, want)
		}
		if got, want := page.doc.Find(`[data-testid="link-qr"]`).AttrOr("src", ""), "/links/"+strconv.FormatInt(l.ID, 10)+"/qr.png"; got != want {
			t.Errorf("QR src = %q, want %q", got, want)
		}
		enc := url.QueryEscape(l.Token)
		for id, want := range map[string]string{
			"snippet-mp-open":     "apply_permissions_token: '" + l.Token + "'",
			"snippet-mp-navigate": "apply_permissions_token: '" + l.Token + "'",
			"snippet-android":     `req.query = "apply_permissions_token=` + enc + `"`,
			"snippet-ios":         `req.query = @"apply_permissions_token=` + enc + `"`,
			"snippet-h5":          "queryString: 'apply_permissions_token=" + enc + "'",
		} {
			if got := page.text(`[data-testid="` + id + `"]`); !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", id, want, got)
			}
		}
		if got, want := page.doc.Find(`[data-testid="link-state-badge"]`).AttrOr("data-state", ""), store.StateUnbindUser; got != want {
			t.Errorf("state = %q, want %q", got, want)
		}

		// The QR code is the landing URL, print-sized; ?download=1 saves it.
		qr := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10)+"/qr.png")
		if got, want := qr.header.Get("Content-Type"), "image/png"; got != want {
			t.Errorf("Content-Type = %q, want %q", got, want)
		}
		text, img := decodeQR(t, []byte(qr.body))
		if got, want := text, landing; got != want {
			t.Errorf("QR = %q, want %q", got, want)
		}
		if got, want := img.Bounds().Dx(), 512; got != want {
			t.Errorf("QR width = %d, want %d", got, want)
		}
		if got, want := quietZoneModules(img), 4.0; got < want {
			t.Errorf("quiet zone = %.1f modules, want ≥ %.0f", got, want)
		}
		if qr.header.Get("Content-Disposition") != "" {
			t.Error("Content-Disposition without ?download=1")
		}
		dl := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10)+"/qr.png?download=1")
		if got := dl.header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") || !strings.Contains(got, ".png") {
			t.Errorf("Content-Disposition = %q, want an attachment .png", got)
		}

		// htmx polls the state: a fragment, until the user agrees.
		frag := op.get(t, "/links/"+strconv.FormatInt(l.ID, 10), "HX-Request", "true")
		if got, want := frag.status, http.StatusOK; got != want {
			t.Fatalf("fragment status = %d, want %d", got, want)
		}
		if strings.Contains(frag.body, "<html") || frag.has(`[data-testid="nav"]`) || frag.has(`[data-testid="snippets"]`) {
			t.Errorf("HX-Request got more than the fragment:\n%s", frag.body)
		}
		if got, want := frag.doc.Find(`[data-testid="link-state"]`).AttrOr("hx-trigger", ""), "every 3s"; got != want {
			t.Errorf("hx-trigger = %q, want %q", got, want)
		}
		if got := frag.header.Values("Vary"); !slices.Contains(got, "HX-Request") {
			t.Errorf("Vary = %q, want HX-Request", got)
		}
		if got := page.header.Values("Vary"); !slices.Contains(got, "HX-Request") {
			t.Errorf("full page Vary = %q, want HX-Request", got)
		}
		if _, err := wp.sb.Agree(ctx, l.Token); err != nil {
			t.Fatal(err)
		}
		if got := wp.deliver(t); got != 1 {
			t.Fatalf("delivered %d notifications, want 1", got)
		}
		frag = op.get(t, "/links/"+strconv.FormatInt(l.ID, 10), "HX-Request", "true")
		if got, want := frag.doc.Find(`[data-testid="link-state-badge"]`).AttrOr("data-state", ""), store.StateAvailable; got != want {
			t.Errorf("state after agreeing = %q, want %q", got, want)
		}
		if _, polling := frag.doc.Find(`[data-testid="link-state"]`).Attr("hx-trigger"); polling {
			t.Error("still polling after AVAILABLE")
		}
	})

	t.Run("OKTypedCode", func(t *testing.T) {
		l := createLinkHTTP(t, op, "1900000001", "MY_code-1|*")
		if got, want := l.AuthorizationCode, "MY_code-1|*"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		// The same code again is refused here, not by WeChat Pay.
		res := op.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"MY_code-1|*"}})
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("reuse: status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="error-authorization_code"]`), catalogZH("links.err.code.used", "MY_code-1|*"); got != want {
			t.Errorf("reuse message = %q, want %q", got, want)
		}
	})

	t.Run("ErrUpstreamSystemError", func(t *testing.T) {
		before := countRows(t, ts.db, "links")
		wp.sb.InjectFault(sandbox.FaultSystemError, 3)
		t.Cleanup(wp.sb.ClearFaults)
		res := op.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"FAIL-1"}})
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		expl, remedy := views.Tr(views.LangZH, "upstream.SYSTEM_ERROR"), views.Tr(views.LangZH, "upstream.SYSTEM_ERROR.do")
		if got, want := res.text(`[data-testid="upstream-explanation"]`), expl; got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-remedy"]`), remedy; got != want {
			t.Errorf("remedy = %q, want %q", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-code"]`), "SYSTEM_ERROR"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if got, want := res.doc.Find(`input[name="authorization_code"]`).AttrOr("value", ""), "FAIL-1"; got != want {
			t.Errorf("code kept = %q, want %q", got, want)
		}
		if got, want := countRows(t, ts.db, "links"), before; got != want {
			t.Errorf("links = %d, want %d (nothing stored)", got, want)
		}
		if _, err := ts.db.AuthorizationByCode(ctx, "FAIL-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("authorization stored after a failure: %v", err)
		}
		audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Target: "FAIL-1"})
		if len(audit) != 1 || audit[0].Result != "failed: SYSTEM_ERROR" {
			t.Errorf("audit = %+v, want one failed: SYSTEM_ERROR", audit)
		}
	})

	t.Run("ErrUpstreamEnglish", func(t *testing.T) {
		en := ts.client(t, store.RoleAdmin)
		en.post(t, "/lang", url.Values{"lang": {"en"}, "next": {"/"}})
		wp.sb.InjectFault(sandbox.FaultSystemError, 3)
		t.Cleanup(wp.sb.ClearFaults)
		res := en.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}})
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		expl := views.Tr(views.LangEN, "upstream.SYSTEM_ERROR")
		if got, want := res.text(`[data-testid="upstream-explanation"]`), expl; got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		// The generated code that was sent is kept, so a retry sends the same parameters.
		if got := res.doc.Find(`input[name="authorization_code"]`).AttrOr("value", ""); !strings.HasPrefix(got, "T") {
			t.Errorf("code kept = %q, want the generated one", got)
		}
	})

	t.Run("ErrUpstreamBadSignature", func(t *testing.T) {
		wp.sb.InjectFault(sandbox.FaultBadSignature, 1)
		t.Cleanup(wp.sb.ClearFaults)
		before := countRows(t, ts.db, "links")
		res := op.post(t, "/links", url.Values{"sub_mchid": {"1900000001"}, "authorization_code": {"SIG-1"}})
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.text(`[data-testid="upstream-explanation"]`), catalogZH("links.err.badsignature"); got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		if got, want := countRows(t, ts.db, "links"), before; got != want {
			t.Errorf("links = %d, want %d", got, want)
		}
	})
}

// TestRenewLink: an expired token is renewed with the same parameters.
// Expiry is judged by the console's (fake) clock.
func TestRenewLink(t *testing.T) {
	var wp wechatPay
	ts := newTestServer(t, withWeChatPay(t, &wp))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	op := ts.client(t, store.RoleOperator)
	l := createLinkHTTP(t, op, "1900000001", "")
	path := "/links/" + strconv.FormatInt(l.ID, 10)

	t.Run("ErrNotExpired", func(t *testing.T) {
		res := op.post(t, path+"/renew", nil)
		if got, want := res.status, http.StatusConflict; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if page := op.get(t, path); page.has(`[data-testid="link-renew"]`) || page.has(`[data-testid="link-expired"]`) {
			t.Error("renew offered before expiry")
		}
	})

	ts.advanceActive(t, op, service.TokenLifetime+time.Minute)
	// An admin edits the sub-merchant's sub_appid meanwhile: renewing must
	// still send the parameters of the first pre-authorization, or WeChat
	// Pay refuses the reused code (INVALID_REQUEST).
	m, err := ts.db.SubMerchantByMchID(ctx, "1900000001")
	if err != nil {
		t.Fatal(err)
	}
	m.SubAppID = "wx00000000000edited"
	if _, err := ts.db.UpdateSubMerchant(ctx, *m); err != nil {
		t.Fatal(err)
	}

	t.Run("ErrUpstream", func(t *testing.T) {
		wp.sb.InjectFault(sandbox.FaultSystemError, 3)
		t.Cleanup(wp.sb.ClearFaults)
		res := op.post(t, path+"/renew", nil)
		if got, want := res.status, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		expl := views.Tr(views.LangZH, "upstream.SYSTEM_ERROR")
		if got, want := res.text(`[data-testid="upstream-explanation"]`), expl; got != want {
			t.Errorf("explanation = %q, want %q", got, want)
		}
		if !res.has(`[data-testid="link-renew"]`) {
			t.Error("the renew form is gone after a failure")
		}
		if got, _ := ts.db.LinkByID(ctx, l.ID); got.Token != l.Token {
			t.Error("token changed after a failed renewal")
		}
	})

	t.Run("OK", func(t *testing.T) {
		page := op.get(t, path)
		if !page.has(`[data-testid="link-expired"]`) || !page.has(`[data-testid="link-renew"]`) {
			t.Fatal("an expired link offers no renewal")
		}
		res := op.post(t, path+"/renew", nil)
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d; %s", got, want, res.text(`[data-testid="upstream-error"]`))
		}
		if got, want := res.header.Get("Location"), path; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		got, err := ts.db.LinkByID(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Token == l.Token || got.Token == "" {
			t.Errorf("token = %q, want a new one", got.Token)
		}
		if want := ts.clock.Now().Add(service.TokenLifetime); !got.TokenExpiresAt.Equal(want) {
			t.Errorf("expires = %v, want %v", got.TokenExpiresAt, want)
		}
		if got.AuthorizationCode != l.AuthorizationCode {
			t.Errorf("code changed: %q", got.AuthorizationCode)
		}
		audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Action: "link.renew", Target: l.AuthorizationCode})
		if len(audit) == 0 || audit[0].Result != "ok" || audit[0].RequestID == "" {
			t.Errorf("audit = %+v, want link.renew ok with a Request-ID", audit)
		}
		// The new token works at WeChat Pay (the sandbox).
		if _, err := wp.sb.Agree(ctx, got.Token); err != nil {
			t.Errorf("agree with the renewed token: %v", err)
		}
		after := op.get(t, path)
		if after.has(`[data-testid="link-renew"]`) {
			t.Error("renew still offered after renewing")
		}
		if !strings.Contains(after.text(`[data-testid="snippet-h5"]`), url.QueryEscape(got.Token)) {
			t.Error("the snippets do not carry the new token")
		}
	})
}

func TestLinksList(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	a := ts.addSubMerchant(t, "1900000001", "甲商户", false)
	b := ts.addSubMerchant(t, "1900000002", "乙商户", false)
	opID, adminID := ts.users[store.RoleOperator].ID, ts.users[store.RoleAdmin].ID
	var ids []int64
	for i := range 55 {
		m, by := a, opID
		if i%5 == 0 {
			m, by = b, adminID
		}
		ids = append(ids, ts.seedLink(t, m, "L-"+strconv.Itoa(i), by).ID)
	}
	if _, err := ts.db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "L-3", SubMchID: "1900000001",
		State: store.StateAvailable, StateTime: ts.clock.Now().Add(time.Minute), Source: "notification"}); err != nil {
		t.Fatal(err)
	}
	tc := ts.client(t, store.RoleOperator)
	rowIDs := func(res *response) []string {
		var out []string
		res.doc.Find(`[data-testid="links"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, strings.TrimPrefix(s.AttrOr("data-testid", ""), "link-row-"))
		})
		return out
	}
	id := func(i int) string { return strconv.FormatInt(ids[i], 10) }

	t.Run("OKNewestFirstPaged", func(t *testing.T) {
		res := tc.get(t, "/links")
		got := rowIDs(res)
		if len(got) != 50 || got[0] != id(54) || got[49] != id(5) {
			t.Fatalf("first page = %d rows from %v…, want 50 from %s to %s", len(got), got[:min(3, len(got))], id(54), id(5))
		}
		older := res.doc.Find(`[data-testid="links-older"]`).AttrOr("href", "")
		if want := "/links?before=" + id(5); older != want {
			t.Fatalf("older = %q, want %q", older, want)
		}
		page2 := tc.get(t, older)
		if got := rowIDs(page2); len(got) != 5 || got[0] != id(4) || got[4] != id(0) {
			t.Errorf("second page = %v, want %s…%s", got, id(4), id(0))
		}
		if page2.has(`[data-testid="links-older"]`) {
			t.Error("the last page links to an older one")
		}
	})
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"OKSubMerchant", "sub_mchid=1900000002", []string{id(50), id(45), id(40), id(35), id(30), id(25), id(20), id(15), id(10), id(5), id(0)}},
		{"OKState", "state=AVAILABLE", []string{id(3)}},
		{"OKCreatedBy", "created_by=admin&sub_mchid=1900000001", nil},
		{"OKCreatedByAdmin", "created_by=admin&before=" + id(20), []string{id(15), id(10), id(5), id(0)}},
		{"OKNoMatch", "sub_mchid=1999999999", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tc.get(t, "/links?"+tt.query)
			if got, want := res.status, http.StatusOK; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := strings.Join(rowIDs(res), ","), strings.Join(tt.want, ","); got != want {
				t.Errorf("rows = %s, want %s", got, want)
			}
			if len(tt.want) == 0 && !res.has(`[data-testid="links-empty"]`) {
				t.Error("no empty message")
			}
			// The filter form shows what was chosen.
			q, _ := url.ParseQuery(tt.query)
			if v := q.Get("sub_mchid"); v != "" && v != "1999999999" {
				if got := res.doc.Find(`select[name="sub_mchid"] option[selected]`).AttrOr("value", ""); got != v {
					t.Errorf("selected sub_mchid = %q, want %q", got, v)
				}
			}
		})
	}
	t.Run("OKStateBadge", func(t *testing.T) {
		res := tc.get(t, "/links?state=AVAILABLE")
		if got, want := res.text(`[data-testid="link-row-state"]`), views.Tr(views.LangZH, "links.state.AVAILABLE"); got != want {
			t.Errorf("badge = %q, want %q", got, want)
		}
	})
	t.Run("ErrBadCursor", func(t *testing.T) {
		if got, want := tc.get(t, "/links?before=x").status, http.StatusBadRequest; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
}

// TestCreateLinkMethod: the links service's Create, as main.go seeds with it.
func TestCreateLinkMethod(t *testing.T) {
	f := &fakePayScore{}
	ts := newTestServer(t, withFakePayScore(f))
	ctx := context.Background()
	ts.addSubMerchant(t, "1900000001", "测试商户", false)
	att, err := ts.svc.Links.Create(ctx, service.Actor{UserID: ts.users[store.RoleAdmin].ID, Username: store.RoleAdmin}, "1900000001", "")
	if err != nil {
		t.Fatal(err)
	}
	l := att.Link
	if got, want := l.Token, "fake-token-"+l.AuthorizationCode; got != want {
		t.Errorf("token = %q, want %q", got, want)
	}
	if got, want := f.calls[0].NotifyURL, ts.URL+"/notify/payscore"; got != want {
		t.Errorf("notify_url = %q, want %q", got, want)
	}
	audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Target: l.AuthorizationCode})
	if len(audit) != 1 || audit[0].Username != "admin" || audit[0].Result != "ok" {
		t.Errorf("audit = %+v, want one ok entry by admin", audit)
	}
	if _, err := ts.svc.Links.Create(ctx, service.Actor{}, "1900000001", l.AuthorizationCode); !errors.Is(err, service.ErrCodeUsed) {
		t.Errorf("reuse: err = %v, want service.ErrCodeUsed", err)
	}
	if _, err := ts.svc.Links.Create(ctx, service.Actor{}, "1999999999", ""); !errors.Is(err, service.ErrSubMerchantUnavailable) {
		t.Errorf("unknown sub-merchant: err = %v, want service.ErrSubMerchantUnavailable", err)
	}
	var vErr *payscore.ValidationError
	if _, err := ts.svc.Links.Create(ctx, service.Actor{}, "1900000001", "bad code"); !errors.As(err, &vErr) {
		t.Errorf("bad code: err = %v, want a ValidationError", err)
	}
	if got, want := f.count(), 1; got != want {
		t.Errorf("pre-authorizations = %d, want %d", got, want)
	}
}

func TestNewCode(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		wantErr bool
	}{
		{"OKEmpty", "", false},
		{"OKDefault", "PSC", false},
		{"OKLong", "ABCDEFGHIJKL", false},
		{"ErrTooLong", "ABCDEFGHIJKLM", true},
		{"ErrCharset", "P/S", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, withDeps(func(d *testWiring) { d.CodePrefix = tt.prefix }))
			code, err := ts.svc.Links.NewCode(context.Background())
			if got, want := err != nil, tt.wantErr; got != want {
				t.Fatalf("err = %v, want error %v", err, want)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(code, tt.prefix+"20260301100000") {
				t.Errorf("code %q does not start with the prefix and Beijing time", code)
			}
			if err := payscore.ValidateAuthorizationCode(code); err != nil {
				t.Errorf("code %q: %v", code, err)
			}
		})
	}
}
