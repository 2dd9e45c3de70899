"""The projector's SQL, as named constants. Parameters are always bound."""

from __future__ import annotations

from psycopg import sql

from projector.columns import Update
from projector.fold import FAILED, PARTIAL
from projector.pgcopy import COPY_COLUMNS
from projector.rows import PROJECTED, STATE_COLUMNS, STORE_COLUMNS

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

# The stored states of a batch's jobs: the job id, STATE_COLUMNS (projector.rows.state_of_row reads
# them), then the row's version (fold_seq, 0 for none).
# (Composed queries are rendered once, here: psycopg would render them again on every execute.)
SELECT_STATES = sql.SQL("""
SELECT job_id, {}, coalesce(fold_seq, 0) FROM enrichment_logs
 WHERE fold_state IS NOT NULL AND job_id = ANY(%(job_ids)s::text[])
""").format(sql.SQL(", ").join(sql.Identifier(c) for c in STATE_COLUMNS)).as_string(None)

# Where partitions stand, without locking (the read-ahead; the write transaction checks them again).
READ_POSITIONS = """
SELECT partition, next_offset FROM enrichment_log_positions
 WHERE consumer = %(consumer)s AND topic = %(topic)s AND partition = ANY(%(partitions)s::int[])
"""

# The batch's rows arrive by COPY in PostgreSQL's binary form (projector.pgcopy: no parsing but the
# JSON columns'), in COPY_COLUMNS order: those of jobs without a stored row straight into the table,
# the others into the writer connection's staging table (a temporary table, emptied at each commit),
# from which they are upserted.
_COPY_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS)
STAGE = "enrichment_log_stage"
CREATE_STAGE = sql.SQL(
    "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM enrichment_logs "
    "WITH NO DATA"
).format(stage=sql.Identifier(STAGE), cols=_COPY_COLUMNS).as_string(None)
COPY_NEW_ROWS = sql.SQL("COPY enrichment_logs ({cols}) FROM STDIN (FORMAT BINARY)").format(
    cols=_COPY_COLUMNS).as_string(None)
COPY_STAGE = sql.SQL("COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)").format(
    stage=sql.Identifier(STAGE), cols=_COPY_COLUMNS).as_string(None)


def display_status(root: str, failed_children: str, own_status: str) -> sql.Composed:
    """The PARTIAL rule in SQL, as projector.fold.display_status states it in Python: a root with a
    permanently failed child shows PARTIAL unless it failed itself. The arguments are SQL
    expressions of the row's is_root_job, failed_children and job_status. The children counted are
    those REFRESH_ROOTS counts (projector.fold.failed_permanently: job_status FAILED)."""
    return sql.SQL(
        "CASE WHEN {root} AND {failed} > 0 AND {own} <> {failed_status} THEN {partial}::enrichment_status "
        "ELSE {own} END"
    ).format(root=sql.SQL(root), failed=sql.SQL(failed_children), own=sql.SQL(own_status),
             failed_status=sql.Literal(FAILED), partial=sql.Literal(PARTIAL))


# What an update of a stored row sets each column to (projector.columns.Update); the columns derived
# in SQL: failed_children is REFRESH_ROOTS' (a root keeps its stored count, a row that became a child
# keeps none), status follows it by the PARTIAL rule.
_DERIVED = {
    "failed_children": sql.SQL("CASE WHEN EXCLUDED.is_root_job THEN l.failed_children ELSE 0 END"),
    "status": display_status("EXCLUDED.is_root_job", "l.failed_children", "EXCLUDED.job_status"),
}


def _update(column: str, rule: Update) -> sql.Composable | None:
    c = sql.Identifier(column)
    if rule is Update.NEW:
        return sql.SQL("{c} = EXCLUDED.{c}").format(c=c)
    if rule is Update.FIRST:  # e.g. source_topic: a row of none (projected before 0008) takes the batch's
        return sql.SQL("{c} = coalesce(l.{c}, EXCLUDED.{c})").format(c=c)
    if rule is Update.DERIVED:
        return sql.SQL("{c} = {rule}").format(c=c, rule=_DERIVED[column])
    return None  # KEPT


_WRITTEN = (*PROJECTED, *STORE_COLUMNS)
if {c.name for c in _WRITTEN if c.update is Update.DERIVED} != _DERIVED.keys():
    raise RuntimeError(f"projector.sql derives {sorted(_DERIVED)}: the columns declared DERIVED must be those")
_UPDATES = [u for u in (_update(c.name, c.update) for c in _WRITTEN) if u is not None]
# Each staged row carries the version it makes (fold_seq): a row is only updated from the version it
# was folded from, so a row written meanwhile by someone else is left alone, and the row count
# (inserted + updated) falls short of the staged rows: the caller then rolls the batch back.
UPSERT_STAGED = sql.SQL(
    """
INSERT INTO enrichment_logs AS l ({cols})
SELECT {cols} FROM {stage}
ON CONFLICT (job_id) WHERE fold_state IS NOT NULL DO UPDATE SET
    {updates}
WHERE coalesce(l.fold_seq, 0) = EXCLUDED.fold_seq - 1
"""
).format(
    cols=_COPY_COLUMNS,
    stage=sql.Identifier(STAGE),
    updates=sql.SQL(",\n    ").join(_UPDATES),
).as_string(None)

# Roots whose children changed: recount permanently failed children and re-derive PARTIAL.
# Driven by the roots' own index (the projected job_id key) and counted on the failed-children
# index (0007, whose predicate the count repeats), so the cost follows the roots given, never the
# table's size: a join of the roots to the table (the first form of this query) let the planner
# hash the whole table on every batch. The CTE is MATERIALIZED so that each root is counted once,
# and only the roots whose count or status differ are updated (most are not: the upsert already
# wrote the count the batch knew of).
_RECOUNTED_STATUS = display_status("c.is_root_job", "c.failed", "c.job_status")
REFRESH_ROOTS = sql.SQL("""
WITH c AS MATERIALIZED (
    SELECT r.id, r.is_root_job, r.job_status, r.failed_children, r.status,
           (SELECT count(*) FROM enrichment_logs ch
             WHERE ch.parent_job_id = r.job_id
               AND ch.job_status = {failed_status} AND ch.fold_state IS NOT NULL)::int AS failed
      FROM enrichment_logs r
     WHERE r.job_id = ANY(%(roots)s::text[]) AND r.fold_state IS NOT NULL AND r.is_root_job
)
UPDATE enrichment_logs AS r
   SET failed_children = c.failed,
       status = {status}
  FROM c
 WHERE r.id = c.id
   AND (c.failed_children <> c.failed OR c.status IS DISTINCT FROM ({status}))
""").format(status=_RECOUNTED_STATUS, failed_status=sql.Literal(FAILED)).as_string(None)
