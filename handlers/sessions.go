package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// Session lifetimes, enforced on the server (ASVS L2).
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	// touchEvery limits last-seen writes to one a minute per session.
	touchEvery = time.Minute
)

// SessionDB is what the session store needs from the database.
type SessionDB interface {
	CreateSession(ctx context.Context, s store.Session) error
	SessionByHash(ctx context.Context, idHash string) (*store.Session, error)
	TouchSession(ctx context.Context, idHash, values string) error
	DeleteSession(ctx context.Context, idHash string) error
}

// SessionStore is a gorilla/sessions Store whose cookie holds only a random
// 256-bit id, signed with the session key; everything else lives in the
// sessions table, so a session can be revoked (logout, disabled user).
type SessionStore struct {
	db    SessionDB
	codec securecookie.Codec
	// sealer encrypts and signs short-lived values the browser carries for
	// the server (the pending first sign-in factor, a form held across a
	// step-up), under keys derived from the session key.
	sealer  *securecookie.SecureCookie
	name    string
	options sessions.Options
	now     func() time.Time
}

// Keys under which the store keeps its own facts in Session.Values.
const (
	valUserID   = "_user_id"
	valAuthAt   = "_auth_at"
	valIP       = "_ip"
	valTouched  = "_touched"
	valCreated  = "_created"
	valUA       = "_ua"
	sessionName = "session"
)

// NewSessionStore builds the store. secure selects the Secure attribute and
// the __Host- prefix (BASE_URL is https).
func NewSessionStore(db SessionDB, key []byte, secure bool, now func() time.Time) *SessionStore {
	codec := securecookie.New(key, nil)
	codec.MaxAge(int(AbsoluteTimeout / time.Second))
	name := sessionName
	if secure {
		name = "__Host-" + sessionName
	}
	sealer := securecookie.New(service.DeriveKey(key, "sealed values mac v1"), service.DeriveKey(key, "sealed values enc v1"))
	// Each sealed value carries its own time, checked against the
	// console's clock by whoever opens it; forms may be long.
	sealer.MaxAge(0)
	sealer.MaxLength(1 << 20)
	return &SessionStore{
		db:     db,
		codec:  codec,
		sealer: sealer,
		name:   name,
		now:    now,
		// gorilla's defaults (30 days, no HttpOnly, no SameSite) are overridden.
		options: sessions.Options{Path: "/", MaxAge: 0, Secure: secure, HttpOnly: true, SameSite: http.SameSiteLaxMode},
	}
}

// Seal encrypts and signs v under name (which binds it to one use).
func (s *SessionStore) Seal(name string, v any) (string, error) { return s.sealer.Encode(name, v) }

// Unseal opens a value Seal made under name; anything else is an error.
func (s *SessionStore) Unseal(name, value string, v any) error {
	return s.sealer.Decode(name, value, v)
}

// Name is the cookie name.
func (s *SessionStore) Name() string { return s.name }

// Get returns the request's session (a new, empty one if it has none).
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

// New loads the session named by the request's cookie; an unknown, expired
// or forged cookie gives a new, empty session.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.options
	sess.Options = &opts
	sess.IsNew = true
	cookie, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := s.codec.Decode(name, cookie.Value, &id); err != nil {
		return sess, nil
	}
	row, err := s.db.SessionByHash(r.Context(), hashID(id))
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	now := s.now()
	if now.Sub(row.LastSeenAt) >= IdleTimeout || now.Sub(row.CreatedAt) >= AbsoluteTimeout {
		_ = s.db.DeleteSession(r.Context(), row.IDHash)
		return sess, nil
	}
	vals := map[string]any{}
	_ = json.Unmarshal([]byte(row.Values), &vals)
	for k, v := range vals {
		sess.Values[k] = v
	}
	sess.Values[valUserID] = row.UserID
	sess.Values[valAuthAt] = row.AuthAt
	sess.Values[valCreated] = row.CreatedAt
	sess.Values[valTouched] = row.LastSeenAt
	sess.ID = id
	sess.IsNew = false
	return sess, nil
}

// Save writes the session: a new one gets a fresh random id and a row; an
// existing one records activity (at most once a minute unless its values
// changed); MaxAge < 0 deletes the row and the cookie.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.db.DeleteSession(ctx, hashID(sess.ID)); err != nil {
				return err
			}
		}
		writeCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	values, err := encodeValues(sess.Values)
	if err != nil {
		return err
	}
	if sess.ID == "" {
		uid, ok := sess.Values[valUserID].(int64)
		if !ok || uid == 0 {
			return errors.New("session: a new session needs a user")
		}
		id, err := randomToken(32)
		if err != nil {
			return err
		}
		ip, _ := sess.Values[valIP].(string)
		ua, _ := sess.Values[valUA].(string)
		if err := s.db.CreateSession(ctx, store.Session{IDHash: hashID(id), UserID: uid, Values: values, IP: ip, UserAgent: ua}); err != nil {
			return err
		}
		sess.ID = id
	} else {
		touched, _ := sess.Values[valTouched].(time.Time)
		if s.now().Sub(touched) >= touchEvery || sess.Values["_dirty"] == true {
			if err := s.db.TouchSession(ctx, hashID(sess.ID), values); err != nil {
				return err
			}
		}
	}
	encoded, err := s.codec.Encode(sess.Name(), sess.ID)
	if err != nil {
		return fmt.Errorf("session: encode cookie: %w", err)
	}
	writeCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// writeCookie sets a cookie, replacing a Set-Cookie of the same name already
// in the response. A request saves its session more than once (on load, on
// sign-in, on logout); one Set-Cookie per name (RFC 6265 §4.1.1) means the
// browser never has to get the order right to end up with the last one.
func writeCookie(w http.ResponseWriter, c *http.Cookie) {
	h := w.Header()
	var kept []string
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, c.Name+"=") {
			kept = append(kept, v)
		}
	}
	h.Del("Set-Cookie")
	for _, v := range kept {
		h.Add("Set-Cookie", v)
	}
	http.SetCookie(w, c)
}

// encodeValues keeps the session's own string-keyed values, not the store's.
func encodeValues(v map[any]any) (string, error) {
	out := map[string]any{}
	for k, val := range v {
		ks, ok := k.(string)
		if !ok || len(ks) > 0 && ks[0] == '_' {
			continue
		}
		out[ks] = val
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
