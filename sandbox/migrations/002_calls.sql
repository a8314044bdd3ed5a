-- Every verified API call that reached the simulated WeChat Pay, logged on
-- arrival, before it is handled: "did this call reach WeChat Pay?" has an
-- answer even when the caller never saw the reply.
CREATE TABLE sandbox_calls (
    id                 INTEGER PRIMARY KEY,
    at                 TEXT NOT NULL,
    method             TEXT NOT NULL,
    path               TEXT NOT NULL,
    authorization_code TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sandbox_calls_code ON sandbox_calls (authorization_code, id);
