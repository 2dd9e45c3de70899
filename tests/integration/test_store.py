"""The store contract, run against the real PostgreSQL store and the in-memory one.

Both must equal the pure projection (`project_all`) whatever the batching, order and replays.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from producers.workload import WorkloadConfig, generate_events
from projector.errors import StoreError
from projector.memory_store import InMemoryStore
from projector.ports import LogStore, Positioned
from projector.rows import COLUMNS, JobRow, project_all
from projector.state import stored_state_json
from projector.store import PostgresStore
from schemas import (
    CacheImageDetail,
    DataQuality,
    EnrichmentDetail,
    Entity,
    EntityType,
    ErrorKind,
    JobError,
    JobEvent,
    JobType,
    Outcome,
    Source,
)
from tests.scenarios import (
    NOT_FOUND,
    RATE_LIMIT,
    Chain,
    album_chain_with_failed_child,
    state_json_as_version_3,
)


def _positioned(events: list[JobEvent], partition: int = 0) -> list[Positioned]:
    return [Positioned("events", partition, i, e) for i, e in enumerate(events)]


def _apply_in_chunks(store: LogStore, batch: list[Positioned], size: int) -> None:
    async def go() -> None:
        for i in range(0, len(batch), size):
            await store.apply(batch[i : i + size])
        await store.close()

    asyncio.run(go())


def _db_rows(url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM enrichment_logs WHERE fold_state IS NOT NULL")
        return {r[1]: dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()}


def _as_db(row: JobRow) -> dict[str, Any]:
    """A JobRow as psycopg returns it (uuid and enum columns come back as str/UUID)."""
    out = {c: getattr(row, c) for c in COLUMNS}
    return out


def _normalise(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k in ("id", "entity_id", "artist_id", "album_id", "track_id", "user_id") and v else v)
            for k, v in d.items()}


class StoreContract:
    """Assertions every LogStore must pass; subclasses say how to build one and read its rows."""

    def make(self) -> LogStore:
        raise NotImplementedError

    def rows(self, store: LogStore) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def _stream(self) -> list[JobEvent]:
        events: list[JobEvent] = []
        for _ in range(5):
            events += album_chain_with_failed_child()[1]
        c = Chain(root_type=JobType.ENRICH_ARTIST)  # a standalone, manually triggered job
        events += [c.started(c.root_id), c.retrying(c.root_id, 1), c.started(c.root_id, 2), c.finished(c.root_id, 2)]
        return events

    @pytest.mark.parametrize("chunk", [1, 7, 1000])
    def test_equals_the_pure_fold_for_any_batching_order_and_replay(self, chunk: int) -> None:
        events = self._stream()
        shuffled = events[:]
        random.Random(chunk).shuffle(shuffled)
        batch = _positioned(shuffled)
        store = self.make()
        _apply_in_chunks(store, batch, chunk)
        replay = self.make()
        _apply_in_chunks(replay, batch[: len(batch) // 2], chunk)  # a restart re-reads from the start
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        assert {j: _normalise(r) for j, r in self.rows(replay).items()} == expected

    @pytest.mark.parametrize("seed", [1, 2])
    def test_equals_the_pure_fold_on_a_generated_workload_in_random_batches(self, seed: int) -> None:
        """Many chains with retries and permanent failures, shuffled, in batches of random sizes: a
        child's failure lands before, with and after its root's events, and a failed attempt can
        be overtaken by a later successful one (a child that stops being FAILED)."""
        config = WorkloadConfig(chains=60, seed=seed, retry_rate=0.3, failure_rate=0.25, run_id=f"st{seed}")
        events = list(generate_events(config))
        rng = random.Random(seed)
        rng.shuffle(events)
        batch, store, i = _positioned(events), self.make(), 0

        async def go() -> None:
            nonlocal i
            while i < len(batch):
                size = rng.choice((1, 3, 20, 150))
                await store.apply(batch[i : i + size])
                i += size
            await store.close()

        asyncio.run(go())
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        assert any(r["status"] == "PARTIAL" for r in expected.values())
        assert {j: _normalise(r) for j, r in self.rows(store).items()} == expected

    def test_a_child_run_again_after_failing_clears_its_roots_partial_status(self) -> None:
        c = Chain()
        child = c.child(JobType.ENRICH_ALBUM, "a")
        failing = [c.started(c.root_id), c.finished(c.root_id), c.started(child), c.failed(child, 1)]
        rerun = [c.started(child, 2), c.finished(child, 2)]  # the failed job is run again, and succeeds
        store = self.make()
        _apply_in_chunks(store, _positioned(failing), 1)
        assert self.rows(store)[c.root_id]["status"] == "PARTIAL"
        store = self.make()
        _apply_in_chunks(store, _positioned(failing + rerun), 1)
        root = self.rows(store)[c.root_id]
        assert (root["status"], root["failed_children"]) == ("SUCCESS", 0)
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(failing + rerun).items()}
        assert {j: _normalise(r) for j, r in self.rows(store).items()} == expected

    @pytest.mark.parametrize("chunk", [1, 2, 1000])
    def test_envelope_fields_sent_on_one_event_only_survive_in_any_order(self, chunk: int) -> None:
        """`triggeredBy`, `userId` and `reason` sent only on job.started (as docs/events.md's example
        does), entity ids only on the retry: the row keeps each, whichever batch or order brings it."""
        streams: list[JobEvent] = []
        for partition in (0, 1):  # one job in order, another in reverse order
            c = Chain(root_type=JobType.ENRICH_ALBUM)
            user, artist = uuid.uuid4(), uuid.uuid4()
            located = c.entity.model_copy(update={"artist_id": artist})
            started = c.started(c.root_id).model_copy(update={"triggered_by": "admin", "user_id": user,
                                                              "reason": "manual: enrich this album"})
            events = [started, c.retrying(c.root_id, 1).model_copy(update={"entity": located}),
                      c.started(c.root_id, 2), c.finished(c.root_id, 2)]
            streams += events
            store = self.make()
            _apply_in_chunks(store, _positioned(events[::-1] if partition else events, partition), chunk)
            row = self.rows(store)[c.root_id]
            assert (row["triggered_by"], str(row["user_id"]), row["reason"]) == (
                "admin", str(user), "manual: enrich this album")
            assert (str(row["artist_id"]), str(row["album_id"]), row["status"]) == (
                str(artist), str(c.entity.album_id), "SUCCESS")
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(streams).items()}
        assert {j: _normalise(r) for j, r in self.rows(store).items()} == expected

    def test_a_late_retry_of_an_attempt_above_the_finished_one_counts_for_nothing(self) -> None:
        """Attempts 1 and 2 retried, 3 finished, then a stray job.retrying of attempt 5: the row
        says 2 retries, attempt 3, and a history of attempts 1, 2, 3."""
        c = Chain(root_type=JobType.ENRICH_ARTIST)
        job = c.root_id
        events = [c.started(job, 1), c.retrying(job, 1), c.started(job, 2), c.retrying(job, 2),
                  c.started(job, 3), c.finished(job, 3), c.retrying(job, 5, NOT_FOUND)]
        for partition, chunk in enumerate((1, 1000)):  # the same events again, through another partition
            store = self.make()
            _apply_in_chunks(store, _positioned(events, partition), chunk)
            row = self.rows(store)[job]
            assert (row["status"], row["retry_count"], row["attempt"]) == ("SUCCESS", 2, 3)
            assert [a["attempt"] for a in row["attempts"]] == [1, 2, 3]
            assert (row["last_error"], row["last_error_code"]) == (RATE_LIMIT.message, RATE_LIMIT.code)

    def test_replayed_positions_are_skipped(self) -> None:
        events = self._stream()
        store = self.make()
        batch = _positioned(events)

        async def go() -> tuple[int, int]:
            await store.apply(batch)
            again = await store.apply(batch[:10])
            positions = await store.positions("events")
            await store.close()
            return again.skipped, positions[0]

        skipped, position = asyncio.run(go())
        assert (skipped, position) == (10, len(events))


class TestInMemoryStore(StoreContract):
    _shared: InMemoryStore | None = None

    @pytest.fixture(autouse=True)
    def _fresh(self) -> None:
        self._shared = InMemoryStore()

    def make(self) -> LogStore:
        assert self._shared is not None
        return self._shared

    def rows(self, store: LogStore) -> dict[str, dict[str, Any]]:
        assert isinstance(store, InMemoryStore)
        return {j: _as_db(r) for j, r in store.rows().items()}


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    url: str = ""

    @pytest.fixture(autouse=True)
    def _db(self, db: str) -> None:
        self.url = db

    def make(self) -> LogStore:
        return PostgresStore(self.url, consumer="test")

    def rows(self, store: LogStore) -> dict[str, dict[str, Any]]:
        return _db_rows(self.url)

    def test_legacy_rows_are_untouched(self) -> None:
        c, events = album_chain_with_failed_child()
        with psycopg.connect(self.url) as conn:
            for job_id in (c.root_id, c.root_id, None):  # legacy duplicates of the projected job_id, and null
                conn.execute(
                    "INSERT INTO enrichment_logs (entity_type, entity_id, operation, status, job_id, is_root_job)"
                    " VALUES ('ALBUM', gen_random_uuid(), 'ENRICH_ALBUM', 'COMPLETED', %s, true)", (job_id,))
            before = conn.execute("SELECT * FROM enrichment_logs ORDER BY id").fetchall()
        _apply_in_chunks(self.make(), _positioned(events), 5)
        with psycopg.connect(self.url) as conn:
            legacy = conn.execute("SELECT * FROM enrichment_logs WHERE fold_state IS NULL ORDER BY id").fetchall()
            projected = conn.execute("SELECT count(*) FROM enrichment_logs WHERE fold_state IS NOT NULL").fetchone()
        assert legacy == before and projected == (3,)

    def test_rows_whose_state_was_stored_in_the_former_object_form_are_continued(self) -> None:
        events = self._stream()
        batch = _positioned(events)
        _apply_in_chunks(self.make(), batch[: len(batch) // 2], 5)
        with psycopg.connect(self.url) as conn:  # as version 3 stored them: a JSON object, integer event ids
            for job_id, stored in conn.execute("SELECT job_id, fold_state FROM enrichment_logs").fetchall():
                conn.execute("UPDATE enrichment_logs SET fold_state = %s WHERE job_id = %s",
                             (Jsonb(state_json_as_version_3(stored_state_json(stored))), job_id))
        _apply_in_chunks(self.make(), batch, 5)  # replays the first half, continues the rows with the rest
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        rows = {j: _normalise(r) for j, r in _db_rows(self.url).items()}
        forms = {type(r["fold_state"]) for r in rows.values()}
        assert forms == {str, dict}  # the rows the second half touched were rewritten, the others not
        for row in (*rows.values(), *expected.values()):  # the same state in either form compares equal
            state = stored_state_json(row["fold_state"])
            row["fold_state"] = state if state["v"] == 3 else state_json_as_version_3(state)
        assert rows == expected

    # The read-ahead: each batch folded while the previous one commits, as the agent runs it.

    def _apply_ahead(self, store: PostgresStore, batch: list[Positioned], size: int) -> None:
        async def go() -> None:
            pending: asyncio.Task[Any] | None = None
            for i in range(0, len(batch), size):
                chunk = batch[i : i + size]
                if pending is not None and not store.reads_ahead:
                    await pending
                prepared = await store.prepare(chunk)
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(store.apply(chunk, prepared))
            if pending is not None:
                await pending
            await store.close()

        asyncio.run(go())

    @pytest.mark.parametrize("chunk", [1, 7, 1000])
    def test_reading_ahead_equals_the_pure_fold(self, chunk: int) -> None:
        events = self._stream()
        shuffled = events[:]
        random.Random(chunk).shuffle(shuffled)
        store = PostgresStore(self.url, consumer="test")
        self._apply_ahead(store, _positioned(shuffled), chunk)
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        assert {j: _normalise(r) for j, r in _db_rows(self.url).items()} == expected
        assert store.fallbacks == 0  # nobody else wrote: every batch went the read-ahead way

    def test_positions_moved_by_another_process_roll_the_prepared_batch_back(self) -> None:
        events = self._stream()
        batch = _positioned(events)
        mine, other = PostgresStore(self.url, consumer="test"), PostgresStore(self.url, consumer="test")

        async def go() -> tuple[int, int]:
            await mine.apply(batch[:10])
            prepared = await mine.prepare(batch[10:20])
            await other.apply(batch[10:30])  # e.g. the partition's next owner, during a rebalance
            result = await mine.apply(batch[10:20], prepared)
            await mine.apply(batch[30:])
            for s in (mine, other):
                await s.close()
            return result.skipped, mine.fallbacks

        skipped, fallbacks = asyncio.run(go())
        assert (skipped, fallbacks) == (10, 1)  # re-folded in its transaction: all already applied
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        assert {j: _normalise(r) for j, r in _db_rows(self.url).items()} == expected

    def test_a_refused_batch_is_logged_and_counted(self, caplog: pytest.LogCaptureFixture) -> None:
        """What the positions check refused says so: the batch read ahead (warning, metric) and the events
        below the stored positions, not applied (info), with the partitions and offsets."""
        from projector.metrics import Metrics

        batch = _positioned(self._stream())
        metrics = Metrics()
        mine = PostgresStore(self.url, consumer="test", metrics=metrics, application_name="enrichlog-projector a")
        other = PostgresStore(self.url, consumer="test")

        async def go() -> None:
            await mine.apply(batch[:10])
            prepared = await mine.prepare(batch[10:20])
            await other.apply(batch[10:30])
            await mine.apply(batch[10:20], prepared)
            for s in (mine, other):
                await s.close()

        caplog.set_level("INFO", logger="projector.store")
        asyncio.run(go())
        messages = [r.getMessage() for r in caplog.records]
        assert any("refused" in m and "events[0] read at 10, stored 30" in m for m in messages), messages
        below = [r for r in caplog.records if r.getMessage().startswith("not applied: 10 events")]
        assert below and below[0].below_positions == {"events[0]": "offsets 10..19 < position 30"}
        assert metrics.batches_refused.labels(reason="positions-moved")._value.get() == 1

    def test_a_row_written_by_someone_else_meanwhile_is_not_overwritten_from_a_stale_state(self) -> None:
        c = Chain(root_type=JobType.ENRICH_ARTIST)
        started, retrying, restarted, finished = (c.started(c.root_id), c.retrying(c.root_id, 1),
                                                  c.started(c.root_id, 2), c.finished(c.root_id, 2))
        mine, other = PostgresStore(self.url, consumer="test"), PostgresStore(self.url, consumer="elsewhere")

        async def go() -> int:
            await mine.apply([Positioned("events", 0, 0, started)])
            prepared = await mine.prepare([Positioned("events", 0, 1, retrying)])
            # the same job's later events, written through another partition (a producer that keyed
            # them differently) after the read-ahead of `mine`
            await other.apply([Positioned("events", 1, 0, restarted), Positioned("events", 1, 1, finished)])
            await mine.apply([Positioned("events", 0, 1, retrying)], prepared)
            for s in (mine, other):
                await s.close()
            return mine.fallbacks

        assert asyncio.run(go()) == 1
        expected = {j: _normalise(_as_db(r)) for j, r in project_all([started, retrying, restarted, finished]).items()}
        assert {j: _normalise(r) for j, r in _db_rows(self.url).items()} == expected
        with psycopg.connect(self.url) as conn:
            seq = conn.execute("SELECT fold_seq FROM enrichment_logs WHERE job_id = %s", (c.root_id,)).fetchone()
        assert seq == (3,)  # written three times: mine, the other's, mine again from the fresh state

    def test_a_new_row_inserted_by_someone_else_meanwhile_is_folded_onto_theirs(self) -> None:
        """A job without a row when the batch was folded ahead is copied into the table; if someone
        else inserted its row meanwhile, the copy fails on the job key and the batch is folded again
        onto that row, in its transaction."""
        c = Chain(root_type=JobType.ENRICH_ARTIST)
        started, finished = c.started(c.root_id), c.finished(c.root_id)
        mine, other = PostgresStore(self.url, consumer="test"), PostgresStore(self.url, consumer="elsewhere")

        async def go() -> int:
            prepared = await mine.prepare([Positioned("events", 0, 0, finished)])
            await other.apply([Positioned("events", 1, 0, started)])
            await mine.apply([Positioned("events", 0, 0, finished)], prepared)
            for s in (mine, other):
                await s.close()
            return mine.fallbacks

        assert asyncio.run(go()) == 1
        expected = {j: _normalise(_as_db(r)) for j, r in project_all([started, finished]).items()}
        assert {j: _normalise(r) for j, r in _db_rows(self.url).items()} == expected

    @pytest.mark.parametrize("chunk", [1, 3, 100])
    def test_rows_hold_every_kind_of_value_exactly(self, chunk: int) -> None:
        """The rows go in PostgreSQL's binary COPY form (projector.pgcopy): text with tabs, newlines,
        backslashes, quotes and characters beyond ASCII, the longest job ids, times from year 1 to
        9999 and before 1970, the largest integers, empty and non-ASCII arrays, missing ids and
        detail; inserted (a job's first batch) and updated (its later ones) alike."""
        odd = 'tab\there, newline\nhere, backslash \\ and \\N, "quotes", \u00e9\u00fc\u2603 \U0001f3b5'
        c = Chain(root_id="r" + "\u00e9" * 99, root_type=JobType.ENRICH_ALBUM)
        c.entity = Entity(type=EntityType.TRACK, id=uuid.uuid4(), artist_id=uuid.uuid4(), track_id=uuid.uuid4())
        cover, check = "c" + "\u00fc" * 99, "x" * 100  # children's ids need not extend the root's
        c.types.update({cover: JobType.CACHE_ALBUM_COVER_ART, check: JobType.CHECK_ARTIST_ENRICHMENT})
        when = [datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                datetime(2026, 2, 6, 12, 0, 0, 123_456, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
        error = JobError(message=odd, code="E\\1\t", kind=ErrorKind.TIMEOUT)
        events = [
            c.started(c.root_id).model_copy(update={"occurred_at": when[0], "triggered_by": odd[:50],
                                                     "user_id": uuid.uuid4(), "reason": odd}),
            c.retrying(c.root_id, 1, error).model_copy(update={"occurred_at": when[1]}),
            c.started(c.root_id, 2).model_copy(update={"occurred_at": when[2]}),
            c.finished(c.root_id, 2).model_copy(update={
                "occurred_at": when[3], "duration_ms": 2**31 - 1, "api_call_count": 2**31 - 1,
                "detail": EnrichmentDetail(sources=[Source.WIKIDATA], fields_enriched=[odd[:200], "", "\u00e9"],
                                           data_quality_before=DataQuality.LOW, musicbrainz_ids=[])}),
            c.started(cover).model_copy(update={"occurred_at": when[1]}),
            c.failed(cover, 1, JobError(message="\u2603", code=None)).model_copy(update={
                "occurred_at": when[2], "detail": CacheImageDetail(source_url="https://e.x/\u00e9?a=1\tb")}),
            c.started(check),
            c.finished(check, outcome=Outcome.SKIPPED).model_copy(update={"duration_ms": 0}),
        ]
        _apply_in_chunks(self.make(), _positioned(events), chunk)
        expected = {j: _normalise(_as_db(r)) for j, r in project_all(events).items()}
        rows = {j: _normalise(r) for j, r in _db_rows(self.url).items()}
        assert rows == expected
        assert rows[c.root_id]["status"] == "PARTIAL" and rows[c.root_id]["reason"] == odd


@pytest.mark.postgres
def test_a_database_without_the_table_is_refused_with_what_to_do(empty_db: str) -> None:
    """The writer's staging table is made from enrichment_logs: on a database never migrated, the
    first batch fails with a clear error, and no connection is left open."""
    c = Chain()
    store = PostgresStore(empty_db, consumer="test")

    async def go() -> None:
        await store.apply([Positioned("events", 0, 0, c.started(c.root_id))])

    with pytest.raises(StoreError, match=r"staging table \(42P01\).*enrichlog migrate"):
        asyncio.run(go())
    with psycopg.connect(empty_db) as conn:
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND pid <> pg_backend_pid()").fetchone()
    assert others == (0,)


@pytest.mark.postgres
def test_a_role_without_temporary_tables_is_refused_with_what_to_do(db: str) -> None:
    """The staging table is temporary: a role denied TEMPORARY on the database is told so."""
    role = f"no_temp_{uuid.uuid4().hex[:8]}"
    dbname = psycopg.conninfo.conninfo_to_dict(db)["dbname"]
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}'")  # trust or password auth alike
        conn.execute(f'REVOKE TEMPORARY ON DATABASE "{dbname}" FROM PUBLIC')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"')
    url = psycopg.conninfo.make_conninfo(db, user=role, password=role)
    c = Chain()

    async def go() -> None:
        await PostgresStore(url, consumer="test").apply([Positioned("events", 0, 0, c.started(c.root_id))])

    try:
        with pytest.raises(StoreError, match=r"staging table \(42501\).*GRANT TEMPORARY ON DATABASE"):
            asyncio.run(go())
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f'GRANT TEMPORARY ON DATABASE "{dbname}" TO PUBLIC')
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_a_row_the_database_refuses_is_poison_and_forgets_what_was_prepared(db: str) -> None:
    """A constraint the row breaks (SQLSTATE class 23): poison, so that the pipeline can isolate
    the event; the batch prepared ahead no longer holds."""
    c = Chain()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE enrichment_logs ADD CONSTRAINT refused CHECK (job_id <> '{c.root_id}')")
    store = PostgresStore(db, consumer="test")
    batch = [Positioned("events", 0, 0, c.started(c.root_id))]

    async def go() -> None:
        try:
            await store.apply(batch, await store.prepare(batch))
        finally:
            await store.close()

    with pytest.raises(StoreError, match=r"^batch rejected by PostgreSQL \(23514\): .*\"refused\"$") as caught:
        asyncio.run(go())
    assert caught.value.poison and caught.value.sqlstate == "23514" and not store.reads_ahead


@pytest.mark.postgres
def test_a_schema_older_than_the_store_is_refused_not_poison_and_says_to_migrate(db: str) -> None:
    """A rejection that is the deployment's (a column the store writes is missing): the projector
    stops rather than dead-letter every event, and the message says what to do."""
    first, second = Chain(), Chain()
    store = PostgresStore(db, consumer="test")

    async def go() -> None:
        try:
            await store.apply([Positioned("events", 0, 0, first.started(first.root_id))])
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("ALTER TABLE enrichment_logs DROP COLUMN source_topic")
            await store.apply([Positioned("events", 0, 1, second.started(second.root_id))])
        finally:
            await store.close()

    with pytest.raises(StoreError, match=r"^batch rejected by PostgreSQL \(42703\): .*source_topic.*; is the "
                       r"database migrated \(enrichlog migrate\)\?$") as caught:
        asyncio.run(go())
    assert not caught.value.poison and caught.value.sqlstate == "42703"
