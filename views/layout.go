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
