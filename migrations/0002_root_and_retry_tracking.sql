-- Job linking and retry tracking: is_root_job, the projector's columns, the consumed positions.
-- One short transaction: ADD COLUMN with a constant default only changes the catalog (no table
-- rewrite), so the ACCESS EXCLUSIVE lock is held for milliseconds. lock_timeout keeps it from
-- queueing behind a long transaction and stalling every writer behind it. The indexes come in
-- 0004, built CONCURRENTLY after the backfill.
SET LOCAL lock_timeout = '10s';

ALTER TYPE enrichment_status ADD VALUE IF NOT EXISTS 'PARTIAL';

ALTER TABLE enrichment_logs
    ADD COLUMN is_root_job     boolean NOT NULL DEFAULT false,
    ADD COLUMN job_status      enrichment_status,
    ADD COLUMN attempt         integer,
    ADD COLUMN last_error      text,
    ADD COLUMN last_error_code varchar(50),
    ADD COLUMN last_error_kind varchar(20),
    ADD COLUMN attempts        jsonb,
    ADD COLUMN started_at      timestamptz,
    ADD COLUMN finished_at     timestamptz,
    ADD COLUMN last_event_at   timestamptz,
    ADD COLUMN failed_children integer NOT NULL DEFAULT 0,
    ADD COLUMN fold_state      jsonb;

COMMENT ON COLUMN enrichment_logs.is_root_job IS
    'true for a job without a parent (and for legacy rows, after backfill 0003)';
COMMENT ON COLUMN enrichment_logs.status IS
    'what the table shows: the job''s own status, or PARTIAL for a root with a permanently failed child';
COMMENT ON COLUMN enrichment_logs.job_status IS 'the job''s own latest status from its events';
COMMENT ON COLUMN enrichment_logs.attempts IS 'bounded attempt history: attempt, start, duration, error';
COMMENT ON COLUMN enrichment_logs.fold_state IS
    'projector state of the row (null for legacy rows); internal, versioned';

-- Consumed Kafka positions, written in the same transaction as the rows they produced.
CREATE TABLE enrichment_log_positions (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL CHECK (partition >= 0),
    next_offset bigint  NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
