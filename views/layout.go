package views

import (
	"context"
	"encoding/json"
	"strings"
)

func htmlLang(ctx context.Context) string {
	if Lang(ctx) == LangEN {
		return "en"
	}
	return "zh-CN"
}

func otherLang(ctx context.Context) string {
	if Lang(ctx) == LangEN {
		return LangZH
	}
	return LangEN
}

// csrfHeaders is the hx-headers value that sends the CSRF token.
func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func isCurrent(path, href string) bool {
	if href == "/" {
		return path == "/"
	}
	return path == href || strings.HasPrefix(path, href+"/")
}

func invalid(errs map[string]string, field string) string {
	if _, ok := errs[field]; ok {
		return "true"
	}
	return "false"
}

type hereKey struct{}

// WithHere records the page a person is on (a local path with its query):
// the request's own URL for a GET, the page a form was sent from for a
// POST. The layout's language switch goes back there.
func WithHere(ctx context.Context, here string) context.Context {
	return context.WithValue(ctx, hereKey{}, here)
}

// Here is the page recorded by WithHere, or "".
func Here(ctx context.Context) string {
	s, _ := ctx.Value(hereKey{}).(string)
	return s
}

// langNext is where the language switch leads back to.
func langNext(ctx context.Context, p Page) string {
	if h := Here(ctx); h != "" {
		return h
	}
	return p.Path
}

// otherHTMLLang is the lang attribute of the switch's label, which is in
// the other language.
func otherHTMLLang(ctx context.Context) string {
	if Lang(ctx) == LangEN {
		return "zh-CN"
	}
	return "en"
}

// testID is name on the copy that carries the test ids, "menu-"+name on
// the phone menu's copy.
func testID(ids bool, name string) string {
	if ids {
		return name
	}
	return "menu-" + name
}

// pageRole is the signed-in person's role, or "".
func pageRole(p Page) string {
	if p.User == nil {
		return ""
	}
	return p.User.Role
}
