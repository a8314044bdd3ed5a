package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/payscore-console/payscore-console/views"
)

// render renders a component into a buffer, then writes it: a render failure
// is an ordinary error, returned before any header goes out.
func (h *Handler) render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(h.langContext(c), &buf); err != nil {
		return errInternal(err)
	}
	varyHTMX(c)
	return c.HTMLBlob(status, buf.Bytes())
}

// renderPage renders a full page, or only the named fragments when htmx asks
// for a partial update.
func (h *Handler) renderPage(c echo.Context, status int, component templ.Component, fragments ...string) error {
	if isFragment(c) && len(fragments) > 0 {
		var buf bytes.Buffer
		if err := templ.RenderFragments(h.langContext(c), &buf, component, toAny(fragments)...); err != nil {
			return errInternal(err)
		}
		varyHTMX(c)
		return c.HTMLBlob(status, buf.Bytes())
	}
	return h.render(c, status, component)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// langContext is the request's context carrying the person's language.
func (h *Handler) langContext(c echo.Context) context.Context {
	lang := views.LangZH
	if ck, err := c.Cookie("lang"); err == nil && ck.Value == views.LangEN {
		lang = views.LangEN
	}
	ctx := views.WithLang(c.Request().Context(), lang)
	return views.WithHere(ctx, here(c))
}

// here is the page the person is on, as a local path with its query: a
// GET's own URL; for htmx, the browser's URL (HX-Current-URL); for a POST,
// the page its form was sent from (the _from field every form carries).
// "" when unknown or not local.
func here(c echo.Context) string {
	r := c.Request()
	var s string
	switch {
	case r.Header.Get("HX-Request") != "":
		u, err := url.Parse(r.Header.Get("HX-Current-URL"))
		if err != nil {
			return ""
		}
		s = u.RequestURI()
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		s = r.URL.RequestURI()
	default:
		s = c.FormValue("_from")
	}
	if s == "" || safeNext(s) != s {
		return ""
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }
