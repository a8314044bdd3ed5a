package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payscore-console/payscore-console/store"
)

// TestSeed: the tool writes the asked-for number of notifications and
// refuses a non-positive count.
func TestSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	var out, errOut bytes.Buffer
	if code := seed(context.Background(), []string{"-n", "120", "-history", "0", "-db-path", path}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "wrote 120 notifications") {
		t.Errorf("stdout = %q", out.String())
	}
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cbs, err := db.Callbacks(context.Background(), store.CallbackFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cbs), 120; got != want {
		t.Errorf("callbacks = %d, want %d", got, want)
	}
	if code := seed(context.Background(), []string{"-n", "0", "-history", "0", "-db-path", path}, &out, &errOut); code != exitConfig {
		t.Errorf("-n 0: exit %d, want %d", code, exitConfig)
	}
}

// TestSeedHistory: -history writes days of history the charts read, before
// the notifications.
func TestSeedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	var out, errOut bytes.Buffer
	if code := seed(context.Background(), []string{"-n", "0", "-history", "30", "-db-path", path}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "wrote 30 days of history") {
		t.Errorf("stdout = %q", out.String())
	}
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	days, err := db.DailyCounts(context.Background(), store.Day(now.AddDate(0, 0, -31)), store.Day(now), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) < 28 {
		t.Errorf("%d days with counts, want about 30", len(days))
	}
}
