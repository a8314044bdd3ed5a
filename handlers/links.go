package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// LinkStore is what the sub-merchant, link and landing screens need from
// the database.
type LinkStore interface {
	SubMerchants(ctx context.Context) ([]store.SubMerchant, error)
	SubMerchantByID(ctx context.Context, id int64) (*store.SubMerchant, error)
	SubMerchantByMchID(ctx context.Context, subMchID string) (*store.SubMerchant, error)
	CreateSubMerchant(ctx context.Context, m store.SubMerchant) (*store.SubMerchant, error)
	UpdateSubMerchant(ctx context.Context, m store.SubMerchant) (*store.SubMerchant, error)
	CreateLink(ctx context.Context, l store.Link) (*store.Link, error)
	RenewLink(ctx context.Context, id int64, token string, expires time.Time) error
	LinkOpened(ctx context.Context, id int64) error
	LinkByID(ctx context.Context, id int64) (*store.Link, error)
	LinkBySlug(ctx context.Context, slug string) (*store.Link, error)
	Links(ctx context.Context, f store.LinkFilter) ([]store.Link, error)
	AuthorizationCodeUsed(ctx context.Context, code string) (bool, error)
	LandingPause(ctx context.Context) (store.LandingPause, error)
	SetLandingPause(ctx context.Context, paused bool, reason, by string) error
}

// TokenLifetime is how long an apply_permissions_token is taken to be
// valid. WeChat says "about an hour"; the clock starts before the call, so
// the console never believes a token WeChat has already expired.
const TokenLifetime = time.Hour

// linksPageSize is how many links one page of the list shows.
const linksPageSize = 50

// qrSize is the QR image's width in pixels: about 4.3 cm at 300 dpi, enough
// for a phone to scan from a printed sheet.
const qrSize = 512

// Errors of CreateLink that are the caller's to fix.
var (
	// ErrSubMerchantUnavailable: the sub_mchid is not registered, or disabled.
	ErrSubMerchantUnavailable = errors.New("handlers: sub-merchant unknown or disabled")
	// ErrCodeUsed: the authorization_code is already known here.
	ErrCodeUsed = errors.New("handlers: authorization_code already used")
)

// linkAttempt is what a pre-authorization attempt used and got.
type linkAttempt struct {
	Code      string // the authorization_code sent (typed or generated)
	RequestID string // WeChat Pay's Request-ID, when it answered
	Link      *store.Link
}

// CreateLink pre-authorizes code (generated when empty) for the
// sub-merchant subMchID and stores the link, as if creatorID had asked for
// it; the act is audited. It is what POST /links does, for main.go to seed
// demo data with.
func (h *Handler) CreateLink(ctx context.Context, subMchID, code string, creatorID int64) (*store.Link, error) {
	att, err := h.createLink(ctx, subMchID, code, creatorID)
	entry := linkAudit("link.create", att, err)
	entry.UserID = creatorID
	if creatorID != 0 {
		if u, uerr := h.Store.UserByID(ctx, creatorID); uerr == nil {
			entry.Username = u.Username
		}
	}
	if entry.Action != "" {
		if aerr := h.Store.Audit(ctx, entry); aerr != nil {
			h.Logger.Error("audit failed", "action", entry.Action, "err", aerr)
		}
	}
	return att.Link, err
}

// linkAudit is the audit entry of a pre-authorization attempt; a refusal
// before anything was sent (Action "") is not audited.
func linkAudit(action string, att linkAttempt, err error) store.AuditEntry {
	e := store.AuditEntry{Action: action, Target: att.Code, RequestID: att.RequestID}
	var apiErr *payscore.APIError
	var tErr *payscore.TransportError
	switch {
	case err == nil:
		e.Result = "ok"
		if att.Link != nil {
			e.Detail = "link=" + strconv.FormatInt(att.Link.ID, 10) + " sub_mchid=" + att.Link.SubMchID
		}
	case errors.As(err, &apiErr):
		e.Result, e.RequestID = "failed: "+apiErr.Code, apiErr.RequestID
		if apiErr.Code == "" {
			e.Result = "failed: HTTP " + strconv.Itoa(apiErr.Status)
		}
	case errors.Is(err, payscore.ErrBadSignature):
		e.Result = "failed: bad signature"
	case errors.As(err, &tErr):
		e.Result = "unknown: " + tErr.Error()
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

// createLink does CreateLink's work without auditing.
func (h *Handler) createLink(ctx context.Context, subMchID, code string, creatorID int64) (linkAttempt, error) {
	att := linkAttempt{Code: code}
	m, err := h.Store.SubMerchantByMchID(ctx, subMchID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Disabled) {
		return att, ErrSubMerchantUnavailable
	}
	if err != nil {
		return att, err
	}
	if code == "" {
		if att.Code, err = h.newCode(ctx); err != nil {
			return att, err
		}
	} else {
		if err := payscore.ValidateAuthorizationCode(code); err != nil {
			return att, err
		}
		used, err := h.Store.AuthorizationCodeUsed(ctx, code)
		if err != nil {
			return att, err
		}
		if used {
			return att, ErrCodeUsed
		}
	}
	if h.PayScore == nil {
		return att, errors.New("handlers: no WeChat Pay client configured")
	}
	notify := h.notifyURL()
	start := h.Now()
	res, err := h.PayScore.PreAuthorize(ctx, payscore.PreAuthorizeRequest{
		SubMchID: m.SubMchID, SubAppID: m.SubAppID, AuthorizationCode: att.Code, NotifyURL: notify,
	})
	if err != nil {
		return att, err
	}
	att.RequestID = res.RequestID
	slug, err := randomSlug()
	if err != nil {
		return att, err
	}
	l, err := h.Store.CreateLink(ctx, store.Link{
		Slug: slug, SubMerchantID: m.ID, SubAppID: m.SubAppID, AuthorizationCode: att.Code, Token: res.Token,
		TokenExpiresAt: start.Add(TokenLifetime), NotifyURL: notify, CreatedBy: creatorID,
	})
	if errors.Is(err, store.ErrConflict) {
		// Another request stored the same code between the check and now.
		return att, ErrCodeUsed
	}
	if err != nil {
		return att, err
	}
	att.Link = l
	return att, nil
}

// codeAlphabet is what generated codes are made of: a subset of the allowed
// charset without look-alikes, so a code read aloud over the phone survives.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newCode generates an authorization_code: CodePrefix, the time in Beijing
// (yyyyMMddHHmmss), then random characters up to 32 in all (at least 6, 30
// bits, against collisions within one second). It is checked against the
// codes already used.
func (h *Handler) newCode(ctx context.Context) (string, error) {
	stamp := h.Now().In(views.Shanghai).Format("20060102150405")
	n := min(payscore.MaxAuthorizationCodeLen-len(h.CodePrefix)-len(stamp), 10)
	if n < 6 {
		return "", fmt.Errorf("handlers: authorization code prefix %q is too long", h.CodePrefix)
	}
	for range 5 {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
		}
		code := h.CodePrefix + stamp + string(b)
		if err := payscore.ValidateAuthorizationCode(code); err != nil {
			return "", fmt.Errorf("handlers: generated authorization code: %w", err)
		}
		used, err := h.Store.AuthorizationCodeUsed(ctx, code)
		if err != nil {
			return "", err
		}
		if !used {
			return code, nil
		}
	}
	return "", errors.New("handlers: could not generate an unused authorization code")
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

// baseURL is BASE_URL without a trailing slash.
func (h *Handler) baseURL() string {
	if h.BaseURL == nil {
		return ""
	}
	return strings.TrimRight(h.BaseURL.String(), "/")
}

// notifyURL is where WeChat Pay sends the authorization notifications.
func (h *Handler) notifyURL() string { return h.baseURL() + "/notify/payscore" }

// landingURL is a link's landing page, which its QR code encodes.
func (h *Handler) landingURL(slug string) string { return h.baseURL() + "/h5/" + slug }

// upstreamView explains a failed WeChat Pay call in lang, with the spec's
// words for WeChat Pay's error codes. ok is false for errors that are not
// WeChat Pay's (validation, internal).
func upstreamView(lang string, err error) (v *views.UpstreamError, ok bool) {
	var apiErr *payscore.APIError
	var tErr *payscore.TransportError
	switch {
	case errors.As(err, &apiErr):
		expl, remedy := apiErr.Explain(lang)
		return &views.UpstreamError{Explanation: expl, Remedy: remedy, Code: apiErr.Code, Message: apiErr.Message, RequestID: apiErr.RequestID}, true
	case errors.Is(err, payscore.ErrBadSignature):
		return &views.UpstreamError{Explanation: views.Tr(lang, "links.err.badsignature"), Remedy: views.Tr(lang, "links.err.badsignature.do")}, true
	case errors.As(err, &tErr):
		key := "links.err.transport"
		if tErr.Timeout {
			key = "links.err.timeout"
		}
		return &views.UpstreamError{Explanation: views.Tr(lang, key), Remedy: views.Tr(lang, "links.err.transport.do")}, true
	}
	return nil, false
}

func (h *Handler) newLink(c echo.Context) error {
	return h.renderNewLink(c, http.StatusOK, views.LinkForm{SubMchID: c.QueryParam("sub_mchid")}, nil)
}

func (h *Handler) renderNewLink(c echo.Context, status int, form views.LinkForm, upstream *views.UpstreamError) error {
	ctx := h.langContext(c)
	list, err := h.Store.SubMerchants(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	v := views.NewLinkView{Form: form, Upstream: upstream, CanManageSubMerchants: currentIdentity(c).User.Role == store.RoleAdmin}
	for _, m := range list {
		if !m.Disabled {
			v.SubMerchants = append(v.SubMerchants, views.SubMerchantOption{SubMchID: m.SubMchID, Name: m.Name})
		}
	}
	return h.render(c, status, views.NewLinkPage(h.page(c, views.T(ctx, "links.new.title")), v))
}

// createLinkPost pre-authorizes and stores a link, then shows it. Invalid
// input is 422; WeChat Pay's refusal or silence is 502 with the spec's
// explanation, and nothing is stored; the form keeps the code that was sent,
// so that trying again uses the same parameters.
func (h *Handler) createLinkPost(c echo.Context) error {
	ctx := h.langContext(c)
	form := views.LinkForm{
		SubMchID:          strings.TrimSpace(c.FormValue("sub_mchid")),
		AuthorizationCode: strings.TrimSpace(c.FormValue("authorization_code")),
		Errors:            map[string]string{},
	}
	if form.SubMchID == "" {
		form.Errors["sub_mchid"] = views.T(ctx, "links.err.sub_mchid")
	}
	if form.AuthorizationCode != "" && payscore.ValidateAuthorizationCode(form.AuthorizationCode) != nil {
		form.Errors["authorization_code"] = views.T(ctx, "links.err.code")
	}
	if len(form.Errors) > 0 {
		return h.renderNewLink(c, http.StatusUnprocessableEntity, form, nil)
	}
	me := currentIdentity(c).User
	att, err := h.createLink(c.Request().Context(), form.SubMchID, form.AuthorizationCode, me.ID)
	if e := linkAudit("link.create", att, err); e.Action != "" {
		h.audit(c, e)
	}
	var vErr *payscore.ValidationError
	switch {
	case err == nil:
		h.addFlash(c, "success", views.Tf(ctx, "links.created.ok", att.Code))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(att.Link.ID, 10))
	case errors.Is(err, ErrSubMerchantUnavailable):
		form.Errors["sub_mchid"] = views.T(ctx, "links.err.sub_mchid")
		return h.renderNewLink(c, http.StatusUnprocessableEntity, form, nil)
	case errors.Is(err, ErrCodeUsed):
		form.Errors["authorization_code"] = views.Tf(ctx, "links.err.code.used", att.Code)
		return h.renderNewLink(c, http.StatusUnprocessableEntity, form, nil)
	case errors.As(err, &vErr):
		msg := views.Tf(ctx, "links.err.field", vErr.Field, vErr.Message)
		switch vErr.Field {
		case "authorization_code", "sub_mchid":
			form.Errors[vErr.Field] = msg
			return h.renderNewLink(c, http.StatusUnprocessableEntity, form, nil)
		}
		// notify_url, sub_appid: configuration, not the form.
		return h.renderNewLink(c, http.StatusUnprocessableEntity, form, &views.UpstreamError{Explanation: msg})
	}
	if up, ok := upstreamView(views.Lang(ctx), err); ok {
		h.Logger.Warn("pre-authorization failed", "code", att.Code, "err", err)
		form.AuthorizationCode = att.Code
		return h.renderNewLink(c, http.StatusBadGateway, form, up)
	}
	return errInternal(err)
}

// links lists links, newest first, filtered by the query parameters
// sub_mchid, state and created_by; before is the keyset cursor (a link id).
func (h *Handler) links(c echo.Context) error {
	ctx := h.langContext(c)
	rctx := c.Request().Context()
	q := c.QueryParams()
	f := store.LinkFilter{SubMchID: q.Get("sub_mchid"), State: q.Get("state"), CreatedBy: q.Get("created_by"), Limit: linksPageSize + 1}
	if b := q.Get("before"); b != "" {
		before, err := strconv.ParseInt(b, 10, 64)
		if err != nil || before <= 0 {
			return errBadRequest()
		}
		f.Before = before
	}
	list, err := h.Store.Links(rctx, f)
	if err != nil {
		return errInternal(err)
	}
	v := views.LinksView{
		Filter: views.LinkFilterView{SubMchID: f.SubMchID, State: f.State, CreatedBy: f.CreatedBy},
		States: views.LinkStates,
	}
	if len(list) > linksPageSize {
		list = list[:linksPageSize]
		next := url.Values{}
		for _, k := range []string{"sub_mchid", "state", "created_by"} {
			if q.Get(k) != "" {
				next.Set(k, q.Get(k))
			}
		}
		next.Set("before", strconv.FormatInt(list[len(list)-1].ID, 10))
		v.OlderURL = "/links?" + next.Encode()
	}
	now := h.Now()
	for _, l := range list {
		v.Rows = append(v.Rows, views.LinkRow{ID: l.ID, SubMchID: l.SubMchID, SubMerchantName: l.SubMerchantName, Code: l.AuthorizationCode,
			State: l.State, CreatedBy: l.CreatedByName, Created: l.CreatedAt, Expires: l.TokenExpiresAt,
			Expired: !now.Before(l.TokenExpiresAt), Opens: l.Opens})
	}
	subs, err := h.Store.SubMerchants(rctx)
	if err != nil {
		return errInternal(err)
	}
	for _, m := range subs {
		v.SubMerchants = append(v.SubMerchants, views.SubMerchantOption{SubMchID: m.SubMchID, Name: m.Name})
	}
	users, err := h.Store.Users(rctx)
	if err != nil {
		return errInternal(err)
	}
	for _, u := range users {
		v.Creators = append(v.Creators, u.Username)
	}
	return h.render(c, http.StatusOK, views.LinksPage(h.page(c, views.T(ctx, "links.title")), v))
}

// linkByParam loads the link named by the :id path parameter.
func (h *Handler) linkByParam(c echo.Context) (*store.Link, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errNotFound()
	}
	return h.Store.LinkByID(c.Request().Context(), id)
}

func (h *Handler) linkView(l *store.Link) views.LinkView {
	v := views.LinkView{
		ID: l.ID, SubMchID: l.SubMchID, SubAppID: l.SubAppID, SubMerchantName: l.SubMerchantName, Code: l.AuthorizationCode,
		Token: l.Token, State: l.State, CreatedBy: l.CreatedByName, Created: l.CreatedAt, Expires: l.TokenExpiresAt,
		Expired: !h.Now().Before(l.TokenExpiresAt), Opens: l.Opens, LandingURL: h.landingURL(l.Slug),
		SelfURL: "/links/" + strconv.FormatInt(l.ID, 10) + "?" + pollParam + "=1",
	}
	if l.LastOpenedAt != nil {
		v.LastOpened = *l.LastOpenedAt
	}
	return v
}

// link shows one link; htmx polling gets the "link-state" fragment only.
func (h *Handler) link(c echo.Context) error {
	l, err := h.linkByParam(c)
	if err != nil {
		return err
	}
	return h.renderLink(c, http.StatusOK, h.linkView(l))
}

func (h *Handler) renderLink(c echo.Context, status int, v views.LinkView) error {
	ctx := h.langContext(c)
	return h.renderPage(c, status, views.LinkPage(h.page(c, views.Tf(ctx, "links.link.title", v.ID)), v), "link-state")
}

// linkQR is the QR code of a link's landing URL, sized for print;
// ?download=1 makes the browser save it.
func (h *Handler) linkQR(c echo.Context) error {
	l, err := h.linkByParam(c)
	if err != nil {
		return err
	}
	if c.QueryParam("download") == "1" {
		c.Response().Header().Set("Content-Disposition", `attachment; filename="payscore-link-`+strconv.FormatInt(l.ID, 10)+`.png"`)
	}
	return h.qrPNG(c, h.landingURL(l.Slug), "no-store") // a signed-in response
}

// qrPNG answers a QR code of content (see qrImage). A link's landing URL
// never changes, so the image may be cached.
func (h *Handler) qrPNG(c echo.Context, content, cacheControl string) error {
	b, err := qrImage(content)
	if err != nil {
		return errInternal(fmt.Errorf("qr code: %w", err))
	}
	c.Response().Header().Set("Cache-Control", cacheControl)
	return c.Blob(http.StatusOK, "image/png", b)
}

// qrImage draws content as a print-ready QR code: medium error correction
// (a smudged print still scans), the library's standard 4-module quiet
// zone, every module the same whole number of pixels (the library's own
// scaling to an arbitrary size makes modules of uneven width), centred on a
// white square of qrSize pixels.
func qrImage(content string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // modules, quiet zone included
	n := len(bm)
	scale := max(qrSize/n, 1)
	size := max(qrSize, n*scale)
	off := (size - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bm {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := off + y*scale; py < off+(y+1)*scale; py++ {
				for px := off + x*scale; px < off+(x+1)*scale; px++ {
					img.SetColorIndex(px, py, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// renewLink pre-authorizes an expired link's code again with the same
// parameters and stores the new token.
func (h *Handler) renewLink(c echo.Context) error {
	ctx := h.langContext(c)
	l, err := h.linkByParam(c)
	if err != nil {
		return err
	}
	if h.Now().Before(l.TokenExpiresAt) {
		return &Error{Status: http.StatusConflict, Message: "links.renew.notexpired"}
	}
	if l.State == store.StateAvailable {
		return &Error{Status: http.StatusConflict, Message: "links.renew.available"}
	}
	if h.PayScore == nil {
		return errInternal(errors.New("handlers: no WeChat Pay client configured"))
	}
	start := h.Now()
	res, err := h.PayScore.PreAuthorize(c.Request().Context(), payscore.PreAuthorizeRequest{
		SubMchID: l.SubMchID, SubAppID: l.SubAppID, AuthorizationCode: l.AuthorizationCode, NotifyURL: l.NotifyURL,
	})
	att := linkAttempt{Code: l.AuthorizationCode, RequestID: res.RequestID}
	if err == nil {
		expires := start.Add(TokenLifetime)
		if err := h.Store.RenewLink(c.Request().Context(), l.ID, res.Token, expires); err != nil {
			return errInternal(err)
		}
		e := linkAudit("link.renew", att, nil)
		e.Detail = "link=" + strconv.FormatInt(l.ID, 10)
		h.audit(c, e)
		h.addFlash(c, "success", views.Tf(ctx, "links.renewed.ok", views.FormatTime(expires)))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(l.ID, 10))
	}
	if e := linkAudit("link.renew", att, err); e.Action != "" {
		h.audit(c, e)
	}
	v := h.linkView(l)
	var vErr *payscore.ValidationError
	if errors.As(err, &vErr) {
		v.Upstream = &views.UpstreamError{Explanation: views.Tf(ctx, "links.err.field", vErr.Field, vErr.Message)}
		return h.renderLink(c, http.StatusUnprocessableEntity, v)
	}
	up, ok := upstreamView(views.Lang(ctx), err)
	if !ok {
		return errInternal(err)
	}
	h.Logger.Warn("renewal failed", "code", l.AuthorizationCode, "err", err)
	v.Upstream = up
	return h.renderLink(c, http.StatusBadGateway, v)
}
