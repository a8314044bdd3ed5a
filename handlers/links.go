package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// linksPageSize is how many links one page of the list shows.
const linksPageSize = 50

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

func (h *Handler) newLink(c echo.Context) error {
	return h.renderNewLink(c, http.StatusOK, views.LinkForm{SubMchID: c.QueryParam("sub_mchid")}, nil)
}

func (h *Handler) renderNewLink(c echo.Context, status int, form views.LinkForm, upstream *views.UpstreamError, notes ...views.Flash) error {
	ctx := h.langContext(c)
	list, err := h.Services.SubMerchants.List(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	v := views.NewLinkView{Form: form, Upstream: upstream, CanManageSubMerchants: currentIdentity(c).User.Role == store.RoleAdmin}
	for _, m := range list {
		if !m.Disabled {
			v.SubMerchants = append(v.SubMerchants, views.SubMerchantOption{SubMchID: m.SubMchID, Name: m.Name})
		}
	}
	p := h.page(c, views.T(ctx, "links.new.title"))
	p.Flashes = append(p.Flashes, notes...)
	return h.render(c, status, views.NewLinkPage(p, v))
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
	att, err := h.Services.Links.Create(c.Request().Context(), actor(c), form.SubMchID, form.AuthorizationCode)
	var vErr *payscore.ValidationError
	switch {
	case err == nil:
		h.addFlash(c, "success", views.Tf(ctx, "links.created.ok", att.Code))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(att.Link.ID, 10))
	case isPaused(err):
		// The emergency pause is on: say why, who and since when (409).
		return h.renderNewLink(c, http.StatusConflict, form, nil, views.Flash{Kind: "warn", Text: h.pausedText(c)})
	case errors.Is(err, service.ErrSubMerchantUnavailable):
		form.Errors["sub_mchid"] = views.T(ctx, "links.err.sub_mchid")
		return h.renderNewLink(c, http.StatusUnprocessableEntity, form, nil)
	case errors.Is(err, service.ErrCodeUsed):
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
	if up, ok := upstreamView(ctx, err, linkTexts); ok {
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
	list, err := h.Services.Links.List(rctx, f)
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
			Expired: !now.Before(l.TokenExpiresAt), Opens: l.Opens, Left: l.TokenExpiresAt.Sub(now), TerminatedBySupport: l.TerminatedBySupport})
	}
	subs, err := h.Services.SubMerchants.List(rctx)
	if err != nil {
		return errInternal(err)
	}
	for _, m := range subs {
		v.SubMerchants = append(v.SubMerchants, views.SubMerchantOption{SubMchID: m.SubMchID, Name: m.Name})
	}
	// Only those who created links: not the whole user list.
	creators, err := h.Services.Links.Creators(rctx)
	if err != nil {
		return errInternal(err)
	}
	v.Creators = creators
	return h.render(c, http.StatusOK, views.LinksPage(h.page(c, views.T(ctx, "links.title")), v))
}

// linkByParam loads the link named by the :id path parameter.
func (h *Handler) linkByParam(c echo.Context) (*store.Link, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errNotFound()
	}
	return h.Services.Links.ByID(c.Request().Context(), id)
}

func (h *Handler) linkView(l *store.Link) views.LinkView {
	v := views.LinkView{
		ID: l.ID, SubMchID: l.SubMchID, SubAppID: l.SubAppID, SubMerchantName: l.SubMerchantName, Code: l.AuthorizationCode,
		Token: l.Token, State: l.State, CreatedBy: l.CreatedByName, Created: l.CreatedAt, Expires: l.TokenExpiresAt,
		Expired: !h.Now().Before(l.TokenExpiresAt), Opens: l.Opens, LandingURL: h.landingURL(l.Slug),
		SelfURL: "/links/" + strconv.FormatInt(l.ID, 10) + "?" + pollParam + "=1",
		Agreed:  l.Agreed, RenewedFrom: l.RenewedFrom, RenewedTo: l.RenewedTo, SubMerchantDisabled: l.SubMerchantDisabled,
		Left:      l.TokenExpiresAt.Sub(h.Now()),
		AutoRenew: l.AutoRenew,
	}
	if l.LastOpenedAt != nil {
		v.LastOpened = *l.LastOpenedAt
	}
	v.OpenID, v.TerminatedBySupport = l.OpenID, l.TerminatedBySupport
	if v.OpenID == "" {
		v.OpenID = l.SubOpenID
	}
	if l.SuccessTime != nil {
		v.AgreedAt = *l.SuccessTime
	}
	if l.CancelTime != nil {
		v.EndedAt = *l.CancelTime
	}
	return v
}

// link shows one link; htmx polling gets the "link-state" fragment only.
func (h *Handler) link(c echo.Context) error {
	l, err := h.linkByParam(c)
	if err != nil {
		return err
	}
	v := h.linkView(l)
	if !isFragment(c) {
		f, err := h.Services.Funnel.ForLink(c.Request().Context(), l.ID)
		if err != nil {
			return errInternal(err)
		}
		v.Funnel = &views.LinkFunnelView{Counts: f}
	}
	return h.renderLink(c, http.StatusOK, v)
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

// qrPNG answers a QR code of content (see views.QRPNG). A link's landing URL
// never changes, so the image may be cached.
func (h *Handler) qrPNG(c echo.Context, content, cacheControl string) error {
	b, err := views.QRPNG(content)
	if err != nil {
		return errInternal(fmt.Errorf("qr code: %w", err))
	}
	c.Response().Header().Set("Cache-Control", cacheControl)
	return c.Blob(http.StatusOK, "image/png", b)
}

// renewLink renews a link (service.Links.Renew): an expired link nobody
// agreed to gets a new token for the same code; a link whose code a user
// agreed to gets a new code, in a new link the person is sent to.
func (h *Handler) renewLink(c echo.Context) error {
	ctx := h.langContext(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	r, err := h.Services.Links.Renew(c.Request().Context(), actor(c), id)
	if err == nil && r.New != nil {
		// A user had agreed to the old code: the renewal is a new link.
		h.addFlash(c, "success", views.Tf(ctx, "links.renewed.new", r.New.AuthorizationCode, views.FormatTime(r.Expires)))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(r.New.ID, 10))
	}
	if err == nil {
		h.addFlash(c, "success", views.Tf(ctx, "links.renewed.ok", views.FormatTime(r.Expires)))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(id, 10))
	}
	if isPaused(err) {
		// The emergency pause is on: back to the link, saying why.
		h.addFlash(c, "warn", h.pausedText(c))
		return c.Redirect(http.StatusSeeOther, "/links/"+strconv.FormatInt(id, 10))
	}
	if r.Link == nil || service.KindOf(err) == service.Conflict || service.KindOf(err) == service.Internal {
		return err
	}
	v := h.linkView(r.Link)
	var vErr *payscore.ValidationError
	if errors.As(err, &vErr) {
		v.Upstream = &views.UpstreamError{Explanation: views.Tf(ctx, "links.err.field", vErr.Field, vErr.Message)}
		return h.renderLink(c, http.StatusUnprocessableEntity, v)
	}
	up, ok := upstreamView(ctx, err, linkTexts)
	if !ok {
		return errInternal(err)
	}
	v.Upstream = up
	return h.renderLink(c, http.StatusBadGateway, v)
}
