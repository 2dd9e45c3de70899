"""Migrations against a real PostgreSQL: in order, once, locked, and refusing odd schemas."""

from __future__ import annotations

import threading

import psycopg
import pytest

from enrichlog.migrate import MigrationError, migrate

ALL = ["0001_legacy_enrichment_logs", "0002_root_and_retry_tracking", "0003_backfill_is_root_job"]


def _columns(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'enrichment_logs'"
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
    with pytest.raises(MigrationError, match=r"cannot connect to postgresql://nobody:\*\*\*@127.0.0.1:1/x") as err:
        migrate("postgresql://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in str(err.value)


def test_non_postgres_url_is_rejected(empty_db: str) -> None:
    with pytest.raises(MigrationError):
        migrate("mysql://user@127.0.0.1:1/x")
