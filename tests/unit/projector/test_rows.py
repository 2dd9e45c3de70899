"""The row's one declaration (projector.rows.JobRow) and what is derived from it; the PARTIAL rule."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated

import pytest

from projector import sql as q
from projector.columns import TEXT, Column, Update, columns_of
from projector.fold import display_status, failed_permanently, fold_job
from projector.pgcopy import COPY_COLUMNS, row_copy, source_field
from projector.rows import COLUMNS, PROJECTED, STATE_COLUMNS, STORE_COLUMNS, row_fields, to_row
from tests.scenarios import Chain, album_chain_with_failed_child


def _fields(data: bytes) -> list[bytes | None]:
    """The fields of one binary COPY row."""
    (count,), pos, out = struct.unpack(">h", data[:2]), 2, []
    for _ in range(count):
        (length,) = struct.unpack(">i", data[pos:pos + 4])
        pos += 4
        out.append(None if length < 0 else data[pos:pos + length])
        pos += max(length, 0)
    assert pos == len(data)
    return out


def test_the_copy_row_has_every_declared_column_once() -> None:
    assert sorted(COPY_COLUMNS) == sorted((*COLUMNS, "fold_seq", "source_topic"))
    assert [c.name for c in STORE_COLUMNS] == ["fold_seq", "source_topic"]
    assert COLUMNS[:2] == ("id", "job_id") and len(COLUMNS) == len(set(COLUMNS))
    _, events = album_chain_with_failed_child()
    for state in (fold_job(None, [e for e in events if e.job_id == j]) for j in {e.job_id for e in events}):
        assert state is not None
        fields = dict(zip(COPY_COLUMNS, _fields(row_copy(state, 7, 0, source_field("topic"))), strict=True))
        assert fields["fold_seq"] == struct.pack(">q", 7) and fields["source_topic"] == b"topic"
        assert fields["job_id"] == state.job_id.encode() and fields["id"] == to_row(state).id.bytes
        row = to_row(state)
        for name in COLUMNS:  # NULL exactly where the row holds None
            assert (fields[name] is None) == (getattr(row, name) is None), name
        assert len(row_fields(state, 0)) == len(COLUMNS)


def test_nullability_is_the_declared_type() -> None:
    nullable = {c.name for c in PROJECTED if c.nullable}
    assert {"artist_id", "parent_job_id", "metadata", "started_at", "finished_at"} <= nullable
    assert not nullable & {"id", "job_id", "operation", "status", "job_status", "created_at", "fold_state"}


def test_state_columns_are_the_identity_the_state_and_the_detail() -> None:
    assert set(STATE_COLUMNS) == {"operation", "entity_type", "entity_id", "artist_id", "album_id", "track_id",
                                  "parent_job_id", "triggered_by", "user_id", "metadata", "fold_state"}
    assert q.SELECT_STATES.lstrip().startswith("SELECT job_id, ")


def test_the_upsert_sets_every_written_column_but_the_kept_ones() -> None:
    sets = q.UPSERT_STAGED.split("DO UPDATE SET", 1)[1].split("\nWHERE", 1)[0]
    assigned = [line.strip().split(" = ", 1)[0].strip('"') for line in sets.strip().split(",\n")]
    kept = {c.name for c in (*PROJECTED, *STORE_COLUMNS) if c.update is Update.KEPT}
    assert kept == {"id", "job_id"}
    assert sorted(assigned) == sorted(set(COPY_COLUMNS) - kept)
    assert '"source_topic" = coalesce(l."source_topic", EXCLUDED."source_topic")' in sets
    assert "'PARTIAL'::enrichment_status" in sets and "'PARTIAL'::enrichment_status" in q.REFRESH_ROOTS


def test_a_field_without_its_column_is_refused() -> None:
    @dataclass
    class Row:
        a: Annotated[str, Column(TEXT, "x")]
        b: str

    with pytest.raises(TypeError, match=r"Row\.b"):
        columns_of(Row)


def test_partial_is_a_root_with_a_permanently_failed_child_that_did_not_fail_itself() -> None:
    for own in ("SUCCESS", "IN_PROGRESS", "PENDING", "SKIPPED", "PARTIAL_SUCCESS"):
        assert display_status(own, True, 1) == "PARTIAL"
        assert display_status(own, True, 0) == own
        assert display_status(own, False, 2) == own
    assert display_status("FAILED", True, 3) == "FAILED"


def test_failed_permanently_is_the_jobs_own_status_failed() -> None:
    c = Chain()
    job = c.child(c.types[c.root_id], "a")
    retried, failed, rerun = [c.retrying(job, 1)], [c.started(job), c.failed(job, 1)], [c.finished(job, 2)]
    states = [fold_job(None, events) for events in (retried, failed, failed + rerun)]
    assert [s is not None and failed_permanently(s) for s in states] == [False, True, False]
