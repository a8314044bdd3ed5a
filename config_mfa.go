package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/payscore-console/payscore-console/store"
)

// defaultMFARoles must sign in with two-factor in live mode unless
// MFA_REQUIRED_ROLES says otherwise: the people who manage accounts and
// terminate users' authorizations.
var defaultMFARoles = []string{store.RoleAdmin, store.RoleSupport}

// parseMFARoles reads MFA_REQUIRED_ROLES: comma-separated roles, "none" for
// no role, unset for the mode's default (live: admin,support; sandbox: none).
func (c *Config) parseMFARoles() error {
	v := strings.TrimSpace(c.MFARequiredRoles)
	switch {
	case v == "" && c.Sandbox():
		c.mfaRoles = nil
		return nil
	case v == "":
		c.mfaRoles = slices.Clone(defaultMFARoles)
		return nil
	case strings.EqualFold(v, "none"):
		c.mfaRoles = nil
		return nil
	}
	var roles []string
	for _, r := range strings.Split(v, ",") {
		r = strings.ToLower(strings.TrimSpace(r))
		if r == "" {
			continue
		}
		if !slices.Contains(store.Roles, r) {
			return fmt.Errorf("MFA_REQUIRED_ROLES: %q is not a role (%s, or none)", r, strings.Join(store.Roles, ", "))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	c.mfaRoles = roles
	return nil
}

// MFARoles are the roles that must sign in with two-factor (after Validate).
func (c *Config) MFARoles() []string { return c.mfaRoles }
