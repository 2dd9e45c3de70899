-- transactional: false
-- The indexes of the roots page's two filters on children (enrichlog.read, docs/queries.md):
-- - failing=<operation>: roots with a child of that job type whose status is FAILED;
-- - error_kind=<kind>: roots with a child whose last error is of that kind.
-- Each filter is an EXISTS probe per root, which these make an index-only scan of a small partial
-- index (failed children, children that ever failed an attempt), keyed by what the filter names and
-- then the root the child points at; they also let the planner start from the children when few
-- match. Roots and successful children are not in them, so most writes never touch them.
-- Built CONCURRENTLY like 0004, 0005 and 0007 (writers never wait); an interrupted build leaves an
-- INVALID index that `enrichlog migrate` reports (DROP INDEX CONCURRENTLY <name>, then run again).

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_failed_by_operation_idx
    ON enrichment_logs (operation, parent_job_id) WHERE status = 'FAILED' AND parent_job_id IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS enrichment_logs_children_by_error_kind_idx
    ON enrichment_logs (last_error_kind, parent_job_id)
    WHERE last_error_kind IS NOT NULL AND parent_job_id IS NOT NULL;

-- How often each job type fails, for the planner: without it the estimate of `operation = X AND
-- status = 'FAILED'` multiplies the two columns' frequencies, which underestimates the failed
-- children of a job type that often fails; the planner then starts from all of them and sorts their
-- roots instead of scanning the roots in page order and stopping after a page. ANALYZE fills it in
-- now (a sample of the table, not a scan) rather than at the next autovacuum.
CREATE STATISTICS IF NOT EXISTS enrichment_logs_operation_status_stats (mcv) ON operation, status
    FROM enrichment_logs;

ANALYZE enrichment_logs (operation, status);
