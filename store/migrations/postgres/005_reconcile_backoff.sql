-- PostgreSQL mirror of ../005_reconcile_backoff.sql.
ALTER TABLE links ADD COLUMN reconcile_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE links ADD COLUMN reconcile_after TEXT;
