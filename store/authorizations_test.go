package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

func TestAuthorizationCodeUsed(t *testing.T) { storetest.EachEngine(t, testAuthorizationCodeUsed) }

func testAuthorizationCodeUsed(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	m := mustSubMerchant(t, db, "1900000001")
	if _, err := db.CreateLink(ctx, store.Link{Slug: "slug-linked-0000000001", SubMerchantID: m.ID, AuthorizationCode: "LINKED",
		Token: "tok", TokenExpiresAt: time.Now().Add(time.Hour), NotifyURL: "https://x.example/notify/payscore"}); err != nil {
		t.Fatal(err)
	}
	// A code known only from a look-up or a notification, without a link.
	if _, err := db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "QUERIED", SubMchID: "1900000001",
		State: store.StateAvailable, StateTime: time.Now(), Source: "query"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code string
		want bool
	}{
		{"LINKED", true},
		{"QUERIED", true},
		{"NEW", false},
		{"linked", false}, // codes are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, err := db.AuthorizationCodeUsed(ctx, tt.code)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("AuthorizationCodeUsed(%q) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestAuthorizationsToRecheck(t *testing.T) { storetest.EachEngine(t, testAuthorizationsToRecheck) }

func testAuthorizationsToRecheck(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	now := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	m := mustSubMerchant(t, db, "1900000001")

	save := func(code, state string) {
		t.Helper()
		if _, err := db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: m.SubMchID, State: state,
			StateTime: now, Source: "query"}); err != nil {
			t.Fatal(err)
		}
	}
	// Checked at the start: old by the time of the query.
	save("OLD-AVAILABLE", store.StateAvailable)
	save("OLD-UNAVAILABLE", store.StateUnavailable)
	save("OLD-UNBIND-ELSEWHERE", store.StateUnbindUser)
	if _, err := db.CreateLink(ctx, store.Link{Slug: "s1", SubMerchantID: m.ID, AuthorizationCode: "OLD-UNBIND-LINK",
		Token: "tok", TokenExpiresAt: now.Add(time.Hour), NotifyURL: "https://example.com/notify/payscore"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	save("NEW-AVAILABLE", store.StateAvailable)
	now = now.Add(time.Hour)

	tests := []struct {
		name   string
		before time.Time
		limit  int
		want   []string
	}{
		{"OKStale", now.Add(-90 * time.Minute), 10, []string{"OLD-AVAILABLE", "OLD-UNBIND-ELSEWHERE"}},
		{"OKAllActive", now, 10, []string{"OLD-AVAILABLE", "OLD-UNBIND-ELSEWHERE", "NEW-AVAILABLE"}},
		{"OKLimitOldestFirst", now, 1, nil}, // one of the two oldest; checked below
		{"OKNoneStale", now.Add(-3 * time.Hour), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.AuthorizationsToRecheck(ctx, tt.before, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, a := range got {
				codes = append(codes, a.AuthorizationCode)
			}
			// Equal check times are in no particular order.
			slices.Sort(codes)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if tt.name == "OKLimitOldestFirst" {
				if len(codes) != 1 || codes[0] == "NEW-AVAILABLE" {
					t.Errorf("codes = %v, want one of the oldest", codes)
				}
				return
			}
			if !slices.Equal(codes, want) {
				t.Errorf("codes = %v, want %v", codes, want)
			}
		})
	}
}
