"""Hypothesis strategies for valid job events, for round-trip and fold property tests.

Everything drawn here passes the contract's validation: flat linking, details that fit their
jobType, aware datetimes in several time zones (folds and gaps included), strings up to their
length limits. Typical uses:

    @given(job_events())                      # any single event
    @given(links().flatmap(histories))        # several events of one job (same ids and entity, the
                                              # entity's optional ids and the envelope's optional
                                              # fields on some events only)
    @given(chains())                          # a root and its children, every event of each

Strings are drawn without NUL ("\\x00"): the contract refuses it (PostgreSQL text/jsonb cannot
store it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from schemas import (
    ALWAYS_CHILD,
    DETAIL_FOR_JOB_TYPE,
    CacheImageDetail,
    DataQuality,
    Dimensions,
    DiscogsArtistDetail,
    DiscogsSearchDetail,
    EnrichmentCheckDetail,
    EnrichmentDetail,
    Entity,
    EntityType,
    ErrorKind,
    JobError,
    JobEvent,
    JobFailed,
    JobFinished,
    JobRetrying,
    JobStarted,
    JobType,
    Outcome,
    Source,
    SpotifyFallbackDetail,
)
from schemas.events import MAX_ATTEMPT, SCHEMA_VERSION

MAX_INT32 = 2**31 - 1
KINDS: tuple[type[JobStarted | JobRetrying | JobFinished | JobFailed], ...] = (
    JobStarted,
    JobRetrying,
    JobFinished,
    JobFailed,
)

# Zones with DST folds and gaps, half- and quarter-hour offsets, and fixed offsets.
TIMEZONES = (
    UTC,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Pacific/Chatham"),
    timezone(timedelta(hours=-9, minutes=-30)),
    timezone(timedelta(hours=14)),
)

_ALPHABET = st.characters(codec="utf-8", exclude_characters="\x00")


def text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Short text, or text of exactly the limit (the boundary, cheaply)."""
    short = st.text(_ALPHABET, min_size=min_size, max_size=min(max_size, 40))
    if max_size <= 40:
        return short
    return st.one_of(short, short, st.just("x" * max_size))


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def counts() -> st.SearchStrategy[int]:
    return st.integers(0, 1000) | st.just(MAX_INT32)


def job_ids() -> st.SearchStrategy[str]:
    """Queue ids: realistic ones and arbitrary text of 1..100 characters."""
    return st.one_of(
        st.uuids().map(lambda u: f"job-{u.hex[:12]}"),
        st.integers(1, 10**12).map(str),
        text(1, 100),
    )


def aware_datetimes() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(TIMEZONES),
    )


def entities() -> st.SearchStrategy[Entity]:
    return st.builds(
        Entity,
        type=st.sampled_from(EntityType),
        id=st.uuids(),
        artist_id=optional(st.uuids()),
        album_id=optional(st.uuids()),
        track_id=optional(st.uuids()),
    )


USERS = (UUID("2d4f6a8c-1e3b-4d5f-8a9c-0b1d2e3f4a5b"), UUID("6f1d2c3b-4a59-4e8d-8c7b-6a5f4e3d2c1b"))


def job_errors() -> st.SearchStrategy[JobError]:
    return st.builds(
        JobError,
        message=text(1, 4000),
        code=optional(text(1, 50)),
        kind=st.sampled_from(ErrorKind),
    )


def _short_list(max_size: int = 5) -> st.SearchStrategy[list[str]]:
    return st.lists(text(0, 200), max_size=max_size)


_urls = st.one_of(st.uuids().map(lambda u: f"https://img.example/{u}.jpg"), text(1, 2048))

DETAILS: dict[type, st.SearchStrategy[Any]] = {
    CacheImageDetail: st.builds(
        CacheImageDetail,
        source_url=optional(_urls),
        cloudflare_image_id=optional(text(0, 200)),
        file_size_bytes=optional(counts()),
        format=optional(st.sampled_from(["jpeg", "png", "webp", "gif", "avif", "svg", "other"])),
        dimensions=optional(
            st.builds(Dimensions, width=st.integers(1, 100_000), height=st.integers(1, 100_000))
        ),
        cache_location=optional(_urls),
        url_before=optional(_urls),
        url_after=optional(_urls),
    ),
    DiscogsSearchDetail: st.builds(
        DiscogsSearchDetail,
        search_query=optional(text(0, 200)),
        results_count=optional(counts()),
        discogs_id=optional(text(0, 200)),
        matched_name=optional(text(0, 200)),
        confidence=optional(st.floats(0.0, 1.0)),
    ),
    DiscogsArtistDetail: st.builds(
        DiscogsArtistDetail,
        discogs_id=optional(text(0, 200)),
        profile=optional(text(0, 20_000)),
        images_found=optional(counts()),
        image_url=optional(_urls),
        genres=_short_list(),
    ),
    EnrichmentDetail: st.builds(
        EnrichmentDetail,
        sources=st.lists(st.sampled_from(Source), max_size=6),
        fields_enriched=_short_list(),
        data_quality_before=optional(st.sampled_from(DataQuality)),
        data_quality_after=optional(st.sampled_from(DataQuality)),
        api_call_count=optional(counts()),
        musicbrainz_ids=st.lists(st.uuids().map(str), max_size=5),
    ),
    SpotifyFallbackDetail: st.builds(
        SpotifyFallbackDetail,
        tracks_looked_up=optional(counts()),
        tracks_matched=optional(counts()),
        spotify_ids=_short_list(),
    ),
    EnrichmentCheckDetail: st.builds(
        EnrichmentCheckDetail,
        needs_enrichment=optional(st.booleans()),
        missing_fields=_short_list(),
        jobs_spawned=optional(counts()),
    ),
}


def details(job_type: JobType) -> st.SearchStrategy[Any]:
    """A detail that fits `job_type` (never None; wrap in `optional` for events)."""
    return DETAILS[DETAIL_FOR_JOB_TYPE[job_type]]


class Link(NamedTuple):
    """The identity of one job: what every event of that job repeats."""

    job_type: JobType
    job_id: str
    root_job_id: str
    parent_job_id: str | None
    entity: Entity

    @property
    def is_root(self) -> bool:
        return self.parent_job_id is None


@st.composite
def root_links(draw: st.DrawFn, job_types: st.SearchStrategy[JobType] | None = None) -> Link:
    """A root job (never an ALWAYS_CHILD type): rootJobId == jobId, no parent."""
    roots = [t for t in JobType if t not in ALWAYS_CHILD]
    job_type = draw(job_types.filter(lambda t: t not in ALWAYS_CHILD) if job_types else st.sampled_from(roots))
    job_id = draw(job_ids())
    return Link(job_type, job_id, job_id, None, draw(entities()))


@st.composite
def child_links(draw: st.DrawFn, root: Link, job_types: st.SearchStrategy[JobType] | None = None) -> Link:
    """A job anywhere below `root` (flat linking: its parent is the root)."""
    job_type = draw(job_types or st.sampled_from(JobType))
    job_id = draw(job_ids().filter(lambda j: j != root.root_job_id))
    return Link(job_type, job_id, root.root_job_id, root.root_job_id, draw(entities()))


def links() -> st.SearchStrategy[Link]:
    """Any job: a root, or a child of some root."""
    return st.one_of(root_links(), root_links().flatmap(child_links))


class _EventParts(NamedTuple):
    """The strategies `events_of` draws from, built once: hypothesis validates a strategy the first
    time it is drawn from, which for these costs more than the draw itself."""

    kinds: st.SearchStrategy[Any]
    attempts: st.SearchStrategy[int]
    schema_versions: st.SearchStrategy[str]
    times: st.SearchStrategy[datetime]
    dropped_ids: st.SearchStrategy[dict[str, None]]
    triggered_by: st.SearchStrategy[str | None]
    user_id: st.SearchStrategy[UUID | None]
    reason: st.SearchStrategy[str | None]
    duration_ms: st.SearchStrategy[int]
    outcome: st.SearchStrategy[Outcome]
    api_call_count: st.SearchStrategy[int | None]
    error: st.SearchStrategy[JobError]
    details: dict[JobType, st.SearchStrategy[Any]]


_PARTS: list[_EventParts] = []
_ENTITY_IDS = ("artist_id", "album_id", "track_id")


def _parts() -> _EventParts:
    if not _PARTS:
        _PARTS.append(_EventParts(
            kinds=st.sampled_from(KINDS),
            attempts=st.integers(1, 5) | st.just(MAX_ATTEMPT),
            schema_versions=st.sampled_from([SCHEMA_VERSION, SCHEMA_VERSION, "1.1", "1.7"]),
            times=aware_datetimes(),
            # The entity's optional ids may be left out on some events of a job.
            dropped_ids=st.fixed_dictionaries({}, optional=dict.fromkeys(_ENTITY_IDS, st.none())),
            # From small pools as well, so that events of one job often agree (or leave a field out).
            triggered_by=optional(st.sampled_from(["admin", "schedule"]) | text(0, 50)),
            user_id=optional(st.sampled_from(USERS) | st.uuids()),
            reason=optional(st.sampled_from(["manual", "stale"]) | text(0, 2000)),
            duration_ms=st.integers(0, 600_000) | st.just(MAX_INT32),
            outcome=st.sampled_from(Outcome),
            api_call_count=optional(counts()),
            error=job_errors(),
            details={t: optional(details(t)) for t in JobType},
        ))
    return _PARTS[0]


@st.composite
def events_of(
    draw: st.DrawFn,
    link: Link,
    kinds: tuple[type[Any], ...] = KINDS,
    attempts: st.SearchStrategy[int] | None = None,
) -> JobEvent:
    """One event of the job `link`, of one of `kinds`: the entity's optional ids and the envelope's
    optional fields (triggeredBy, userId, reason) may be left out, or differ from another event's."""
    parts = _parts()
    kind = draw(parts.kinds if kinds is KINDS else st.sampled_from(kinds))
    dropped = draw(parts.dropped_ids)
    fields: dict[str, Any] = {
        "event_id": draw(st.uuids()),
        "schema_version": draw(parts.schema_versions),
        "job_id": link.job_id,
        "job_type": link.job_type,
        "root_job_id": link.root_job_id,
        "parent_job_id": link.parent_job_id,
        "attempt": draw(attempts or parts.attempts),
        "occurred_at": draw(parts.times),
        "entity": link.entity.model_copy(update=dropped) if dropped else link.entity,
        "triggered_by": draw(parts.triggered_by),
        "user_id": draw(parts.user_id),
        "reason": draw(parts.reason),
    }
    if kind is JobStarted:
        fields["max_attempts"] = draw(optional(st.integers(fields["attempt"], MAX_ATTEMPT)))
        return JobStarted(**fields)
    fields["detail"] = draw(parts.details[link.job_type])
    fields["duration_ms"] = draw(parts.duration_ms)
    if kind is JobFinished:
        return JobFinished(**fields, outcome=draw(parts.outcome), api_call_count=draw(parts.api_call_count))
    return kind(**fields, error=draw(parts.error))


def job_events(kinds: tuple[type[Any], ...] = KINDS) -> st.SearchStrategy[JobEvent]:
    """Any valid event: any kind, any job type, root or child."""
    return links().flatmap(lambda link: events_of(link, kinds))


def histories(link: Link, max_size: int = 8) -> st.SearchStrategy[list[JobEvent]]:
    """Several events of the same job, in no particular order (a fold must not care)."""
    return st.lists(events_of(link), min_size=1, max_size=max_size)


@st.composite
def chains(draw: st.DrawFn, max_children: int = 5, max_events_per_job: int = 6) -> list[JobEvent]:
    """A root and up to `max_children` children, each with a few events, shuffled together."""
    root = draw(root_links())
    children = draw(st.lists(child_links(root), max_size=max_children, unique_by=lambda c: c.job_id))
    events: list[JobEvent] = []
    for link in [root, *children]:
        events += draw(histories(link, max_events_per_job))
    return draw(st.permutations(events))


# Hand-written examples: every field populated, one per kind and job type.

T0 = datetime(2026, 2, 6, 12, 0, 0, 123456, tzinfo=UTC)
FULL_DETAILS: dict[type, Any] = {
    CacheImageDetail: CacheImageDetail(
        source_url="https://coverartarchive.org/release/1/front.jpg",
        cloudflare_image_id="cf-7f3a2b",
        file_size_bytes=482_133,
        format="jpeg",
        dimensions=Dimensions(width=1200, height=1200),
        cache_location="https://imagedelivery.net/acct/cf-7f3a2b/public",
        url_before="https://coverartarchive.org/release/1/front.jpg",
        url_after="https://imagedelivery.net/acct/cf-7f3a2b/public",
    ),
    DiscogsSearchDetail: DiscogsSearchDetail(
        search_query="Nina Simone", results_count=12, discogs_id="71382",
        matched_name="Nina Simone", confidence=0.97,
    ),
    DiscogsArtistDetail: DiscogsArtistDetail(
        discogs_id="71382", profile="American singer, songwriter and pianist.", images_found=3,
        image_url="https://i.discogs.com/71382.jpg", genres=["Jazz", "Soul"],
    ),
    EnrichmentDetail: EnrichmentDetail(
        sources=[Source.MUSICBRAINZ, Source.DISCOGS], fields_enriched=["releaseDate", "label"],
        data_quality_before=DataQuality.LOW, data_quality_after=DataQuality.HIGH,
        api_call_count=4, musicbrainz_ids=["f27ec8db-af05-4f36-916e-3d57f91ecf5e"],
    ),
    SpotifyFallbackDetail: SpotifyFallbackDetail(
        tracks_looked_up=12, tracks_matched=11, spotify_ids=["4uLU6hMCjMI75M1A2tKUQC"],
    ),
    EnrichmentCheckDetail: EnrichmentCheckDetail(
        needs_enrichment=True, missing_fields=["coverArt", "genres"], jobs_spawned=2,
    ),
}


def example_events(job_type: JobType) -> list[JobEvent]:
    """started, retrying, finished and failed of one job of `job_type`, every field set.

    A child of a CHECK_ALBUM_ENRICHMENT root when the type is ALWAYS_CHILD, a root otherwise.
    """
    child = job_type in ALWAYS_CHILD
    job_id = f"{job_type.value.lower()}-1"
    root = "check_album_enrichment-root" if child else job_id
    base: dict[str, Any] = {
        "job_id": job_id, "job_type": job_type, "root_job_id": root,
        "parent_job_id": root if child else None,
        "entity": Entity(
            type=EntityType.ALBUM, id=UUID("0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f"),
            artist_id=UUID("6f1d2c3b-4a59-4e8d-8c7b-6a5f4e3d2c1b"),
            album_id=UUID("0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f"),
        ),
        "triggered_by": "admin", "user_id": UUID("2d4f6a8c-1e3b-4d5f-8a9c-0b1d2e3f4a5b"),
        "reason": "album has no cover art",
    }
    detail = FULL_DETAILS[DETAIL_FOR_JOB_TYPE[job_type]]
    error = JobError(message="429 Too Many Requests", code="HTTP_429", kind=ErrorKind.RATE_LIMIT)
    return [
        JobStarted(**base, event_id=UUID(int=1), attempt=1, occurred_at=T0, max_attempts=3),
        JobRetrying(**base, event_id=UUID(int=2), attempt=1, occurred_at=T0 + timedelta(seconds=1),
                    error=error, duration_ms=812, detail=detail),
        JobFinished(**base, event_id=UUID(int=3), attempt=2, occurred_at=T0 + timedelta(seconds=9),
                    outcome=Outcome.SUCCESS, duration_ms=1_204, api_call_count=4, detail=detail),
        JobFailed(**base, event_id=UUID(int=4), attempt=3, occurred_at=T0 + timedelta(seconds=30),
                  error=error, duration_ms=95),
    ]
