-- Indexes for the callback log, the audit log and the overview, and a running
-- count of authorizations by state, so that no screen counts a large table.

-- Callback log filters. Each list reads newest first by id, so every index
-- ends in id: a filtered page is a short walk down one index.
CREATE INDEX callbacks_sub_mchid ON callbacks (sub_mchid, id);
CREATE INDEX callbacks_openid ON callbacks (openid, id);
CREATE INDEX callbacks_sub_openid ON callbacks (sub_openid, id);
-- Stale and duplicate notifications are rare: partial indexes find them
-- without walking the accepted ones (the queries repeat these WHERE terms
-- literally, as SQLite requires to use a partial index).
CREATE INDEX callbacks_stale ON callbacks (id) WHERE applied = 0;
CREATE INDEX callbacks_duplicate ON callbacks (id) WHERE deliveries > 1;

-- Refused attempts: by notification id (a callback's detail page) and by
-- time (the overview's last 24 hours).
CREATE INDEX callback_refusals_notification ON callback_refusals (notification_id, id);
CREATE INDEX callback_refusals_received ON callback_refusals (received_at);

-- Overview: terminations today, links whose token is still valid.
CREATE INDEX terminations_created ON terminations (created_at);
CREATE INDEX links_token_expires ON links (token_expires_at);

-- Audit log filters.
CREATE INDEX audit_log_username ON audit_log (username, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- authorization_counts is kept by triggers in the same transaction as every
-- change to authorizations: the overview reads one row instead of counting
-- every AVAILABLE authorization.
CREATE TABLE authorization_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) STRICT;
-- One row per state up front: the triggers then only UPDATE. (An INSERT OR
-- IGNORE in a trigger would take the outer upsert's conflict policy and fail.)
INSERT INTO authorization_counts (state, n) VALUES ('AVAILABLE', 0), ('UNAVAILABLE', 0), ('UNBINDUSER', 0);
UPDATE authorization_counts SET n = (SELECT count(*) FROM authorizations a WHERE a.state = authorization_counts.state);

CREATE TRIGGER authorization_counts_insert AFTER INSERT ON authorizations
BEGIN
    UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER authorization_counts_update AFTER UPDATE OF state ON authorizations
WHEN OLD.state IS NOT NEW.state
BEGIN
    UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER authorization_counts_delete AFTER DELETE ON authorizations
BEGIN
    UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
END;
