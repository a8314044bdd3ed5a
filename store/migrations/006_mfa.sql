-- Two-factor sign-in (TOTP, RFC 6238) and what the session list shows.
--
-- user_mfa holds one TOTP secret per user, sealed by the service (AES-GCM
-- under a key derived from SESSION_KEY): the row alone does not give the
-- secret away. enabled_at is NULL while enrolment awaits its first code.
-- last_step is the last TOTP time step accepted: a code is accepted once.
CREATE TABLE user_mfa (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    enabled_at TEXT,
    last_step  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One-time recovery codes, stored as SHA-256 hashes (each code carries
-- 60 random bits, so a fast hash is enough); used_at marks one spent.
CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   TEXT,
    UNIQUE (user_id, code_hash)
) STRICT;

-- The browser a session was started from, for the session list.
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
