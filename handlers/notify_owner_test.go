package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// TestNotifyOwnershipFieldByField: a notification for one of our links must
// name the sub-merchant and the appids the link was issued for. One naming
// another registered sub-merchant, or another appid / sub_appid, is refused
// 400 (sub_mchid_mismatch / appid_mismatch), recorded as a refusal, and
// changes nothing.
func TestNotifyOwnershipFieldByField(t *testing.T) {
	ts, n := newReceiverServer(t)
	ctx := context.Background()
	ours, err := ts.db.SubMerchantByMchID(ctx, "1900000001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.CreateSubMerchant(ctx, store.SubMerchant{SubMchID: "1900000002", Name: "另一商户"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.CreateLink(ctx, store.Link{Slug: "slug-owner-000000001", SubMerchantID: ours.ID, SubAppID: "wx1111111111111111",
		AuthorizationCode: "OWN-1", Token: "tok", TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: n.url}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Minute) // newer than the pre-authorization
	send := func(id string, mutate func(p map[string]any)) (int, string) {
		p := n.payload(payscore.EventUserOpenService, "OWN-1", at)
		p["sub_appid"] = "wx1111111111111111"
		mutate(p)
		b := n.envelope(t, id, payscore.EventUserOpenService, p, n.apiV3Key)
		return n.send(t, b, n.headers(t, b, n.key, n.keyID, time.Now()))
	}
	for _, tt := range []struct {
		name, reason string
		mutate       func(p map[string]any)
	}{
		{"ErrOtherRegisteredSubMerchant", service.ReasonSubMchIDMismatch, func(p map[string]any) { p["sub_mchid"] = "1900000002" }},
		{"ErrOtherAppID", service.ReasonAppIDMismatch, func(p map[string]any) { p["appid"] = "wx9999999999999999" }},
		{"ErrOtherSubAppID", service.ReasonAppIDMismatch, func(p map[string]any) { p["sub_appid"] = "wx2222222222222222" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := countRows(t, ts.db, "callback_refusals")
			status, body := send("EV-"+tt.name, tt.mutate)
			if status != http.StatusBadRequest || !strings.Contains(body, `"code":"FAIL"`) {
				t.Fatalf("status = %d (%s), want 400 FAIL", status, body)
			}
			if got := countRows(t, ts.db, "callback_refusals"); got != before+1 {
				t.Fatalf("refusals = %d, want %d", got, before+1)
			}
			reason, err := queryString(t, ts.db, `SELECT reason FROM callback_refusals ORDER BY id DESC LIMIT 1`)
			if err != nil || reason != tt.reason {
				t.Errorf("refusal reason = %q (%v), want %q", reason, err, tt.reason)
			}
			a, err := ts.db.AuthorizationByCode(ctx, "OWN-1")
			if err != nil || a.State != store.StateUnbindUser || a.SubMchID != "1900000001" {
				t.Errorf("authorization = %+v, %v; want it unchanged (UNBINDUSER of 1900000001)", a, err)
			}
			if got := countRows(t, ts.db, "callbacks"); got != 0 {
				t.Errorf("callbacks = %d, want none stored", got)
			}
		})
	}
	t.Run("OKMatching", func(t *testing.T) {
		if status, body := send("EV-ok", func(map[string]any) {}); status != http.StatusNoContent {
			t.Fatalf("status = %d (%s)", status, body)
		}
		if a, _ := ts.db.AuthorizationByCode(ctx, "OWN-1"); a.State != store.StateAvailable {
			t.Errorf("state = %s, want AVAILABLE", a.State)
		}
	})
}

func queryString(t testing.TB, db *store.DB, q string, args ...any) (string, error) {
	t.Helper()
	sdb := openSQL(t, db)
	var s string
	err := sdb.QueryRow(q, args...).Scan(&s)
	return s, err
}
