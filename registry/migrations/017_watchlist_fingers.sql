-- A national watchlist entry may carry fingers (issue 12): the registry's own records, sent by
-- no site, so they have neither site_id nor site_seq (registry/watchlist_fingers.py). A site's
-- record keeps both; a row has both or neither.
ALTER TABLE national_fingers ALTER COLUMN site_id DROP NOT NULL;
ALTER TABLE national_fingers ALTER COLUMN site_seq DROP NOT NULL;
ALTER TABLE national_fingers ADD CONSTRAINT national_fingers_sent_by_a_site_or_none
    CHECK ((site_id IS NULL) = (site_seq IS NULL));
