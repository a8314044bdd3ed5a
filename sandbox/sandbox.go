// Package sandbox is an in-process fake WeChat Pay (the Pay Score acquiring
// bank API, its notifications and the Pay Score consent page) and a fake
// WeChat official account (access_token, jsapi_ticket and a JS-SDK shim).
//
// It is a fake server, not a fake client: in sandbox mode the console runs
// its real payscore client against these routes over loopback HTTP, so the
// same signing, verification and decryption code runs as in live mode. For
// that reason this package shares no code with package payscore: a bug
// shared by the client and the fake server would hide itself.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Fixed identities of the simulated merchant and channel. They look like the
// real thing so that format checks in the console run unchanged.
const (
	mchID     = "1900000109"
	serviceID = "2002000000000558128851361561536"
	channelID = "1230000109"
	appID     = "wxd678efh567hg6787"
)

// DefaultSchedule is the notification retry schedule of the spec: the delay
// before the first attempt, then the delay after each failed attempt. After
// the last entry the last delay repeats until the retry window closes.
var DefaultSchedule = []time.Duration{
	0, 15 * time.Second, 15 * time.Second, 30 * time.Second, 180 * time.Second,
	1800 * time.Second, 1800 * time.Second, 1800 * time.Second, 1800 * time.Second,
	3600 * time.Second,
}

// DefaultGiveUpAfter is how long after the first attempt WeChat Pay keeps
// retrying a notification ("重试超过3天后不再通知").
const DefaultGiveUpAfter = 72 * time.Hour

// Options configures a Sandbox. Only DBPath is required.
type Options struct {
	// DBPath is the console's SQLite file; the sandbox keeps its own
	// sandbox_ tables in it, over connections of its own (see db.go).
	DBPath string
	// Now is the clock (default time.Now). Tests move it to drive expiries
	// and the retry schedule.
	Now func() time.Time
	// HTTPClient delivers notifications (default: a client with a 5 s
	// time-out, WeChat Pay's own limit for an answer).
	HTTPClient *http.Client
	// Schedule is the notification retry schedule (default DefaultSchedule):
	// Schedule[0] is the delay before the first attempt, Schedule[i] the
	// delay after attempt i; the last entry repeats.
	Schedule []time.Duration
	// GiveUpAfter ends retries this long after the first attempt (default
	// DefaultGiveUpAfter).
	GiveUpAfter time.Duration
	// SlowDelay is how long a FaultSlow answer is held back (default 6 s,
	// past the client's 5 s attempt time-out).
	SlowDelay time.Duration
	// Logger receives delivery failures of the background loop (default
	// slog.Default()).
	Logger *slog.Logger
	// CSRFToken returns the token the forms of the consent and control pages
	// carry as hidden input _csrf. Echo's CSRF middleware runs before the
	// sandbox routes and sets it.
	CSRFToken func(c echo.Context) string
	// NotifyURL, when set, is where every notification goes, whatever
	// notify_url the pre-authorize call named (the standalone sandbox's
	// SANDBOX_NOTIFY_URL: a partner's test system rarely answers at the
	// public address its requests name). Empty: each authorization's own
	// notify_url, as WeChat Pay does.
	NotifyURL string
	// FrameAncestors is the CSP frame-ancestors source list of the consent
	// page (default "'self'": the console's landing page frames it). The
	// standalone sandbox sets it so a partner's own landing page, on
	// another origin, can open it.
	FrameAncestors string
}

// Credentials is everything the console needs to be configured against the
// sandbox exactly as it would be against WeChat Pay in live mode.
type Credentials struct {
	MchID       string          // our merchant id, WECHATPAY_MCHID
	CertSerial  string          // merchant certificate serial, WECHATPAY_CERT_SERIAL
	MerchantKey *rsa.PrivateKey // merchant API private key, WECHATPAY_PRIVATE_KEY
	APIv3Key    string          // WECHATPAY_APIV3_KEY
	PublicKey   *rsa.PublicKey  // WeChat Pay public key, WECHATPAY_PUBLIC_KEY
	PublicKeyID string          // its id PUB_KEY_ID_…, WECHATPAY_PUBLIC_KEY_ID
	// PlatformCerts are the platform certificates not yet expired, newest
	// first (WECHATPAY_PLATFORM_CERT): what GET /v3/certificates serves.
	PlatformCerts []*x509.Certificate
	ServiceID     string // PAYSCORE_SERVICE_ID
	ChannelID     string // PAYSCORE_CHANNEL_ID
	AppID         string // PAYSCORE_APPID
	MPAppID       string // WECHAT_MP_APPID
	MPSecret      string // WECHAT_MP_SECRET
}

// Sandbox is the simulator. Create it with New, expose it with Mount and run
// its notification delivery with Run.
type Sandbox struct {
	db          *db
	now         func() time.Time
	client      *http.Client
	schedule    []time.Duration
	giveUpAfter time.Duration
	slowDelay   time.Duration
	log         *slog.Logger
	csrfToken   func(c echo.Context) string
	notifyURL   string
	frameAnc    string

	id identity

	// certMu guards certs, the platform certificates, newest first.
	certMu sync.RWMutex
	certs  []platformCert

	faultMu sync.Mutex
	faults  []fault

	// deliverMu makes DeliverDue calls take turns, so the background loop
	// and a test (or two ticks) never send the same attempt twice.
	deliverMu sync.Mutex
	// wake asks Run to deliver now rather than at its next tick, so that a
	// notification's 0 s first attempt really goes out at once.
	wake chan struct{}

	// base is the path the sandbox group is mounted at ("/sandbox"), known
	// once Mount ran; pages use it to build their links.
	base string
}

type identity struct {
	merchantKey *rsa.PrivateKey
	certSerial  string
	platformKey *rsa.PrivateKey
	publicKeyID string
	forgerKey   *rsa.PrivateKey
	apiv3Key    string
	mpSecret    string
}

// New opens the sandbox's store, applies its migrations and loads its keys,
// generating and persisting them on first start so that they survive
// restarts. Close releases the store.
func New(ctx context.Context, opt Options) (*Sandbox, error) {
	if opt.DBPath == "" {
		return nil, errors.New("sandbox: Options.DBPath is required")
	}
	s := &Sandbox{
		now:         opt.Now,
		client:      opt.HTTPClient,
		schedule:    opt.Schedule,
		giveUpAfter: opt.GiveUpAfter,
		slowDelay:   opt.SlowDelay,
		log:         opt.Logger,
		csrfToken:   opt.CSRFToken,
		notifyURL:   opt.NotifyURL,
		frameAnc:    opt.FrameAncestors,
		wake:        make(chan struct{}, 1),
		base:        "/sandbox",
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 5 * time.Second}
	}
	if len(s.schedule) == 0 {
		s.schedule = DefaultSchedule
	}
	if s.giveUpAfter <= 0 {
		s.giveUpAfter = DefaultGiveUpAfter
	}
	if s.slowDelay <= 0 {
		s.slowDelay = 6 * time.Second
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.frameAnc == "" {
		s.frameAnc = "'self'"
	}
	if s.csrfToken == nil {
		s.csrfToken = func(echo.Context) string { return "" }
	}
	d, err := openDB(ctx, opt.DBPath)
	if err != nil {
		return nil, err
	}
	s.db = d
	id, err := s.loadIdentity(ctx)
	if err != nil {
		d.close()
		return nil, err
	}
	s.id = id
	if err := s.loadPlatformCerts(ctx); err != nil {
		d.close()
		return nil, err
	}
	return s, nil
}

// Close closes the sandbox's connections to the database file. Run must
// have returned.
func (s *Sandbox) Close() error { return s.db.close() }

// Credentials returns the simulated merchant's configuration.
func (s *Sandbox) Credentials() Credentials {
	return Credentials{
		MchID:       mchID,
		CertSerial:  s.id.certSerial,
		MerchantKey: s.id.merchantKey,
		APIv3Key:    s.id.apiv3Key,
		PublicKey:   &s.id.platformKey.PublicKey,
		PublicKeyID: s.id.publicKeyID,
		PlatformCerts: func() []*x509.Certificate {
			var out []*x509.Certificate
			for _, c := range s.PlatformCertificates() {
				out = append(out, c.Certificate)
			}
			return out
		}(),
		ServiceID: serviceID,
		ChannelID: channelID,
		AppID:     appID,
		MPAppID:   appID,
		MPSecret:  s.id.mpSecret,
	}
}

// loadIdentity reads the one identity row, creating it first if absent.
func (s *Sandbox) loadIdentity(ctx context.Context) (identity, error) {
	id, err := s.readIdentity(ctx)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return identity{}, err
	}
	var pems [3]string
	for i := range pems {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return identity{}, fmt.Errorf("sandbox: generate key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return identity{}, fmt.Errorf("sandbox: encode key: %w", err)
		}
		pems[i] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	serial := make([]byte, 20)
	rand.Read(serial)
	err = s.db.insertIdentity(ctx, pems[0], strings.ToUpper(hex.EncodeToString(serial)), pems[1],
		"PUB_KEY_ID_01"+mchID+randDigits(14), pems[2],
		randString(32, alnum), randString(32, "0123456789abcdef"), s.now())
	if err != nil {
		return identity{}, err
	}
	return s.readIdentity(ctx)
}

func (s *Sandbox) readIdentity(ctx context.Context) (identity, error) {
	var id identity
	r, err := s.db.findIdentity(ctx)
	if err != nil {
		return id, err
	}
	id.certSerial, id.publicKeyID, id.apiv3Key, id.mpSecret = r.certSerial, r.publicKeyID, r.apiv3Key, r.mpSecret
	mk, pk, fk := r.merchantKey, r.platformKey, r.forgerKey
	for _, k := range []struct {
		pem string
		dst **rsa.PrivateKey
	}{{mk, &id.merchantKey}, {pk, &id.platformKey}, {fk, &id.forgerKey}} {
		if *k.dst, err = parseKey(k.pem); err != nil {
			return id, err
		}
	}
	return id, nil
}

func parseKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("sandbox: stored key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sandbox: stored key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("sandbox: stored key is not RSA")
	}
	return rk, nil
}

// update runs fn in a write transaction on the sandbox's writer connection
// and commits if fn returns nil; fn gets the one timestamp of the
// transaction.
func (s *Sandbox) update(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) error {
	now := s.now()
	return s.db.update(ctx, func(tx *sql.Tx) error { return fn(tx, now) })
}

// Settings are the sandbox's persistent switches.
type Settings struct {
	// Duplicates makes every successful scheduled delivery send a second,
	// identical copy (same id) right after, as WeChat Pay sometimes does.
	Duplicates bool
	// ExampleSpelling names the merchant fields of new notifications
	// mch_id / sub_mch_id as the spec's example does, instead of the field
	// table's mchid / sub_mchid.
	ExampleSpelling bool
	// SignWithCertificate signs notifications and API answers in
	// platform-certificate mode: with the newest platform certificate's key,
	// Wechatpay-Serial its serial, instead of the WeChat Pay public key
	// (PUB_KEY_ID_…, the default).
	SignWithCertificate bool
}

// Settings returns the current switches.
func (s *Sandbox) Settings(ctx context.Context) (Settings, error) {
	return readSettings(ctx, s.db.read)
}

func readSettings(ctx context.Context, q queryer) (Settings, error) {
	d, err := setting(ctx, q, "duplicates")
	if err != nil {
		return Settings{}, err
	}
	sp, err := setting(ctx, q, "spelling")
	if err != nil {
		return Settings{}, err
	}
	sg, err := setting(ctx, q, "signing")
	if err != nil {
		return Settings{}, err
	}
	return Settings{Duplicates: d == "on", ExampleSpelling: sp == "example", SignWithCertificate: sg == "certificate"}, nil
}

// SetSettings stores the switches; they apply to what happens next.
func (s *Sandbox) SetSettings(ctx context.Context, st Settings) error {
	d, sp, sg := "off", "table", "public_key"
	if st.Duplicates {
		d = "on"
	}
	if st.ExampleSpelling {
		sp = "example"
	}
	if st.SignWithCertificate {
		sg = "certificate"
	}
	return s.update(ctx, func(tx *sql.Tx, _ time.Time) error {
		for _, kv := range [][2]string{{"duplicates", d}, {"spelling", sp}, {"signing", sg}} {
			if err := saveSetting(ctx, tx, kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// beijing is UTC+8 without a tzdata dependency: WeChat Pay writes its times
// in Beijing time, which has had no daylight saving since 1991.
var beijing = time.FixedZone("CST", 8*3600)

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// randString returns n characters drawn uniformly from chars with crypto/rand.
func randString(n int, chars string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(chars)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = chars[v.Int64()]
	}
	return string(b)
}

func randDigits(n int) string { return randString(n, "0123456789") }
