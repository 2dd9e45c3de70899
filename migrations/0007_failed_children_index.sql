-- transactional: false
-- The permanently failed children of each root, for the projector's recount of a root's failed
-- children (projector.sql.REFRESH_ROOTS) and for "which children of this root failed". Partial: only
-- projected rows whose own status is FAILED, a few percent of the rows, so the index is small and a
-- root without failed children is counted by one probe, without visiting its children's rows.
-- Built CONCURRENTLY like 0004 and 0005 (writers never wait); an interrupted build leaves an INVALID
-- index that `enrichlog migrate` reports (DROP INDEX CONCURRENTLY <name>, then run again).

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_failed_children_idx
    ON enrichment_logs (parent_job_id) WHERE job_status = 'FAILED' AND fold_state IS NOT NULL;
