package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

func TestSearchAuthorizations(t *testing.T) { storetest.EachEngine(t, testSearchAuthorizations) }

// testSearchAuthorizations: a user's authorizations (by openid in the
// state or in a notification, or by sub_openid), a sub-merchant's, codes
// that differ only in case, and UNAVAILABLE told apart (terminated by
// support or closed by the user) in lists and the links filter.
func testSearchAuthorizations(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	m := mustSubMerchant(t, db, "1900000001")
	mustSubMerchant(t, db, "1900000002")
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for i, code := range []string{"PSCABC", "PSC-TERM", "PSC-CLOSED"} {
		if _, err := db.CreateLink(ctx, store.Link{Slug: "s-" + code, SubMerchantID: m.ID, AuthorizationCode: code, Token: "t",
			TokenExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Duration(i+1) * time.Minute)
		state := store.StateAvailable
		if i > 0 {
			state = store.StateUnavailable
		}
		if _, err := db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: code, SubMchID: "1900000001", State: state,
			OpenID: "o-user", SuccessTime: &t0, StateTime: at, Source: "query"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SaveAuthorization(ctx, store.Authorization{AuthorizationCode: "OTHER-1", SubMchID: "1900000002", State: store.StateAvailable,
		SubOpenID: "o-sub", StateTime: t0, Source: "query"}); err != nil {
		t.Fatal(err)
	}
	// Known to a notification only (the state carries another openid).
	n := notification("EV-1", store.EventOpen, "NOTIFIED-1", t0)
	n.OpenID = "o-notified"
	if _, err := db.RecordNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	id, err := db.BeginTermination(ctx, store.Termination{AuthorizationCode: "PSC-TERM", SubMchID: "1900000001", Reason: "r"}, store.AuditEntry{Action: "terminate.request", Target: "PSC-TERM"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishTermination(ctx, id, store.TerminationSucceeded, "rid", "", "", store.AuditEntry{Action: "terminate.result", Target: "PSC-TERM"}); err != nil {
		t.Fatal(err)
	}

	codes := func(rows []store.AuthorizationRow) map[string]bool {
		out := map[string]bool{}
		for _, r := range rows {
			out[r.AuthorizationCode] = r.TerminatedBySupport
		}
		return out
	}
	rows, err := db.SearchAuthorizations(ctx, store.AuthorizationSearch{OpenID: "o-user"})
	if err != nil {
		t.Fatal(err)
	}
	got := codes(rows)
	if len(got) != 3 || !got["PSC-TERM"] || got["PSC-CLOSED"] || got["PSCABC"] {
		t.Errorf("by openid: %v, want the three, PSC-TERM terminated by support", got)
	}
	for _, r := range rows {
		if r.LinkID == 0 || r.SubMerchantName != "Shop 1900000001" {
			t.Errorf("row %+v: no link or sub-merchant name", r)
		}
	}
	for q, want := range map[string]string{"o-sub": "OTHER-1", "o-notified": "NOTIFIED-1"} {
		rows, err := db.SearchAuthorizations(ctx, store.AuthorizationSearch{OpenID: q})
		if err != nil || len(rows) != 1 || rows[0].AuthorizationCode != want {
			t.Errorf("by %s: %v, %v; want %s", q, rows, err, want)
		}
	}
	rows, err = db.SearchAuthorizations(ctx, store.AuthorizationSearch{SubMchID: "1900000002"})
	if err != nil || len(codes(rows)) != 1 || rows[0].AuthorizationCode != "OTHER-1" {
		t.Errorf("by sub-merchant: %v, %v", rows, err)
	}
	if rows, err := db.SearchAuthorizations(ctx, store.AuthorizationSearch{SubMchID: "1900000001", Limit: 2}); err != nil || len(rows) != 2 {
		t.Errorf("limit 2: %d rows, %v", len(rows), err)
	}

	variants, err := db.CodesFoldingCase(ctx, "pscAbc", 5)
	if err != nil || len(variants) != 1 || variants[0] != "PSCABC" {
		t.Errorf("case variants of pscAbc = %v, %v; want [PSCABC]", variants, err)
	}
	if variants, err := db.CodesFoldingCase(ctx, "PSCABC", 5); err != nil || len(variants) != 0 {
		t.Errorf("case variants of the code itself = %v, %v; want none", variants, err)
	}

	for state, want := range map[string]string{store.StateTerminatedBySupport: "PSC-TERM", store.StateClosedByUser: "PSC-CLOSED"} {
		links, err := db.Links(ctx, store.LinkFilter{State: state})
		if err != nil || len(links) != 1 || links[0].AuthorizationCode != want {
			t.Errorf("links %s: %v, %v; want %s", state, links, err, want)
		}
	}
	l, err := db.LinkByCode(ctx, "PSC-TERM")
	if err != nil || !l.TerminatedBySupport || l.OpenID != "o-user" || l.SuccessTime == nil {
		t.Errorf("link PSC-TERM: %+v, %v", l, err)
	}
}
