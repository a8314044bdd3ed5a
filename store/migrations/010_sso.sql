-- Single sign-on (OIDC) and break-glass accounts.
--
-- sso_issuer and sso_subject name the identity provider's account (the ID
-- token's iss and sub) a user signs in with; both are NULL for a local
-- (password) user, and an SSO user's password_hash is empty: it has no
-- local password. break_glass marks the local users who may still sign in
-- with a password when LOCAL_LOGIN=off (for when the provider is down).
ALTER TABLE users ADD COLUMN sso_issuer TEXT;
ALTER TABLE users ADD COLUMN sso_subject TEXT;
ALTER TABLE users ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_sso ON users (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;
