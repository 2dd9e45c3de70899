-- transactional: false
-- The indexes of the projection and of its two reads, built CONCURRENTLY so that writers are never
-- blocked (each build scans the table twice; on a large table this takes a while, not a lock).
-- After the backfill (0003) on purpose: the backfill does not have to maintain them.
-- CONCURRENTLY cannot run in a transaction block, hence the directive above. If a build is
-- interrupted it leaves an INVALID index; `enrichlog migrate` detects that and says which index to
-- drop (DROP INDEX CONCURRENTLY <name>) before running again.

-- One projected row per job. Legacy rows (fold_state IS NULL) may share job_ids or have none.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_projected_job_key
    ON enrichment_logs (job_id) WHERE fold_state IS NOT NULL;

-- The admin table: roots, newest first (keyset on created_at, id).
CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_idx
    ON enrichment_logs (created_at DESC, id DESC) WHERE is_root_job;

-- The timeline: a root's children in start order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_children_idx
    ON enrichment_logs (parent_job_id, created_at, id) WHERE parent_job_id IS NOT NULL;

-- Stuck roots: still running, no event for a while.
CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_running_roots_idx
    ON enrichment_logs (last_event_at) WHERE is_root_job AND job_status IN ('PENDING', 'IN_PROGRESS');
