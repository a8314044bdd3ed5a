package sandbox_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
)

func doc(t *testing.T, resp *http.Response) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func form(kv ...string) (*strings.Reader, map[string]string) {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

func TestConsentPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("OKAgree", func(t *testing.T) {
		token := e.mustToken(t, "CONSENT1", "1230000109", "")
		resp := e.do(t, http.MethodGet, "/sandbox/payscore?apply_permissions_token="+url.QueryEscape(token), nil, nil)
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP: %q", csp)
		}
		d := doc(t, resp)
		if got, want := d.Find(`[data-testid=consent]`).AttrOr("data-stage", ""), "form"; got != want {
			t.Errorf("stage: got %q, want %q", got, want)
		}
		if got := d.Find(`[data-testid=sub-mchid]`).Text(); got != "1230000109" {
			t.Errorf("sub-mchid: got %q", got)
		}
		if got := d.Find(`[data-testid=agree]`).Text(); got != "同意并开启" {
			t.Errorf("agree button: %q", got)
		}
		if got := d.Find(`[data-testid=decline]`).Text(); got != "暂不开启" {
			t.Errorf("decline button: %q", got)
		}
		if got := d.Find(`input[name=_csrf]`).AttrOr("value", ""); got != testCSRF {
			t.Errorf("_csrf: got %q", got)
		}
		if n := d.Find(`script:not([src])`).Length(); n != 0 {
			t.Errorf("%d inline scripts", n)
		}

		body, hdr := form("_csrf", testCSRF, "apply_permissions_token", token, "decision", "agree")
		resp = e.do(t, http.MethodPost, "/sandbox/payscore", body, hdr)
		if got, want := resp.StatusCode, http.StatusSeeOther; got != want {
			t.Fatalf("post: got %d, want %d", got, want)
		}
		loc := resp.Header.Get("Location")
		if !strings.Contains(loc, "result=agreed") {
			t.Errorf("redirect: %q", loc)
		}
		d = doc(t, e.do(t, http.MethodGet, loc, nil, nil))
		if got, want := d.Find(`[data-testid=consent]`).AttrOr("data-stage", ""), "agreed"; got != want {
			t.Errorf("after agree stage: got %q, want %q", got, want)
		}
		a, err := e.sb.Authorization(ctx, "CONSENT1")
		if err != nil || a.State != sandbox.StateAvailable {
			t.Fatalf("authorization: %v %+v", err, a)
		}
		ns, _ := e.sb.Notifications(ctx, "CONSENT1")
		if len(ns) != 1 || ns[0].EventType != "PAYSCORE.USER_OPEN_SERVICE" || ns[0].Status != sandbox.NotificationPending {
			t.Errorf("open notification not queued: %+v", ns)
		}
		if _, err := e.sb.Agree(ctx, token); !errors.Is(err, sandbox.ErrTokenUsed) {
			t.Errorf("agree twice: got %v, want ErrTokenUsed", err)
		}
	})
	t.Run("OKDecline", func(t *testing.T) {
		token := e.mustToken(t, "CONSENT2", "1230000109", "")
		body, hdr := form("_csrf", testCSRF, "apply_permissions_token", token, "decision", "decline")
		resp := e.do(t, http.MethodPost, "/sandbox/payscore", body, hdr)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "result=declined") {
			t.Fatalf("post: %d %q", resp.StatusCode, loc)
		}
		d := doc(t, e.do(t, http.MethodGet, loc, nil, nil))
		if got, want := d.Find(`[data-testid=consent]`).AttrOr("data-stage", ""), "declined"; got != want {
			t.Errorf("stage: got %q, want %q", got, want)
		}
		a, _ := e.sb.Authorization(ctx, "CONSENT2")
		if a.State != sandbox.StateUnbindUser {
			t.Errorf("declining changed the state to %s", a.State)
		}
		if ns, _ := e.sb.Notifications(ctx, "CONSENT2"); len(ns) != 0 {
			t.Errorf("declining queued %d notifications", len(ns))
		}
	})
	t.Run("ErrUnknownToken", func(t *testing.T) {
		resp := e.do(t, http.MethodGet, "/sandbox/payscore?apply_permissions_token=nope", nil, nil)
		if got, want := resp.StatusCode, http.StatusNotFound; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
		if got, want := doc(t, resp).Find(`[data-testid=consent]`).AttrOr("data-stage", ""), "unknown"; got != want {
			t.Errorf("stage: got %q, want %q", got, want)
		}
		if _, err := e.sb.Agree(ctx, "nope"); !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("agree: got %v, want ErrNotFound", err)
		}
	})
	t.Run("ErrExpiredToken", func(t *testing.T) {
		token := e.mustToken(t, "CONSENT3", "1230000109", "")
		e.clock.Add(61 * time.Minute)
		defer e.clock.Add(-61 * time.Minute)
		d := doc(t, e.do(t, http.MethodGet, "/sandbox/payscore?apply_permissions_token="+url.QueryEscape(token), nil, nil))
		if got, want := d.Find(`[data-testid=consent]`).AttrOr("data-stage", ""), "expired"; got != want {
			t.Errorf("stage: got %q, want %q", got, want)
		}
		if _, err := e.sb.Agree(ctx, token); !errors.Is(err, sandbox.ErrTokenExpired) {
			t.Errorf("agree: got %v, want ErrTokenExpired", err)
		}
		body, hdr := form("_csrf", testCSRF, "apply_permissions_token", token, "decision", "agree")
		resp := e.do(t, http.MethodPost, "/sandbox/payscore", body, hdr)
		if loc := resp.Header.Get("Location"); strings.Contains(loc, "result=agreed") {
			t.Errorf("expired agree redirected to %q", loc)
		}
	})
	t.Run("Assets", func(t *testing.T) {
		for path, ctype := range map[string]string{
			"/sandbox/jweixin.js":         "application/javascript",
			"/sandbox/static/consent.js":  "application/javascript",
			"/sandbox/static/sandbox.css": "text/css",
		} {
			resp := e.do(t, http.MethodGet, path, nil, nil)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
				t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	})
}

func TestControlPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := map[string]string{"X-Test-Admin": "yes"}
	e.agree(t, "CTRL1", "")
	e.deliver(t, 1)

	t.Run("ErrNotAdmin", func(t *testing.T) {
		for _, p := range []string{"/sandbox", "/sandbox/"} {
			if got, want := e.do(t, http.MethodGet, p, nil, nil).StatusCode, http.StatusForbidden; got != want {
				t.Errorf("%s: got %d, want %d", p, got, want)
			}
		}
		body, hdr := form("_csrf", testCSRF, "authorization_code", "CTRL1")
		if got, want := e.do(t, http.MethodPost, "/sandbox/control/close", body, hdr).StatusCode, http.StatusForbidden; got != want {
			t.Errorf("close: got %d, want %d", got, want)
		}
	})
	t.Run("OKShows", func(t *testing.T) {
		resp := e.do(t, http.MethodGet, "/sandbox", nil, admin)
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		d := doc(t, resp)
		if got, want := d.Find(`[data-testid=home]`).AttrOr("href", ""), "/"; got != want {
			t.Errorf("home link: %q", got)
		}
		if got, want := d.Find(`[data-testid=authorization] [data-testid=state]`).Text(), "AVAILABLE"; got != want {
			t.Errorf("state: got %q, want %q", got, want)
		}
		if got, want := d.Find(`[data-testid=attempt]`).Length(), 1; got != want {
			t.Errorf("attempts shown: got %d, want %d", got, want)
		}
		d.Find(`form[method=post]`).Each(func(_ int, f *goquery.Selection) {
			if got := f.Find(`input[name=_csrf]`).AttrOr("value", ""); got != testCSRF {
				t.Errorf("form %s: _csrf %q", f.AttrOr("action", ""), got)
			}
		})
	})
	post := func(t *testing.T, path string, kv ...string) string {
		t.Helper()
		body, hdr := form(append([]string{"_csrf", testCSRF}, kv...)...)
		hdr["X-Test-Admin"] = "yes"
		resp := e.do(t, http.MethodPost, path, body, hdr)
		if got, want := resp.StatusCode, http.StatusSeeOther; got != want {
			t.Fatalf("%s: got %d, want %d", path, got, want)
		}
		return resp.Header.Get("Location")
	}
	t.Run("OKActions", func(t *testing.T) {
		ns, _ := e.sb.Notifications(ctx, "CTRL1")
		id := ns[0].ID
		if loc := post(t, "/sandbox/control/resend", "notification_id", id); loc != "/sandbox?done=resent" {
			t.Errorf("resend redirect %q", loc)
		}
		post(t, "/sandbox/control/duplicate", "notification_id", id)
		if n, _ := e.sb.Notification(ctx, id); len(n.Attempts) != 4 {
			t.Errorf("attempts after resend+duplicate: got %d, want 4", len(n.Attempts))
		}
		post(t, "/sandbox/control/forged", "authorization_code", "CTRL1")
		post(t, "/sandbox/control/close", "authorization_code", "CTRL1")
		if a, _ := e.sb.Authorization(ctx, "CTRL1"); a.State != sandbox.StateUnavailable {
			t.Errorf("state after close: %s", a.State)
		}
		if loc := post(t, "/sandbox/control/close", "authorization_code", "CTRL1"); loc != "/sandbox?err=invalid_state" {
			t.Errorf("second close redirect %q", loc)
		}
		post(t, "/sandbox/control/faults", "kind", "frequency_limited", "n", "3")
		if got := e.sb.PendingFaults(); len(got) != 3 || got[0] != sandbox.FaultFrequencyLimited {
			t.Errorf("faults: %v", got)
		}
		if loc := post(t, "/sandbox/control/faults", "kind", "nonsense", "n", "1"); loc != "/sandbox?err=bad_fault" {
			t.Errorf("bad fault redirect %q", loc)
		}
		post(t, "/sandbox/control/faults/clear")
		if got := e.sb.PendingFaults(); len(got) != 0 {
			t.Errorf("faults after clear: %v", got)
		}
		post(t, "/sandbox/control/settings", "duplicates", "on", "spelling", "example")
		if st, _ := e.sb.Settings(ctx); !st.Duplicates || !st.ExampleSpelling {
			t.Errorf("settings: %+v", st)
		}
		d := doc(t, e.do(t, http.MethodGet, "/sandbox?done=settings", nil, admin))
		if d.Find(`[data-testid=flash]`).Text() == "" {
			t.Error("no flash after an action")
		}
		if got, want := d.Find(`[data-testid=notification]`).Length(), 3; got != want {
			t.Errorf("notifications shown: got %d, want %d (open, forged, close)", got, want)
		}
	})
}

func TestOfficialAccount(t *testing.T) {
	e := newEnv(t)
	q := url.Values{"grant_type": {"client_credential"}, "appid": {e.creds.MPAppID}, "secret": {e.creds.MPSecret}}

	var bad struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	wrong := url.Values{"grant_type": {"client_credential"}, "appid": {e.creds.MPAppID}, "secret": {"wrong"}}
	getJSON(t, e, "/sandbox/cgi-bin/token?"+wrong.Encode(), &bad)
	if bad.ErrCode != 40001 || bad.ErrMsg == "" {
		t.Errorf("wrong secret: %+v", bad)
	}

	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	getJSON(t, e, "/sandbox/cgi-bin/token?"+q.Encode(), &tok)
	if tok.AccessToken == "" || tok.ExpiresIn != 7200 {
		t.Fatalf("token: %+v", tok)
	}

	var ticket struct {
		ErrCode   int    `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}
	getJSON(t, e, "/sandbox/cgi-bin/ticket/getticket?type=jsapi&access_token="+url.QueryEscape(tok.AccessToken), &ticket)
	if ticket.ErrCode != 0 || ticket.ErrMsg != "ok" || ticket.Ticket == "" || ticket.ExpiresIn != 7200 {
		t.Fatalf("ticket: %+v", ticket)
	}

	bad.ErrCode = 0
	getJSON(t, e, "/sandbox/cgi-bin/ticket/getticket?type=jsapi&access_token=nope", &bad)
	if bad.ErrCode != 40001 {
		t.Errorf("unknown access_token: %+v", bad)
	}

	// jssdk verify: the signature computed here, independently.
	pageURL := "http://localhost:8080/h5/abc?x=1"
	sign := func(ticket, nonce, ts, u string) string {
		s := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonce + "&timestamp=" + ts + "&url=" + u))
		return hex.EncodeToString(s[:])
	}
	verify := func(t *testing.T, body string) (ok bool, errMsg string) {
		t.Helper()
		resp := e.do(t, http.MethodPost, "/sandbox/jssdk/verify", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		var r struct {
			OK     bool   `json:"ok"`
			ErrMsg string `json:"errMsg"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r.OK, r.ErrMsg
	}
	ts := fmt.Sprint(e.clock.Now().Unix())
	good := sign(ticket.Ticket, "Wm3WZYTPz0wzccnW", ts, pageURL)
	cfg := func(appID, ts, sig, u string) string {
		b, _ := json.Marshal(map[string]any{"appId": appID, "timestamp": ts, "nonceStr": "Wm3WZYTPz0wzccnW", "signature": sig, "url": u,
			"jsApiList": []string{"checkJsApi", "openBusinessView"}})
		return string(b)
	}
	t.Run("OKSignature", func(t *testing.T) {
		if ok, msg := verify(t, cfg(e.creds.MPAppID, ts, good, pageURL)); !ok || msg != "config:ok" {
			t.Errorf("got %v %q, want ok", ok, msg)
		}
	})
	t.Run("OKTimestampAsNumber", func(t *testing.T) {
		body := strings.Replace(cfg(e.creds.MPAppID, ts, good, pageURL), `"timestamp":"`+ts+`"`, `"timestamp":`+ts, 1)
		if ok, _ := verify(t, body); !ok {
			t.Error("numeric timestamp refused")
		}
	})
	t.Run("ErrWrongSignature", func(t *testing.T) {
		if ok, msg := verify(t, cfg(e.creds.MPAppID, ts, sign("other-ticket", "Wm3WZYTPz0wzccnW", ts, pageURL), pageURL)); ok || msg != "config:invalid signature" {
			t.Errorf("got %v %q, want config:invalid signature", ok, msg)
		}
	})
	t.Run("ErrOtherURL", func(t *testing.T) {
		if ok, _ := verify(t, cfg(e.creds.MPAppID, ts, good, pageURL+"&y=2")); ok {
			t.Error("signature accepted for another URL")
		}
	})
	t.Run("ErrOtherAppID", func(t *testing.T) {
		if ok, _ := verify(t, cfg("wx0000000000000000", ts, good, pageURL)); ok {
			t.Error("signature accepted for another appId")
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		e.clock.Add(7201 * time.Second)
		if ok, _ := verify(t, cfg(e.creds.MPAppID, ts, good, pageURL)); ok {
			t.Error("signature accepted with an expired ticket")
		}
		bad.ErrCode = 0
		getJSON(t, e, "/sandbox/cgi-bin/ticket/getticket?type=jsapi&access_token="+url.QueryEscape(tok.AccessToken), &bad)
		if bad.ErrCode != 42001 {
			t.Errorf("expired access_token: %+v", bad)
		}
	})
}

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	open := func() (sandbox.Credentials, *store.DB, *sandbox.Sandbox) {
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := sandbox.New(ctx, sandbox.Options{DBPath: db.Path})
		if err != nil {
			t.Fatal(err)
		}
		return sb.Credentials(), db, sb
	}
	c1, db, sb := open()
	sb.Close()
	db.Close()
	c2, db, sb := open()
	defer db.Close()
	defer sb.Close()

	t.Run("OKFormats", func(t *testing.T) {
		for name, tc := range map[string]struct{ v, re string }{
			"MchID":       {c1.MchID, `^\d{10}$`},
			"CertSerial":  {c1.CertSerial, `^[0-9A-F]{40}$`},
			"APIv3Key":    {c1.APIv3Key, `^[\x21-\x7e]{32}$`},
			"PublicKeyID": {c1.PublicKeyID, `^PUB_KEY_ID_\d+$`},
			"AppID":       {c1.AppID, `^wx[0-9a-z]{16}$`},
			"MPAppID":     {c1.MPAppID, `^wx[0-9a-z]{16}$`},
			"ServiceID":   {c1.ServiceID, `^\d{1,32}$`},
			"ChannelID":   {c1.ChannelID, `^\d{10}$`},
			"MPSecret":    {c1.MPSecret, `^[0-9a-f]{32}$`},
		} {
			if !regexp.MustCompile(tc.re).MatchString(tc.v) {
				t.Errorf("%s: %q does not match %s", name, tc.v, tc.re)
			}
		}
		if got, want := c1.MerchantKey.N.BitLen(), 2048; got != want {
			t.Errorf("merchant key: %d bits", got)
		}
		if got, want := c1.PublicKey.N.BitLen(), 2048; got != want {
			t.Errorf("platform key: %d bits", got)
		}
		if c1.MerchantKey.PublicKey.Equal(c1.PublicKey) {
			t.Error("merchant and platform share a key")
		}
	})
	t.Run("OKSurviveReopen", func(t *testing.T) {
		if !c1.MerchantKey.Equal(c2.MerchantKey) || !c1.PublicKey.Equal(c2.PublicKey) {
			t.Error("keys changed across a restart")
		}
		if c1.APIv3Key != c2.APIv3Key || c1.PublicKeyID != c2.PublicKeyID || c1.CertSerial != c2.CertSerial || c1.MPSecret != c2.MPSecret {
			t.Error("identity changed across a restart")
		}
	})
}
