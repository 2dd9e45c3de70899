"""A workload generator: the real chains of DOMAIN.md, run through the Reporter on simulated time.

Each chain is a root (CHECK_ALBUM_ENRICHMENT, CHECK_ARTIST_ENRICHMENT, CHECK_TRACK_ENRICHMENT, or
a manually triggered job) whose processors spawn children through `job.child_link()`, exactly as
real processors would. Time is a SimulatedClock: durations, retry back-offs and slow API calls are
computed, never slept, so 100,000 events take seconds. Everything random comes from one
`random.Random(seed)`: the same config gives the same events (ids included).

    events = list(generate_events(WorkloadConfig(chains=100, seed=7)))     # no Kafka
    summary = run_workload(config, publisher, rate=2000)                  # through Kafka
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from producers.clock import SimulatedClock
from producers.linking import Link
from producers.reporter import Reporter
from producers.sinks import EventSink, ListSink
from producers.workload_details import (
    PERMANENT,
    detail_for,
    duration_s,
    permanent_failure,
    transient_failure,
)
from schemas import Entity, EntityType, JobEvent, Outcome
from schemas import JobType as T

# Who spawns whom (DOMAIN.md). SPOTIFY_TRACK_FALLBACK runs inside album enrichment, half the time.
CHILDREN: dict[T, tuple[T, ...]] = {
    T.CHECK_ALBUM_ENRICHMENT: (T.ENRICH_ALBUM, T.CHECK_ARTIST_ENRICHMENT),
    T.ENRICH_ALBUM: (T.CACHE_ALBUM_COVER_ART, T.SPOTIFY_TRACK_FALLBACK),
    T.CHECK_ARTIST_ENRICHMENT: (T.ENRICH_ARTIST,),
    T.ENRICH_ARTIST: (T.DISCOGS_SEARCH_ARTIST, T.CACHE_ARTIST_IMAGE),
    T.DISCOGS_SEARCH_ARTIST: (T.DISCOGS_GET_ARTIST,),
    T.CHECK_TRACK_ENRICHMENT: (T.ENRICH_TRACK,),
}
ROOTS: tuple[tuple[str, T, float], ...] = (  # (trigger, root type, weight)
    ("scheduler", T.CHECK_ALBUM_ENRICHMENT, 0.5), ("scheduler", T.CHECK_ARTIST_ENRICHMENT, 0.2),
    ("scheduler", T.CHECK_TRACK_ENRICHMENT, 0.2), ("admin", T.ENRICH_ARTIST, 0.04),
    ("admin", T.ENRICH_ALBUM, 0.03), ("admin", T.CACHE_ALBUM_COVER_ART, 0.03),
)
ENTITY_OF: dict[T, EntityType] = {
    T.CHECK_ARTIST_ENRICHMENT: EntityType.ARTIST, T.ENRICH_ARTIST: EntityType.ARTIST,
    T.DISCOGS_SEARCH_ARTIST: EntityType.ARTIST, T.DISCOGS_GET_ARTIST: EntityType.ARTIST,
    T.CACHE_ARTIST_IMAGE: EntityType.ARTIST, T.CHECK_TRACK_ENRICHMENT: EntityType.TRACK,
    T.ENRICH_TRACK: EntityType.TRACK,
}


def _rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class WorkloadConfig:
    """What to simulate. Rates are probabilities: per attempt (retry), per job (failure, slow)."""

    chains: int = 100
    retry_rate: float = 0.1       # an attempt fails with a transient error, the queue retries
    failure_rate: float = 0.02    # a job fails permanently (not retryable, or retries exhausted)
    slow_rate: float = 0.05       # an attempt makes a slow API call (8-40x its usual duration)
    seed: int = 0
    max_attempts: int = 3
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    chain_interval_s: float = 0.05  # simulated time between the starts of two chains
    run_id: str | None = None     # job id prefix; default derived from the seed

    def __post_init__(self) -> None:
        if self.chains < 0:
            raise ValueError(f"chains must be >= 0, got {self.chains}")
        for name in ("retry_rate", "failure_rate", "slow_rate"):
            _rate(name, getattr(self, name))
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")


@dataclass
class WorkloadSummary:
    chains: int = 0
    jobs: int = 0
    events: Counter[str] = field(default_factory=Counter)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


class _Tally:
    """Counts what goes through to the sink, and optionally paces it to `rate` events/s."""

    def __init__(self, sink: EventSink, summary: WorkloadSummary, rate: float | None) -> None:
        self.sink, self.summary = sink, summary
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def publish(self, event: JobEvent) -> bool:
        self.summary.events[event.kind] += 1
        if self.interval:
            self.next_at += self.interval
            ahead = self.next_at - time.monotonic()
            if ahead > 0.005:
                time.sleep(ahead)
        return self.sink.publish(event)

    def flush(self, timeout: float | None = None) -> None:
        self.sink.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.sink.close(timeout)


@dataclass(order=True)
class _Queued:
    at: datetime
    seq: int
    job_type: T = field(compare=False)
    link: Link | None = field(compare=False)


class Workload:
    """Runs simulated chains one after another; each chain on its own stretch of simulated time."""

    def __init__(self, config: WorkloadConfig, sink: EventSink, *, rate: float | None = None) -> None:
        self.config = config
        self.summary = WorkloadSummary()
        self.rng = random.Random(config.seed)
        self.clock = SimulatedClock(config.start)
        self.reporter = Reporter(_Tally(sink, self.summary, rate), clock=self.clock,
                                 new_event_id=self._uuid)
        self.run_id = config.run_id or f"s{config.seed}"

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def run(self) -> WorkloadSummary:
        for index in range(self.config.chains):
            self.run_chain(index)
        return self.summary

    def run_chain(self, index: int) -> None:
        """Simulate chain `index`: the root, then its descendants in order of their start time."""
        rng, cfg = self.rng, self.config
        trigger, root_type, _ = rng.choices(ROOTS, weights=[w for *_, w in ROOTS])[0]
        ids = {t: self._uuid() for t in EntityType}
        user = self._uuid() if trigger == "admin" else None
        self.clock.set(cfg.start + timedelta(seconds=index * cfg.chain_interval_s))
        queue = [_Queued(self.clock.now(), 0, root_type, None)]
        seq = 0
        while queue:
            item = heapq.heappop(queue)
            self.clock.set(max(self.clock.now(), item.at))
            job_id = f"{self.run_id}-{index:06d}-{item.seq:02d}"
            for child_type, link in self._run_job(job_id, item, ids, trigger, user):
                seq += 1
                at = self.clock.now() + timedelta(seconds=rng.uniform(0.005, 0.2))
                heapq.heappush(queue, _Queued(at, seq, child_type, link))
            self.summary.jobs += 1
        self.summary.chains += 1

    def _entity(self, job_type: T, ids: dict[EntityType, uuid.UUID]) -> Entity:
        kind = ENTITY_OF.get(job_type, EntityType.ALBUM)
        artist, album = ids[EntityType.ARTIST], ids[EntityType.ALBUM]
        if kind is EntityType.ARTIST:
            return Entity(type=kind, id=artist, artist_id=artist)
        if kind is EntityType.TRACK:
            track = ids[EntityType.TRACK]
            return Entity(type=kind, id=track, track_id=track, album_id=album, artist_id=artist)
        return Entity(type=kind, id=album, album_id=album, artist_id=artist)

    def _run_job(self, job_id: str, item: _Queued, ids: dict[EntityType, uuid.UUID],
                 trigger: str, user: uuid.UUID | None) -> list[tuple[T, Link]]:
        """All attempts of one job; returns the children it spawned (none unless it finished)."""
        rng, cfg, job_type = self.rng, self.config, item.job_type
        doomed = rng.random() < cfg.failure_rate
        hard = doomed and job_type in PERMANENT  # a not-retryable error at once, else retries run out
        entity = self._entity(job_type, ids)
        manual = item.link is None and trigger == "admin"
        for attempt in range(1, cfg.max_attempts + 1):
            spawned: list[tuple[T, Link]] = []
            with self.reporter.job(
                job_id, job_type, entity=entity, link=item.link, attempt=attempt,
                max_attempts=cfg.max_attempts, triggered_by=trigger, reraise=False,
                user_id=user if manual else None, reason="enrich requested by an admin" if manual else None,
            ) as job:
                self.clock.advance(duration_s(rng, job_type, rng.random() < cfg.slow_rate))
                self._maybe_fail(job_type, doomed, hard, attempt)
                spawned = [(t, job.child_link()) for t in self._children(job_type)]
                outcome = self._outcome(job_type)
                if outcome in (Outcome.SKIPPED, Outcome.NO_DATA_AVAILABLE):
                    spawned = []
                job.detail(detail_for(rng, job_type, len(spawned)))
                job.finish(outcome)
                return spawned
            # the attempt failed (the reporter emitted retrying/failed): back off, maybe retry
            self.clock.advance(rng.uniform(1.0, 2.0) * 2 ** attempt)
            if hard:
                return []
        return []

    def _maybe_fail(self, job_type: T, doomed: bool, hard: bool, attempt: int) -> None:
        if hard:
            raise permanent_failure(job_type)
        if doomed:
            raise transient_failure(self.rng, job_type)  # fails every attempt: retries exhausted
        if attempt < self.config.max_attempts and self.rng.random() < self.config.retry_rate:
            raise transient_failure(self.rng, job_type)

    def _children(self, job_type: T) -> list[T]:
        children = list(CHILDREN.get(job_type, ()))
        if T.SPOTIFY_TRACK_FALLBACK in children and self.rng.random() < 0.5:
            children.remove(T.SPOTIFY_TRACK_FALLBACK)
        return children

    def _outcome(self, job_type: T) -> Outcome:
        roll = self.rng.random()
        if job_type.name.startswith("CHECK_"):
            return Outcome.SKIPPED if roll < 0.15 else Outcome.SUCCESS
        if job_type.name.startswith("CACHE_"):
            return Outcome.SKIPPED if roll < 0.1 else Outcome.SUCCESS
        if job_type.name.startswith("ENRICH_"):
            if roll < 0.05:
                return Outcome.NO_DATA_AVAILABLE
            return Outcome.PARTIAL_SUCCESS if roll < 0.15 else Outcome.SUCCESS
        return Outcome.SUCCESS


def generate_events(config: WorkloadConfig) -> Iterator[JobEvent]:
    """The workload's events, chain by chain, without any broker."""
    sink = ListSink()
    workload = Workload(config, sink)
    for index in range(config.chains):
        workload.run_chain(index)
        yield from sink.take()


def run_workload(config: WorkloadConfig, sink: EventSink, *, rate: float | None = None) -> WorkloadSummary:
    """Publish the workload to `sink` (e.g. a KafkaPublisher), optionally paced to `rate` events/s."""
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 events/s, got {rate}")
    return Workload(config, sink, rate=rate).run()


__all__ = ["Workload", "WorkloadConfig", "WorkloadSummary", "generate_events",
           "run_workload"]
