package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/payscore-console/payscore-console/store"
)

func TestSubMerchantsAccess(t *testing.T) {
	ts := newTestServer(t)
	m := ts.addSubMerchant(t, "1900000001", "测试商户", false)
	adminOnly := func(anon, ok int) map[string]int {
		return map[string]int{"": anon, store.RoleAdmin: ok, store.RoleOperator: http.StatusForbidden,
			store.RoleSupport: http.StatusForbidden, store.RoleViewer: http.StatusForbidden}
	}
	tests := []struct {
		method, path string
		form         url.Values
		want         map[string]int
	}{
		{"GET", "/sub-merchants", nil, adminOnly(http.StatusSeeOther, http.StatusOK)},
		// Empty form: refused after the role check.
		{"POST", "/sub-merchants", url.Values{}, adminOnly(http.StatusUnauthorized, http.StatusUnprocessableEntity)},
		// No action: refused after the role check, nothing changes.
		{"POST", "/sub-merchants/" + strconv.FormatInt(m.ID, 10), url.Values{}, adminOnly(http.StatusUnauthorized, http.StatusBadRequest)},
	}
	for _, role := range allRoles {
		tc := ts.client(t, role)
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.path+" as "+roleName(role), func(t *testing.T) {
				var res *response
				if tt.method == http.MethodGet {
					res = tc.get(t, tt.path)
				} else {
					res = tc.post(t, tt.path, tt.form)
				}
				if got, want := res.status, tt.want[role]; got != want {
					t.Errorf("status = %d, want %d", got, want)
				}
			})
		}
	}
	if got, want := countRows(t, ts.db, "sub_merchants"), 1; got != want {
		t.Errorf("sub-merchants = %d, want %d", got, want)
	}
}

func TestCreateSubMerchant(t *testing.T) {
	tests := []struct {
		name      string
		form      url.Values
		wantField string // field whose error shows; "" = created
		wantText  string // part of the message
	}{
		{"OK", url.Values{"sub_mchid": {"1900000002"}, "name": {"乙商户"}, "sub_appid": {"wxd678efh567hg6787"}}, "", ""},
		{"OKNoAppID", url.Values{"sub_mchid": {"1900000003"}, "name": {" 丙商户 "}}, "", ""},
		{"OKMaxName", url.Values{"sub_mchid": {strings.Repeat("9", 32)}, "name": {strings.Repeat("名", 64)}}, "", ""},
		{"ErrSubMchIDLetters", url.Values{"sub_mchid": {"19000A0002"}, "name": {"x"}}, "sub_mchid", ""},
		{"ErrSubMchIDEmpty", url.Values{"sub_mchid": {""}, "name": {"x"}}, "sub_mchid", ""},
		{"ErrSubMchIDTooLong", url.Values{"sub_mchid": {strings.Repeat("9", 33)}, "name": {"x"}}, "sub_mchid", ""},
		{"ErrDuplicate", url.Values{"sub_mchid": {"1900000001"}, "name": {"重复"}}, "sub_mchid", "1900000001"},
		{"ErrNameEmpty", url.Values{"sub_mchid": {"1900000002"}, "name": {"  "}}, "name", ""},
		{"ErrNameTooLong", url.Values{"sub_mchid": {"1900000002"}, "name": {strings.Repeat("名", 65)}}, "name", ""},
		{"ErrSubAppIDTooLong", url.Values{"sub_mchid": {"1900000002"}, "name": {"x"}, "sub_appid": {strings.Repeat("w", 33)}}, "sub_appid", ""},
		{"ErrSubAppIDSpace", url.Values{"sub_mchid": {"1900000002"}, "name": {"x"}, "sub_appid": {"wx 1"}}, "sub_appid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.addSubMerchant(t, "1900000001", "甲商户", false)
			admin := ts.client(t, store.RoleAdmin)
			res := admin.post(t, "/sub-merchants", tt.form)
			if tt.wantField != "" {
				if got, want := res.status, http.StatusUnprocessableEntity; got != want {
					t.Fatalf("status = %d, want %d", got, want)
				}
				msg := res.text(`[data-testid="error-` + tt.wantField + `"]`)
				if msg == "" || !strings.Contains(msg, tt.wantText) {
					t.Errorf("error for %s = %q, want a message with %q", tt.wantField, msg, tt.wantText)
				}
				for field, id := range map[string]string{"sub_mchid": "#sm-sub_mchid", "name": "#sm-name", "sub_appid": "#sm-sub_appid"} {
					if got, want := res.doc.Find(id).AttrOr("value", ""), strings.TrimSpace(tt.form.Get(field)); got != want {
						t.Errorf("%s kept = %q, want %q", field, got, want)
					}
				}
				if got, want := countRows(t, ts.db, "sub_merchants"), 1; got != want {
					t.Errorf("sub-merchants = %d, want %d", got, want)
				}
				return
			}
			if got, want := res.status, http.StatusSeeOther; got != want {
				t.Fatalf("status = %d, want %d; errors %q", got, want, res.text(".field-error"))
			}
			if got, want := res.header.Get("Location"), "/sub-merchants"; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			subMchID := tt.form.Get("sub_mchid")
			m, err := ts.db.SubMerchantByMchID(context.Background(), subMchID)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.Name+"|"+m.SubAppID, strings.TrimSpace(tt.form.Get("name"))+"|"+tt.form.Get("sub_appid"); got != want {
				t.Errorf("stored = %q, want %q", got, want)
			}
			page := admin.get(t, "/sub-merchants")
			if !page.has(`[data-testid="submerchant-` + subMchID + `"]`) {
				t.Error("not listed")
			}
			if got, want := page.text(`[data-testid="flash"]`), catalogZH("submerchants.created.ok", subMchID); got != want {
				t.Errorf("flash = %q, want %q", got, want)
			}
			audit, _ := ts.db.AuditLog(context.Background(), store.AuditFilter{Action: "submerchant.create"})
			if len(audit) != 1 || audit[0].Target != "sub_mchid:"+subMchID || audit[0].Username != "admin" {
				t.Errorf("audit = %+v, want one submerchant.create by admin", audit)
			}
		})
	}
}

func TestUpdateSubMerchant(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	m := ts.addSubMerchant(t, "1900000001", "甲商户", false)
	path := "/sub-merchants/" + strconv.FormatInt(m.ID, 10)
	admin := ts.client(t, store.RoleAdmin)
	op := ts.client(t, store.RoleOperator)

	t.Run("OKEdit", func(t *testing.T) {
		res := admin.post(t, path, url.Values{"action": {"edit"}, "name": {"甲商户（新）"}, "sub_appid": {"wx123"}})
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		got, _ := ts.db.SubMerchantByID(ctx, m.ID)
		if got.Name != "甲商户（新）" || got.SubAppID != "wx123" || got.SubMchID != "1900000001" {
			t.Errorf("stored = %+v", got)
		}
	})
	t.Run("ErrEditName", func(t *testing.T) {
		res := admin.post(t, path, url.Values{"action": {"edit"}, "name": {""}, "sub_appid": {"wx 9"}})
		if got, want := res.status, http.StatusUnprocessableEntity; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		row := res.doc.Find(`[data-testid="submerchant-1900000001"]`)
		if row.Find(`[data-testid="error-name"]`).Length() == 0 || row.Find(`[data-testid="error-sub_appid"]`).Length() == 0 {
			t.Error("the row shows no errors")
		}
		if got, want := row.Find(`input[name="sub_appid"]`).AttrOr("value", ""), "wx 9"; got != want {
			t.Errorf("typed sub_appid = %q, want %q", got, want)
		}
		if got, _ := ts.db.SubMerchantByID(ctx, m.ID); got.Name != "甲商户（新）" {
			t.Errorf("name changed to %q", got.Name)
		}
	})
	t.Run("OKDisableHidesFromNewLink", func(t *testing.T) {
		if !op.get(t, "/links/new").has(`select[name="sub_mchid"] option[value="1900000001"]`) {
			t.Fatal("enabled sub-merchant not offered")
		}
		res := admin.post(t, path, url.Values{"action": {"disable"}, "confirm": {"1"}})
		if got, want := res.status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if op.get(t, "/links/new").has(`select[name="sub_mchid"] option[value="1900000001"]`) {
			t.Error("disabled sub-merchant still offered")
		}
		if !admin.get(t, "/sub-merchants").has(`[data-testid="submerchant-enable-1900000001"]`) {
			t.Error("no enable button for a disabled sub-merchant")
		}
	})
	t.Run("OKEnable", func(t *testing.T) {
		if got, want := admin.post(t, path, url.Values{"action": {"enable"}}).status, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, _ := ts.db.SubMerchantByID(ctx, m.ID); got.Disabled {
			t.Error("still disabled")
		}
		audit, _ := ts.db.AuditLog(ctx, store.AuditFilter{Target: "sub_mchid:1900000001"})
		var actions []string
		for _, e := range audit {
			actions = append(actions, e.Action)
		}
		if got, want := strings.Join(actions, ","), "submerchant.enable,submerchant.disable,submerchant.edit"; got != want {
			t.Errorf("audit = %s, want %s", got, want)
		}
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		if got, want := admin.post(t, "/sub-merchants/99999", url.Values{"action": {"disable"}}).status, http.StatusNotFound; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
	t.Run("ErrAction", func(t *testing.T) {
		if got, want := admin.post(t, path, url.Values{"action": {"delete"}}).status, http.StatusBadRequest; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
}
