package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestLoadgenFlags: -h lists the flags and bad values are refused before
// anything is opened.
func TestLoadgenFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := loadgen(context.Background(), []string{"-h"}, &out, &errOut); code != exitOK {
		t.Errorf("-h: exit %d, want %d", code, exitOK)
	}
	for _, flag := range []string{"-url", "-db-path", "-n", "-c", "-dup"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Errorf("-h does not list %s:\n%s", flag, errOut.String())
		}
	}
	errOut.Reset()
	if code := loadgen(context.Background(), []string{"-n", "0"}, &out, &errOut); code != exitConfig {
		t.Errorf("-n 0: exit %d, want %d", code, exitConfig)
	}
}
