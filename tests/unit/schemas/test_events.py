"""The event contract: every kind and detail shape round-trips; bad input is rejected, saying why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas import (
    EventDecodeError,
    JobEvent,
    JobFinished,
    JobStarted,
    JobType,
    dump_event,
    parse_event,
)
from tests.strategies import example_events

EXAMPLES = [event for job_type in JobType for event in example_events(job_type)]


def _id(event: JobEvent) -> str:
    return f"{event.kind}-{event.job_type.value}"


def _wire(event: JobEvent) -> dict[str, Any]:
    return json.loads(dump_event(event))


def _finished(job_type: JobType = JobType.ENRICH_ALBUM) -> dict[str, Any]:
    return _wire(next(e for e in example_events(job_type) if isinstance(e, JobFinished)))


def _reject(value: dict[str, Any] | bytes) -> EventDecodeError:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    with pytest.raises(EventDecodeError) as caught:
        parse_event(raw)
    assert "\n" not in caught.value.reason, "a reason is one line"
    return caught.value


# Round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", EXAMPLES, ids=_id)
def test_every_kind_and_detail_round_trips(event: JobEvent) -> None:
    raw = dump_event(event)
    parsed = parse_event(raw)
    assert parsed == event
    assert type(parsed) is type(event)
    assert dump_event(parsed) == raw


def test_examples_cover_every_kind_and_detail_shape() -> None:
    kinds = {e.kind for e in EXAMPLES}
    shapes = {type(d) for e in EXAMPLES if (d := getattr(e, "detail", None)) is not None}
    assert kinds == {"job.started", "job.retrying", "job.finished", "job.failed"}
    assert len(shapes) == 6


def test_wire_names_are_camel_case_and_nulls_are_omitted() -> None:
    wire = _finished(JobType.CACHE_ALBUM_COVER_ART)
    assert {"eventId", "jobId", "jobType", "rootJobId", "occurredAt", "durationMs"} <= wire.keys()
    assert "parentJobId" not in wire  # a root: null is omitted
    assert {"sourceUrl", "cloudflareImageId", "fileSizeBytes", "urlAfter"} <= wire["detail"].keys()
    assert not [k for k in wire if "_" in k]


def test_occurred_at_is_written_in_utc_at_the_same_instant() -> None:
    wire = _finished()
    wire["occurredAt"] = "2026-03-29T02:30:00+05:30"
    event = parse_event(json.dumps(wire).encode())
    assert event.occurred_at == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert _wire(event)["occurredAt"] == "2026-03-28T21:00:00Z"


@pytest.mark.parametrize("text", ["2026-03-29T02:30:00Z", "2026-03-29T02:30:00.000001z", "1000-01-01T00:00:00+00:00",
                                  "2999-12-31T23:59:59.999999-00:00", "2024-02-29T12:00:00.5Z"])
def test_a_zero_offset_is_read_as_utc_itself(text: str) -> None:
    wire = _finished()
    wire["occurredAt"] = text
    at = parse_event(json.dumps(wire).encode()).occurred_at
    expected = datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    assert at.tzinfo is UTC and (at, at.fold) == (expected, expected.fold)
    assert at.isoformat() == expected.isoformat()


def test_an_offset_with_seconds_keeps_its_instant() -> None:
    # Amsterdam in 1900 was UTC+00:19:32; RFC 3339 offsets have no seconds.
    at = datetime(1900, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    event = example_events(JobType.ENRICH_ALBUM)[0]
    moved = JobStarted(**{**event.model_dump(), "occurred_at": at})
    assert parse_event(dump_event(moved)).occurred_at == at


# Forward compatibility ---------------------------------------------------------------------------


def test_a_newer_minor_version_with_unknown_fields_still_parses() -> None:
    wire = _finished(JobType.CACHE_ARTIST_IMAGE)
    known = parse_event(json.dumps(wire).encode())
    wire |= {"schemaVersion": "1.7", "traceId": "abc", "priority": {"level": 3}}
    wire["entity"]["labelId"] = "7c1e0a2b-0000-4000-8000-000000000000"
    wire["detail"]["cdnRegion"] = "eu"
    wire["detail"]["dimensions"]["depth"] = 8
    newer = parse_event(json.dumps(wire).encode())
    assert newer.schema_version == "1.7"
    assert newer.model_copy(update={"schema_version": known.schema_version}) == known


@pytest.mark.parametrize("version", ["1.0", "1.7", "1.12", "1.9999"])
def test_any_minor_version_of_major_1_parses(version: str) -> None:
    assert parse_event(json.dumps(_finished() | {"schemaVersion": version}).encode())


# Rejections --------------------------------------------------------------------------------------

LONG_ID = "j" * 101


def _drop(key: str) -> Any:
    return lambda w: {k: v for k, v in w.items() if k != key}


def _set(**fields: Any) -> Any:
    return lambda w: w | fields


def _set_in(section: str, **fields: Any) -> Any:
    return lambda w: w | {section: w[section] | fields}


BAD: list[tuple[str, Any, list[str]]] = [
    ("missing rootJobId", _drop("rootJobId"), ["rootJobId: required field is missing"]),
    ("missing eventId", _drop("eventId"), ["eventId: required field is missing"]),
    ("missing occurredAt", _drop("occurredAt"), ["occurredAt: required field is missing"]),
    ("attempt as string", _set(attempt="1"), ['attempt: must be an integer, got string "1"']),
    ("attempt with a fraction", _set(attempt=1.5), ["attempt: must be an integer, got number 1.5"]),
    ("attempt as bool", _set(attempt=True), ["attempt: must be an integer, got boolean true"]),
    ("attempt zero", _set(attempt=0), ["attempt: must be at least 1, got 0"]),
    ("jobId as number", _set(jobId=7, rootJobId=7), ["jobId: must be a string, got number 7"]),
    ("durationMs negative", _set(durationMs=-1), ["durationMs: must be at least 0, got -1"]),
    ("durationMs as string", _set(durationMs="12"), ['durationMs: must be an integer, got string "12"']),
    (
        "unknown jobType",
        _set(jobType="ENRICH_PLAYLIST"),
        ["jobType: must be one of", '"ENRICH_ALBUM"', 'got string "ENRICH_PLAYLIST"'],
    ),
    ("jobType lower case", _set(jobType="enrich_album"), ["jobType"]),
    (
        "unknown outcome",
        _set(outcome="FAILED"),
        ['outcome: must be one of "SUCCESS", "PARTIAL_SUCCESS"', 'got string "FAILED"'],
    ),
    (
        "unknown entity type",
        _set_in("entity", type="LABEL"),
        ['entity.type: must be one of "ARTIST", "ALBUM", "TRACK", got string "LABEL"'],
    ),
    ("entity id not a uuid", _set_in("entity", id="album-1"), ["entity.id: must be a UUID", 'got string "album-1"']),
    (
        "naive occurredAt",
        _set(occurredAt="2026-02-06T12:00:00"),
        ["occurredAt: must be an RFC 3339 date-time with an offset", 'got string "2026-02-06T12:00:00"'],
    ),
    (
        "occurredAt as epoch",
        _set(occurredAt=1770379200),
        ["occurredAt: must be an RFC 3339 date-time", "got number 1770379200"],
    ),
    (
        "occurredAt not a date",
        _set(occurredAt="yesterday"),
        ['occurredAt: must be an RFC 3339 date-time', 'got string "yesterday"'],
    ),
    ("jobId of 101", _set(jobId=LONG_ID, rootJobId=LONG_ID), ["jobId: must be at most 100 characters long, got 101"]),
    ("empty jobId", _set(jobId="", rootJobId=""), ["jobId: must not be empty"]),
    ("parentJobId of 101", _set(parentJobId=LONG_ID), ["parentJobId: must be at most 100 characters long, got 101"]),
    ("triggeredBy of 51", _set(triggeredBy="t" * 51), ["triggeredBy: must be at most 50 characters long, got 51"]),
    (
        "child whose root differs from its parent",
        _set(jobId="child-1", parentJobId="root-A", rootJobId="root-B"),
        ['parentJobId: must equal rootJobId "root-B"', "linking is flat", 'got "root-A"'],
    ),
    (
        "root whose rootJobId is not its jobId",
        _set(rootJobId="someone-else"),
        ['rootJobId: must equal jobId "enrich_album-1" for a root job', 'got "someone-else"'],
    ),
    (
        "child that is its own parent",
        lambda w: w | {"parentJobId": w["jobId"]},
        ["jobId: must differ from rootJobId", "own parent"],
    ),
    (
        "detail that does not fit jobType",
        _set(detail={"processor": "CACHE_IMAGE"}),
        ['detail.processor: must be "ENRICHMENT" for jobType ENRICH_ALBUM, got "CACHE_IMAGE"'],
    ),
    ("detail without processor", _set(detail={"sources": []}), ["detail.processor: required field is missing"]),
    (
        "unknown detail processor",
        _set(detail={"processor": "LASTFM"}),
        ['detail.processor: must be one of "CACHE_IMAGE"', 'got string "LASTFM"'],
    ),
    (
        "detail field of the wrong type",
        _set(detail={"processor": "ENRICHMENT", "apiCallCount": "4"}),
        ['detail.apiCallCount: must be an integer, got string "4"'],
    ),
    ("unknown source in detail", _set(detail={"processor": "ENRICHMENT", "sources": ["X"]}),
     ['detail.sources[0]: must be one of "DISCOGS", "MUSICBRAINZ"', 'got string "X"']),
    (
        "unknown kind",
        _set(kind="job.cancelled"),
        [
            'kind: must be one of "job.started", "job.retrying", "job.finished", "job.failed"',
            'got string "job.cancelled"',
        ],
    ),
    ("missing kind", _drop("kind"), ['kind: required field is missing (one of "job.started", "job.retrying"']),
    ("missing error of a retry", lambda w: w | {"kind": "job.retrying"}, ["error: required field is missing"]),
    (
        "error message of 4001",
        lambda w: w | {"kind": "job.failed", "error": {"message": "m" * 4001}},
        ["error.message: must be at most 4000 characters long, got 4001"],
    ),
    (
        "empty error message",
        lambda w: w | {"kind": "job.failed", "error": {"message": ""}},
        ["error.message: must not be empty"],
    ),
    (
        "error code of 51",
        lambda w: w | {"kind": "job.failed", "error": {"message": "m", "code": "C" * 51}},
        ["error.code: must be at most 50 characters long, got 51"],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in BAD], ids=[n for n, _, _ in BAD])
def test_bad_input_is_rejected_naming_the_field(mutate: Any, expected: list[str]) -> None:
    error = _reject(mutate(_finished()))
    assert error.kind == "schema"
    for fragment in expected:
        assert fragment in error.reason


def test_a_spotify_fallback_cannot_be_a_root() -> None:
    wire = _finished() | {"jobType": "SPOTIFY_TRACK_FALLBACK", "detail": {"processor": "SPOTIFY_TRACK_FALLBACK"}}
    error = _reject(wire)
    assert error.reason == (
        "parentJobId: required field is missing: SPOTIFY_TRACK_FALLBACK always runs inside another job, never as a root"
    )


@pytest.mark.parametrize("version", ["2.0", "0.9", "1", "1.", "1.x", "v1.0", "1.0.0", "1.12345", "1.\u0661"])
def test_an_unsupported_schema_version_is_its_own_kind_of_error(version: str) -> None:
    error = _reject(_finished() | {"schemaVersion": version})
    assert error.kind == "unsupported-version"
    assert error.reason == (
        f'schemaVersion: {json.dumps(version, ensure_ascii=False)} is not supported: this reader reads 1.x ("1.MINOR", '
        'e.g. "1.0")'
    )


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        (b"\xff\xfe\x00{", "undecodable", "value is not UTF-8 text (byte 0xff at offset 0)"),
        (b"{nope", "invalid-json", "not valid JSON: key must be a string at line 1 column 2"),
        (b'{"kind": "job.started",', "invalid-json", "not valid JSON: EOF while parsing a value at line 1 column 23"),
        (b"", "invalid-json", "not valid JSON: the value is empty"),
        (b"{}", "schema", "kind: required field is missing"),
        (b"[]", "schema", "the value must be a JSON object, got array"),
        (b"null", "schema", "the value must be a JSON object, got null"),
        (b'"job.started"', "schema", 'the value must be a JSON object, got string "job.started"'),
    ],
    ids=["undecodable", "invalid-json", "truncated", "empty-bytes", "empty-object", "array", "null", "string"],
)
def test_bytes_that_are_not_an_event(raw: bytes, kind: str, fragment: str) -> None:
    error = _reject(raw)
    assert error.kind == kind
    assert fragment in error.reason


def test_many_errors_are_summarised_in_one_line() -> None:
    wire = _finished() | {"attempt": "1", "durationMs": "2", "jobType": "X", "outcome": "Y"}
    error = _reject(wire)
    assert error.reason.count(";") == 3
    assert error.reason.endswith("and 1 more")


def test_decode_error_is_a_value_error_with_the_reason_as_message() -> None:
    error = _reject(b"{}")
    assert isinstance(error, ValueError)
    assert str(error) == error.reason


def test_events_are_frozen() -> None:
    event = EXAMPLES[0]
    with pytest.raises(ValueError, match="frozen"):
        event.attempt = 2  # type: ignore[misc]
    assert event.model_copy(update={"attempt": 2}).attempt == 2


def test_parsed_times_are_utc() -> None:
    assert all(e.occurred_at.utcoffset() == timedelta(0) for e in EXAMPLES)
