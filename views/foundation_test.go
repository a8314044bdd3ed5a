package views

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// renderDoc renders a component in lang and parses it.
func renderDoc(t *testing.T, lang string, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(WithLang(context.Background(), lang), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func has(doc *goquery.Document, sel string) bool { return doc.Find(sel).Length() > 0 }

func text(doc *goquery.Document, sel string) string { return strings.TrimSpace(doc.Find(sel).Text()) }

func TestLayout(t *testing.T) {
	nav := []NavItem{{Label: "nav.overview", Href: "/"}, {Label: "nav.users", Href: "/users"}}
	tests := []struct {
		name        string
		page        Page
		wantBanner  bool
		wantMe      string
		wantNav     []string
		wantCurrent string
	}{
		{"OKSandboxSignedOut", Page{Title: "t", Path: "/login", Sandbox: true, CSRF: "tok"}, true, "", nil, ""},
		{"OKLiveSignedOut", Page{Title: "t", Path: "/login", CSRF: "tok"}, false, "", nil, ""},
		{"OKAdmin", Page{Title: "t", Path: "/users/3", CSRF: "tok", User: &Me{Username: "root", Role: "admin"}, Nav: nav},
			false, "root · 管理员", []string{"/", "/users"}, "/users"},
		{"OKViewer", Page{Title: "t", Path: "/", Sandbox: true, CSRF: "tok", User: &Me{Username: "v", Role: "viewer"}, Nav: nav[:1]},
			true, "v · 只读", []string{"/"}, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, Layout(tt.page))
			if got, want := has(doc, `[data-testid="sandbox-banner"]`), tt.wantBanner; got != want {
				t.Errorf("banner = %v, want %v", got, want)
			}
			if tt.wantBanner {
				if got, want := text(doc, `[data-testid="sandbox-banner"]`), Tr(LangZH, "sandbox.banner"); got != want {
					t.Errorf("banner text = %q, want %q", got, want)
				}
			}
			if got, want := text(doc, `[data-testid="me"]`), tt.wantMe; got != want {
				t.Errorf("me = %q, want %q", got, want)
			}
			if got, want := has(doc, `[data-testid="logout"]`), tt.page.User != nil; got != want {
				t.Errorf("logout button = %v, want %v", got, want)
			}
			var hrefs []string
			doc.Find(`[data-testid="nav"] a`).Each(func(_ int, s *goquery.Selection) { hrefs = append(hrefs, s.AttrOr("href", "")) })
			if got, want := strings.Join(hrefs, " "), strings.Join(tt.wantNav, " "); got != want {
				t.Errorf("nav = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="nav"] a[aria-current="page"]`).AttrOr("href", ""), tt.wantCurrent; got != want {
				t.Errorf("current nav entry = %q, want %q", got, want)
			}
			// Every form carries the token; htmx sends it in a header,
			// inherited explicitly (htmx 4).
			doc.Find("form").Each(func(i int, f *goquery.Selection) {
				if got, want := f.Find(`input[name="_csrf"]`).AttrOr("value", ""), "tok"; got != want {
					t.Errorf("form %d (%s): _csrf = %q, want %q", i, f.AttrOr("action", ""), got, want)
				}
			})
			var headers map[string]string
			if err := json.Unmarshal([]byte(doc.Find("body").AttrOr("hx-headers:inherited", "")), &headers); err != nil {
				t.Fatalf("hx-headers:inherited: %v", err)
			}
			if got, want := headers["X-CSRF-Token"], "tok"; got != want {
				t.Errorf("X-CSRF-Token header = %q, want %q", got, want)
			}
			// No inline script: the CSP allows 'self' only.
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if src := s.AttrOr("src", ""); !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
					t.Errorf("script %q with body %q: want /static/ sources only", src, s.Text())
				}
			})
			if got, want := doc.Find("html").AttrOr("lang", ""), "zh-CN"; got != want {
				t.Errorf("lang = %q, want %q", got, want)
			}
		})
	}
}

func TestLayoutEnglish(t *testing.T) {
	doc := renderDoc(t, LangEN, Layout(Page{Title: "t", Sandbox: true, User: &Me{Username: "a", Role: "admin"}}))
	if got, want := doc.Find("html").AttrOr("lang", ""), "en"; got != want {
		t.Errorf("lang = %q, want %q", got, want)
	}
	if got, want := text(doc, `[data-testid="logout"]`), "Sign out"; got != want {
		t.Errorf("logout = %q, want %q", got, want)
	}
	if got, want := doc.Find(`[data-testid="lang-switch"]`).AttrOr("value", ""), LangZH; got != want {
		t.Errorf("language switch offers %q, want %q", got, want)
	}
	if got, want := text(doc, `[data-testid="sandbox-banner"]`), Tr(LangEN, "sandbox.banner"); got != want {
		t.Errorf("banner = %q, want %q", got, want)
	}
}

func TestLayoutEscapes(t *testing.T) {
	doc := renderDoc(t, LangZH, Layout(Page{Title: "<script>x</script>", User: &Me{Username: `"><img src=x>`, Role: "viewer"},
		Flashes: []Flash{{Kind: "success", Text: "<b>ok</b>"}}}))
	if has(doc, "img") || has(doc, "b") || doc.Find("script:not([src])").Length() > 0 {
		t.Error("page text was rendered as HTML")
	}
	if got, want := text(doc, `[data-testid="flash"]`), "<b>ok</b>"; got != want {
		t.Errorf("flash = %q, want %q", got, want)
	}
}

func TestLoginPage(t *testing.T) {
	tests := []struct {
		name      string
		form      LoginForm
		wantError string
	}{
		{"OK", LoginForm{Next: "/users"}, ""},
		{"ErrFailed", LoginForm{Username: "alice", Error: "用户名或密码错误。", Next: "/"}, "用户名或密码错误。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, LangZH, LoginPage(Page{Title: "登录", Path: "/login", CSRF: "tok", Sandbox: true}, tt.form))
			form := doc.Find(`[data-testid="login-form"]`)
			if got, want := form.AttrOr("method", "")+" "+form.AttrOr("action", ""), "post /login"; got != want {
				t.Errorf("form = %q, want %q", got, want)
			}
			for field, want := range map[string]string{"_csrf": "tok", "next": tt.form.Next, "username": tt.form.Username} {
				if got := form.Find(`input[name="`+field+`"]`).AttrOr("value", ""); got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			if got, want := form.Find(`input[name="password"]`).AttrOr("type", ""), "password"; got != want {
				t.Errorf("password type = %q, want %q", got, want)
			}
			if got, want := text(doc, `[data-testid="login-error"]`), tt.wantError; got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			if !has(doc, `[data-testid="sandbox-banner"]`) {
				t.Error("no sandbox banner")
			}
		})
	}
}

func TestUsersPage(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := UsersView{
		Roles: []string{"admin", "operator", "support", "viewer"},
		Me:    "root",
		Users: []UserRow{
			{ID: 1, Username: "root", Role: "admin", Created: created},
			{ID: 2, Username: "bob", Role: "support", Created: created},
			{ID: 3, Username: "eve", Role: "viewer", Disabled: true, Created: created},
		},
		Form: UserForm{Username: "a b", Role: "support", Errors: map[string]string{"username": "bad name"}},
	}
	doc := renderDoc(t, LangZH, UsersPage(Page{Title: "用户管理", Path: "/users", CSRF: "tok", User: &Me{Username: "root", Role: "admin"}}, v))
	for _, u := range v.Users {
		if !has(doc, `[data-testid="user-`+u.Username+`"]`) {
			t.Errorf("user %s not listed", u.Username)
		}
	}
	// Own row: only the password reset.
	if got, want := doc.Find(`[data-testid="user-root"] form`).Length(), 1; got != want {
		t.Errorf("own row forms = %d, want %d", got, want)
	}
	if got, want := doc.Find(`[data-testid="user-bob"] select[name="role"] option[selected]`).AttrOr("value", ""), "support"; got != want {
		t.Errorf("bob's selected role = %q, want %q", got, want)
	}
	if got, want := doc.Find(`[data-testid="user-bob"] form[action="/users/2"] input[name="action"][value="disable"]`).Length(), 1; got != want {
		t.Errorf("bob's disable forms = %d, want %d", got, want)
	}
	if got, want := doc.Find(`[data-testid="user-eve"] input[name="action"][value="enable"]`).Length(), 1; got != want {
		t.Errorf("eve's enable forms = %d, want %d", got, want)
	}
	if got, want := text(doc, `[data-testid="user-eve"] .badge`), Tr(LangZH, "users.disabled"); got != want {
		t.Errorf("eve's status = %q, want %q", got, want)
	}
	if got, want := text(doc, `[data-testid="user-bob"] td:nth-child(4)`), "2026-01-02 11:04:05"; got != want {
		t.Errorf("created shown as %q, want %q (Asia/Shanghai)", got, want)
	}
	form := doc.Find(`[data-testid="user-form"]`)
	if got, want := form.Find(`input[name="username"]`).AttrOr("value", ""), "a b"; got != want {
		t.Errorf("typed username = %q, want %q", got, want)
	}
	if got, want := form.Find(`input[name="username"]`).AttrOr("aria-invalid", ""), "true"; got != want {
		t.Errorf("username aria-invalid = %q, want %q", got, want)
	}
	if got, want := text(doc, `[data-testid="error-username"]`), "bad name"; got != want {
		t.Errorf("field error = %q, want %q", got, want)
	}
	if has(doc, `[data-testid="error-password"]`) {
		t.Error("a password error with none given")
	}
	doc.Find("form").Each(func(i int, f *goquery.Selection) {
		if got, want := f.Find(`input[name="_csrf"]`).AttrOr("value", ""), "tok"; got != want {
			t.Errorf("form %d (%s): _csrf = %q, want %q", i, f.AttrOr("action", ""), got, want)
		}
	})
}

func TestErrorPage(t *testing.T) {
	doc := renderDoc(t, LangZH, ErrorPage(Page{Title: "x"}, ErrorView{Status: 403, Message: "不行"}))
	if got, want := text(doc, `[data-testid="error"] .code`), "403"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if !strings.Contains(text(doc, `[data-testid="error"]`), "不行") {
		t.Error("message not shown")
	}
}

// TestCatalog: every string the components ask for exists, in both
// languages: every .templ file of the package is read.
func TestCatalog(t *testing.T) {
	keys := map[string]bool{}
	literal := regexp.MustCompile(`\bTf?\(ctx, "([a-z0-9_.]+)"\s*[,)]`)
	files, err := filepath.Glob("*.templ")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d .templ files: the walk is broken", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = true
		}
	}
	for _, r := range []string{"admin", "operator", "support", "viewer"} {
		keys["role."+r] = true
	}
	for _, k := range []string{"login.failed", "login.locked", "login.required", "logout.done", "nav.overview", "nav.users",
		"error.title", "error.400", "error.401", "error.403", "error.404", "error.405", "error.413", "error.422", "error.429", "error.500",
		"users.err.username", "users.err.taken", "users.err.role", "users.err.password", "users.err.self", "users.created.ok", "users.updated.ok"} {
		keys[k] = true
	}
	for k := range keys {
		e, ok := catalog[k]
		if !ok {
			t.Errorf("catalog lacks %q", k)
			continue
		}
		if e.zh == "" || e.en == "" {
			t.Errorf("catalog %q: zh %q, en %q; want both", k, e.zh, e.en)
		}
	}
	if got, want := T(context.Background(), "no.such.key"), "no.such.key"; got != want {
		t.Errorf("unknown key renders %q, want %q", got, want)
	}
}
