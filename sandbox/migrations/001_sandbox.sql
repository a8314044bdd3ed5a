-- The simulated WeChat Pay: its identity and keys, the authorizations it
-- knows, the pre-authorization tokens it issued, the notifications it sends
-- and every delivery attempt, the official account's tokens, and settings.

-- One row: keys are generated on first start and kept so that a restart does
-- not invalidate the console's configuration or signed data.
CREATE TABLE sandbox_identity (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    merchant_key    TEXT NOT NULL,  -- PKCS#8 PEM, the merchant's API private key
    cert_serial     TEXT NOT NULL,  -- 40 hex digits, the merchant certificate's serial
    platform_key    TEXT NOT NULL,  -- PKCS#8 PEM, WeChat Pay's signing key
    public_key_id   TEXT NOT NULL,  -- PUB_KEY_ID_…
    forger_key      TEXT NOT NULL,  -- PKCS#8 PEM, a wrong key for forged signatures
    apiv3_key       TEXT NOT NULL,  -- 32 ASCII characters
    mp_secret       TEXT NOT NULL,  -- the official account's AppSecret
    created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE sandbox_authorizations (
    authorization_code TEXT PRIMARY KEY,
    appid              TEXT NOT NULL,
    service_id         TEXT NOT NULL,
    channel_id         TEXT NOT NULL,
    sub_mchid          TEXT NOT NULL,
    sub_appid          TEXT NOT NULL DEFAULT '',
    notify_url         TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL CHECK (state IN ('UNBINDUSER', 'AVAILABLE', 'UNAVAILABLE')),
    openid             TEXT NOT NULL DEFAULT '',
    user_label         TEXT NOT NULL DEFAULT '',
    success_time       TEXT,
    cancel_time        TEXT,
    terminate_reason   TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;

CREATE TABLE sandbox_tokens (
    token              TEXT PRIMARY KEY,
    authorization_code TEXT NOT NULL REFERENCES sandbox_authorizations (authorization_code),
    created_at         TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    outcome            TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'agreed', 'declined')),
    outcome_at         TEXT
) STRICT;
CREATE INDEX sandbox_tokens_code ON sandbox_tokens (authorization_code, created_at);

-- status: pending (attempts due), delivered (a 200/204 came back), failed
-- (gave up after the retry window), no_url (pre-authorize had no notify_url),
-- forged (sent once with a wrong signature, never retried).
CREATE TABLE sandbox_notifications (
    id                 TEXT PRIMARY KEY,
    authorization_code TEXT NOT NULL REFERENCES sandbox_authorizations (authorization_code),
    event_type         TEXT NOT NULL,
    notify_url         TEXT NOT NULL,
    plaintext          TEXT NOT NULL,
    body               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'no_url', 'forged')),
    created_at         TEXT NOT NULL,
    first_attempt_at   TEXT,
    next_attempt_at    TEXT
) STRICT;
CREATE INDEX sandbox_notifications_due ON sandbox_notifications (status, next_attempt_at);
CREATE INDEX sandbox_notifications_code ON sandbox_notifications (authorization_code, created_at);

CREATE TABLE sandbox_attempts (
    id              INTEGER PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES sandbox_notifications (id),
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('scheduled', 'resend', 'duplicate', 'forged')),
    status_code     INTEGER NOT NULL DEFAULT 0,  -- 0 when no HTTP answer came back
    error           TEXT NOT NULL DEFAULT '',
    duration_ms     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sandbox_attempts_notification ON sandbox_attempts (notification_id, id);

-- kind: access_token or jsapi_ticket.
CREATE TABLE sandbox_mp_tokens (
    value      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access_token', 'jsapi_ticket')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE sandbox_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
