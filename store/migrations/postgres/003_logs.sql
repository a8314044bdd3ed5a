-- PostgreSQL mirror of ../003_logs.sql.
CREATE INDEX callbacks_sub_mchid ON callbacks (sub_mchid, id);
CREATE INDEX callbacks_openid ON callbacks (openid, id);
CREATE INDEX callbacks_sub_openid ON callbacks (sub_openid, id);
CREATE INDEX callbacks_stale ON callbacks (id) WHERE applied = 0;
CREATE INDEX callbacks_duplicate ON callbacks (id) WHERE deliveries > 1;

CREATE INDEX callback_refusals_notification ON callback_refusals (notification_id, id);
CREATE INDEX callback_refusals_received ON callback_refusals (received_at);

CREATE INDEX terminations_created ON terminations (created_at);
CREATE INDEX links_token_expires ON links (token_expires_at);

CREATE INDEX audit_log_username ON audit_log (username, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- authorization_counts is kept by triggers (plpgsql here) in the same
-- transaction as every change to authorizations.
CREATE TABLE authorization_counts (
    state TEXT PRIMARY KEY,
    n     BIGINT NOT NULL
);
INSERT INTO authorization_counts (state, n) VALUES ('AVAILABLE', 0), ('UNAVAILABLE', 0), ('UNBINDUSER', 0);
UPDATE authorization_counts SET n = (SELECT count(*) FROM authorizations a WHERE a.state = authorization_counts.state);

-- A state change updates its two count rows in a fixed order (by state),
-- so two transactions never take them in opposite orders.
CREATE FUNCTION authorization_counts_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
    ELSIF OLD.state < NEW.state THEN
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
    ELSE
        UPDATE authorization_counts SET n = n + 1 WHERE state = NEW.state;
        UPDATE authorization_counts SET n = n - 1 WHERE state = OLD.state;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER authorization_counts_insert AFTER INSERT ON authorizations
    FOR EACH ROW EXECUTE FUNCTION authorization_counts_change();
CREATE TRIGGER authorization_counts_update AFTER UPDATE OF state ON authorizations
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION authorization_counts_change();
CREATE TRIGGER authorization_counts_delete AFTER DELETE ON authorizations
    FOR EACH ROW EXECUTE FUNCTION authorization_counts_change();
