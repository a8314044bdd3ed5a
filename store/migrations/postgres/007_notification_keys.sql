-- PostgreSQL mirror of ../007_notification_keys.sql.
CREATE TABLE notification_keys (
    serial           TEXT NOT NULL,
    hour             TEXT NOT NULL,  -- UTC, 'YYYY-MM-DDTHH'
    deliveries       BIGINT NOT NULL,
    last_received_at TEXT NOT NULL,
    PRIMARY KEY (serial, hour)
);

INSERT INTO notification_keys (serial, hour, deliveries, last_received_at)
    SELECT serial, substr(received_at, 1, 13), count(*), max(received_at)
    FROM callback_deliveries GROUP BY serial, substr(received_at, 1, 13);
