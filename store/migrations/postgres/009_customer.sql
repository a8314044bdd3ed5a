-- PostgreSQL mirror of ../009_customer.sql. SQLite's date(t, '+8 hours')
-- is beijing_day(t) here; the triggers are plpgsql.
CREATE FUNCTION beijing_day(t TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(substr(t, 1, 19)::timestamp + interval '8 hours', 'YYYY-MM-DD')
$$;

ALTER TABLE links ADD COLUMN auto_renew INTEGER NOT NULL DEFAULT 1;
ALTER TABLE links ADD COLUMN auto_renewed_at TEXT;

CREATE TABLE link_funnel (
    link_id BIGINT NOT NULL REFERENCES links (id),
    step    TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (link_id, step)
);

CREATE TABLE funnel_seen (
    link_id BIGINT NOT NULL,
    step    TEXT NOT NULL,
    visitor TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (link_id, step, visitor)
);
CREATE INDEX funnel_seen_at ON funnel_seen (seen_at);

CREATE TABLE daily_counts (
    day       TEXT NOT NULL,
    sub_mchid TEXT NOT NULL,
    metric    TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (day, sub_mchid, metric)
);
CREATE INDEX daily_counts_sub ON daily_counts (sub_mchid, day);

CREATE FUNCTION daily_count(d TEXT, sub TEXT, m TEXT, k BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO daily_counts (day, sub_mchid, metric, n) VALUES (d, sub, m, k)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n
$$;

CREATE FUNCTION daily_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_count(beijing_day(NEW.first_received_at), NEW.sub_mchid, 'notify.' || NEW.event_type, 1);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_callbacks AFTER INSERT ON callbacks FOR EACH ROW EXECUTE FUNCTION daily_callbacks();

CREATE FUNCTION daily_refusals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_count(beijing_day(NEW.received_at), '', 'refused', 1);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_refusals AFTER INSERT ON callback_refusals FOR EACH ROW EXECUTE FUNCTION daily_refusals();

CREATE FUNCTION daily_terminations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_count(beijing_day(coalesce(NEW.finished_at, NEW.created_at)), NEW.sub_mchid, 'terminate.' || NEW.status, 1);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_terminations_insert AFTER INSERT ON terminations
    FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed')) EXECUTE FUNCTION daily_terminations();
CREATE TRIGGER daily_terminations_update AFTER UPDATE OF status ON terminations
    FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed') AND OLD.status <> NEW.status) EXECUTE FUNCTION daily_terminations();

CREATE FUNCTION daily_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM daily_count(beijing_day(NEW.created_at), (SELECT sub_mchid FROM sub_merchants WHERE id = NEW.sub_merchant_id), 'link.created', 1);
    RETURN NULL;
END;
$$;
CREATE TRIGGER daily_links AFTER INSERT ON links FOR EACH ROW EXECUTE FUNCTION daily_links();

INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT beijing_day(first_received_at), sub_mchid, 'notify.' || event_type, count(*) FROM callbacks
GROUP BY 1, 2, 3 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT beijing_day(received_at), '', 'refused', count(*) FROM callback_refusals
GROUP BY 1 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT beijing_day(coalesce(finished_at, created_at)), sub_mchid, 'terminate.' || status, count(*) FROM terminations
WHERE status IN ('succeeded', 'failed')
GROUP BY 1, 2, 3 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT beijing_day(l.created_at), m.sub_mchid, 'link.created', count(*) FROM links l JOIN sub_merchants m ON m.id = l.sub_merchant_id
GROUP BY 1, 2 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = daily_counts.n + excluded.n;
