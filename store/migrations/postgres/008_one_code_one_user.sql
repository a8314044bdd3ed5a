-- PostgreSQL mirror of ../008_one_code_one_user.sql.
ALTER TABLE links ADD COLUMN renewed_from BIGINT REFERENCES links (id);
CREATE UNIQUE INDEX links_renewed_from ON links (renewed_from) WHERE renewed_from IS NOT NULL;

CREATE TABLE code_reservations (
    authorization_code TEXT PRIMARY KEY,
    reserved_at        TEXT NOT NULL
);
