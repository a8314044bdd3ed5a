package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/store/storetest"
)

func TestLandingPause(t *testing.T) { storetest.EachEngine(t, testLandingPause) }

func testLandingPause(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return at }

	p, err := db.LandingPause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p, (store.LandingPause{}); got != want {
		t.Errorf("never switched = %+v, want %+v", got, want)
	}
	if err := db.SetLandingPause(ctx, true, "微信审核要求", "admin"); err != nil {
		t.Fatal(err)
	}
	p, err = db.LandingPause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p, (store.LandingPause{Paused: true, Reason: "微信审核要求", By: "admin", At: at}); got != want {
		t.Errorf("paused = %+v, want %+v", got, want)
	}
	if v, err := db.Setting(ctx, store.SettingLandingPaused); err != nil || v != "1" {
		t.Errorf("setting %s = %q, %v; want \"1\"", store.SettingLandingPaused, v, err)
	}
	if err := db.SetLandingPause(ctx, false, "", "root"); err != nil {
		t.Fatal(err)
	}
	p, _ = db.LandingPause(ctx)
	if got, want := p, (store.LandingPause{Paused: false, By: "root", At: at}); got != want {
		t.Errorf("resumed = %+v, want %+v", got, want)
	}
	if err := db.SetLandingPause(ctx, true, "x", ""); err == nil {
		t.Error("ErrNoUser: switching without saying who succeeded")
	}
}
