-- PostgreSQL mirror of ../004_link_sub_appid.sql.
ALTER TABLE links ADD COLUMN sub_appid TEXT NOT NULL DEFAULT '';
UPDATE links SET sub_appid = (SELECT m.sub_appid FROM sub_merchants m WHERE m.id = links.sub_merchant_id);
