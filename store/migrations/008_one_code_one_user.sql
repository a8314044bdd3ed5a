-- One authorization_code, one user: a code a user agreed to is never
-- pre-authorized again. Renewing such a link issues a new code in a new link
-- that points back to the one it replaces (at most one replacement each).
ALTER TABLE links ADD COLUMN renewed_from INTEGER REFERENCES links (id);
CREATE UNIQUE INDEX links_renewed_from ON links (renewed_from) WHERE renewed_from IS NOT NULL;

-- A code typed or generated for a new link is reserved here before WeChat
-- Pay is called, so that concurrent submits of one code make one call; the
-- reservation ends with the link's creation or the call's failure (or goes
-- stale after a crash).
CREATE TABLE code_reservations (
    authorization_code TEXT PRIMARY KEY,
    reserved_at        TEXT NOT NULL
) STRICT;
