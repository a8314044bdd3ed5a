-- The customer's path (issue 14): auto-renewal of a link's token when its
-- landing page is opened, the conversion funnel per link, and day counts for
-- the overview's charts.

-- auto_renew: an expired token is renewed when the landing page is opened
-- (on unless an operator switched it off). auto_renewed_at is the last such
-- renewal, kept here so the one-per-minute limit holds across instances.
ALTER TABLE links ADD COLUMN auto_renew INTEGER NOT NULL DEFAULT 1;
ALTER TABLE links ADD COLUMN auto_renewed_at TEXT;

-- Funnel counts per link and step: counts only, no personal data.
CREATE TABLE link_funnel (
    link_id INTEGER NOT NULL REFERENCES links (id),
    step    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (link_id, step)
) STRICT, WITHOUT ROWID;

-- Who was counted in the last minute, so that repeated opens count once:
-- visitor is a keyed hash (the address and browser never stored), and rows
-- older than a few minutes are deleted as new ones arrive.
CREATE TABLE funnel_seen (
    link_id INTEGER NOT NULL,
    step    TEXT NOT NULL,
    visitor TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (link_id, step, visitor)
) STRICT, WITHOUT ROWID;
CREATE INDEX funnel_seen_at ON funnel_seen (seen_at);

-- Day counts (Beijing days) per sub-merchant and metric, kept by triggers in
-- the same transaction as the rows they count, so that the 30-day charts read
-- a few hundred rows however large the logs grow. Metrics:
--   notify.PAYSCORE.USER_OPEN_SERVICE / …USER_CLOSE_SERVICE  notifications stored
--   refused                  refused notification attempts (sub_mchid '')
--   terminate.succeeded / terminate.failed
--   link.created             links created
--   funnel.<step>            funnel steps (link_funnel's, by day)
CREATE TABLE daily_counts (
    day       TEXT NOT NULL,
    sub_mchid TEXT NOT NULL,
    metric    TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (day, sub_mchid, metric)
) STRICT, WITHOUT ROWID;
CREATE INDEX daily_counts_sub ON daily_counts (sub_mchid, day);

CREATE TRIGGER daily_callbacks AFTER INSERT ON callbacks
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(NEW.first_received_at, '+8 hours'), NEW.sub_mchid, 'notify.' || NEW.event_type, 1)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER daily_refusals AFTER INSERT ON callback_refusals
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(NEW.received_at, '+8 hours'), '', 'refused', 1)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER daily_terminations_insert AFTER INSERT ON terminations WHEN NEW.status IN ('succeeded', 'failed')
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(coalesce(NEW.finished_at, NEW.created_at), '+8 hours'), NEW.sub_mchid, 'terminate.' || NEW.status, 1)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER daily_terminations_update AFTER UPDATE OF status ON terminations
WHEN NEW.status IN ('succeeded', 'failed') AND OLD.status <> NEW.status
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(coalesce(NEW.finished_at, NEW.created_at), '+8 hours'), NEW.sub_mchid, 'terminate.' || NEW.status, 1)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER daily_links AFTER INSERT ON links
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(NEW.created_at, '+8 hours'), (SELECT sub_mchid FROM sub_merchants WHERE id = NEW.sub_merchant_id), 'link.created', 1)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + 1;
END;

-- What happened before this migration. (WHERE true: an INSERT … SELECT with
-- an upsert clause needs one to parse.)
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT date(first_received_at, '+8 hours'), sub_mchid, 'notify.' || event_type, count(*) FROM callbacks WHERE true
GROUP BY 1, 2, 3 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT date(received_at, '+8 hours'), '', 'refused', count(*) FROM callback_refusals WHERE true
GROUP BY 1 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT date(coalesce(finished_at, created_at), '+8 hours'), sub_mchid, 'terminate.' || status, count(*) FROM terminations
WHERE status IN ('succeeded', 'failed')
GROUP BY 1, 2, 3 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
INSERT INTO daily_counts (day, sub_mchid, metric, n)
SELECT date(l.created_at, '+8 hours'), m.sub_mchid, 'link.created', count(*) FROM links l JOIN sub_merchants m ON m.id = l.sub_merchant_id WHERE true
GROUP BY 1, 2 ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
