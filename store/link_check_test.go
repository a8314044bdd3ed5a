package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

// TestRecordNotificationChecksLink: a notification naming a code of one of
// our links must name the link's sub-merchant, the configured appid and
// (when it names one) the link's sub_appid. Otherwise RecordNotification
// answers *LinkMismatchError with the field, writes nothing of it, and the
// notifications sharing its batch are written as usual. The check runs in
// the write transaction on both engines (PostgreSQL's batch function).
func TestRecordNotificationChecksLink(t *testing.T) {
	storetest.EachEngine(t, testRecordNotificationChecksLink)
}

func testRecordNotificationChecksLink(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	m := mustSubMerchant(t, db, "1900000001")
	mustSubMerchant(t, db, "1900000002")
	if _, err := db.CreateLink(ctx, store.Link{Slug: "slug-check-00000000001", SubMerchantID: m.ID, AuthorizationCode: "OURS",
		SubAppID: "wx-sub-app", Token: "tok", TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: "https://x.example/notify/payscore"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		edit      func(*store.Notification)
		wantField string // "" = recorded
	}{
		{"Agrees", func(n *store.Notification) { n.SubAppID = "wx-sub-app" }, ""},
		{"NoSubAppID", func(n *store.Notification) {}, ""},
		{"OtherSubMerchant", func(n *store.Notification) { n.SubMchID = "1900000002" }, "sub_mchid"},
		{"ForeignAppID", func(n *store.Notification) { n.ForeignAppID = true }, "appid"},
		{"OtherSubAppID", func(n *store.Notification) { n.SubAppID = "wx-other" }, "sub_appid"},
		{"SubMerchantBeforeAppID", func(n *store.Notification) { n.SubMchID, n.ForeignAppID = "1900000002", true }, "sub_mchid"},
		{"NotOurCode", func(n *store.Notification) {
			n.AuthorizationCode, n.SubMchID, n.ForeignAppID = "THEIRS", "1900000002", true
		}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := notification(fmt.Sprintf("EV-CHECK-%d", i), store.EventOpen, "OURS", at.Add(time.Duration(i)*time.Second))
			tt.edit(&n)
			// Sent with company, so that it shares a batch.
			var wg sync.WaitGroup
			companyErrs := make(chan error, 8)
			for j := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := notification(fmt.Sprintf("EV-COMPANY-%d-%d", i, j), store.EventOpen, fmt.Sprintf("OTHER-%d-%d", i, j), at)
					if _, err := db.RecordNotification(ctx, c); err != nil {
						companyErrs <- err
					}
				}()
			}
			outcome, err := db.RecordNotification(ctx, n)
			wg.Wait()
			close(companyErrs)
			for err := range companyErrs {
				t.Errorf("a notification in the same batch: %v", err)
			}
			var mismatch *store.LinkMismatchError
			stored := callbackCount(t, db, n.NotificationID)
			if tt.wantField == "" {
				if err != nil || outcome == "" {
					t.Fatalf("RecordNotification = %q, %v; want recorded", outcome, err)
				}
				if stored != 1 {
					t.Errorf("rows for %s = %d, want 1", n.NotificationID, stored)
				}
				return
			}
			if !errors.As(err, &mismatch) {
				t.Fatalf("RecordNotification = %q, %v; want *LinkMismatchError", outcome, err)
			}
			if mismatch.Field != tt.wantField || mismatch.LinkSubMchID != "1900000001" {
				t.Errorf("mismatch = %+v, want field %s, link's sub_mchid 1900000001", *mismatch, tt.wantField)
			}
			if stored != 0 {
				t.Errorf("rows for %s = %d, want 0: a refused notification writes nothing", n.NotificationID, stored)
			}
		})
	}
	// The refused ones changed nothing of the authorization: it is the
	// agreeing notifications' (sub-merchant 1900000001).
	a, err := db.AuthorizationByCode(ctx, "OURS")
	if err != nil {
		t.Fatal(err)
	}
	if a.SubMchID != "1900000001" {
		t.Errorf("authorization OURS belongs to %s, want 1900000001", a.SubMchID)
	}
}

func callbackCount(t *testing.T, db *store.DB, notificationID string) int {
	t.Helper()
	var n int
	if err := db.TestReader().QueryRow(`SELECT count(*) FROM callbacks WHERE notification_id = $1`, notificationID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
