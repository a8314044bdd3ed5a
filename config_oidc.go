package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

// oidcSettings are single sign-on's variables (README "Users and roles").
func (c *Config) oidcSettings() []setting {
	return []setting{
		{"OIDC_ISSUER", &c.OIDCIssuer, "", "OpenID Connect provider's issuer URL; set: /login offers single sign-on", false},
		{"OIDC_CLIENT_ID", &c.OIDCClientID, "", "the console's client id at the provider", false},
		{"OIDC_CLIENT_SECRET", &c.OIDCClientSecret, "", "its client secret", true},
		{"OIDC_ROLE_CLAIM", &c.OIDCRoleClaim, "roles", "ID token claim with the person's provider roles (string or array; dotted path reaches into objects)", false},
		{"OIDC_ROLE_MAP", &c.OIDCRoleMap, "", "provider role=console role pairs, comma-separated (e.g. payscore-admin=admin,payscore-support=support)", false},
		{"OIDC_PROVIDER_NAME", &c.OIDCProviderName, "", "name on the sign-in button (default: the issuer's host)", false},
		{"LOCAL_LOGIN", &c.LocalLogin, "on", "on, or off: password sign-in only for break-glass users (needs OIDC_ISSUER)", false},
	}
}

// oidcEnabled reports whether single sign-on is configured.
func (c *Config) oidcEnabled() bool { return c.OIDCIssuer != "" }

// localLoginOff reports LOCAL_LOGIN=off (after Validate).
func (c *Config) localLoginOff() bool {
	return strings.EqualFold(strings.TrimSpace(c.LocalLogin), "off")
}

// validateOIDC checks single sign-on's variables: all or none of issuer,
// client id, secret and role map; an https issuer (http only in sandbox mode
// or on loopback, for a provider on the developer's machine); a role map of
// known roles; LOCAL_LOGIN on or off, and off only with a provider.
func (c *Config) validateOIDC() []error {
	var errs []error
	switch strings.ToLower(strings.TrimSpace(c.LocalLogin)) {
	case "on", "":
	case "off":
		if !c.oidcEnabled() {
			errs = append(errs, errors.New("LOCAL_LOGIN=off needs single sign-on (OIDC_ISSUER…): only break-glass users could sign in"))
		}
	default:
		errs = append(errs, fmt.Errorf("LOCAL_LOGIN: %q is not on or off", c.LocalLogin))
	}
	set := c.OIDCIssuer != "" || c.OIDCClientID != "" || c.OIDCClientSecret != "" || c.OIDCRoleMap != ""
	if !set {
		return errs
	}
	var missing []string
	for _, s := range []struct{ env, v string }{
		{"OIDC_ISSUER", c.OIDCIssuer}, {"OIDC_CLIENT_ID", c.OIDCClientID},
		{"OIDC_CLIENT_SECRET", c.OIDCClientSecret}, {"OIDC_ROLE_MAP", c.OIDCRoleMap},
	} {
		if s.v == "" {
			missing = append(missing, s.env)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_ROLE_MAP; missing: %s", strings.Join(missing, ", ")))
	}
	if c.OIDCIssuer != "" {
		u, err := url.Parse(c.OIDCIssuer)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("OIDC_ISSUER: %q is not an absolute http(s) URL without a query", c.OIDCIssuer))
		case u.Scheme == "http" && !c.Sandbox() && !isLoopbackHost(u.Hostname()):
			errs = append(errs, fmt.Errorf("OIDC_ISSUER: live mode needs https, got %q", c.OIDCIssuer))
		}
	}
	if strings.TrimSpace(c.OIDCRoleClaim) == "" {
		errs = append(errs, errors.New("OIDC_ROLE_CLAIM: empty"))
	}
	if c.OIDCRoleMap != "" {
		m, err := service.ParseRoleMap(c.OIDCRoleMap)
		if err != nil {
			errs = append(errs, fmt.Errorf("OIDC_ROLE_MAP: %w", err))
		}
		c.oidcRoleMap = m
	}
	return errs
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// applyOIDC sets single sign-on and LOCAL_LOGIN on the services.
func (c *Config) applyOIDC(s *service.Services, db *store.DB, base *url.URL, logger *slog.Logger) {
	s.Auth.LocalLoginOff = c.localLoginOff()
	if !c.oidcEnabled() {
		return
	}
	s.OIDC = service.NewOIDC(service.OIDCConfig{
		Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: c.OIDCClientSecret,
		RedirectURL:  strings.TrimRight(base.String(), "/") + "/login/oidc/callback",
		ProviderName: c.OIDCProviderName, RoleClaim: strings.TrimSpace(c.OIDCRoleClaim), RoleMap: c.oidcRoleMap,
	}, db, time.Now, logger)
}
