-- Sub-merchants, authorization links, what we know of each authorization,
-- the notifications WeChat Pay sent us, and terminations.
CREATE TABLE sub_merchants (
    id         INTEGER PRIMARY KEY,
    sub_mchid  TEXT NOT NULL UNIQUE,
    sub_appid  TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE links (
    id                 INTEGER PRIMARY KEY,
    slug               TEXT NOT NULL UNIQUE,
    sub_merchant_id    INTEGER NOT NULL REFERENCES sub_merchants (id),
    authorization_code TEXT NOT NULL UNIQUE,
    token              TEXT NOT NULL,
    token_expires_at   TEXT NOT NULL,
    notify_url         TEXT NOT NULL,
    created_by         INTEGER REFERENCES users (id),
    created_at         TEXT NOT NULL,
    opens              INTEGER NOT NULL DEFAULT 0,
    last_opened_at     TEXT,
    reconciled_at      TEXT
) STRICT;
CREATE INDEX links_created ON links (created_at DESC, id DESC);

-- The last known state of each authorization_code, from notifications,
-- queries and terminations. state_time orders events: an older one never
-- overwrites a newer one.
CREATE TABLE authorizations (
    authorization_code TEXT PRIMARY KEY,
    sub_mchid          TEXT NOT NULL,
    state              TEXT NOT NULL,
    openid             TEXT NOT NULL DEFAULT '',
    sub_openid         TEXT NOT NULL DEFAULT '',
    user_label         TEXT NOT NULL DEFAULT '',
    success_time       TEXT,
    cancel_time        TEXT,
    state_time         TEXT NOT NULL,
    source             TEXT NOT NULL,
    checked_at         TEXT NOT NULL
) STRICT;
CREATE INDEX authorizations_state ON authorizations (state, checked_at);

-- One row per notification id; rows keyed by an increasing integer so that
-- inserts append to the B-tree.
CREATE TABLE callbacks (
    id                 INTEGER PRIMARY KEY,
    notification_id    TEXT NOT NULL UNIQUE,
    event_type         TEXT NOT NULL,
    authorization_code TEXT NOT NULL DEFAULT '',
    sub_mchid          TEXT NOT NULL DEFAULT '',
    openid             TEXT NOT NULL DEFAULT '',
    sub_openid         TEXT NOT NULL DEFAULT '',
    openorclose_time   TEXT,
    create_time        TEXT NOT NULL DEFAULT '',
    serial             TEXT NOT NULL DEFAULT '',
    envelope           TEXT NOT NULL,
    payload            TEXT NOT NULL,
    applied            INTEGER NOT NULL DEFAULT 0,
    deliveries         INTEGER NOT NULL DEFAULT 1,
    first_received_at  TEXT NOT NULL,
    last_received_at   TEXT NOT NULL
) STRICT;
CREATE INDEX callbacks_code ON callbacks (authorization_code, id);
CREATE INDEX callbacks_received ON callbacks (first_received_at, id);

CREATE TABLE callback_deliveries (
    id          INTEGER PRIMARY KEY,
    callback_id INTEGER NOT NULL REFERENCES callbacks (id),
    received_at TEXT NOT NULL,
    remote_addr TEXT NOT NULL DEFAULT '',
    serial      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL
) STRICT;
CREATE INDEX callback_deliveries_callback ON callback_deliveries (callback_id, id);

-- Refused attempts: never the decrypted data of a refused payload.
CREATE TABLE callback_refusals (
    id              INTEGER PRIMARY KEY,
    received_at     TEXT NOT NULL,
    remote_addr     TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL,
    serial          TEXT NOT NULL DEFAULT '',
    notification_id TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE terminations (
    id                 INTEGER PRIMARY KEY,
    authorization_code TEXT NOT NULL,
    sub_mchid          TEXT NOT NULL,
    reason             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    request_id         TEXT NOT NULL DEFAULT '',
    error_code         TEXT NOT NULL DEFAULT '',
    error_message      TEXT NOT NULL DEFAULT '',
    user_id            INTEGER REFERENCES users (id),
    created_at         TEXT NOT NULL,
    finished_at        TEXT
) STRICT;
CREATE INDEX terminations_code ON terminations (authorization_code, id);
-- At most one termination in flight per code: a second submit makes no second call.
CREATE UNIQUE INDEX terminations_one_pending ON terminations (authorization_code) WHERE status = 'pending';
