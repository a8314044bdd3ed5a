-- Several instances on one database (issue 11). A lease is a named right
-- held by one instance until its expiry; the holder renews it while it
-- works, and another instance may take it once it lapsed. Two kinds:
--   'worker'            the background work (start-up resolver of pending
--                       terminations, reconciler, bulk jobs): one instance
--                       at a time;
--   'instance:<id>'     each instance's heartbeat: an instance whose own
--                       lease lapsed is gone, and its pending terminations
--                       may be settled by whoever holds 'worker'.
-- Written with portable SQL only (INSERT … ON CONFLICT DO NOTHING, UPDATE
-- … WHERE expiry < now OR holder = me), the same on both engines.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    expiry   TEXT NOT NULL,
    renewed  TEXT NOT NULL,
    acquired TEXT NOT NULL
) STRICT;

-- The instance that began a termination: its pending termination is its
-- own request's to finish while that instance lives.
ALTER TABLE terminations ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
