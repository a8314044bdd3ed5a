-- A link whose reconciliation query failed is tried again later, with a
-- growing delay, instead of at the head of every run (where a hundred
-- failing links would keep all others waiting).
ALTER TABLE links ADD COLUMN reconcile_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN reconcile_after TEXT;
