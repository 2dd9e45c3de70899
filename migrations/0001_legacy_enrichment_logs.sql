-- The enrichment_logs table as it existed before job linking (see shared DOMAIN.md).
-- On a database that already has this table the runner does not run this file: it checks the
-- table's shape and records 0001 as applied (baseline), or stops with the missing columns.
CREATE TYPE enrichment_entity_type AS ENUM ('ARTIST', 'ALBUM', 'TRACK');

CREATE TYPE enrichment_status AS ENUM (
    'PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'SUCCESS', 'PARTIAL_SUCCESS',
    'NO_DATA_AVAILABLE', 'SKIPPED', 'PREVIEW'
);

CREATE TYPE data_quality AS ENUM ('LOW', 'MEDIUM', 'HIGH');

CREATE TABLE enrichment_logs (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    entity_type         enrichment_entity_type NOT NULL,
    entity_id           uuid NOT NULL,
    artist_id           uuid,
    album_id            uuid,
    track_id            uuid,
    operation           varchar(100) NOT NULL,
    sources             text[] NOT NULL DEFAULT '{}',
    status              enrichment_status NOT NULL,
    reason              text,
    fields_enriched     text[] NOT NULL DEFAULT '{}',
    data_quality_before data_quality,
    data_quality_after  data_quality,
    error_message       text,
    error_code          varchar(50),
    retry_count         integer NOT NULL DEFAULT 0,
    duration_ms         integer,
    api_call_count      integer NOT NULL DEFAULT 0,
    metadata            jsonb,
    preview_data        jsonb,
    job_id              varchar(100),
    parent_job_id       varchar(100),
    triggered_by        varchar(50),
    user_id             uuid,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX enrichment_logs_entity_idx ON enrichment_logs (entity_type, entity_id);
CREATE INDEX enrichment_logs_status_created_idx ON enrichment_logs (status, created_at);
CREATE INDEX enrichment_logs_operation_idx ON enrichment_logs (operation);
CREATE INDEX enrichment_logs_parent_job_id_idx ON enrichment_logs (parent_job_id);
CREATE INDEX enrichment_logs_job_id_idx ON enrichment_logs (job_id);
CREATE INDEX enrichment_logs_created_at_idx ON enrichment_logs (created_at);
CREATE INDEX enrichment_logs_artist_id_idx ON enrichment_logs (artist_id);
CREATE INDEX enrichment_logs_album_id_idx ON enrichment_logs (album_id);
CREATE INDEX enrichment_logs_track_id_idx ON enrichment_logs (track_id);
