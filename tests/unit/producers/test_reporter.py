"""The reporter emits the right event sequence around a processor's work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from producers import JobFailure, Link, ListSink, Reporter, SimulatedClock
from schemas import (
    CacheImageDetail,
    EnrichmentDetail,
    Entity,
    EntityType,
    ErrorKind,
    JobFailed,
    JobFinished,
    JobRetrying,
    JobStarted,
    JobType,
    Outcome,
    dump_event,
    parse_event,
)

T0 = datetime(2026, 2, 6, 12, 0, tzinfo=UTC)
ALBUM = Entity(type=EntityType.ALBUM, id=uuid.uuid4())


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def reporter(sink: ListSink, clock: SimulatedClock) -> Reporter:
    return Reporter(sink, clock=clock)


def test_success_emits_started_then_finished_with_duration_and_detail(
    reporter: Reporter, sink: ListSink, clock: SimulatedClock
) -> None:
    detail = EnrichmentDetail(fields_enriched=["label"], api_call_count=2)
    with reporter.job("j-1", JobType.ENRICH_ALBUM, entity=ALBUM) as job:
        clock.advance(1.234)
        job.detail(detail)
    started, finished = sink.events
    assert isinstance(started, JobStarted) and isinstance(finished, JobFinished)
    assert (started.occurred_at, finished.occurred_at) == (T0, clock.now())
    assert finished.duration_ms == 1234
    assert finished.outcome is Outcome.SUCCESS
    assert finished.detail == detail
    assert started.max_attempts == 3
    assert started.event_id != finished.event_id
    assert all(e.root_job_id == "j-1" and e.parent_job_id is None for e in sink.events)
    assert [parse_event(dump_event(e)) for e in sink.events] == sink.events


def test_outcome_is_settable(reporter: Reporter, sink: ListSink) -> None:
    with reporter.job("j-2", JobType.CACHE_ALBUM_COVER_ART, entity=ALBUM) as job:
        job.finish(Outcome.SKIPPED, api_call_count=0)
    finished = sink.events[-1]
    assert isinstance(finished, JobFinished)
    assert (finished.outcome, finished.api_call_count) == (Outcome.SKIPPED, 0)


def test_retry_then_success_reuses_job_id_with_next_attempt(
    reporter: Reporter, sink: ListSink, clock: SimulatedClock
) -> None:
    with pytest.raises(TimeoutError), reporter.job("j-3", JobType.DISCOGS_SEARCH_ARTIST,
                                                    entity=ALBUM, attempt=1, max_attempts=3):
        clock.advance(0.5)
        raise TimeoutError("Discogs did not answer in 30 s")
    with reporter.job("j-3", JobType.DISCOGS_SEARCH_ARTIST, entity=ALBUM, attempt=2, max_attempts=3):
        clock.advance(0.1)
    kinds = [(type(e).__name__, e.job_id, e.attempt) for e in sink.events]
    assert kinds == [("JobStarted", "j-3", 1), ("JobRetrying", "j-3", 1),
                     ("JobStarted", "j-3", 2), ("JobFinished", "j-3", 2)]
    retrying = sink.events[1]
    assert isinstance(retrying, JobRetrying)
    assert retrying.error.kind is ErrorKind.TIMEOUT
    assert retrying.error.code == "TimeoutError"
    assert retrying.error.message == "Discogs did not answer in 30 s"
    assert retrying.duration_ms == 500


def test_failure_on_last_attempt_is_permanent(reporter: Reporter, sink: ListSink) -> None:
    with pytest.raises(RuntimeError), reporter.job("j-4", JobType.ENRICH_ALBUM, entity=ALBUM,
                                                    attempt=3, max_attempts=3):
        raise RuntimeError("MusicBrainz 503")
    failed = sink.events[-1]
    assert isinstance(failed, JobFailed)
    assert (failed.attempt, failed.error.kind, failed.error.message) == (3, ErrorKind.UNKNOWN,
                                                                        "MusicBrainz 503")


def test_not_retryable_job_failure_is_permanent_at_first_attempt(
    reporter: Reporter, sink: ListSink
) -> None:
    failure = JobFailure("source image returned 404", kind=ErrorKind.NOT_FOUND,
                         code="IMAGE_FETCH_FAILED", retryable=False)
    with pytest.raises(JobFailure) as raised, reporter.job(
        "j-5", JobType.CACHE_ARTIST_IMAGE, entity=ALBUM, attempt=1, max_attempts=5
    ) as job:
        job.detail(CacheImageDetail(source_url="https://example.org/a.jpg"))
        raise failure
    assert raised.value is failure  # re-raised so the queue sees it
    failed = sink.events[-1]
    assert isinstance(failed, JobFailed)
    assert (failed.error.kind, failed.error.code) == (ErrorKind.NOT_FOUND, "IMAGE_FETCH_FAILED")
    assert isinstance(failed.detail, CacheImageDetail)


def test_reraise_false_swallows_after_reporting(reporter: Reporter, sink: ListSink) -> None:
    with reporter.job("j-6", JobType.ENRICH_TRACK, entity=ALBUM, reraise=False):
        raise ValueError("bad")
    assert isinstance(sink.events[-1], JobRetrying)


def test_long_messages_are_truncated_to_the_contract_limit(
    reporter: Reporter, sink: ListSink
) -> None:
    with pytest.raises(ValueError), reporter.job("j-7", JobType.ENRICH_TRACK, entity=ALBUM):
        raise ValueError("x" * 10_000)
    event = sink.events[-1]
    assert isinstance(event, JobRetrying)
    assert len(event.error.message) == 4000
    assert event.error.message.endswith("…")


def test_empty_message_falls_back_to_exception_name(reporter: Reporter, sink: ListSink) -> None:
    with pytest.raises(KeyError), reporter.job("j-8", JobType.ENRICH_TRACK, entity=ALBUM):
        raise KeyError()
    event = sink.events[-1]
    assert isinstance(event, JobRetrying)
    assert event.error.message == "KeyError"


def test_interrupt_emits_no_verdict(reporter: Reporter, sink: ListSink) -> None:
    with pytest.raises(KeyboardInterrupt), reporter.job("j-9", JobType.ENRICH_TRACK, entity=ALBUM):
        raise KeyboardInterrupt
    assert [type(e) for e in sink.events] == [JobStarted]


def test_detail_of_the_wrong_family_is_rejected_where_it_is_attached(
    reporter: Reporter,
) -> None:
    with reporter.job("j-10", JobType.ENRICH_ALBUM, entity=ALBUM) as job, \
            pytest.raises(TypeError, match="does not fit ENRICH_ALBUM"):
        job.detail(CacheImageDetail())


def test_child_job_carries_the_root(reporter: Reporter, sink: ListSink) -> None:
    with reporter.job("root", JobType.CHECK_ALBUM_ENRICHMENT, entity=ALBUM) as root:
        link = root.child_link()
    with reporter.job("child", JobType.ENRICH_ALBUM, entity=ALBUM, link=link):
        pass
    assert {(e.job_id, e.root_job_id, e.parent_job_id) for e in sink.events} == {
        ("root", "root", None), ("child", "root", "root")}


def test_attempt_beyond_max_attempts_is_a_programming_error(reporter: Reporter) -> None:
    with pytest.raises(ValueError, match="exceeds max_attempts"):
        reporter.job("j", JobType.ENRICH_ALBUM, entity=ALBUM, attempt=4, max_attempts=3)


def test_spotify_fallback_cannot_be_a_root(reporter: Reporter) -> None:
    with pytest.raises(ValueError, match="needs a parent"):
        reporter.job("s", JobType.SPOTIFY_TRACK_FALLBACK, entity=ALBUM)
    assert reporter.job("s", JobType.SPOTIFY_TRACK_FALLBACK, entity=ALBUM, link=Link("album-root"))
