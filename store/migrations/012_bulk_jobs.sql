-- Background jobs over many authorization codes: offboarding a
-- sub-merchant (terminate every AVAILABLE authorization) and bulk look-ups.
-- A job and its items are in the database so that a restart resumes it: an
-- item is marked 'calling' (committed) before its call to WeChat Pay and
-- 'done' (committed) after; an item found 'calling' at a start is settled
-- from the termination records and a query, never sent again.
CREATE TABLE bulk_jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('terminate', 'lookup')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'canceled')),
    sub_mchid   TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    live        INTEGER NOT NULL DEFAULT 0,
    user_id     INTEGER REFERENCES users (id),
    username    TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    total       INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    canceled_by TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX bulk_jobs_status ON bulk_jobs (status, id);
-- One offboarding at a time per sub-merchant.
CREATE UNIQUE INDEX bulk_jobs_one_offboarding ON bulk_jobs (sub_mchid) WHERE kind = 'terminate' AND status = 'running';

CREATE TABLE bulk_items (
    id                 INTEGER PRIMARY KEY,
    job_id             INTEGER NOT NULL REFERENCES bulk_jobs (id),
    seq                INTEGER NOT NULL,
    authorization_code TEXT NOT NULL,
    sub_mchid          TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL CHECK (status IN ('queued', 'calling', 'done', 'canceled')),
    -- terminate: succeeded, failed, pending, skipped; lookup: ok, error, unknown
    outcome            TEXT NOT NULL DEFAULT '',
    local_state        TEXT NOT NULL DEFAULT '',
    local_checked_at   TEXT,
    state              TEXT NOT NULL DEFAULT '',
    request_id         TEXT NOT NULL DEFAULT '',
    error_code         TEXT NOT NULL DEFAULT '',
    error_message      TEXT NOT NULL DEFAULT '',
    -- terminations recorded for the code when the item was marked calling:
    -- one more afterwards means its termination was begun.
    prior_terminations INTEGER NOT NULL DEFAULT 0,
    started_at         TEXT,
    finished_at        TEXT,
    UNIQUE (job_id, authorization_code),
    UNIQUE (job_id, seq)
) STRICT;
CREATE INDEX bulk_items_status ON bulk_items (job_id, status, seq);
