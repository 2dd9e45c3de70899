"""The read side's SQL, as named constants. Parameters are always bound; optional filters are
composed from the fragments below with `psycopg.sql`, so every executed statement is static SQL
whose plan is an ordered index scan (see docs/queries.md for the plans and the indexes).
"""

from __future__ import annotations

from psycopg import sql

# Display statuses a root can have (enrichment_status, PARTIAL included).
STATUSES: tuple[str, ...] = (
    "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SUCCESS", "PARTIAL_SUCCESS",
    "NO_DATA_AVAILABLE", "SKIPPED", "PREVIEW", "PARTIAL",
)

# Columns of a roots-page row (names are RootRow's fields). Children are counted per row of the
# page only (the SubPlans run above the LIMIT): an index-only probe of enrichment_logs_children_idx.
# A projected root's failed children are maintained by the projector (failed_children); a legacy
# root's are counted from its legacy children's status.
ROOT_COLUMNS = """
    r.id, r.job_id, r.operation, r.entity_type::text AS entity_type, r.entity_id,
    r.artist_id, r.album_id, r.track_id, r.status::text AS status, r.job_status::text AS job_status,
    r.created_at, r.started_at, r.finished_at, r.last_event_at, r.duration_ms, r.retry_count,
    coalesce(r.last_error, r.error_message) AS last_error,
    (SELECT count(*) FROM enrichment_logs c WHERE c.parent_job_id = r.job_id)::int AS children,
    CASE WHEN r.fold_state IS NOT NULL THEN r.failed_children
         ELSE (SELECT count(*) FROM enrichment_logs c
                WHERE c.parent_job_id = r.job_id AND c.status = 'FAILED')::int
    END AS failed_children,
    r.fold_state IS NULL AS legacy
"""

# {source} is ROOTS or entity_roots(), with {filters}: zero or more "AND ..." fragments.
ROOTS_PAGE = """
SELECT {columns}
  FROM {source} AS r
 ORDER BY r.created_at DESC, r.id DESC
 LIMIT %(limit)s
"""

# A simple subquery: the planner flattens it, the page is one ordered scan of the roots index.
ROOTS = """(
    SELECT * FROM enrichment_logs AS r WHERE r.is_root_job{filters}
)"""

# Roots that concern one entity, whichever of the four columns names it: one branch per column,
# each an ordered scan of its own partial index that stops after a page, merged in page order
# (the ORDER BY ... LIMIT inside each branch is what lets the planner merge ordered branches
# instead of sorting every row of a big entity). A branch skips rows an earlier one matched.
# The entity is one id (`= %(entity)s`) or the ids that start with a short id's hex digits, an
# inclusive range of uuids (`BETWEEN %(entity_lo)s AND %(entity_hi)s`): an index condition of the
# same indexes (a range is not in page order: each branch sorts the few roots of its prefix).
ENTITY_COLUMNS = ("entity_id", "artist_id", "album_id", "track_id")
ENTITY_BRANCH = """(SELECT * FROM enrichment_logs AS r
      WHERE r.is_root_job AND {match}{skip}{{filters}}
      ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s)"""
IS_ENTITY = "r.{column} = %(entity)s"
IN_ENTITY_RANGE = "r.{column} BETWEEN %(entity_lo)s AND %(entity_hi)s"


def entity_roots(*, by_range: bool) -> str:
    """The source of roots that concern one entity (or an id prefix), with a {filters} placeholder."""
    match = IN_ENTITY_RANGE if by_range else IS_ENTITY
    branches = []
    for i, column in enumerate(ENTITY_COLUMNS):
        earlier = ENTITY_COLUMNS[:i]
        skip = "".join(f"\n        AND (r.{c} IS NULL OR NOT {match.format(column=c)})" for c in earlier)
        branches.append(ENTITY_BRANCH.format(match=match.format(column=column), skip=skip))
    return "(\n    " + "\n    UNION ALL\n    ".join(branches) + "\n)"


# Keyset: the rows strictly after the cursor's row in (created_at DESC, id DESC) order.
AFTER_CURSOR = "\n   AND (r.created_at, r.id) < (%(cursor_at)s, %(cursor_id)s)"
WITH_STATUS = "\n   AND r.status = %(status)s::enrichment_status"
WITH_OPERATION = "\n   AND r.operation = %(operation)s"
SINCE = "\n   AND r.created_at >= %(since)s"
UNTIL = "\n   AND r.created_at < %(until)s"
# The entity type before a short id, as the table shows an entity: rows of other types are not it.
WITH_ENTITY_TYPE = "\n   AND r.entity_type = %(entity_type)s::enrichment_entity_type"
# Spelled like the predicate of enrichment_logs_running_roots_idx so that the planner can use it.
STUCK = ("\n   AND r.job_status IN ('PENDING', 'IN_PROGRESS')"
         "\n   AND r.last_event_at < now() - %(stuck_after)s::interval")
# Roots with a child of this job type that failed permanently, and roots with a child whose last
# error is of this kind: probes of the partial indexes of 0010 (failed children by operation,
# children by error kind), index-only, per root the scan visits.
FAILING = ("\n   AND EXISTS (SELECT 1 FROM enrichment_logs c WHERE c.parent_job_id = r.job_id"
           "\n               AND c.status = 'FAILED' AND c.operation = %(failing)s)")
WITH_ERROR_KIND = ("\n   AND EXISTS (SELECT 1 FROM enrichment_logs c WHERE c.parent_job_id = r.job_id"
                   "\n               AND c.last_error_kind = %(error_kind)s)")


# The roots per display status among the newest %(limit)s roots that the filters (but status) keep:
# one ordered scan that stops after them, so that it costs the same on any size of table. The
# filters on children ({children}: FAILING, WITH_ERROR_KIND) are counted within that window rather
# than narrowing it, so that a rare match does not make the scan read every root: `scanned` is the
# window's size, `roots` the roots in it that the child filters keep. The window's rows are grouped
# by the enum itself and only the groups' statuses made text: an enum's text is a catalog lookup.
STATUS_COUNTS = """
SELECT r.status::text AS status, count(*) FILTER (WHERE true{children})::int AS roots, count(*)::int AS scanned
  FROM (SELECT r.status, r.job_id FROM {source} AS r
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT %(limit)s) AS r
 GROUP BY r.status
"""
CHILD_FILTERS = (FAILING, WITH_ERROR_KIND)

# The same counts when no filter but status is given (the roots page as it opens, and its status
# links): the newest %(limit)s-th root (an index-only scan of enrichment_logs_roots_idx), then per
# status the roots from it on (index-only range scans of enrichment_logs_roots_status_idx), rather
# than the window's rows fetched from the table. With fewer roots than that, every root is counted.
COUNTS_EDGE = """
SELECT created_at, id FROM enrichment_logs WHERE is_root_job
 ORDER BY created_at DESC, id DESC OFFSET %(limit)s - 1 LIMIT 1
"""
BY_STATUS = """
SELECT s::text AS status, n AS roots, n AS scanned
  FROM unnest(enum_range(NULL::enrichment_status)) AS s,
       LATERAL (SELECT count(*)::int AS n FROM enrichment_logs AS r
                 WHERE r.is_root_job AND r.status = s{edge}) AS counted
"""
STATUS_COUNTS_ALL = BY_STATUS.format(edge="")
STATUS_COUNTS_FROM_EDGE = BY_STATUS.format(edge=" AND (r.created_at, r.id) >= (%(edge_at)s, %(edge_id)s)")


def _source(entity: str | None, filters: list[str]) -> sql.Composed:
    """ROOTS, or the entity's roots (`entity` "id" or "range"), with the given filter fragments."""
    text = ROOTS if entity is None else entity_roots(by_range=entity == "range")
    return sql.SQL(text).format(filters=sql.SQL("").join(sql.SQL(f) for f in filters))


def roots_page_query(*, entity: str | None, filters: list[str]) -> sql.Composed:
    """ROOTS_PAGE over ROOTS or the entity's roots with the given filter fragments (constants of this module)."""
    return sql.SQL(ROOTS_PAGE).format(columns=sql.SQL(ROOT_COLUMNS), source=_source(entity, filters))


def status_counts_query(*, entity: str | None, filters: list[str]) -> sql.Composed:
    """STATUS_COUNTS over the same source as a page's, the child filters applied within its window."""
    children = [f for f in filters if f in CHILD_FILTERS]
    source = _source(entity, [f for f in filters if f not in CHILD_FILTERS])
    return sql.SQL(STATUS_COUNTS).format(source=source, children=sql.SQL("").join(sql.SQL(f) for f in children))


# Find what a timeline ref names: a row id (uuid) or a job id. A projected row (one per job id)
# wins over legacy rows, which may share a job id.
RESOLVE_BY_ID = """
SELECT id, job_id, parent_job_id, is_root_job FROM enrichment_logs WHERE id = %(id)s
"""

RESOLVE_BY_JOB_ID = """
SELECT id, job_id, parent_job_id, is_root_job, fold_state IS NULL AS legacy
  FROM enrichment_logs
 WHERE job_id = %(job_id)s
 ORDER BY (fold_state IS NULL), created_at DESC, id
 LIMIT 50
"""

ROW_OF_JOB = """
SELECT id FROM enrichment_logs WHERE job_id = %(job_id)s ORDER BY (fold_state IS NULL) LIMIT 1
"""

TIMELINE_COLUMNS = """
    id, job_id, parent_job_id, operation, entity_type::text AS entity_type, entity_id,
    status::text AS status, job_status::text AS job_status, created_at, started_at, finished_at,
    last_event_at, duration_ms, retry_count, attempt, last_error, last_error_code, last_error_kind,
    error_message, error_code, reason, metadata, coalesce(attempts, '[]'::jsonb) AS attempts,
    fold_state IS NULL AS legacy, sources, fields_enriched,
    data_quality_before::text AS data_quality_before, data_quality_after::text AS data_quality_after
"""

TIMELINE_ROOT = "SELECT" + TIMELINE_COLUMNS + "  FROM enrichment_logs WHERE id = %(id)s\n"

# The children of a root (flat linking: every descendant points at the root), in start order:
# an ordered scan of enrichment_logs_children_idx (parent_job_id, created_at, id).
TIMELINE_CHILDREN = (
    "SELECT" + TIMELINE_COLUMNS
    + "  FROM enrichment_logs\n WHERE parent_job_id = %(job_id)s\n ORDER BY created_at, id\n"
)

# A big timeline's page: how many children the root has (an index-only probe of
# enrichment_logs_children_idx), each child in outline (the columns that place it and say whether
# it succeeded plainly: no jsonb to decode), then in full only the children the page renders.
CHILDREN_COUNT = "SELECT count(*) FROM enrichment_logs WHERE parent_job_id = %(job_id)s\n"

OUTLINE_CHILDREN = """
SELECT id, job_id, operation, status::text AS status, job_status::text AS job_status, created_at,
       started_at, finished_at, last_event_at, duration_ms, retry_count
  FROM enrichment_logs
 WHERE parent_job_id = %(job_id)s
 ORDER BY created_at, id
"""

TIMELINE_JOBS = "SELECT" + TIMELINE_COLUMNS + "  FROM enrichment_logs WHERE id = ANY(%(ids)s)\n"
