-- The topic each projected row was folded from, so that a rebuild of one topic replaces that
-- topic's rows and nothing else when several topics (consumer groups) share the table.
-- The projector sets it when it inserts a row and keeps the first one recorded (an update only
-- fills it in where it is NULL: rows written before this migration are adopted as they are
-- updated, and by the rebuild of the topic that holds their job's events).
-- Nullable, no default: adding it changes only the catalog (no table rewrite); lock_timeout keeps
-- the short ACCESS EXCLUSIVE lock from queueing behind a long transaction. No index: a rebuild
-- reads every projected row anyway, and the projector's writes do not pay for one.
SET LOCAL lock_timeout = '10s';

ALTER TABLE enrichment_logs ADD COLUMN IF NOT EXISTS source_topic text;

COMMENT ON COLUMN enrichment_logs.source_topic IS
    'the Kafka topic the projector folded the row from (null for legacy rows and rows projected before 0008)';
