"""Migrations against a real PostgreSQL: in order, once, locked, and refusing odd schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from enrichlog.migrate import MigrationError, migrate, migrations_dir

ALL = [
    "0001_legacy_enrichment_logs", "0002_root_and_retry_tracking", "0003_backfill_is_root_job",
    "0004_projection_indexes", "0005_read_indexes", "0006_fold_sequence", "0007_failed_children_index",
    "0008_source_topic", "0009_topic_ids", "0010_child_failure_indexes",
]


def _columns(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'enrichment_logs'"
        ).fetchall()
    return {r[0] for r in rows}


def test_applies_all_in_order_then_is_a_no_op(empty_db: str) -> None:
    first = migrate(empty_db)
    assert first.applied == ALL
    assert {"is_root_job", "fold_state", "attempts", "last_error"} <= _columns(empty_db)
    second = migrate(empty_db)
    assert second.applied == [] and second.already_applied == ALL


def test_two_runners_at_once_both_succeed(empty_db: str) -> None:
    results: list[object] = []

    def runner() -> None:
        try:
            results.append(migrate(empty_db))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(not isinstance(r, Exception) for r in results), results
    applied = sorted(m for r in results for m in r.applied)  # type: ignore[attr-defined]
    assert applied == ALL  # each migration ran exactly once across both runners


def test_wrong_dsn_fails_clearly() -> None:
    expected = r"cannot connect to postgresql://nobody:\*\*\*@127.0.0.1:1/x"
    with pytest.raises(MigrationError, match=expected) as err:
        migrate("postgresql://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in str(err.value)


def test_non_postgres_url_is_rejected(empty_db: str) -> None:
    with pytest.raises(MigrationError):
        migrate("mysql://user@127.0.0.1:1/x")


STATUSES = ["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "SUCCESS", "PARTIAL_SUCCESS",
            "NO_DATA_AVAILABLE", "SKIPPED", "PREVIEW"]


def _sql(prefix: str) -> str:
    return next(migrations_dir().glob(f"{prefix}_*.sql")).read_text()


def _run(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in statements:
            conn.execute(stmt)


def _legacy(conn: psycopg.Connection, job: str | None, parent: str | None,
            status: str = "SUCCESS") -> None:
    conn.execute(
        "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, "
        "parent_job_id) VALUES ('ARTIST', gen_random_uuid(), 'ENRICH_ARTIST', %s, %s, %s)",
        (status, job, parent),
    )


def _roots(url: str) -> dict[str | None, list[bool]]:
    """job_id -> is_root_job of its rows (legacy and projected)."""
    out: dict[str | None, list[bool]] = {}
    with psycopg.connect(url) as conn:
        for job, root in conn.execute("SELECT job_id, is_root_job FROM enrichment_logs"):
            out.setdefault(job, []).append(root)
    return out


def _snapshot(url: str) -> dict[str, object]:
    """Schema, data and yoyo bookkeeping of the public schema, to show that nothing changed."""
    with psycopg.connect(url) as conn:
        snap: dict[str, object] = {
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "relations": conn.execute(
                "SELECT relname, relkind FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace ORDER BY 1"
            ).fetchall(),
            "types": conn.execute(
                "SELECT t.typname, e.enumlabel FROM pg_type t LEFT JOIN pg_enum e "
                "ON e.enumtypid = t.oid WHERE t.typnamespace = 'public'::regnamespace "
                "ORDER BY 1, e.enumsortorder"
            ).fetchall(),
        }
        for table in ("enrichment_logs", "_yoyo_migration"):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:  # type: ignore[index]
                snap[table] = conn.execute(
                    "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) "
                    f"FROM {table} t"
                ).fetchone()
    return snap


def test_baseline_adopts_a_legacy_table_with_odd_rows(empty_db: str) -> None:
    _run(empty_db, _sql("0001"))
    with psycopg.connect(empty_db, autocommit=True) as conn:
        for status in ("SUCCESS", "FAILED", "SKIPPED"):  # several rows of one job
            _legacy(conn, "dup-1", None, status)
        _legacy(conn, None, None)  # no job id at all
        _legacy(conn, None, None, "PENDING")
        _legacy(conn, "root-1", None)
        _legacy(conn, "child-1", "root-1")  # its parent is in the table: stays a child
        _legacy(conn, "child-2", "dup-1")  # parent with several rows: still a child
        _legacy(conn, "orphan-1", "gone-1")  # its parent is absent: becomes a root
        _legacy(conn, None, "gone-2")  # an orphan without a job id
        for status in STATUSES:
            _legacy(conn, f"s-{status}", None, status)
        before = conn.execute("SELECT count(*) FROM enrichment_logs").fetchone()[0]  # type: ignore[index]

    report = migrate(empty_db)
    assert report.baselined == [ALL[0]] and report.applied == ALL[1:]
    with psycopg.connect(empty_db) as conn:
        after = conn.execute("SELECT count(*) FROM enrichment_logs").fetchone()[0]  # type: ignore[index]
        unrooted = conn.execute(
            "SELECT count(*) FROM enrichment_logs WHERE parent_job_id IS NULL AND NOT is_root_job"
        ).fetchone()[0]  # type: ignore[index]
    assert after == before == 19 and unrooted == 0
    roots = _roots(empty_db)
    assert roots["dup-1"] == [True] * 3 and roots[None] == [True] * 3
    assert roots["orphan-1"] == [True] and roots["root-1"] == [True]
    assert roots["child-1"] == [False] and roots["child-2"] == [False]
    assert all(roots[f"s-{s}"] == [True] for s in STATUSES)

    again = migrate(empty_db)
    assert again.applied == [] and again.baselined == [] and again.already_applied == ALL


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(["ALTER TABLE enrichment_logs DROP COLUMN parent_job_id"],
                     r"parent_job_id \(expected character varying, found missing\)",
                     id="legacy-table-missing-a-column"),
        pytest.param(["ALTER TABLE enrichment_logs ALTER COLUMN job_id TYPE text"],
                     r"job_id \(expected character varying, found text\)",
                     id="legacy-column-of-another-type"),
        pytest.param(["ALTER TABLE enrichment_logs ADD COLUMN is_root_job boolean "
                      "NOT NULL DEFAULT false"],
                     r"already has is_root_job of migration 0002", id="is_root_job-by-hand"),
        pytest.param(["ALTER TABLE enrichment_logs ADD COLUMN last_error text"],
                     r"already has last_error of migration 0002", id="last_error-by-hand"),
        pytest.param(["CREATE TABLE enrichment_log_positions (consumer text)"],
                     r"already has enrichment_log_positions", id="positions-table-by-hand"),
        pytest.param(["DROP TABLE enrichment_logs"],
                     r"type\(s\) data_quality, enrichment_entity_type, enrichment_status exist "
                     r"without the enrichment_logs table", id="enum-types-without-table"),
    ],
)
def test_half_applied_earlier_version_is_refused_and_unchanged(
    empty_db: str, setup: list[str], message: str
) -> None:
    _run(empty_db, _sql("0001"))
    if "DROP TABLE" not in setup[0]:
        with psycopg.connect(empty_db, autocommit=True) as conn:
            _legacy(conn, "j-1", None)
            _legacy(conn, None, None)
    _run(empty_db, *setup)
    before = _snapshot(empty_db)
    with pytest.raises(MigrationError, match=message) as err:
        migrate(empty_db)
    assert "Nothing was changed" in str(err.value)
    assert _snapshot(empty_db) == before
    assert "_yoyo_migration" not in before  # and yoyo did not even create its tables


def test_history_without_0002_but_its_columns_present_is_refused_unchanged(db: str) -> None:
    # 0002 ran (its columns are there) but its record is gone: yoyo's tables exist this time
    _run(db, f"DELETE FROM _yoyo_migration WHERE migration_id IN ('{ALL[1]}', '{ALL[2]}')")
    before = _snapshot(db)
    with pytest.raises(MigrationError, match="already has is_root_job, job_status"):
        migrate(db)
    assert _snapshot(db) == before and "_yoyo_migration" in before


def test_an_interrupted_backfill_is_resumed(empty_db: str) -> None:
    _run(empty_db, _sql("0001"))
    migrate(empty_db)
    # 0003 was interrupted: not recorded, and some legacy rows are not roots yet
    _run(empty_db, f"DELETE FROM _yoyo_migration WHERE migration_id = '{ALL[2]}'")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        _legacy(conn, "late-1", None)
    report = migrate(empty_db)
    assert report.applied == [ALL[2]] and report.already_applied == [ALL[0], ALL[1], *ALL[3:]]
    assert _roots(empty_db)["late-1"] == [True]


ENRICHLOG = Path(sys.executable).with_name("enrichlog")  # the venv's console script


def _bad_urls(postgres_url: str) -> list[tuple[str, str]]:
    wrong_db = urlunsplit(urlsplit(postgres_url)._replace(path="/no_such_database_here"))
    return [
        ("postgresql://nobody:secret@127.0.0.1:1/x", "Connection refused"),
        (wrong_db, 'database "no_such_database_here" does not exist'),
        ("postgresql://nobody:secret@127.0.0.1:notaport/x", 'invalid integer value "notaport"'),
        ("postgresql://nobody:se%zzcret@127.0.0.1/x", "invalid percent-encoded token"),
        ("postgresql://nobody:secret@[::1/x", 'matching "]"'),
        ("mysql://nobody:secret@127.0.0.1:3306/x", "must start with postgresql://"),
        ("host=127.0.0.1 dbname=x", "must start with postgresql://"),
        ("", "must start with postgresql://"),
    ]


def test_bad_database_urls_fail_clearly_without_leaking_the_password(postgres_url: str) -> None:
    for url, message in _bad_urls(postgres_url):
        with pytest.raises(MigrationError) as err:
            migrate(url)
        text = str(err.value)
        assert message in text, (url, text)
        assert "secret" not in text and "zzcret" not in text and "\n" not in text, text


def test_cli_reports_a_bad_url_in_one_line(postgres_url: str) -> None:
    for url, message in _bad_urls(postgres_url)[:-1]:  # "" means: fall back to DATABASE_URL
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        done = subprocess.run([str(ENRICHLOG), "migrate", "--database-url", url], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        lines = done.stderr.splitlines()
        assert done.returncode == 1 and done.stdout == "", (url, done)
        assert len(lines) == 1 and lines[0].startswith("enrichlog migrate: error: "), done.stderr
        assert message in lines[0] and "secret" not in done.stderr, lines[0]


def test_backfill_sql_is_rerunnable_and_picks_up_an_old_writers_rows(db: str) -> None:
    backfill = _sql("0003")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(  # enough rows for three batches of 5,000, a tenth of them children
            "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, "
            "parent_job_id) SELECT 'ALBUM', gen_random_uuid(), 'ENRICH_ALBUM', 'SUCCESS', "
            "'g-' || i, CASE WHEN i % 10 = 0 THEN 'g-1' END FROM generate_series(1, 12000) i"
        )
        _legacy(conn, "orphan-1", "gone-1")
        conn.execute(backfill)
        assert conn.execute(
            "SELECT count(*) FILTER (WHERE is_root_job), count(*) FILTER (WHERE NOT is_root_job) "
            "FROM enrichment_logs"
        ).fetchone() == (10801, 1200)
        # an old writer keeps inserting rows with the default false, some of them children
        _legacy(conn, "late-root", None)
        _legacy(conn, None, None)
        _legacy(conn, "late-orphan", "gone-2")
        _legacy(conn, "late-child", "g-2")
        conn.execute(backfill)
    roots = _roots(db)
    assert roots["late-root"] == roots["late-orphan"] == roots[None] == [True]
    assert roots["late-child"] == [False] and roots["g-10"] == [False]
    assert roots["orphan-1"] == [True] and roots["g-1"] == [True]


def test_backfill_never_touches_projector_rows(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        for job, parent, root in [("p-root", None, True), ("p-child", "p-root", False),
                                  ("p-early-child", "not-yet", False), ("p-flag", None, False)]:
            conn.execute(
                "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, "
                "parent_job_id, is_root_job, fold_state) VALUES ('TRACK', gen_random_uuid(), "
                "'ENRICH_TRACK', 'IN_PROGRESS', %s, %s, %s, '{\"v\": 1}')",
                (job, parent, root),
            )
        _legacy(conn, "legacy-1", None)
        query = ("SELECT job_id, xmin::text, to_jsonb(l) FROM enrichment_logs l "
                 "WHERE fold_state IS NOT NULL ORDER BY job_id")
        before = conn.execute(query).fetchall()
        conn.execute(_sql("0003"))
        assert conn.execute(query).fetchall() == before  # same values, not even rewritten (xmin)
    assert _roots(db)["legacy-1"] == [True]


def test_an_invalid_index_from_an_interrupted_concurrent_build_is_reported(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        for _ in range(2):
            conn.execute("INSERT INTO enrichment_logs (entity_type, entity_id, operation, status)"
                         " VALUES ('ALBUM', gen_random_uuid(), 'ENRICH_ALBUM', 'COMPLETED')")
        with pytest.raises(psycopg.errors.UniqueViolation):  # leaves an INVALID index behind
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY interrupted_idx ON enrichment_logs (operation)")
    with pytest.raises(MigrationError, match=r"interrupted_idx .*INVALID.*DROP INDEX CONCURRENTLY"):
        migrate(db)
