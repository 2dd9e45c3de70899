"""The projector's SQL, as named constants. Parameters are always bound."""

from __future__ import annotations

from psycopg import sql

from projector.rows import COLUMNS, STATE_COLUMNS

# Creates the batch's position rows when missing and locks them (DO UPDATE takes the row lock) until
# commit, returning where each partition stands: one round trip.
CLAIM_POSITIONS = """
INSERT INTO enrichment_log_positions AS p (consumer, topic, partition, next_offset)
SELECT %(consumer)s, %(topic)s, n, 0 FROM unnest(%(partitions)s::int[]) AS n
ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = p.next_offset
RETURNING partition, next_offset
"""

ADVANCE_POSITIONS = """
UPDATE enrichment_log_positions AS p
   SET next_offset = GREATEST(p.next_offset, n.next_offset), updated_at = now()
  FROM unnest(%(partitions)s::int[], %(offsets)s::bigint[]) AS n(partition, next_offset)
 WHERE p.consumer = %(consumer)s AND p.topic = %(topic)s AND p.partition = n.partition
"""

SELECT_STATES = sql.SQL("""
SELECT {} FROM enrichment_logs
 WHERE fold_state IS NOT NULL AND job_id = ANY(%(job_ids)s::text[])
""").format(sql.SQL(", ").join(sql.Identifier(c) for c in STATE_COLUMNS))

# The staging table lives as long as the session; ON COMMIT DELETE ROWS empties it per batch.
# Each staged row is one JSON document (column name -> value): PostgreSQL turns it into a typed
# row (json_populate_record, in C), which is much cheaper than adapting 36 values per row in Python.
# `json`, not `jsonb`: COPY then only checks the text, and the one parse is json_populate_record's
# (bench: about 10 µs less per event than building a jsonb value first).
CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS enrichment_logs_stage (doc json NOT NULL) ON COMMIT DELETE ROWS
"""

COPY_STAGE = "COPY enrichment_logs_stage (doc) FROM STDIN"

# Everything but failed_children is the fold's; status keeps PARTIAL for a root with failed
# children (the same rule as projector.fold.display_status).
_UPDATED = [c for c in COLUMNS if c not in ("id", "job_id", "failed_children", "status")]
# failed_children is REFRESH_ROOTS' (a row that became a child keeps none).
UPSERT_FROM_STAGE = sql.SQL(
    """
INSERT INTO enrichment_logs AS l ({cols})
SELECT {rcols} FROM enrichment_logs_stage AS s, json_populate_record(NULL::enrichment_logs, s.doc) AS r
ON CONFLICT (job_id) WHERE fold_state IS NOT NULL DO UPDATE SET
    {updates},
    failed_children = CASE WHEN EXCLUDED.is_root_job THEN l.failed_children ELSE 0 END,
    status = CASE WHEN EXCLUDED.is_root_job AND l.failed_children > 0 AND EXCLUDED.job_status <> 'FAILED'
                  THEN 'PARTIAL'::enrichment_status ELSE EXCLUDED.job_status END
"""
).format(
    cols=sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS),
    rcols=sql.SQL(", ").join(sql.Identifier("r", c) for c in COLUMNS),
    updates=sql.SQL(",\n    ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in _UPDATED
    ),
)

# Roots whose children changed: recount permanently failed children and re-derive PARTIAL.
REFRESH_ROOTS = """
UPDATE enrichment_logs AS r
   SET failed_children = c.failed,
       status = CASE WHEN c.failed > 0 AND r.job_status <> 'FAILED'
                     THEN 'PARTIAL'::enrichment_status ELSE r.job_status END
  FROM (
        SELECT root.job_id,
               (SELECT count(*) FROM enrichment_logs ch
                 WHERE ch.parent_job_id = root.job_id
                   AND ch.fold_state IS NOT NULL AND ch.job_status = 'FAILED')::int AS failed
          FROM unnest(%(roots)s::text[]) AS root(job_id)
       ) AS c
 WHERE r.job_id = c.job_id AND r.fold_state IS NOT NULL AND r.is_root_job
   AND (r.failed_children <> c.failed
        OR r.status IS DISTINCT FROM (CASE WHEN c.failed > 0 AND r.job_status <> 'FAILED'
                                           THEN 'PARTIAL'::enrichment_status ELSE r.job_status END))
"""
