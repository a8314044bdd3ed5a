-- Sign-in failures are counted per username AND client address: guesses
-- from one address never lock the account for the others. locks counts the
-- lockouts in a row (each lasts twice the one before); forget_at is when the
-- row stops meaning anything, so old rows are pruned by one index range.
-- pending counts attempts whose password is being checked right now.
DROP TABLE login_attempts;
CREATE TABLE login_attempts (
    username      TEXT NOT NULL,
    ip            TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    pending       INTEGER NOT NULL DEFAULT 0,
    window_start  TEXT NOT NULL,
    locked_until  TEXT,
    locks         INTEGER NOT NULL DEFAULT 0,
    forget_at     TEXT NOT NULL,
    PRIMARY KEY (username, ip)
) STRICT;
CREATE INDEX login_attempts_forget ON login_attempts (forget_at);

-- Refused notification attempts are aggregated: the same reason from the
-- same address within one minute is one row with a count and the first and
-- last time (received_at, last_at). A refusal that passed the signature
-- check (it names a notification id WeChat Pay signed) keeps a row per id.
-- Rows are kept by age (last_at, REFUSAL_RETENTION).
ALTER TABLE callback_refusals ADD COLUMN last_at TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE callback_refusals ADD COLUMN minute TEXT NOT NULL DEFAULT '';
ALTER TABLE callback_refusals ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
UPDATE callback_refusals SET last_at = received_at, minute = substr(received_at, 1, 16), key_id = CAST(id AS TEXT);
CREATE UNIQUE INDEX callback_refusals_key ON callback_refusals (minute, reason, remote_addr, key_id);
CREATE INDEX callback_refusals_last ON callback_refusals (last_at);

-- The /links created_by filter offers only the users who created links:
-- found per user through this index, not by reading every link.
CREATE INDEX links_created_by ON links (created_by, id);

-- The refusals' day counts (009) count attempts, not rows: an aggregated
-- row's insert adds its count, and each count-up adds the difference (a
-- row's minute lies within one day).
DROP TRIGGER daily_refusals;
CREATE TRIGGER daily_refusals AFTER INSERT ON callback_refusals
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(NEW.received_at, '+8 hours'), '', 'refused', NEW.count)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER daily_refusals_count AFTER UPDATE OF count ON callback_refusals
WHEN NEW.count > OLD.count
BEGIN
    INSERT INTO daily_counts (day, sub_mchid, metric, n)
    VALUES (date(NEW.received_at, '+8 hours'), '', 'refused', NEW.count - OLD.count)
    ON CONFLICT (day, sub_mchid, metric) DO UPDATE SET n = n + excluded.n;
END;
