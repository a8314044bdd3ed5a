package main

import (
	"testing"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/sandbox"
	"github.com/payscore-console/payscore-console/store"
	"github.com/payscore-console/payscore-console/views"
)

// TestAuthorizationStatesAgree: the store defines the authorization states
// once; the sandbox reuses them, and the two packages that may not import
// the store (payscore, the API's own type; views) spell them the same.
func TestAuthorizationStatesAgree(t *testing.T) {
	for _, tt := range []struct {
		name                          string
		store, sandbox, views, client string
	}{
		{"UnbindUser", store.StateUnbindUser, sandbox.StateUnbindUser, views.StateUnbindUser, string(payscore.StateUnbindUser)},
		{"Available", store.StateAvailable, sandbox.StateAvailable, views.StateAvailable, string(payscore.StateAvailable)},
		{"Unavailable", store.StateUnavailable, sandbox.StateUnavailable, views.StateUnavailable, string(payscore.StateUnavailable)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.sandbox != tt.store || tt.views != tt.store || tt.client != tt.store {
				t.Errorf("store %q, sandbox %q, views %q, payscore %q: want one spelling", tt.store, tt.sandbox, tt.views, tt.client)
			}
		})
	}
}
