-- A link remembers the sub_appid it was pre-authorized with: renewing must
-- send the very same parameters, even if the sub-merchant's sub_appid was
-- edited since (WeChat Pay refuses a reused code with other parameters).
ALTER TABLE links ADD COLUMN sub_appid TEXT NOT NULL DEFAULT '';
UPDATE links SET sub_appid = (SELECT m.sub_appid FROM sub_merchants m WHERE m.id = links.sub_merchant_id);
