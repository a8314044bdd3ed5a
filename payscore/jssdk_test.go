package payscore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestJSSDKSignature(t *testing.T) {
	// WeChat's published example (JS-SDK documentation, appendix 1).
	const (
		ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
		nonce  = "Wm3WZYTPz0wzccnW"
		ts     = 1414587457
		want   = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
	)
	for _, u := range []string{"http://mp.weixin.qq.com?params=value", "http://mp.weixin.qq.com?params=value#wechat_redirect"} {
		if got := JSSDKSignature(ticket, nonce, ts, u); got != want {
			t.Errorf("JSSDKSignature(%q) = %s, want %s", u, got, want)
		}
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	testMPAppID  = "wx0123456789abcdef"
	testMPSecret = "s3cr3t-app-secret-0123456789abcd"
)

// fakeMP is a fake official-account API: /cgi-bin/stable_token and
// /cgi-bin/ticket/getticket (and /cgi-bin/token, counted, never to be used).
type fakeMP struct {
	srv                  *httptest.Server
	tokens, tickets      atomic.Int32
	delay                time.Duration
	ticketErrs           []string // answers of getticket before succeeding, JSON
	mu                   sync.Mutex
	badToken, badRequest atomic.Int32
	forced, oldToken     atomic.Int32 // force_refresh not false; /cgi-bin/token used
}

func newFakeMP(t *testing.T) *fakeMP {
	f := &fakeMP{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sandbox/cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh *bool  `json:"force_refresh"`
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || r.Header.Get("Content-Type") != "application/json" {
			f.badRequest.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 47001, "errmsg": "data format error"})
			return
		}
		if q.ForceRefresh == nil || *q.ForceRefresh {
			// The console must ask in normal mode, saying so.
			f.forced.Add(1)
		}
		if q.GrantType != "client_credential" || q.AppID != testMPAppID || q.Secret != testMPSecret {
			f.badRequest.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 40125, "errmsg": "invalid appsecret " + q.Secret})
			return
		}
		n := f.tokens.Add(1)
		time.Sleep(f.delay)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "ACCESS_TOKEN_" + string(rune('A'+n)), "expires_in": 7200})
	})
	mux.HandleFunc("/sandbox/cgi-bin/token", func(w http.ResponseWriter, r *http.Request) {
		// The non-stable token endpoint: a new token there invalidates the
		// previous one, so instances would revoke each other's.
		f.oldToken.Add(1)
		http.Error(w, "use stable_token", http.StatusGone)
	})
	mux.HandleFunc("GET /sandbox/cgi-bin/ticket/getticket", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !strings.HasPrefix(q.Get("access_token"), "ACCESS_TOKEN_") || q.Get("type") != "jsapi" {
			f.badToken.Add(1)
		}
		f.mu.Lock()
		if len(f.ticketErrs) > 0 {
			answer := f.ticketErrs[0]
			f.ticketErrs = f.ticketErrs[1:]
			f.mu.Unlock()
			_, _ = w.Write([]byte(strings.ReplaceAll(answer, "$TOKEN", q.Get("access_token"))))
			return
		}
		f.mu.Unlock()
		f.tickets.Add(1)
		time.Sleep(f.delay)
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok", "ticket": "JSAPI_TICKET_" + q.Get("access_token"), "expires_in": 7200})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func newTestTicketSource(t *testing.T, f *fakeMP, clock *fakeClock) *TicketSource {
	t.Helper()
	ts, err := NewTicketSource(TicketConfig{APIBase: f.srv.URL + "/sandbox", AppID: testMPAppID, Secret: testMPSecret, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestTicketSource(t *testing.T) {
	t.Run("OKConcurrentCallersShareOneFetch", func(t *testing.T) {
		f := newFakeMP(t)
		f.delay = 50 * time.Millisecond
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		var wg sync.WaitGroup
		got := make([]string, 20)
		errs := make([]error, 20)
		for i := range got {
			wg.Go(func() { got[i], errs[i] = src.Ticket(context.Background()) })
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i] != "JSAPI_TICKET_ACCESS_TOKEN_B" {
				t.Fatalf("caller %d: %q, %v", i, got[i], errs[i])
			}
		}
		if f.tokens.Load() != 1 || f.tickets.Load() != 1 {
			t.Errorf("%d token and %d ticket fetches, want 1 and 1", f.tokens.Load(), f.tickets.Load())
		}
		if f.badRequest.Load() != 0 || f.badToken.Load() != 0 {
			t.Errorf("wrong parameters sent")
		}
		if f.forced.Load() != 0 || f.oldToken.Load() != 0 {
			t.Errorf("%d stable_token calls without force_refresh=false, %d to /cgi-bin/token", f.forced.Load(), f.oldToken.Load())
		}
	})
	t.Run("OKCachedUntilFiveMinutesBeforeExpiry", func(t *testing.T) {
		f := newFakeMP(t)
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		ctx := context.Background()
		if _, err := src.Ticket(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(7200*time.Second - 5*time.Minute - time.Second)
		if _, err := src.Ticket(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.tickets.Load(); got != 1 {
			t.Fatalf("%d ticket fetches before the refresh point, want 1", got)
		}
		clock.Advance(2 * time.Second)
		tk, err := src.Ticket(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.tickets.Load() != 2 || f.tokens.Load() != 2 || tk != "JSAPI_TICKET_ACCESS_TOKEN_C" {
			t.Errorf("after expiry: ticket %q, %d token / %d ticket fetches, want a fresh token and ticket", tk, f.tokens.Load(), f.tickets.Load())
		}
	})
	t.Run("OKRevokedTokenRefetchedOnce", func(t *testing.T) {
		f := newFakeMP(t)
		f.ticketErrs = []string{`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`}
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		tk, err := src.Ticket(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tk != "JSAPI_TICKET_ACCESS_TOKEN_C" || f.tokens.Load() != 2 {
			t.Errorf("ticket %q after %d token fetches", tk, f.tokens.Load())
		}
	})
	t.Run("ErrTicketErrcodeRedacted", func(t *testing.T) {
		f := newFakeMP(t)
		f.ticketErrs = []string{`{"errcode":40164,"errmsg":"invalid ip 1.2.3.4, not in whitelist, token $TOKEN rid: 1"}`}
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		_, err := src.Ticket(context.Background())
		var te *TicketError
		if !errors.As(err, &te) || te.ErrCode != 40164 || te.Op != "getticket" {
			t.Fatalf("err %v, want a *TicketError 40164", err)
		}
		if strings.Contains(err.Error(), "ACCESS_TOKEN_") || strings.Contains(err.Error(), testMPSecret) {
			t.Errorf("error leaks a credential: %v", err)
		}
	})
	t.Run("ErrBadSecretRedacted", func(t *testing.T) {
		f := newFakeMP(t)
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src, err := NewTicketSource(TicketConfig{APIBase: f.srv.URL + "/sandbox", AppID: testMPAppID, Secret: "wrong-secret-0123456789", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Ticket(context.Background())
		var te *TicketError
		if !errors.As(err, &te) || te.ErrCode != 40125 || te.Op != "token" {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-0123456789") {
			t.Errorf("error leaks the secret: %v", err)
		}
	})
	t.Run("ErrNetworkRedacted", func(t *testing.T) {
		f := newFakeMP(t)
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		f.srv.Close()
		_, err := src.Ticket(context.Background())
		if err == nil || strings.Contains(err.Error(), testMPSecret) {
			t.Fatalf("err %v: want a network error without the secret", err)
		}
	})
	t.Run("OKConfig", func(t *testing.T) {
		f := newFakeMP(t)
		clock := &fakeClock{now: time.Unix(1700000000, 0)}
		src := newTestTicketSource(t, f, clock)
		const page = "https://console.example.com/h5/abc?x=1#frag"
		cfg, err := src.Config(context.Background(), page)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AppID != testMPAppID || cfg.Timestamp != 1700000000 || len(cfg.NonceStr) != 16 {
			t.Errorf("config %+v", cfg)
		}
		if want := JSSDKSignature("JSAPI_TICKET_ACCESS_TOKEN_B", cfg.NonceStr, cfg.Timestamp, "https://console.example.com/h5/abc?x=1"); cfg.Signature != want {
			t.Errorf("signature %s, want %s", cfg.Signature, want)
		}
	})
}
