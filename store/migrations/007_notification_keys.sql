-- Which key signed the notifications: verified deliveries counted per
-- Wechatpay-Serial (PUB_KEY_ID_… or a platform certificate serial) and UTC
-- hour, so that the overview shows the last 24 hours from a few rows per
-- key however busy the day. Filled from the deliveries kept so far.
CREATE TABLE notification_keys (
    serial           TEXT NOT NULL,
    hour             TEXT NOT NULL,  -- UTC, 'YYYY-MM-DDTHH'
    deliveries       INTEGER NOT NULL,
    last_received_at TEXT NOT NULL,
    PRIMARY KEY (serial, hour)
) STRICT, WITHOUT ROWID;

INSERT INTO notification_keys (serial, hour, deliveries, last_received_at)
    SELECT serial, substr(received_at, 1, 13), count(*), max(received_at)
    FROM callback_deliveries GROUP BY serial, substr(received_at, 1, 13);
