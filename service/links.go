package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// TokenLifetime is how long an apply_permissions_token is taken to be
// valid. WeChat says "about an hour"; the clock starts before the call, so
// the console never believes a token WeChat has already expired.
const TokenLifetime = time.Hour

// Errors of issuing a link that are the caller's to fix.
var (
	// ErrSubMerchantUnavailable: the sub_mchid is not registered, or disabled.
	ErrSubMerchantUnavailable = errors.New("service: sub-merchant unknown or disabled")
	// ErrCodeUsed: the authorization_code is already known here.
	ErrCodeUsed = errors.New("service: authorization_code already used")
)

// shanghai is Beijing time, in which generated codes carry their stamp.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

// LinkStore is what issuing and renewing links needs from the database.
type LinkStore interface {
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
	AuthorizationCodeUsed(ctx context.Context, code string) (bool, error)
	ReserveCode(ctx context.Context, code string) error
	ReleaseCode(ctx context.Context, code string) error
	CreateLinkAudited(ctx context.Context, l store.Link, audit func(*store.Link) store.AuditEntry) (*store.Link, error)
	RenewLinkAudited(ctx context.Context, id int64, token string, expires time.Time, audit store.AuditEntry) error
	LinkByID(ctx context.Context, id int64) (*store.Link, error)
	LinkBySlug(ctx context.Context, slug string) (*store.Link, error)
	LinkOpened(ctx context.Context, id int64) error
	Links(ctx context.Context, f store.LinkFilter) ([]store.Link, error)
	LinkCreators(ctx context.Context) ([]string, error)
	Audit(ctx context.Context, e store.AuditEntry) error
	LandingPause(ctx context.Context) (store.LandingPause, error)
}

// ErrLandingPaused: the emergency pause is on; no link is issued or renewed
// until it is switched off (Conflict, links.err.paused).
var ErrLandingPaused = errors.New("service: landing pages paused")

// refuseWhilePaused refuses, audited as action against target, to issue or
// renew a link while the emergency pause is on.
func (s *Links) refuseWhilePaused(ctx context.Context, actor Actor, action, target, detail string) error {
	p, err := s.Store.LandingPause(ctx)
	if err != nil {
		return err
	}
	if !p.Paused {
		return nil
	}
	if err := s.audit(ctx, actor.entry(store.AuditEntry{Action: action, Target: target,
		Result: "refused: paused", Reason: p.Reason, Detail: detail})); err != nil {
		return err
	}
	return newError(Conflict, "links.err.paused", ErrLandingPaused)
}

// PreAuthorizer is the pre-authorization call of the Pay Score API.
type PreAuthorizer interface {
	PreAuthorize(ctx context.Context, req payscore.PreAuthorizeRequest) (payscore.PreAuthorizeResult, error)
}

// Links issues and renews authorization links.
type Links struct {
	Store    LinkStore
	PayScore PreAuthorizer
	Now      func() time.Time
	Logger   *slog.Logger
	// CodePrefix starts generated authorization codes.
	CodePrefix string
	// NotifyURL is where WeChat Pay sends the authorization notifications.
	NotifyURL string
}

// LinkAttempt is what a pre-authorization attempt used and got.
type LinkAttempt struct {
	Code      string // the authorization_code sent (typed or generated)
	RequestID string // WeChat Pay's Request-ID, when it answered
	Link      *store.Link
}

// Create pre-authorizes code (generated when empty) for the sub-merchant
// subMchID and stores the link, audited in the same transaction. A
// pre-authorization WeChat Pay refused or did not answer is audited on its
// own; a refusal before anything was sent is not audited. Errors:
// ErrSubMerchantUnavailable and ErrCodeUsed (Invalid / Conflict), a
// *payscore.ValidationError (Invalid), WeChat Pay's failure (Upstream).
// The attempt carries the code sent, so that trying again can use it.
func (s *Links) Create(ctx context.Context, actor Actor, subMchID, code string) (LinkAttempt, error) {
	att, err := s.create(ctx, actor, subMchID, code)
	if err != nil {
		if e := linkAudit("link.create", att, err); e.Action != "" {
			if aerr := s.audit(ctx, actor.entry(e)); aerr != nil {
				return att, aerr
			}
		}
	}
	return att, classify(err)
}

// classify wraps the errors of a WeChat Pay call in the service's kinds.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	switch payscore.Classify(err).Kind {
	case payscore.FailureInvalid:
		return newError(Invalid, "", err)
	case payscore.FailureRefused, payscore.FailureRateLimited, payscore.FailureForged:
		return newError(Upstream, "", err)
	}
	var te *payscore.TransportError
	var ae *payscore.APIError
	if errors.As(err, &te) || errors.As(err, &ae) {
		return newError(Upstream, "", err)
	}
	return newError(Internal, "", err)
}

// audit records a failed call to WeChat Pay: nothing changed locally, so
// the entry is the only record, written alone. Its failure is the caller's
// error (Internal), never only logged.
func (s *Links) audit(ctx context.Context, e store.AuditEntry) error {
	if err := s.Store.Audit(ctx, e); err != nil {
		loggerOr(s.Logger).Error("audit failed", "action", e.Action, "err", err)
		return fmt.Errorf("service: audit %s: %w", e.Action, err)
	}
	return nil
}

// linkAudit is the audit entry of a pre-authorization attempt; a refusal
// before anything was sent (Action "") is not audited.
func linkAudit(action string, att LinkAttempt, err error) store.AuditEntry {
	e := store.AuditEntry{Action: action, Target: att.Code, RequestID: att.RequestID}
	f := payscore.Classify(err)
	switch {
	case err == nil:
		e.Result = "ok"
		if att.Link != nil {
			e.Detail = "link=" + strconv.FormatInt(att.Link.ID, 10) + " sub_mchid=" + att.Link.SubMchID
		}
	case f.Kind == payscore.FailureForged:
		e.Result = "failed: bad signature"
	case f.Answered():
		e.Result, e.RequestID = "failed: "+f.Code, f.RequestID
		if f.Code == "" {
			e.Result = "failed: HTTP " + strconv.Itoa(f.Status)
		}
	case f.Kind == payscore.FailureUnknown && isTransport(err):
		e.Result = "unknown: " + transportText(err)
	default:
		// Refused here (invalid or reused code, unknown sub-merchant) or an
		// internal failure: the audit log records only acts.
		if att.RequestID == "" {
			return store.AuditEntry{}
		}
		e.Result = "failed: " + err.Error()
	}
	return e
}

func isTransport(err error) bool {
	var te *payscore.TransportError
	return errors.As(err, &te)
}

func transportText(err error) string {
	var te *payscore.TransportError
	errors.As(err, &te)
	return te.Error()
}

// create does Create's work; the success is audited with the link.
func (s *Links) create(ctx context.Context, actor Actor, subMchID, code string) (LinkAttempt, error) {
	att := LinkAttempt{Code: code}
	if err := s.refuseWhilePaused(ctx, actor, "link.create", code, "sub_mchid="+subMchID); err != nil {
		return att, err
	}
	m, err := s.Store.SubMerchantByMchID(ctx, subMchID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Disabled) {
		return att, newError(Invalid, "links.err.sub_mchid", ErrSubMerchantUnavailable)
	}
	if err != nil {
		return att, err
	}
	if code == "" {
		if att.Code, err = s.NewCode(ctx); err != nil {
			return att, err
		}
	} else {
		if err := payscore.ValidateAuthorizationCode(code); err != nil {
			return att, err
		}
		used, err := s.Store.AuthorizationCodeUsed(ctx, code)
		if err != nil {
			return att, err
		}
		if used {
			return att, newError(Conflict, "links.err.code.used", ErrCodeUsed)
		}
	}
	if s.PayScore == nil {
		return att, errors.New("service: no WeChat Pay client configured")
	}
	l, requestID, err := s.issue(ctx, actor, "link.create", m.ID, m.SubMchID, m.SubAppID, att.Code, s.NotifyURL, 0, "")
	att.RequestID, att.Link = requestID, l
	return att, err
}

// issue reserves code, pre-authorizes it and stores the link (renewing link
// renewedFrom when not 0), audited as action in the same transaction. The
// reservation comes first, in the database: concurrent submits of one code
// make exactly one call, the others are ErrCodeUsed. A failed call releases
// the code, so that trying again can use it.
func (s *Links) issue(ctx context.Context, actor Actor, action string, subMerchantID int64, subMchID, subAppID, code, notifyURL string,
	renewedFrom int64, detail string) (*store.Link, string, error) {
	if err := s.Store.ReserveCode(ctx, code); errors.Is(err, store.ErrConflict) {
		return nil, "", newError(Conflict, "links.err.code.used", ErrCodeUsed)
	} else if err != nil {
		return nil, "", err
	}
	release := func() {
		if err := s.Store.ReleaseCode(context.WithoutCancel(ctx), code); err != nil {
			loggerOr(s.Logger).Error("release code reservation", "authorization_code", code, "err", err)
		}
	}
	start := nowOr(s.Now)
	res, err := s.PayScore.PreAuthorize(ctx, payscore.PreAuthorizeRequest{
		SubMchID: subMchID, SubAppID: subAppID, AuthorizationCode: code, NotifyURL: notifyURL,
	})
	if err != nil {
		release()
		return nil, res.RequestID, err
	}
	slug, err := randomSlug()
	if err != nil {
		release()
		return nil, res.RequestID, err
	}
	l, err := s.Store.CreateLinkAudited(ctx, store.Link{
		Slug: slug, SubMerchantID: subMerchantID, SubAppID: subAppID, AuthorizationCode: code, Token: res.Token,
		TokenExpiresAt: start.Add(TokenLifetime), NotifyURL: notifyURL, CreatedBy: actor.UserID, RenewedFrom: renewedFrom,
	}, func(l *store.Link) store.AuditEntry {
		e := linkAudit(action, LinkAttempt{Code: code, RequestID: res.RequestID, Link: l}, nil)
		if detail != "" {
			e.Detail += " " + detail
		}
		return actor.entry(e)
	})
	if errors.Is(err, store.ErrConflict) {
		release()
		if renewedFrom != 0 {
			return nil, res.RequestID, newError(Conflict, "links.renew.replaced", err)
		}
		// Another request stored the same code between the check and now.
		return nil, res.RequestID, newError(Conflict, "links.err.code.used", ErrCodeUsed)
	}
	if err != nil {
		release()
		return nil, res.RequestID, err
	}
	return l, res.RequestID, nil
}

// codeAlphabet is what generated codes are made of: a subset of the allowed
// charset without look-alikes, so a code read aloud over the phone survives.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// NewCode generates an authorization_code: CodePrefix, the time in Beijing
// (yyyyMMddHHmmss), then random characters up to 32 in all (at least 6, 30
// bits, against collisions within one second). It is checked against the
// codes already used.
func (s *Links) NewCode(ctx context.Context) (string, error) {
	stamp := nowOr(s.Now).In(shanghai).Format("20060102150405")
	n := min(payscore.MaxAuthorizationCodeLen-len(s.CodePrefix)-len(stamp), 10)
	if n < 6 {
		return "", fmt.Errorf("service: authorization code prefix %q is too long", s.CodePrefix)
	}
	for range 5 {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
		}
		code := s.CodePrefix + stamp + string(b)
		if err := payscore.ValidateAuthorizationCode(code); err != nil {
			return "", fmt.Errorf("service: generated authorization code: %w", err)
		}
		used, err := s.Store.AuthorizationCodeUsed(ctx, code)
		if err != nil {
			return "", err
		}
		if !used {
			return code, nil
		}
	}
	return "", errors.New("service: could not generate an unused authorization code")
}

// randomSlug is a landing page's unguessable name: 144 random bits,
// base64url without padding (24 characters).
func randomSlug() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Renewal is what renewing a link did.
type Renewal struct {
	// Link is the link as it was before the renewal (for showing a
	// failure beside it).
	Link *store.Link
	// Expires is the new token's expiry, on success.
	Expires time.Time
	// New is the link issued with a new code, when the renewed link's code
	// had been agreed to by a user; nil when the renewal kept the code.
	New *store.Link
}

// ErrSubMerchantDisabled: the link's sub-merchant is disabled; its links
// issue nothing.
var ErrSubMerchantDisabled = errors.New("service: sub-merchant disabled")

// Renew renews a link. One authorization_code, one user: a link whose code
// a user ever agreed to (and has since closed or had terminated) is renewed
// with a NEW code, in a new link pointing back to it (Renewal.New); a link
// nobody agreed to keeps its code and gets a new token once the old one
// expired. The change is audited in the same transaction. A disabled
// sub-merchant's link (audited), a link whose user is on, one already
// replaced, or one whose unused token is still valid is a Conflict;
// WeChat Pay's failure is Upstream and audited on its own.
func (s *Links) Renew(ctx context.Context, actor Actor, id int64) (Renewal, error) {
	l, err := s.Store.LinkByID(ctx, id)
	if err != nil {
		return Renewal{}, err
	}
	r := Renewal{Link: l}
	if err := s.refuseWhilePaused(ctx, actor, "link.renew", l.AuthorizationCode, "link="+strconv.FormatInt(l.ID, 10)); err != nil {
		return r, err
	}
	if l.SubMerchantDisabled {
		s.audit(ctx, actor.entry(store.AuditEntry{Action: "link.renew", Target: l.AuthorizationCode,
			Result: "refused: sub-merchant disabled", Detail: "link=" + strconv.FormatInt(l.ID, 10) + " sub_mchid=" + l.SubMchID}))
		return r, newError(Conflict, "links.renew.disabled", ErrSubMerchantDisabled)
	}
	if l.State == store.StateAvailable {
		return r, newError(Conflict, "links.renew.available", nil)
	}
	if l.RenewedTo != 0 {
		return r, newError(Conflict, "links.renew.replaced", nil)
	}
	if s.PayScore == nil {
		return r, newError(Internal, "", errors.New("service: no WeChat Pay client configured"))
	}
	if l.Agreed {
		return s.renewWithNewCode(ctx, actor, l)
	}
	if nowOr(s.Now).Before(l.TokenExpiresAt) {
		return r, newError(Conflict, "links.renew.notexpired", nil)
	}
	start := nowOr(s.Now)
	res, err := s.PayScore.PreAuthorize(ctx, payscore.PreAuthorizeRequest{
		SubMchID: l.SubMchID, SubAppID: l.SubAppID, AuthorizationCode: l.AuthorizationCode, NotifyURL: l.NotifyURL,
	})
	att := LinkAttempt{Code: l.AuthorizationCode, RequestID: res.RequestID}
	if err != nil {
		if e := linkAudit("link.renew", att, err); e.Action != "" {
			if aerr := s.audit(ctx, actor.entry(e)); aerr != nil {
				return r, aerr
			}
		}
		loggerOr(s.Logger).Warn("renewal failed", "code", l.AuthorizationCode, "err", err)
		return r, classify(err)
	}
	r.Expires = start.Add(TokenLifetime)
	e := linkAudit("link.renew", att, nil)
	e.Detail = "link=" + strconv.FormatInt(l.ID, 10)
	if err := s.Store.RenewLinkAudited(ctx, l.ID, res.Token, r.Expires, actor.entry(e)); err != nil {
		return r, newError(Internal, "", err)
	}
	return r, nil
}

// renewWithNewCode issues a new code for a link whose code a user agreed
// to: a new link, pointing back to l, with the same sub-merchant and
// parameters.
func (s *Links) renewWithNewCode(ctx context.Context, actor Actor, l *store.Link) (Renewal, error) {
	r := Renewal{Link: l}
	code, err := s.NewCode(ctx)
	if err != nil {
		return r, newError(Internal, "", err)
	}
	detail := "renews link=" + strconv.FormatInt(l.ID, 10) + " code=" + l.AuthorizationCode + " (agreed to by a user: new code)"
	n, requestID, err := s.issue(ctx, actor, "link.renew", l.SubMerchantID, l.SubMchID, l.SubAppID, code, l.NotifyURL, l.ID, detail)
	if err != nil {
		if e := linkAudit("link.renew", LinkAttempt{Code: code, RequestID: requestID}, err); e.Action != "" {
			e.Detail = detail
			s.audit(ctx, actor.entry(e))
		}
		loggerOr(s.Logger).Warn("renewal with a new code failed", "code", l.AuthorizationCode, "new_code", code, "err", err)
		return r, classify(err)
	}
	r.New, r.Expires = n, n.TokenExpiresAt
	return r, nil
}

// ByID finds a link by id.
func (s *Links) ByID(ctx context.Context, id int64) (*store.Link, error) {
	return s.Store.LinkByID(ctx, id)
}

// BySlug finds a link by its landing page's name.
func (s *Links) BySlug(ctx context.Context, slug string) (*store.Link, error) {
	return s.Store.LinkBySlug(ctx, slug)
}

// Opened counts an open of a link's landing page.
func (s *Links) Opened(ctx context.Context, id int64) error { return s.Store.LinkOpened(ctx, id) }

// List lists links, newest first.
func (s *Links) List(ctx context.Context, f store.LinkFilter) ([]store.Link, error) {
	return s.Store.Links(ctx, f)
}

// Creators lists the usernames of those who created links: the created_by
// filter offers these, not the whole user list (an operator has no business
// learning every account's name).
func (s *Links) Creators(ctx context.Context) ([]string, error) {
	return s.Store.LinkCreators(ctx)
}
