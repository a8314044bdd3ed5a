package sandbox

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Signer builds notifications exactly as the sandbox delivers them
// (encrypted with the APIv3 key, signed with the platform key) without
// sending them, for the load generator and for tests that drive the
// receiver directly.
type Signer struct {
	sb *Sandbox
}

// Signer returns a Signer with this sandbox's keys.
func (s *Sandbox) Signer() *Signer { return &Signer{sb: s} }

// SignedNotification is a notification ready to POST: body and headers.
type SignedNotification struct {
	ID     string
	Body   []byte
	Header http.Header
}

// Open builds a USER_OPEN_SERVICE notification for code of sub-merchant
// subMchID, by user openid, at time at, signed at time now.
func (g *Signer) Open(code, subMchID, openid string, at, now time.Time) (SignedNotification, error) {
	return g.build(eventOpen, code, subMchID, openid, at, now)
}

func (g *Signer) build(event, code, subMchID, openid string, at, now time.Time) (SignedNotification, error) {
	a := Authorization{Code: code, AppID: appID, ServiceID: serviceID, ChannelID: channelID, SubMchID: subMchID,
		OpenID: openid, SuccessTime: at, CancelTime: at}
	id, _, body, err := g.sb.buildNotification(a, event, now, false)
	if err != nil {
		return SignedNotification{}, err
	}
	h, err := g.Sign(body, g.sb.id.platformKey, now)
	if err != nil {
		return SignedNotification{}, err
	}
	return SignedNotification{ID: id, Body: body, Header: h}, nil
}

// Sign returns the headers WeChat Pay sends with body: serial, a fresh
// nonce, the timestamp now and the signature by key (the platform key when
// key is nil).
func (g *Signer) Sign(body []byte, key *rsa.PrivateKey, now time.Time) (http.Header, error) {
	if key == nil {
		key = g.sb.id.platformKey
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := randString(32, alnum)
	sig, err := signSHA256(key, ts+"\n"+nonce+"\n"+string(body)+"\n")
	if err != nil {
		return nil, fmt.Errorf("sandbox: sign: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Serial", g.sb.id.publicKeyID)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return h, nil
}
