"""Migration 0010 (partial indexes built concurrently, extended statistics, ANALYZE) run by the real
runner on a table the size and the mess of a production one: legacy rows of the pre-linking writer
(no job id, orphans, every status), projected roots and children, failed children of many job types,
children whose attempts failed with an error kind. Afterwards the indexes are valid and hold exactly
the rows their predicates name, the statistics exist and are filled in; run again, nothing changes.

operation and status are NOT NULL since 0001, so a NULL there cannot exist: the odd values are the
NULLs the predicates test (parent_job_id, last_error_kind), job ids absent or pointing nowhere, and
job types no processor has any more."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from enrichlog.migrate import migrate
from tests.integration.test_migrations import ALL

pytestmark = pytest.mark.postgres

ROWS = 200_000
MIGRATION = ALL[-1]
INDEXES = ("enrichment_logs_failed_by_operation_idx", "enrichment_logs_children_by_error_kind_idx")
STATISTICS = "enrichment_logs_operation_status_stats"

# Set-based, one statement: row i is a legacy row (fold_state NULL) for a third of the rows, else
# projected; a projected row is a root every tenth row, else a child of a root; statuses, job types
# and error kinds cycle, so every predicate of 0010 keeps some rows and drops others.
FILL = """
INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, parent_job_id,
                             is_root_job, fold_state, last_error_kind, created_at)
SELECT (ARRAY['ARTIST', 'ALBUM', 'TRACK'])[1 + i %% 3]::enrichment_entity_type,
       gen_random_uuid(),
       (ARRAY['ENRICH_ALBUM', 'CACHE_ALBUM_COVER_ART', 'DISCOGS_GET_ARTIST', 'SPOTIFY_TRACK_FALLBACK',
              'LEGACY_REMOVED_JOB', ''])[1 + i %% 6],
       (ARRAY['SUCCESS', 'FAILED', 'COMPLETED', 'PENDING', 'IN_PROGRESS', 'SKIPPED', 'PARTIAL',
              'NO_DATA_AVAILABLE', 'PREVIEW', 'PARTIAL_SUCCESS', 'FAILED'])[1 + i %% 11]::enrichment_status,
       CASE WHEN i %% 97 = 0 THEN NULL ELSE 'job-' || i END,
       CASE WHEN i %% 10 = 0 THEN NULL
            WHEN i %% 89 = 0 THEN 'gone-' || i
            ELSE 'job-' || (i - i %% 10) END,
       i %% 10 = 0,
       CASE WHEN i %% 3 = 0 THEN NULL ELSE '{"v": 1}'::jsonb END,
       CASE WHEN i %% 3 <> 0 AND i %% 7 = 0 THEN (ARRAY['RATE_LIMIT', 'NOT_FOUND', 'AUTH', 'TIMEOUT'])[1 + i %% 4] END,
       now() - make_interval(secs => i)
  FROM generate_series(1, %(rows)s) AS i
"""


# The indexes of enrichment_logs other than those behind a constraint (the primary key), as SQL.
OTHER_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'enrichment_logs'::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""


def _at_0009(url: str) -> None:
    """The database as 0009 left it, 0010's objects and its record gone, then filled: in bulk, its
    indexes dropped and built again after the rows (as a restore does), or the fill alone would
    take most of the time the test may."""
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for index in INDEXES:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(index)))
        conn.execute(sql.SQL("DROP STATISTICS {}").format(sql.Identifier(STATISTICS)))
        conn.execute("DELETE FROM _yoyo_migration WHERE migration_id = %s", (MIGRATION,))
        others = conn.execute(OTHER_INDEXES).fetchall()
        with conn.transaction():
            for name, _ in others:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            conn.execute(FILL, {"rows": ROWS})
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _, definition in others:
                conn.execute(definition)


def _state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """What 0010 made: its indexes (oid, valid, ready) and its statistics (oid, kinds, filled in)."""
    indexes = {name: conn.execute(
        "SELECT i.indexrelid::oid::int, i.indisvalid, i.indisready FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s", (name,)).fetchone() for name in INDEXES}
    statistics = conn.execute(
        "SELECT s.oid::int, s.stxkind::text[], d.stxdmcv IS NOT NULL FROM pg_statistic_ext s"
        " LEFT JOIN pg_statistic_ext_data d ON d.stxoid = s.oid WHERE s.stxname = %s", (STATISTICS,)).fetchone()
    return {"indexes": indexes, "statistics": statistics}


PREDICATES = {  # each index's predicate, as 0010 writes it
    INDEXES[0]: "status = 'FAILED' AND parent_job_id IS NOT NULL",
    INDEXES[1]: "last_error_kind IS NOT NULL AND parent_job_id IS NOT NULL",
}


def _entries(conn: psycopg.Connection[Any], index: str) -> tuple[int, int]:
    """(rows the index holds, read by a scan of it alone; rows of its predicate, by a scan of the table)."""
    query = f"SELECT count(*) FROM enrichment_logs WHERE {PREDICATES[index]}"
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = str(conn.execute(f"EXPLAIN {query}").fetchall())
        assert f"Index Only Scan using {index}" in plan, plan
        by_index = conn.execute(query).fetchone()
    with conn.transaction():
        conn.execute("SET LOCAL enable_indexscan = off")
        conn.execute("SET LOCAL enable_indexonlyscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        by_table = conn.execute(query).fetchone()
    assert by_index is not None and by_table is not None
    return by_index[0], by_table[0]


def test_0010_on_a_big_odd_table_builds_valid_indexes_and_filled_statistics_then_is_a_no_op(empty_db: str) -> None:
    _at_0009(empty_db)
    began = time.monotonic()
    report = migrate(empty_db)
    took = time.monotonic() - began
    assert report.applied == [MIGRATION] and report.already_applied == ALL[:-1]

    with psycopg.connect(empty_db, autocommit=True) as conn:
        state = _state(conn)
        entries = {index: _entries(conn, index) for index in INDEXES}
        mcv = conn.execute(
            "SELECT most_common_vals, most_common_freqs FROM pg_stats_ext WHERE statistics_name = %s",
            (STATISTICS,)).fetchone()
        columns = conn.execute("SELECT attname FROM pg_stats WHERE tablename = 'enrichment_logs'"
                               " AND attname IN ('operation', 'status') ORDER BY attname").fetchall()
    for index in INDEXES:
        assert state["indexes"][index][1:] == (True, True), state  # valid and ready: a finished build
        by_index, by_table = entries[index]
        assert by_index == by_table and 0 < by_table < ROWS, (index, entries)  # exactly the predicate's rows
    _, kinds_built, filled = state["statistics"]
    assert kinds_built == ["m"] and filled, state  # mcv, filled in by the migration's ANALYZE
    assert mcv is not None and mcv[0] is not None and len(mcv[0]) == len(mcv[1]) > 1, mcv
    assert ["CACHE_ALBUM_COVER_ART", "FAILED"] in mcv[0], mcv[0]  # (operation, status) pairs
    assert columns == [("operation",), ("status",)]
    assert took < 20, f"0010 took {took:.1f} s on {ROWS} rows"

    again = migrate(empty_db)
    assert again.applied == [] and again.already_applied == ALL
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert _state(conn) == state  # the same index and statistics objects, not rebuilt
