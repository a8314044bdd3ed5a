package payscore

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/credentials"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/signers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Platform-certificate refresh defaults.
const (
	// DefaultCertificateRefresh is how often Run downloads the platform
	// certificates (WeChat Pay publishes a new one well before the old one
	// expires).
	DefaultCertificateRefresh = 12 * time.Hour
	// onDemandBurst downloads at most, per onDemandWindow, are triggered by
	// serials not yet known: a notification naming a random serial cannot
	// make the console hammer WeChat Pay.
	onDemandBurst  = 3
	onDemandWindow = time.Minute
)

// PlatformCertificates keeps WeChat Pay's platform certificates in
// platform-certificate mode (and in the combined migration mode): the ones
// configured (WECHATPAY_PLATFORM_CERT) and the ones downloaded with the
// official SDK's downloader (core/downloader: GET /v3/certificates,
// decrypted with the APIv3 key). Run refreshes them periodically; a
// notification or an answer that names a serial not yet known triggers a
// download first, so a rotated certificate is accepted without a restart.
//
// It is a core.CertificateGetter: set it as Config.Certificates and the
// SDK's verifiers read it at every verification. It is safe for concurrent
// use.
type PlatformCertificates struct {
	mchID, certSerial, apiv3Key string
	privateKey                  *rsa.PrivateKey
	base                        string
	hc                          *http.Client
	now                         func() time.Time

	mu          sync.RWMutex
	configured  map[string]*x509.Certificate
	downloaded  map[string]*x509.Certificate
	lastAttempt time.Time
	lastSuccess time.Time
	lastErr     error
	onDemand    []time.Time

	dlMu sync.Mutex // one download at a time
	dl   *downloader.CertificateDownloader
}

// NewPlatformCertificates prepares the certificate store from cfg: the
// merchant credentials that sign GET /v3/certificates, the APIv3 key that
// decrypts its answer, cfg.APIBase, cfg.HTTPClient and the configured
// cfg.PlatformCerts. Nothing is downloaded until Refresh or Run.
func NewPlatformCertificates(cfg Config) (*PlatformCertificates, error) {
	switch {
	case cfg.MchID == "" || cfg.CertSerial == "" || cfg.PrivateKey == nil:
		return nil, errors.New("payscore: config: MchID, CertSerial and PrivateKey are required to download platform certificates")
	case len(cfg.APIv3Key) != 32:
		return nil, errors.New("payscore: config: APIv3Key must be 32 bytes")
	}
	base := strings.TrimRight(cfg.APIBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("payscore: config: APIBase must be an absolute http(s) URL")
	}
	configured := map[string]*x509.Certificate{}
	for i, c := range cfg.PlatformCerts {
		if c == nil {
			return nil, fmt.Errorf("payscore: config: PlatformCerts[%d] is nil", i)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("payscore: config: PlatformCerts[%d] has no RSA public key", i)
		}
		configured[utils.GetCertificateSerialNumber(*c)] = c
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	hc.Transport = &apiBaseTransport{base: base, next: hc.Transport,
		cred: &credentials.WechatPayCredentials{Signer: &signers.SHA256WithRSASigner{
			MchID: cfg.MchID, CertificateSerialNo: cfg.CertSerial, PrivateKey: cfg.PrivateKey}}}
	return &PlatformCertificates{
		mchID: cfg.MchID, certSerial: cfg.CertSerial, apiv3Key: cfg.APIv3Key, privateKey: cfg.PrivateKey,
		base: base, hc: hc, now: cfg.now, configured: configured, downloaded: map[string]*x509.Certificate{},
	}, nil
}

// Refresh downloads the platform certificates now with the SDK's
// downloader. The downloaded set replaces the previous one (WeChat Pay
// lists every certificate still valid); configured certificates are always
// kept.
func (p *PlatformCertificates) Refresh(ctx context.Context) error {
	p.dlMu.Lock()
	defer p.dlMu.Unlock()
	p.mu.Lock()
	p.lastAttempt = p.now()
	p.mu.Unlock()

	err := errors.New("not downloaded")
	if p.dl != nil {
		// The SDK's downloader verifies its later answers with the
		// certificates it downloaded before.
		err = p.dl.DownloadCertificates(ctx)
	}
	if err != nil {
		// First download, or one the old downloader could not verify (the
		// answer is signed by a certificate it has not seen): start afresh,
		// as the SDK does at start. The certificates themselves are
		// authenticated by the APIv3 key's AEAD, whoever signed the answer.
		client, cerr := core.NewClient(ctx,
			option.WithMerchantCredential(p.mchID, p.certSerial, p.privateKey),
			option.WithoutValidator(),
			option.WithHTTPClient(p.hc))
		if cerr != nil {
			return p.failed(fmt.Errorf("payscore: certificate downloader: %w", cerr))
		}
		dl, derr := downloader.NewCertificateDownloaderWithClient(ctx, client, p.apiv3Key)
		if derr != nil {
			return p.failed(fmt.Errorf("payscore: download platform certificates: %w", derr))
		}
		p.dl = dl
	}
	got := p.dl.GetAll(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downloaded = make(map[string]*x509.Certificate, len(got))
	for serial, c := range got {
		p.downloaded[serial] = c
	}
	p.lastSuccess, p.lastErr = p.now(), nil
	return nil
}

func (p *PlatformCertificates) failed(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	return err
}

// Run refreshes the certificates now and then every interval (default
// DefaultCertificateRefresh) until ctx ends; failures go to onError and
// the certificates known so far stay in use.
func (p *PlatformCertificates) Run(ctx context.Context, every time.Duration, onError func(error)) {
	if every <= 0 {
		every = DefaultCertificateRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := p.Refresh(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ensure reports whether serial is a known certificate, downloading the
// certificates first when it is not (at most onDemandBurst times per
// onDemandWindow).
func (p *PlatformCertificates) ensure(ctx context.Context, serial string) bool {
	if _, ok := p.Get(ctx, serial); ok {
		return true
	}
	now := p.now()
	p.mu.Lock()
	recent := p.onDemand[:0]
	for _, t := range p.onDemand {
		if now.Sub(t) < onDemandWindow {
			recent = append(recent, t)
		}
	}
	p.onDemand = recent
	allowed := len(recent) < onDemandBurst
	if allowed {
		p.onDemand = append(p.onDemand, now)
	}
	p.mu.Unlock()
	if !allowed {
		return false
	}
	_ = p.Refresh(ctx) // its error is kept for Status
	_, ok := p.Get(ctx, serial)
	return ok
}

// Get returns the certificate of serial (core.CertificateGetter).
func (p *PlatformCertificates) Get(_ context.Context, serial string) (*x509.Certificate, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if c, ok := p.downloaded[serial]; ok {
		return c, true
	}
	c, ok := p.configured[serial]
	return c, ok
}

// GetAll returns every certificate by serial (core.CertificateGetter).
func (p *PlatformCertificates) GetAll(context.Context) map[string]*x509.Certificate {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]*x509.Certificate, len(p.configured)+len(p.downloaded))
	for s, c := range p.configured {
		out[s] = c
	}
	for s, c := range p.downloaded {
		out[s] = c
	}
	return out
}

// GetNewestSerial returns the serial of the certificate that became valid
// last (core.CertificateGetter).
func (p *PlatformCertificates) GetNewestSerial(ctx context.Context) string {
	newest, serial := time.Time{}, ""
	for s, c := range p.GetAll(ctx) {
		if c.NotBefore.After(newest) {
			newest, serial = c.NotBefore, s
		}
	}
	return serial
}

// CertificateInfo describes one platform certificate for the overview.
type CertificateInfo struct {
	Serial              string
	NotBefore, NotAfter time.Time
	// Configured: from WECHATPAY_PLATFORM_CERT; Downloaded: from GET
	// /v3/certificates (both may be true).
	Configured, Downloaded bool
}

// CertificateStatus is what the store knows: its certificates, newest
// expiry first, and how the last download went.
type CertificateStatus struct {
	Certificates []CertificateInfo
	LastAttempt  time.Time
	LastSuccess  time.Time
	LastError    error
}

// Status returns the certificates and the state of the downloads.
func (p *PlatformCertificates) Status() CertificateStatus {
	p.mu.RLock()
	defer p.mu.RUnlock()
	by := map[string]*CertificateInfo{}
	add := func(serial string, c *x509.Certificate) *CertificateInfo {
		if i, ok := by[serial]; ok {
			return i
		}
		i := &CertificateInfo{Serial: serial, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
		by[serial] = i
		return i
	}
	for s, c := range p.configured {
		add(s, c).Configured = true
	}
	for s, c := range p.downloaded {
		add(s, c).Downloaded = true
	}
	st := CertificateStatus{LastAttempt: p.lastAttempt, LastSuccess: p.lastSuccess, LastError: p.lastErr}
	for _, i := range by {
		st.Certificates = append(st.Certificates, *i)
	}
	sort.Slice(st.Certificates, func(a, b int) bool {
		ca, cb := st.Certificates[a], st.Certificates[b]
		if !ca.NotAfter.Equal(cb.NotAfter) {
			return ca.NotAfter.After(cb.NotAfter)
		}
		return ca.Serial < cb.Serial
	})
	return st
}

// apiBaseTransport sends the SDK downloader's requests, which always name
// WeChat Pay's host, to the configured API base (the sandbox, a proxy), and
// signs them again for the path they are sent to: WeChat Pay's signature
// covers the request path.
type apiBaseTransport struct {
	base string
	next http.RoundTripper
	cred *credentials.WechatPayCredentials
}

// RoundTrip implements http.RoundTripper.
func (t *apiBaseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	if t.base == DefaultAPIBase || !strings.HasPrefix(req.URL.String(), consts.WechatPayAPIServer+"/") || req.Body != nil && req.Body != http.NoBody {
		// Live host, or a request with a body (the downloader sends none).
		return next.RoundTrip(req)
	}
	u, err := url.Parse(t.base + strings.TrimPrefix(req.URL.String(), consts.WechatPayAPIServer))
	if err != nil {
		return nil, err
	}
	auth, err := t.cred.GenerateAuthorizationHeader(req.Context(), req.Method, u.RequestURI(), "")
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.URL, r.Host = u, u.Host
	r.Header.Set(consts.Authorization, auth)
	return next.RoundTrip(r)
}
