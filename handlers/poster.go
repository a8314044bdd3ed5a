package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/views"
)

// linkPoster is a printable poster of a link: the sub-merchant's name, the
// QR code of its landing URL, "微信扫一扫 开启微信支付分" and the link's short
// id, A6 at 300 dpi (?size=a5 for A5).
func (h *Handler) linkPoster(c echo.Context) error {
	l, err := h.linkByParam(c)
	if err != nil {
		return err
	}
	size := c.QueryParam("size")
	if size != "" && size != views.PosterA6 && size != views.PosterA5 {
		return errBadRequest()
	}
	b, err := views.PosterPNG(views.PosterInput{MerchantName: l.SubMerchantName, URL: h.landingURL(l.Slug),
		ShortID: posterShortID(l.ID), Size: size})
	if err != nil {
		return errInternal(err)
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store") // a signed-in response
	if size == "" {
		size = views.PosterA6
	}
	hd.Set("Content-Disposition", `inline; filename="payscore-poster-`+strconv.FormatInt(l.ID, 10)+`-`+size+`.png"`)
	return c.Blob(http.StatusOK, "image/png", b)
}

// posterShortID is the id printed on a poster.
func posterShortID(id int64) string { return "#" + strconv.FormatInt(id, 10) }
