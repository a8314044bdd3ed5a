package handlers

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testProvider is a real OpenID Connect provider inside the test: discovery,
// authorization (a signed-in person chosen by the test), token (checks the
// client secret and the PKCE verifier) and JWKS endpoints, ID tokens signed
// RS256 with go-jose. What the next sign-in issues is set with as.
type testProvider struct {
	*httptest.Server
	t        testing.TB
	now      func() time.Time
	key      *rsa.PrivateKey
	clientID string
	secret   string

	mu    sync.Mutex
	next  idIdentity
	codes map[string]issuedCode
	// seen is what the last authorization request asked for.
	seen url.Values
}

// idIdentity is who the provider says signed in, and how it spoils the
// token for a test.
type idIdentity struct {
	Subject  string
	Username string
	Roles    any // string or []string; nil: no claim
	// Audience replaces the client id as aud; Nonce replaces the request's.
	Audience, Nonce string
	// ExpiresIn is the token's lifetime from now (0: 5 minutes; negative:
	// already expired).
	ExpiresIn time.Duration
	// Key signs instead of the provider's key (a forged token).
	Key *rsa.PrivateKey
	// AuthAge is how long ago the person authenticated at the provider
	// (auth_time; 0: just now).
	AuthAge time.Duration
}

type issuedCode struct {
	who       idIdentity
	nonce     string
	challenge string
	redirect  string
}

const (
	testClientID     = "payscore-console"
	testClientSecret = "provider-client-secret"
)

func newTestProvider(t testing.TB, now func() time.Time) *testProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &testProvider{t: t, now: now, key: key, clientID: testClientID, secret: testClientSecret, codes: map[string]issuedCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /auth", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// as sets who the next sign-in at the provider is.
func (p *testProvider) as(who idIdentity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = who
}

func (p *testProvider) discovery(w http.ResponseWriter, r *http.Request) {
	providerJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/auth",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

// authorize signs the chosen person in at once and sends the browser back
// with a code, after checking the request is a code flow with PKCE S256,
// state and nonce, for this client and its redirect URI.
func (p *testProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = q
	for k, want := range map[string]string{"response_type": "code", "client_id": p.clientID, "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			http.Error(w, k+" is not "+want, http.StatusBadRequest)
			return
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge", "redirect_uri"} {
		if q.Get(k) == "" {
			http.Error(w, "no "+k, http.StatusBadRequest)
			return
		}
	}
	code := rand.Text()
	p.codes[code] = issuedCode{who: p.next, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	back, _ := url.Parse(q.Get("redirect_uri"))
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token exchanges a code once: the client must authenticate and present
// the verifier whose S256 is the challenge.
func (p *testProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.clientID || secret != p.secret {
		providerJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	c, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !found:
		providerJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		providerJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier"})
		return
	case r.PostForm.Get("redirect_uri") != c.redirect:
		providerJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri"})
		return
	}
	providerJSON(w, http.StatusOK, map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300,
		"id_token": p.idToken(c),
	})
}

func (p *testProvider) idToken(c issuedCode) string {
	now := p.now()
	who := c.who
	aud, nonce, life, key := p.clientID, c.nonce, 5*time.Minute, p.key
	if who.Audience != "" {
		aud = who.Audience
	}
	if who.Nonce != "" {
		nonce = who.Nonce
	}
	if who.ExpiresIn != 0 {
		life = who.ExpiresIn
	}
	if who.Key != nil {
		key = who.Key
	}
	claims := map[string]any{
		"iss": p.URL, "sub": who.Subject, "aud": aud, "nonce": nonce,
		"iat": now.Add(-time.Second).Unix(), "exp": now.Add(life).Unix(),
		"preferred_username": who.Username, "auth_time": now.Add(-who.AuthAge).Unix(),
	}
	if who.Roles != nil {
		claims["roles"] = who.Roles
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "test-key"))
	if err != nil {
		p.t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	sig, err := signer.Sign(payload)
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := sig.CompactSerialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

func (p *testProvider) jwks(w http.ResponseWriter, r *http.Request) {
	providerJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: "test-key", Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

func providerJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
