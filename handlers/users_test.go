package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/payscore-console/payscore-console/store"
)

func TestCreateUser(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string // data-testid of the field error shown; "" for none
	}{
		{"OK", url.Values{"username": {"alice.w"}, "role": {"support"}, "password": {"long enough pw"}}, http.StatusSeeOther, ""},
		{"ErrUsername", url.Values{"username": {"a b"}, "role": {"support"}, "password": {"long enough pw"}}, http.StatusUnprocessableEntity, "error-username"},
		{"ErrUsernameTaken", url.Values{"username": {"viewer"}, "role": {"support"}, "password": {"long enough pw"}}, http.StatusUnprocessableEntity, "error-username"},
		{"ErrRole", url.Values{"username": {"alice.w"}, "role": {"root"}, "password": {"long enough pw"}}, http.StatusUnprocessableEntity, "error-role"},
		{"service.ErrPasswordTooShort", url.Values{"username": {"alice.w"}, "role": {"support"}, "password": {"short"}}, http.StatusUnprocessableEntity, "error-password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			admin := ts.client(t, store.RoleAdmin)
			res := admin.post(t, "/users", tt.form)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if tt.wantError != "" {
				if !res.has(`[data-testid="` + tt.wantError + `"]`) {
					t.Errorf("no %s in the page", tt.wantError)
				}
				// What was typed is kept, except the password.
				if got, want := res.doc.Find(`#new-username`).AttrOr("value", ""), tt.form.Get("username"); got != want {
					t.Errorf("username value = %q, want %q", got, want)
				}
				if got := res.doc.Find(`#new-password`).AttrOr("value", ""); got != "" {
					t.Errorf("password echoed back: %q", got)
				}
				if got, want := len(ts.usersNamed(t)), len(store.Roles); got != want {
					t.Errorf("users = %d, want %d (nothing created)", got, want)
				}
				return
			}
			if got, want := res.header.Get("Location"), "/users"; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			page := admin.get(t, "/users")
			if !page.has(`[data-testid="user-alice.w"]`) {
				t.Error("the new user is not listed")
			}
			if got, want := page.text(`[data-testid="flash"]`), catalogZH("users.created.ok", "alice.w"); got != want {
				t.Errorf("flash = %q, want %q", got, want)
			}
			// The flash shows once.
			if admin.get(t, "/users").has(`[data-testid="flash"]`) {
				t.Error("the flash shows twice")
			}
			ts.anonymous(t).signIn(t, "alice.w", "long enough pw")
			log, err := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: "user.create"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(log), 1; got != want {
				t.Fatalf("audit entries = %d, want %d", got, want)
			}
			if got, want := log[0].Username+" "+log[0].Target+" "+log[0].Detail, "admin user:alice.w role=support"; got != want {
				t.Errorf("audit = %q, want %q", got, want)
			}
			if log[0].IP == "" {
				t.Error("audit entry without IP")
			}
		})
	}
}

func TestUpdateUser(t *testing.T) {
	tests := []struct {
		name       string
		target     string // role of the target user; "self" for the admin
		form       url.Values
		wantStatus int
		check      func(t *testing.T, ts *testServer, u *store.User)
	}{
		{"OKRole", store.RoleViewer, url.Values{"action": {"role"}, "role": {store.RoleSupport}}, http.StatusSeeOther,
			func(t *testing.T, ts *testServer, u *store.User) {
				if got, want := u.Role, store.RoleSupport; got != want {
					t.Errorf("role = %q, want %q", got, want)
				}
			}},
		{"OKDisable", store.RoleViewer, url.Values{"action": {"disable"}, "confirm": {"1"}}, http.StatusSeeOther,
			func(t *testing.T, ts *testServer, u *store.User) {
				if !u.Disabled {
					t.Error("not disabled")
				}
				if got, want := ts.anonymous(t).login(t, "viewer", testPassword).status, http.StatusUnprocessableEntity; got != want {
					t.Errorf("disabled user signs in: status = %d, want %d", got, want)
				}
			}},
		{"OKPassword", store.RoleViewer, url.Values{"action": {"password"}, "password": {"another password"}}, http.StatusSeeOther,
			func(t *testing.T, ts *testServer, u *store.User) {
				if got, want := ts.anonymous(t).login(t, "viewer", testPassword).status, http.StatusUnprocessableEntity; got != want {
					t.Errorf("old password: status = %d, want %d", got, want)
				}
				ts.anonymous(t).signIn(t, "viewer", "another password")
			}},
		{"OKOwnPassword", "self", url.Values{"action": {"password"}, "password": {"another password"}, "current_password": {testPassword}}, http.StatusSeeOther, nil},
		{"ErrOwnPasswordWithoutCurrent", "self", url.Values{"action": {"password"}, "password": {"another password"}}, http.StatusUnprocessableEntity, nil},
		{"ErrOwnPasswordWrongCurrent", "self", url.Values{"action": {"password"}, "password": {"another password"}, "current_password": {"not the password"}}, http.StatusUnprocessableEntity, nil},
		{"ErrPasswordCommon", store.RoleViewer, url.Values{"action": {"password"}, "password": {"1q2w3e4r5t"}}, http.StatusUnprocessableEntity, nil},
		{"ErrPasswordContainsUsername", store.RoleViewer, url.Values{"action": {"password"}, "password": {"my viewer pass 42"}}, http.StatusUnprocessableEntity, nil},
		{"ErrRole", store.RoleViewer, url.Values{"action": {"role"}, "role": {"root"}}, http.StatusUnprocessableEntity, nil},
		{"service.ErrPasswordTooShort", store.RoleViewer, url.Values{"action": {"password"}, "password": {"short"}}, http.StatusUnprocessableEntity, nil},
		{"ErrUnknownAction", store.RoleViewer, url.Values{"action": {"delete"}}, http.StatusBadRequest, nil},
		{"ErrDisableSelf", "self", url.Values{"action": {"disable"}}, http.StatusUnprocessableEntity, nil},
		{"ErrDemoteSelf", "self", url.Values{"action": {"role"}, "role": {store.RoleViewer}}, http.StatusUnprocessableEntity, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			admin := ts.client(t, store.RoleAdmin)
			target := ts.users[store.RoleAdmin]
			if tt.target != "self" {
				target = ts.users[tt.target]
			}
			before, _ := ts.db.UserByID(context.Background(), target.ID)
			res := admin.post(t, "/users/"+strconv.FormatInt(target.ID, 10), tt.form)
			if got, want := res.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			after, _ := ts.db.UserByID(context.Background(), target.ID)
			if tt.wantStatus != http.StatusSeeOther {
				if *after != *before {
					t.Errorf("a refused update changed the user: %+v → %+v", before, after)
				}
				if got, want := admin.signedIn(t), true; got != want {
					t.Errorf("admin signed in = %v, want %v", got, want)
				}
				return
			}
			if tt.target == "self" {
				// Changing one's own password ends one's own sessions too.
				if got, want := res.header.Get("Location"), "/login"; got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
				if got, want := admin.signedIn(t), false; got != want {
					t.Errorf("admin signed in = %v, want %v", got, want)
				}
				ts.anonymous(t).signIn(t, "admin", "another password")
				return
			}
			if got, want := admin.get(t, "/users").text(`[data-testid="flash"]`), catalogZH("users.updated.ok", target.Username); got != want {
				t.Errorf("flash = %q, want %q", got, want)
			}
			log, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Target: "user:" + target.Username})
			if got, want := len(log), 1; got != want {
				t.Errorf("audit entries = %d, want %d", got, want)
			}
			tt.check(t, ts, after)
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		ts := newTestServer(t)
		admin := ts.client(t, store.RoleAdmin)
		for _, path := range []string{"/users/999", "/users/abc"} {
			if got, want := admin.post(t, path, url.Values{"action": {"disable"}}).status, http.StatusNotFound; got != want {
				t.Errorf("POST %s: status = %d, want %d", path, got, want)
			}
		}
	})
}

// TestUsersPage checks the page's own rules: an admin cannot disable or
// demote themself from it; every form carries the CSRF token.
func TestUsersPage(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, store.RoleAdmin)
	res := admin.get(t, "/users")
	if got, want := res.status, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	for _, role := range store.Roles {
		if !res.has(`[data-testid="user-` + role + `"]`) {
			t.Errorf("user %s not listed", role)
		}
	}
	if res.has(`[data-testid="user-admin"] input[name="action"][value="disable"]`) {
		t.Error("the admin is offered to disable themself")
	}
	if !res.has(`[data-testid="user-viewer"] input[name="action"][value="disable"]`) {
		t.Error("no disable button for another user")
	}
	res.doc.Find("form").Each(func(i int, f *goquery.Selection) {
		if got, want := f.Find(`input[name="_csrf"]`).AttrOr("value", ""), admin.csrf; got != want {
			t.Errorf("form %d (%s): _csrf = %q, want %q", i, f.AttrOr("action", ""), got, want)
		}
	})
}

// TestNavByRole: the navigation offers each role what it may use.
func TestNavByRole(t *testing.T) {
	ts := newTestServer(t)
	for _, role := range store.Roles {
		t.Run(role, func(t *testing.T) {
			res := ts.client(t, role).get(t, "/")
			if got, want := res.status, http.StatusOK; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.has(`[data-testid="nav"] a[href="/users"]`), role == store.RoleAdmin; got != want {
				t.Errorf("nav shows Users = %v, want %v", got, want)
			}
			if got, want := res.has(`[data-testid="nav"] a[href="/"][aria-current="page"]`), true; got != want {
				t.Errorf("overview marked current = %v, want %v", got, want)
			}
			if got, want := res.text(`[data-testid="me"]`), role+" · "+catalogZH("role."+role); got != want {
				t.Errorf("me = %q, want %q", got, want)
			}
		})
	}
}

func TestSandboxBanner(t *testing.T) {
	tests := []struct {
		name string
		opts []serverOption
		want bool
	}{
		{"OKSandbox", []serverOption{withSandbox()}, true},
		{"OKLive", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts...)
			anon := ts.anonymous(t)
			viewer := ts.client(t, store.RoleViewer)
			for _, res := range []*response{anon.get(t, "/login"), anon.get(t, "/nope"), viewer.get(t, "/"), viewer.get(t, "/users")} {
				if got, want := res.has(`[data-testid="sandbox-banner"]`), tt.want; got != want {
					t.Errorf("status %d page: banner = %v, want %v", res.status, got, want)
				}
			}
		})
	}
}

func TestLanguageSwitch(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.client(t, store.RoleViewer)
	res := tc.post(t, "/lang", url.Values{"lang": {"en"}, "next": {"/"}})
	if got, want := res.header.Get("Location"), "/"; got != want {
		t.Fatalf("Location = %q, want %q", got, want)
	}
	page := tc.get(t, "/")
	if got, want := page.doc.Find("html").AttrOr("lang", ""), "en"; got != want {
		t.Errorf("html lang = %q, want %q", got, want)
	}
	if got, want := page.text(`[data-testid="logout"]`), "Sign out"; got != want {
		t.Errorf("logout label = %q, want %q", got, want)
	}
	// An off-site next is refused.
	if got, want := tc.post(t, "/lang", url.Values{"lang": {"zh"}, "next": {"https://evil.example/"}}).header.Get("Location"), "/"; got != want {
		t.Errorf("off-site next: Location = %q, want %q", got, want)
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/users", "/users"},
		{"/users?x=1#y", "/users?x=1#y"},
		{"//evil.example/", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"users", "/"},
	}
	for _, tt := range tests {
		if got, want := safeNext(tt.in), tt.want; got != want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

// usersNamed lists every username.
func (ts *testServer) usersNamed(t *testing.T) []string {
	t.Helper()
	users, err := ts.db.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}
