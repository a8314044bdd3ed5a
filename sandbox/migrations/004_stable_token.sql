-- POST /cgi-bin/stable_token (getStableAccessToken): its tokens are kept
-- apart from /cgi-bin/token's, as WeChat keeps them ("完全隔离，互不影响");
-- forced marks a force_refresh issue (20 a day, 30 s apart); revoked a
-- token a force_refresh made invalid ("会导致上次获取的 access_token 失效").
CREATE TABLE sandbox_mp_tokens_new (
    value      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access_token', 'jsapi_ticket', 'stable_access_token')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    forced     INTEGER NOT NULL DEFAULT 0,
    revoked    INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO sandbox_mp_tokens_new (value, kind, created_at, expires_at) SELECT value, kind, created_at, expires_at FROM sandbox_mp_tokens;
DROP TABLE sandbox_mp_tokens;
ALTER TABLE sandbox_mp_tokens_new RENAME TO sandbox_mp_tokens;
CREATE INDEX sandbox_mp_tokens_kind ON sandbox_mp_tokens (kind, expires_at);
