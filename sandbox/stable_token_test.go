package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// stableAnswer is POST /cgi-bin/stable_token's answer, success or error.
type stableAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
}

func postStable(t *testing.T, e *env, body string) stableAnswer {
	t.Helper()
	resp := e.do(t, http.MethodPost, "/sandbox/cgi-bin/stable_token", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stable_token: status %d", resp.StatusCode)
	}
	var a stableAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStableToken: POST /cgi-bin/stable_token as getStableAccessToken
// documents it — normal mode gives every caller the same token while it is
// valid (expires_in counting down) and a new one only in its last five
// minutes, the old one still valid; force_refresh revokes it, at most 20 a
// day and 30 s apart; its tokens are apart from /cgi-bin/token's, and
// getticket takes them.
func TestStableToken(t *testing.T) {
	e := newEnv(t)
	body := func(secret string, force any) string {
		m := map[string]any{"grant_type": "client_credential", "appid": e.creds.MPAppID, "secret": secret}
		if force != nil {
			m["force_refresh"] = force
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	normal := body(e.creds.MPSecret, false)
	ticketFor := func(tok string) int {
		var a struct {
			ErrCode int `json:"errcode"`
		}
		getJSON(t, e, "/sandbox/cgi-bin/ticket/getticket?type=jsapi&access_token="+url.QueryEscape(tok), &a)
		return a.ErrCode
	}

	if a := postStable(t, e, body("wrong", false)); a.ErrCode != 40125 || a.AccessToken != "" {
		t.Errorf("wrong secret: %+v", a)
	}
	if a := postStable(t, e, `{"grant_type":"password","appid":"`+e.creds.MPAppID+`"}`); a.ErrCode != 40002 {
		t.Errorf("wrong grant_type: %+v", a)
	}
	if a := postStable(t, e, `not json`); a.ErrCode != 47001 {
		t.Errorf("not JSON: %+v", a)
	}
	if resp := e.do(t, http.MethodGet, "/sandbox/cgi-bin/stable_token", nil, nil); resp.StatusCode == http.StatusOK {
		t.Error("GET stable_token answered: POST only")
	}

	// Concurrent callers (several console instances) get one token.
	var wg sync.WaitGroup
	got := make([]stableAnswer, 8)
	for i := range got {
		wg.Go(func() { got[i] = postStable(t, e, normal) })
	}
	wg.Wait()
	first := got[0]
	for i, a := range got {
		if a.ErrCode != 0 || a.AccessToken == "" || a.AccessToken != first.AccessToken || a.ExpiresIn != 7200 {
			t.Fatalf("caller %d: %+v, want the same token as caller 0 (%s)", i, a, first.AccessToken)
		}
	}
	// Absent force_refresh is normal mode too.
	e.clock.Add(time.Hour)
	if a := postStable(t, e, body(e.creds.MPSecret, nil)); a.AccessToken != first.AccessToken || a.ExpiresIn != 3600 {
		t.Errorf("an hour later: %+v, want the same token with 3600 s left", a)
	}
	// /cgi-bin/token's tokens are another family: getting one changes nothing here.
	var plain stableAnswer
	getJSON(t, e, "/sandbox/cgi-bin/token?"+url.Values{"grant_type": {"client_credential"}, "appid": {e.creds.MPAppID}, "secret": {e.creds.MPSecret}}.Encode(), &plain)
	if plain.AccessToken == "" || plain.AccessToken == first.AccessToken {
		t.Fatalf("/cgi-bin/token: %+v", plain)
	}
	if a := postStable(t, e, normal); a.AccessToken != first.AccessToken {
		t.Error("/cgi-bin/token replaced the stable token")
	}
	if ticketFor(first.AccessToken) != 0 {
		t.Error("getticket refuses a stable token")
	}
	// The last five minutes: a new token, the old one valid until it expires.
	e.clock.Add(time.Hour - 4*time.Minute)
	renewed := postStable(t, e, normal)
	if renewed.AccessToken == first.AccessToken || renewed.ExpiresIn != 7200 {
		t.Fatalf("in the last five minutes: %+v, want a new token", renewed)
	}
	if ticketFor(first.AccessToken) != 0 {
		t.Error("the old token stopped working before it expired")
	}
	if a := postStable(t, e, normal); a.AccessToken != renewed.AccessToken {
		t.Error("normal mode after the renewal gave yet another token")
	}
	// force_refresh revokes the current one at once.
	forced := postStable(t, e, body(e.creds.MPSecret, true))
	if forced.ErrCode != 0 || forced.AccessToken == renewed.AccessToken {
		t.Fatalf("force_refresh: %+v", forced)
	}
	if code := ticketFor(renewed.AccessToken); code != 40001 {
		t.Errorf("revoked token: getticket errcode %d, want 40001", code)
	}
	if a := postStable(t, e, normal); a.AccessToken != forced.AccessToken {
		t.Error("normal mode after a forced refresh: not the forced token")
	}
	if a := postStable(t, e, body(e.creds.MPSecret, true)); a.ErrCode != 45011 {
		t.Errorf("second force within 30 s: %+v, want 45011", a)
	}
	for i := 1; i < 20; i++ {
		e.clock.Add(31 * time.Second)
		if a := postStable(t, e, body(e.creds.MPSecret, true)); a.ErrCode != 0 {
			t.Fatalf("force %d: %+v", i+1, a)
		}
	}
	e.clock.Add(31 * time.Second)
	if a := postStable(t, e, body(e.creds.MPSecret, true)); a.ErrCode != 45009 {
		t.Errorf("21st force in a day: %+v, want 45009", a)
	}
}
