-- transactional: false
-- Backfill: every row written before job linking is a root (seed: "show legacy logs as roots"),
-- except a legacy row whose parent_job_id names a job present in the table: that one is already a
-- child in its parent's timeline. An orphan (its parent is gone) becomes a root, so no row hides.
--
-- Batches of 2,000 rows in primary key order, each committed on its own, so that row locks are
-- held for one short batch only and a concurrent writer never waits long. Re-runnable: it only
-- touches legacy rows (fold_state IS NULL) that are not roots yet. Runs outside a transaction
-- block (directive above), which lets the DO block COMMIT between batches.
DO $backfill$
DECLARE
    last_id uuid := '00000000-0000-0000-0000-000000000000';
    batch_last uuid;
BEGIN
    LOOP
        SELECT batch.id INTO batch_last FROM (
            SELECT id FROM enrichment_logs WHERE id > last_id ORDER BY id LIMIT 2000
        ) AS batch ORDER BY batch.id DESC LIMIT 1;
        EXIT WHEN batch_last IS NULL;

        UPDATE enrichment_logs AS l
           SET is_root_job = true
         WHERE l.id > last_id AND l.id <= batch_last
           AND NOT l.is_root_job
           AND l.fold_state IS NULL
           AND (l.parent_job_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM enrichment_logs p WHERE p.job_id = l.parent_job_id));

        last_id := batch_last;
        COMMIT;
    END LOOP;
END
$backfill$;
