package service

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is everything the services need from the database (store.DB): the
// union of their narrow interfaces, for building them all at once.
type Store interface {
	LinkStore
	LookupStore
	TerminationStore
	ReconcileStore
	AuthStore
	UserStore
	SubMerchantStore
	EmergencyStore
	NotificationStore
	RefusalStore
	LandingStore
	MFAStore
	SessionStore
	FunnelStore
	AutoRenewStore
	StatsStore
	AuditStore
	BulkStore
	LeaseStore
}

// PayScore is the WeChat Pay Score API (payscore.Client).
type PayScore interface {
	PreAuthorizer
	Terminator
}

// Config is what New builds the services from.
type Config struct {
	Store    Store
	PayScore PayScore // nil: calls to WeChat Pay fail (tests without it)
	Now      func() time.Time
	Logger   *slog.Logger
	// CodePrefix starts generated authorization codes.
	CodePrefix string
	// NotifyURL is where WeChat Pay sends the authorization notifications.
	NotifyURL string
	// Registerer receives the services' metrics.
	Registerer prometheus.Registerer
	// MchID and ServiceID are ours (WECHATPAY_MCHID, PAYSCORE_SERVICE_ID):
	// notifications must name both.
	MchID, ServiceID string
	// SessionKey (SESSION_KEY) keys the sealing of TOTP secrets.
	SessionKey []byte
	// MFAIssuer names the console in authenticator apps (default
	// DefaultIssuer).
	MFAIssuer string
	// MFARequiredRoles must sign in with two-factor (MFA_REQUIRED_ROLES).
	MFARequiredRoles []string
	// AppID is PAYSCORE_APPID: a notification for one of our links must
	// name it.
	AppID string
	// BulkRate is the calls per second bulk jobs make to WeChat Pay
	// (default DefaultBulkRate).
	BulkRate float64
	// Instance is this process's id (INSTANCE_ID, default NewInstanceID()).
	Instance string
}

// Services are the console's services, built over one store and client.
type Services struct {
	Links        *Links
	Lookup       *Lookup
	Terminations *Terminations
	Reconciler   *Reconciler
	Auth         *Auth
	Users        *Users
	SubMerchants *SubMerchants
	Emergency    *Emergency
	// Notifications receives WeChat Pay's verified notifications.
	Notifications *Notifications
	// Landing decides what the end user's landing page shows.
	Landing   *Landing
	MFA       *MFA
	Sessions  *Sessions
	Funnel    *Funnel
	AutoRenew *AutoRenew
	Stats     *Stats
	Audit     *Audits
	// OIDC is single sign-on with the identity provider; nil when
	// OIDC_ISSUER is not set.
	OIDC *OIDC
	Bulk *Bulk
	// Coordinator holds the leases: which instance runs the background
	// work (resolver, reconciler, bulk jobs).
	Coordinator *Coordinator
}

// New builds every service from cfg.
func New(cfg Config) *Services {
	now, logger := cfg.Now, loggerOr(cfg.Logger)
	if now == nil {
		now = time.Now
	}
	instance := cfg.Instance
	if instance == "" {
		instance = NewInstanceID()
	}
	var pre PreAuthorizer
	var term Terminator
	if cfg.PayScore != nil {
		pre, term = cfg.PayScore, cfg.PayScore
	}
	s := &Services{
		Links: &Links{Store: cfg.Store, PayScore: pre, Now: now, Logger: logger,
			CodePrefix: cfg.CodePrefix, NotifyURL: cfg.NotifyURL},
		Lookup:       &Lookup{Store: cfg.Store, PayScore: term, Now: now, Logger: logger},
		Terminations: &Terminations{Store: cfg.Store, PayScore: term, Now: now, Logger: logger, Instance: instance},
		Auth:         &Auth{Store: cfg.Store, Now: now, Logger: logger},
		Users:        &Users{Store: cfg.Store, Now: now, Logger: logger},
		SubMerchants: &SubMerchants{Store: cfg.Store, Now: now, Logger: logger},
		Emergency:    &Emergency{Store: cfg.Store, Now: now, Logger: logger},
		Notifications: &Notifications{Store: cfg.Store, MchID: cfg.MchID, ServiceID: cfg.ServiceID, AppID: cfg.AppID,
			Logger: logger, Refusals: cfg.Store},
		Landing: &Landing{Store: cfg.Store, Now: now, Logger: logger},
		MFA: &MFA{Store: cfg.Store, Key: DeriveKey(cfg.SessionKey, "totp secrets v1"), Issuer: cfg.MFAIssuer,
			RequiredRoles: cfg.MFARequiredRoles, Now: now, Logger: logger},
		Sessions: &Sessions{Store: cfg.Store, Now: now, Logger: logger},
		Audit:    &Audits{Store: cfg.Store, Now: now, Logger: logger},
	}
	s.Funnel = &Funnel{Store: cfg.Store, Now: now, Logger: logger}
	s.AutoRenew = &AutoRenew{Links: s.Links, Store: cfg.Store, Now: now, Logger: logger}
	s.Stats = &Stats{Store: cfg.Store, Now: now}
	s.Reconciler = &Reconciler{Store: cfg.Store, PayScore: term, Terminations: s.Terminations,
		Now: now, Logger: logger, Registerer: cfg.Registerer}
	s.Bulk = &Bulk{Store: cfg.Store, Terminations: s.Terminations, PayScore: term,
		Limiter: NewLimiter(cfg.BulkRate), Now: now, Logger: logger}
	s.Coordinator = &Coordinator{Store: cfg.Store, Instance: instance, Logger: logger}
	return s
}
