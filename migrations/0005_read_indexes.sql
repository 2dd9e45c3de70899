-- transactional: false
-- The indexes of the admin table's filters (enrichlog.read, docs/queries.md), so that a filtered
-- roots page is an ordered index scan with no Sort, on the first page as on page 1,000:
-- - by status (e.g. PARTIAL, FAILED: rare statuses would otherwise scan the roots index far);
-- - by entity, one per column the entity filter matches (entity, artist, album, track id),
--   merged by the planner (Merge Append) in page order.
-- All are partial on roots (about a tenth of the rows), so children's writes never touch them.
-- Built CONCURRENTLY, like 0004, so writers are never blocked; an interrupted build leaves an
-- INVALID index that `enrichlog migrate` reports (DROP INDEX CONCURRENTLY <name>, run again).

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_status_idx
    ON enrichment_logs (status, created_at DESC, id DESC) WHERE is_root_job;

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_entity_idx
    ON enrichment_logs (entity_id, created_at DESC, id DESC) WHERE is_root_job;

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_artist_idx
    ON enrichment_logs (artist_id, created_at DESC, id DESC) WHERE is_root_job AND artist_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_album_idx
    ON enrichment_logs (album_id, created_at DESC, id DESC) WHERE is_root_job AND album_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_roots_track_idx
    ON enrichment_logs (track_id, created_at DESC, id DESC) WHERE is_root_job AND track_id IS NOT NULL;
