"""The read side (enrichlog.read) against the real PostgreSQL: rows written by the real store
(projected) and by plain INSERTs emulating legacy rows after the backfill (is_root_job set).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from enrichlog.read import (
    AmbiguousRef,
    InvalidCursor,
    InvalidFilter,
    NotARoot,
    RootFilters,
    RootNotFound,
    decode_cursor,
    encode_cursor,
    roots_page,
    status_counts,
    timeline,
)
from enrichlog.read.sql import STATUSES
from projector.ports import Positioned
from projector.store import PostgresStore
from schemas import JobEvent, JobType
from tests.scenarios import T0, Chain, album_chain_with_failed_child

pytestmark = pytest.mark.postgres
NOW = datetime.now(UTC).replace(microsecond=0)


def project(db: str, events: list[JobEvent]) -> None:
    """Write events through the real store, as the projector does."""
    async def go() -> None:
        store = PostgresStore(db, consumer=f"test-{uuid.uuid4().hex[:8]}")
        await store.apply([Positioned("events", 0, i, e) for i, e in enumerate(events)])
        await store.close()

    asyncio.run(go())


def shifted(events: list[JobEvent], start: datetime) -> list[JobEvent]:
    """The same events, moved so that the chain's clock starts at `start`."""
    return [e.model_copy(update={"occurred_at": e.occurred_at - T0 + start}) for e in events]


def success_chain(start: datetime, job_type: JobType = JobType.CHECK_ALBUM_ENRICHMENT) -> tuple[Chain, list[JobEvent]]:
    c = Chain(root_type=job_type)
    enrich = c.child(JobType.ENRICH_ALBUM, "enrich")
    return c, shifted([c.started(c.root_id), c.started(enrich), c.finished(enrich), c.finished(c.root_id)], start)


def running_chain(start: datetime) -> tuple[Chain, list[JobEvent]]:
    c = Chain()
    return c, shifted([c.started(c.root_id)], start)


def legacy(conn: psycopg.Connection[Any], created_at: datetime, *, job_id: str | None = None,
           parent: str | None = None, status: str = "COMPLETED", root: bool = True) -> uuid.UUID:
    """A row of the pre-linking writer, after the backfill (is_root_job set on roots)."""
    row = conn.execute(
        "INSERT INTO enrichment_logs (entity_type, entity_id, album_id, operation, status, job_id,"
        " parent_job_id, is_root_job, created_at, duration_ms, error_message)"
        " VALUES ('ALBUM', gen_random_uuid(), gen_random_uuid(), 'ENRICH_ALBUM', %s, %s, %s, %s, %s, 1200,"
        " CASE WHEN %s = 'FAILED' THEN 'upstream answered 503' END) RETURNING id",
        (status, job_id, parent, root, created_at, status),
    ).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db, autocommit=True) as c:
        yield c


@pytest.fixture
def world(db: str, conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """A PARTIAL album root (3 h ago), a successful artist root (2 h ago), a running root stuck
    for 90 min, a fresh running root, a legacy root with a legacy child, a legacy root without job id."""
    partial, e1 = album_chain_with_failed_child()
    artist, e2 = success_chain(NOW - timedelta(hours=2), JobType.CHECK_ARTIST_ENRICHMENT)
    stuck, e3 = running_chain(NOW - timedelta(minutes=90))
    fresh, e4 = running_chain(NOW - timedelta(seconds=5))
    project(db, shifted(e1, NOW - timedelta(hours=3)) + e2 + e3 + e4)
    old = legacy(conn, NOW - timedelta(days=30), job_id="legacy-1", status="FAILED")
    legacy(conn, NOW - timedelta(days=30) + timedelta(seconds=3), job_id="legacy-1/x", parent="legacy-1", root=False)
    no_job = legacy(conn, NOW - timedelta(days=40))
    return {"partial": partial, "artist": artist, "stuck": stuck, "fresh": fresh, "legacy": old, "no_job": no_job}


def refs(page: Any) -> list[str]:
    return [r.job_id if r.job_id and not r.legacy else str(r.id) for r in page.rows]


def test_roots_page_newest_first_with_projected_and_legacy_roots(conn: Any, world: dict[str, Any]) -> None:
    page = roots_page(conn)
    assert refs(page) == [world["fresh"].root_id, world["stuck"].root_id, world["artist"].root_id,
                          world["partial"].root_id, str(world["legacy"]), str(world["no_job"])]
    assert page.next_cursor is None
    by_ref = dict(zip(refs(page), page.rows, strict=True))
    old = by_ref[str(world["legacy"])]
    assert old.legacy and old.job_status is None and old.children == 1 and old.last_error == "upstream answered 503"
    assert by_ref[str(world["no_job"])].children == 0


def test_root_with_a_permanently_failed_child_is_partial(conn: Any, world: dict[str, Any]) -> None:
    row = next(r for r in roots_page(conn).rows if r.job_id == world["partial"].root_id)
    assert (row.status, row.job_status) == ("PARTIAL", "SUCCESS")
    assert (row.children, row.failed_children, row.duration_ms, row.legacy) == (2, 1, 250, False)
    assert row.created_at < row.finished_at  # type: ignore[operator]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"status": "PARTIAL"}, ["partial"]),
    ({"status": "IN_PROGRESS"}, ["fresh", "stuck"]),
    ({"status": "FAILED"}, ["legacy"]),
    ({"operation": "CHECK_ARTIST_ENRICHMENT"}, ["artist"]),
    ({"since": NOW - timedelta(hours=2, minutes=1), "until": NOW - timedelta(minutes=1)}, ["stuck", "artist"]),
    ({"until": NOW - timedelta(days=1)}, ["legacy", "no_job"]),
    ({"stuck_after": timedelta(minutes=30)}, ["stuck"]),
    ({"stuck_after": timedelta(hours=2)}, []),
])
def test_filters(conn: Any, world: dict[str, Any], filters: dict[str, Any], expected: list[str]) -> None:
    want = [str(world[k]) if isinstance(world[k], uuid.UUID) else world[k].root_id for k in expected]
    assert refs(roots_page(conn, **filters)) == want


def test_entity_filter_matches_entity_album_artist_and_track_ids(conn: Any, world: dict[str, Any]) -> None:
    partial = world["partial"]
    assert refs(roots_page(conn, entity_id=partial.entity.id)) == [partial.root_id]
    assert refs(roots_page(conn, entity_id=str(partial.entity.album_id))) == [partial.root_id]
    artist_id, track_id = uuid.uuid4(), uuid.uuid4()
    conn.execute("UPDATE enrichment_logs SET artist_id = %s, track_id = %s WHERE job_id = %s",
                 (artist_id, track_id, world["artist"].root_id))
    conn.execute("UPDATE enrichment_logs SET artist_id = %s, entity_id = %s WHERE job_id = %s",
                 (artist_id, artist_id, world["stuck"].root_id))  # matched by two columns: listed once
    assert refs(roots_page(conn, entity_id=artist_id)) == [world["stuck"].root_id, world["artist"].root_id]
    assert refs(roots_page(conn, entity_id=track_id)) == [world["artist"].root_id]
    assert roots_page(conn, entity_id=uuid.uuid4()).rows == []


def test_pagination_has_no_gaps_or_duplicates_while_new_rows_arrive(db: str, conn: Any) -> None:
    base = NOW - timedelta(days=1)
    chains = [success_chain(base + timedelta(minutes=i)) for i in range(6)]
    project(db, [e for _, es in chains for e in es])
    expected = {c.root_id for c, _ in chains}
    for i in range(17):  # legacy roots, some sharing a created_at (the id breaks the tie)
        expected.add(str(legacy(conn, base - timedelta(minutes=i // 3))))
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        page = roots_page(conn, limit=4, cursor=cursor)
        seen += refs(page)
        pages += 1
        legacy(conn, datetime.now(UTC))  # newer rows land before the cursor
        project(db, success_chain(datetime.now(UTC) + timedelta(seconds=pages))[1])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 6 and len(seen) == len(set(seen)) == 23 and set(seen) == expected
    fresh = roots_page(conn, limit=100)
    assert [r.created_at for r in fresh.rows] == sorted((r.created_at for r in fresh.rows), reverse=True)
    assert len(fresh.rows) == 23 + 2 * pages


def test_timeline_of_a_root_in_start_order(conn: Any, world: dict[str, Any]) -> None:
    chain = world["partial"]
    tl = timeline(conn, chain.root_id)
    assert tl.root.job_id == chain.root_id and tl.root.status == "PARTIAL"
    assert [j.job_id for j in tl.children] == [f"{chain.root_id}/enrich", f"{chain.root_id}/cover"]
    assert [j.created_at for j in tl.jobs] == sorted(j.created_at for j in tl.jobs)
    enrich, cover = tl.children
    assert (enrich.status, enrich.retry_count, len(enrich.attempts)) == ("SUCCESS", 2, 3)
    assert (cover.status, cover.retry_count, cover.last_error_code, cover.error_code) == (
        "FAILED", 1, "IMAGE_FETCH_FAILED", "IMAGE_FETCH_FAILED")
    assert cover.attempts[-1]["error"]["kind"] == "NOT_FOUND"
    assert timeline(conn, tl.root.id).root.job_id == chain.root_id  # by row id too


def test_timeline_of_legacy_rows(conn: Any, world: dict[str, Any]) -> None:
    alone = timeline(conn, str(world["no_job"]))
    assert alone.root.legacy and alone.root.id == world["no_job"] and alone.children == []
    with_child = timeline(conn, "legacy-1")
    assert with_child.root.id == world["legacy"] and [c.job_id for c in with_child.children] == ["legacy-1/x"]
    assert with_child.to_json()["root"]["attempts"] == []


def test_timeline_refs_that_are_not_roots(conn: Any, world: dict[str, Any]) -> None:
    with pytest.raises(RootNotFound, match="nope"):
        timeline(conn, "nope")
    with pytest.raises(RootNotFound):
        timeline(conn, uuid.uuid4())
    child = f"{world['partial'].root_id}/cover"
    with pytest.raises(NotARoot, match=world["partial"].root_id) as err:
        timeline(conn, child)
    assert err.value.root_ref == world["partial"].root_id and err.value.root_present
    legacy(conn, NOW, job_id="dup")
    legacy(conn, NOW, job_id="dup")
    with pytest.raises(AmbiguousRef, match="2 legacy rows"):
        timeline(conn, "dup")


@pytest.mark.parametrize("cursor", [
    "", "not a cursor", "%%%", base64.urlsafe_b64encode(b"x|y").decode(),
    base64.urlsafe_b64encode(b"2026-01-01T00:00:00|" + str(uuid.uuid4()).encode()).decode(),  # no zone
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_malformed_cursor_is_a_clear_value_error(conn: Any, cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="cursor") as err:
        roots_page(conn, cursor=cursor)
    assert isinstance(err.value, ValueError)


def test_cursor_round_trip_and_bad_filters(conn: Any) -> None:
    at, row_id = datetime(2026, 2, 6, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(at, row_id)) == (at, row_id)
    for bad in ({"limit": 0}, {"limit": -1}, {"status": "DONE"}, {"entity_id": "x"},
                {"since": NOW, "until": NOW}, {"stuck_after": timedelta(0)}, {"since": datetime(2026, 1, 1)}):
        with pytest.raises(InvalidFilter):
            roots_page(conn, **bad)


@pytest.mark.parametrize("cap", [1, 2, 3, 5, 6, 100])
def test_counts_without_filters_are_those_of_the_window_of_the_newest_roots(conn: Any, world: dict[str, Any],
                                                                           cap: int) -> None:
    unfiltered = status_counts(conn, RootFilters(), cap=cap)  # sql.COUNTS_EDGE, then per status
    window = status_counts(conn, RootFilters(since=NOW - timedelta(days=400)), cap=cap)  # sql.STATUS_COUNTS
    assert unfiltered == window
    assert sum(unfiltered.counts.values()) == min(cap, 6) and unfiltered.capped == (cap <= 6)
    newest = [r.status for r in roots_page(conn, limit=cap).rows]
    assert unfiltered.counts == {s: newest.count(s) for s in STATUSES if s in newest}
