-- PostgreSQL mirror of ../013_refusal_diagnosis.sql (BIGINT for INTEGER, BYTEA for BLOB).
-- A refused notification's diagnosis (issue 15): what was received and which
-- step refused it. Never decrypted data. kind groups reasons for the
-- overview and metrics (probe, forged, unknown_key, decryption, clock,
-- headers, malformed, ownership, throttled, internal); step is the check
-- that failed; detail names the field that did not match (ownership).
-- wechatpay_timestamp is the header as received and skew_seconds our clock
-- minus it (NULL: no readable timestamp); body_size and body_sha256 are of
-- the body as received (NULL / '': not read).
ALTER TABLE callback_refusals ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN step TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN wechatpay_timestamp TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN skew_seconds BIGINT;
ALTER TABLE callback_refusals ADD COLUMN body_size BIGINT;
ALTER TABLE callback_refusals ADD COLUMN body_sha256 TEXT NOT NULL DEFAULT '';

-- Refusals of the signature / decryption kind keep the raw headers (JSON)
-- and body (at most store.MaxKeptBody bytes) for a re-verify after a
-- configuration change; they go with their row (REFUSAL_RETENTION,
-- REFUSAL_MAX_ROWS). reverified_* record the last re-verify: when, by whom,
-- its outcome (accepted, duplicate, stale or refused) and, refused, the
-- new reason.
ALTER TABLE callback_refusals ADD COLUMN raw_headers TEXT;
ALTER TABLE callback_refusals ADD COLUMN raw_body BYTEA;
ALTER TABLE callback_refusals ADD COLUMN reverified_at TEXT;
ALTER TABLE callback_refusals ADD COLUMN reverified_by TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN reverify_outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN reverify_reason TEXT NOT NULL DEFAULT '';

-- The overview counts the last 24 hours' refusals by kind: one index range.
CREATE INDEX callback_refusals_last_kind ON callback_refusals (last_at, kind, count);
