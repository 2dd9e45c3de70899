"""The contract's test vectors: the source of `schemas/vectors/events.json`.

Each vector is a message value and its verdict, decided here by hand (not computed from the
reader): valid, or invalid with the field, the rule, the reader's error kind and its exact
message, and which check refuses it (`checkedBy`):
- "json": the JSON text rules, before any schema (UTF-8 without BOM, RFC 8259 syntax, no NaN or
  Infinity, no lone surrogate escape, no value nested deeper than 201 levels);
- "json-schema": the JSON Schema files (schemas/jsonschema/);
- "reader": only a reader's own check (flat linking compares two fields: JSON Schema cannot).

    python -m tests.contract.vectors           # rewrite the file
    python -m tests.contract.vectors --check   # exit 1 when it is stale

A value is given as `event` (any JSON serialisation of it gives the verdict), as `raw` (exactly
this text, UTF-8 encoded: for what a serialiser would change, like `1.0`), or as `rawBase64`
(bytes that are not UTF-8).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parents[2] / "schemas" / "vectors" / "events.json"

UUID_A = "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f"
DT_HINT = ('must be an RFC 3339 date-time with an offset, e.g. "2026-02-06T12:00:00Z" or '
           '"2026-02-06T13:00:00.250+01:00" (years 1000 to 2999, no leap second)')
UUID_HINT = f'must be a UUID in its 36-character form, 8-4-4-4-12 hexadecimal digits (e.g. "{UUID_A}")'
KINDS = '"job.started", "job.retrying", "job.finished", "job.failed"'
PROCESSORS = ('"CACHE_IMAGE", "DISCOGS_SEARCH_ARTIST", "DISCOGS_GET_ARTIST", "ENRICHMENT", '
              '"SPOTIFY_TRACK_FALLBACK", "ENRICHMENT_CHECK"')
JOB_TYPES = ('"CHECK_ALBUM_ENRICHMENT", "ENRICH_ALBUM", "CACHE_ALBUM_COVER_ART", "SPOTIFY_TRACK_FALLBACK", '
             '"CHECK_ARTIST_ENRICHMENT", "ENRICH_ARTIST", "DISCOGS_SEARCH_ARTIST", "DISCOGS_GET_ARTIST", '
             '"CACHE_ARTIST_IMAGE", "CHECK_TRACK_ENRICHMENT", "ENRICH_TRACK"')
ENTITY = {"type": "ALBUM", "id": UUID_A, "artistId": "6f1d2c3b-4a59-4e8d-8c7b-6a5f4e3d2c1b", "albumId": UUID_A}

STARTED: dict[str, Any] = {
    "kind": "job.started", "eventId": "9a0e5a8e-3c1f-4f7b-9a51-0d2b7c1e4f10", "schemaVersion": "1.0",
    "jobId": "queue-48121", "jobType": "CHECK_ALBUM_ENRICHMENT", "rootJobId": "queue-48121", "attempt": 1,
    "occurredAt": "2026-02-06T12:00:00Z", "entity": ENTITY, "triggeredBy": "admin",
    "userId": "2d4f6a8c-1e3b-4d5f-8a9c-0b1d2e3f4a5b", "reason": "manual: enrich this album", "maxAttempts": 3,
}
RETRYING: dict[str, Any] = {
    "kind": "job.retrying", "eventId": "1c7d2e9f-5b3a-4c8e-8f21-6a4b9d0e3c22", "schemaVersion": "1.0",
    "jobId": "queue-48123", "jobType": "CACHE_ALBUM_COVER_ART", "rootJobId": "queue-48121",
    "parentJobId": "queue-48121", "attempt": 1, "occurredAt": "2026-02-06T12:00:02.412000Z", "entity": ENTITY,
    "error": {"message": "429 Too Many Requests from coverartarchive.org", "code": "HTTP_429", "kind": "RATE_LIMIT"},
    "durationMs": 388,
}
FINISHED: dict[str, Any] = {
    "kind": "job.finished", "eventId": "5e8f1a2b-7c4d-4e6f-9a0b-1c2d3e4f5a63", "schemaVersion": "1.0",
    "jobId": "queue-48122", "jobType": "ENRICH_ALBUM", "rootJobId": "queue-48121", "parentJobId": "queue-48121",
    "attempt": 1, "occurredAt": "2026-02-06T12:00:03.090000Z", "entity": ENTITY,
    "detail": {
        "processor": "ENRICHMENT", "sources": ["MUSICBRAINZ", "SPOTIFY"],
        "fieldsEnriched": ["releaseDate", "label"], "dataQualityBefore": "LOW", "dataQualityAfter": "MEDIUM",
        "apiCallCount": 5, "musicbrainzIds": ["f27ec8db-af05-4f36-916e-3d57f91ecf5e"],
    },
    "outcome": "PARTIAL_SUCCESS", "durationMs": 2870, "apiCallCount": 5,
}
FAILED: dict[str, Any] = {
    "kind": "job.failed", "eventId": "7b9c0d1e-2f3a-4b5c-8d6e-7f8a9b0c1d84", "schemaVersion": "1.0",
    "jobId": "queue-48123", "jobType": "CACHE_ALBUM_COVER_ART", "rootJobId": "queue-48121",
    "parentJobId": "queue-48121", "attempt": 3, "occurredAt": "2026-02-06T12:00:41.005000Z", "entity": ENTITY,
    "detail": {
        "processor": "CACHE_IMAGE", "sourceUrl": "https://coverartarchive.org/release/1/front.jpg",
        "fileSizeBytes": 482133, "format": "jpeg", "dimensions": {"width": 1200, "height": 1200},
    },
    "error": {"message": "source image returned 404", "code": "IMAGE_FETCH_FAILED", "kind": "NOT_FOUND"},
    "durationMs": 214,
}
SPOTIFY: dict[str, Any] = {
    "kind": "job.finished", "eventId": "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a", "jobId": "queue-48124",
    "jobType": "SPOTIFY_TRACK_FALLBACK", "rootJobId": "queue-48121", "parentJobId": "queue-48121", "attempt": 1,
    "occurredAt": "2026-02-06T12:00:05.250000Z", "entity": {"type": "ALBUM", "id": UUID_A},
    "detail": {"processor": "SPOTIFY_TRACK_FALLBACK", "tracksLookedUp": 12, "tracksMatched": 11},
    "outcome": "SUCCESS", "durationMs": 640,
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `base`; a change `a__b=v` sets base["a"]["b"]; the value DROP removes the field."""
    event = copy.deepcopy(base)
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = event
        for parent in parents:
            node = node[parent]
        if value is DROP:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return event


DROP = object()


def _raw(base: dict[str, Any], replace: str, by: str) -> str:
    """The compact JSON text of `base` with the text `replace` swapped for `by` (once)."""
    text = json.dumps(base, ensure_ascii=False, separators=(",", ":"))
    assert text.count(replace) == 1, replace
    return text.replace(replace, by)


def _nested(depth: int, scalar: bool = False) -> str:
    """An event whose unknown field nests arrays so that its deepest value is at `depth` (the event
    object being at depth 1): an empty array, or a number in an array."""
    arrays = depth - 2 if scalar else depth - 1
    inner = "[" * arrays + ("1" if scalar else "") + "]" * arrays
    return json.dumps(STARTED, separators=(",", ":"))[:-1] + f',"x-trace":{inner}}}'


def valid(name: str, value: dict[str, Any] | str, note: str = "") -> dict[str, Any]:
    vector: dict[str, Any] = {"name": name, "valid": True}
    vector["event" if isinstance(value, dict) else "raw"] = value
    if note:
        vector["note"] = note
    return vector


def invalid(name: str, value: dict[str, Any] | str | bytes, *, field: str | None, rule: str, message: str,
            reason: str = "schema", checked_by: str = "json-schema") -> dict[str, Any]:
    vector: dict[str, Any] = {"name": name, "valid": False}
    if isinstance(value, dict):
        vector["event"] = value
    elif isinstance(value, str):
        vector["raw"] = value
    else:
        vector["rawBase64"] = base64.b64encode(value).decode()
    return vector | {"field": field, "rule": rule, "reason": reason, "checkedBy": checked_by, "message": message}


def _type(name: str, base: dict[str, Any], field: str, value: Any, message: str) -> dict[str, Any]:
    return invalid(name, _with(base, **{field.replace(".", "__"): value}), field=field, rule="type", message=message)


VALID: list[dict[str, Any]] = [
    valid("a root started by hand, every envelope field", STARTED),
    valid("a child's attempt failed and will be retried", RETRYING),
    valid("a child finished with its ENRICHMENT detail", FINISHED),
    valid("a child failed for good with its CACHE_IMAGE detail", FAILED),
    valid("a SPOTIFY_TRACK_FALLBACK child without schemaVersion (1.0 by default)", SPOTIFY),
    valid("only the required fields of job.started",
          {k: STARTED[k] for k in ("kind", "eventId", "jobId", "jobType", "rootJobId", "attempt", "occurredAt")}
          | {"entity": {"type": "ALBUM", "id": UUID_A}}),
    valid("a newer minor version with unknown fields everywhere",
          _with(SPOTIFY, schemaVersion="1.3", market="DE", entity__labelId="x", detail__cdn={"region": "eu"}),
          "readers ignore unknown fields: additionalProperties stays open"),
    valid("schemaVersion 1.9999", _with(STARTED, schemaVersion="1.9999")),
    valid("optional fields given as null", _with(STARTED, parentJobId=None, triggeredBy=None, userId=None,
                                                  reason=None, maxAttempts=None, entity__artistId=None)),
    valid("detail and error.code as null", _with(RETRYING, detail=None, error__code=None)),
    valid("error without kind (UNKNOWN by default)", _with(RETRYING, error={"message": "boom"})),
    valid("detail on job.started is an unknown field", _with(STARTED, detail={"processor": "NOPE"})),
    valid("a wire field's Python name (job_id) is an unknown field", _with(STARTED, job_id="ignored")),
    valid("an unknown field may hold anything, even a NUL", _with(STARTED, **{"x-note": "a\u0000b"})),
    valid("attempt written 1.0 is the integer 1", _raw(STARTED, '"attempt":1,', '"attempt":1.0,'),
          "JSON Schema's integer is a value, not a spelling"),
    valid("durationMs written 2.5e3 is the integer 2500", _raw(RETRYING, '"durationMs":388', '"durationMs":2.5e3')),
    valid("durationMs -0 is 0", _raw(RETRYING, '"durationMs":388', '"durationMs":-0')),
    valid("confidence written as an integer", _with(FINISHED, jobType="DISCOGS_SEARCH_ARTIST", detail={
        "processor": "DISCOGS_SEARCH_ARTIST", "searchQuery": "Nina Simone", "resultsCount": 12, "confidence": 1})),
    valid("DISCOGS_GET_ARTIST detail", _with(FINISHED, jobType="DISCOGS_GET_ARTIST", detail={
        "processor": "DISCOGS_GET_ARTIST", "discogsId": "71382", "imagesFound": 3, "genres": ["Jazz", "Soul"]})),
    valid("ENRICHMENT_CHECK detail", _with(FINISHED, jobType="CHECK_ALBUM_ENRICHMENT", detail={
        "processor": "ENRICHMENT_CHECK", "needsEnrichment": True, "missingFields": ["coverArt"], "jobsSpawned": 2})),
    valid("occurredAt with an offset", _with(STARTED, occurredAt="2026-03-29T02:30:00+05:30")),
    valid("occurredAt in lower case, offset -00:00", _with(STARTED, occurredAt="2026-02-06t12:00:00-00:00")),
    valid("occurredAt in lower case z", _with(STARTED, occurredAt="2026-02-06t12:00:00z")),
    valid("occurredAt with nanoseconds (Java's Instant)", _with(STARTED, occurredAt="2026-02-06T12:00:00.123456789Z")),
    valid("occurredAt on February 29 of a leap year", _with(STARTED, occurredAt="2028-02-29T23:59:59.999Z")),
    valid("occurredAt on February 29, 2000", _with(STARTED, occurredAt="2000-02-29T00:00:00Z")),
    valid("occurredAt in year 1000", _with(STARTED, occurredAt="1000-01-01T00:00:00-23:59")),
    valid("occurredAt in year 2999", _with(STARTED, occurredAt="2999-12-31T23:59:59+23:59")),
    valid("UUIDs in upper case, and the nil UUID", _with(STARTED, eventId="9A0E5A8E-3C1F-4F7B-9A51-0D2B7C1E4F10",
                                                         userId="00000000-0000-0000-0000-000000000000")),
    valid("jobId of 100 characters", _with(STARTED, jobId="j" * 100, rootJobId="j" * 100)),
    valid("jobId of 100 characters outside the BMP (200 UTF-16 units)",
          _with(STARTED, jobId="\U0001f3b5" * 100, rootJobId="\U0001f3b5" * 100),
          "lengths count characters (code points), as JSON Schema and PostgreSQL do"),
    valid("error.message of 4000 characters", _with(RETRYING, error__message="m" * 4000)),
    valid("reason with a newline, a tab and non-ASCII text", _with(STARTED, reason="line 1\nline\t2 — ünïcödé")),
    valid("a surrogate pair escape is one character", _raw(STARTED, '"reason":"manual: enrich this album"',
                                                           '"reason":"\\ud83c\\udfb5"')),
    valid("whitespace around the value", "\n  " + json.dumps(STARTED, indent=2) + "\r\n"),
    valid("an empty array at depth 201", _nested(201)),
    valid("a number at depth 201", _nested(201, scalar=True)),
    valid("a SPOTIFY_TRACK_FALLBACK root's detail family fits when absent", _with(SPOTIFY, detail=None)),
    valid("genres with 100 items", _with(FINISHED, jobType="DISCOGS_GET_ARTIST", detail={
        "processor": "DISCOGS_GET_ARTIST", "genres": ["g"] * 100})),
    valid("attempt 1000 and maxAttempts 1000", _with(STARTED, attempt=1000, maxAttempts=1000)),
    valid("durationMs 2147483647", _with(RETRYING, durationMs=2147483647)),
]


def _missing(base: dict[str, Any], field: str) -> dict[str, Any]:
    return invalid(f"{field} missing", _with(base, **{field.replace(".", "__"): DROP}), field=field, rule="required",
                   message=f"{field}: required field is missing")


def _long(base: dict[str, Any], field: str, limit: int, value: str | None = None) -> dict[str, Any]:
    text = value if value is not None else "x" * (limit + 1)
    return invalid(f"{field} of {len(text)} characters", _with(base, **{field.replace(".", "__"): text}),
                   field=field, rule="maxLength",
                   message=f"{field}: must be at most {limit} characters long, got {len(text)}")


def _dt(value: Any, why: str) -> dict[str, Any]:
    got = f"got string {json.dumps(value)}" if isinstance(value, str) else f"got number {value}"
    return invalid(f"occurredAt {why}", _with(STARTED, occurredAt=value), field="occurredAt", rule="pattern",
                   message=f"occurredAt: {DT_HINT}, {got}")


def _uuid(field: str, value: Any, why: str, base: dict[str, Any] = STARTED) -> dict[str, Any]:
    got = f"got string {json.dumps(value)}" if isinstance(value, str) else f"got number {value}"
    return invalid(f"{field} {why}", _with(base, **{field.replace(".", "__"): value}), field=field,
                   rule="pattern", message=f"{field}: {UUID_HINT}, {got}")


def _nul(base: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    return invalid(f"{field} with a NUL character", _with(base, **{field.replace(".", "__"): value}), field=field,
                   rule="pattern",
                   message=f"{field}: must not contain the NUL character (U+0000): PostgreSQL cannot store it")


def _version(value: str) -> dict[str, Any]:
    return invalid(f"schemaVersion {json.dumps(value)}", _with(STARTED, schemaVersion=value), field="schemaVersion",
                   rule="pattern", reason="unsupported-version",
                   message=f"schemaVersion: {json.dumps(value, ensure_ascii=False)} is not supported: "
                           'this reader reads 1.x ("1.MINOR", e.g. "1.0")')


def _json(name: str, value: str | bytes, rule: str, message: str, reason: str = "invalid-json") -> dict[str, Any]:
    return invalid(name, value, field=None, rule=rule, message=message, reason=reason, checked_by="json")


INVALID: list[dict[str, Any]] = [
    # required fields
    invalid("kind missing", _with(STARTED, kind=DROP), field="kind", rule="required",
            message=f"kind: required field is missing (one of {KINDS})"),
    *(_missing(STARTED, f) for f in ("eventId", "jobId", "jobType", "rootJobId", "attempt", "occurredAt", "entity",
                                     "entity.type", "entity.id")),
    _missing(RETRYING, "error"), _missing(RETRYING, "error.message"), _missing(RETRYING, "durationMs"),
    _missing(FINISHED, "outcome"), _missing(FAILED, "detail.dimensions.width"),
    invalid("detail.processor missing", _with(FINISHED, detail__processor=DROP), field="detail.processor",
            rule="required", message=f"detail.processor: required field is missing (one of {PROCESSORS})"),
    invalid("jobId under its Python name (job_id)", _with(STARTED, jobId=DROP, job_id="queue-48121"), field="jobId",
            rule="required", message="jobId: required field is missing"),
    # null where no null is allowed
    _type("jobId null", STARTED, "jobId", None, "jobId: must be a string, got null"),
    _type("schemaVersion null (leave it out for 1.0)", STARTED, "schemaVersion", None,
          "schemaVersion: must be a string, got null"),
    invalid("error.kind null (leave it out for UNKNOWN)", _with(RETRYING, error__kind=None), field="error.kind",
            rule="enum", message='error.kind: must be one of "RATE_LIMIT", "NOT_FOUND", "AUTH", "TIMEOUT", '
                                 '"INVALID_INPUT", "UPSTREAM", "INTERNAL", "UNKNOWN", got null'),
    _type("a list field null (leave it out for [])", FINISHED, "detail.sources", None,
          "detail.sources: must be an array, got null"),
    # types
    _type("attempt as a string", STARTED, "attempt", "1", 'attempt: must be an integer, got string "1"'),
    _type("attempt as a boolean", STARTED, "attempt", True, "attempt: must be an integer, got boolean true"),
    invalid("attempt with a fraction", _raw(STARTED, '"attempt":1,', '"attempt":1.5,'), field="attempt", rule="type",
            message="attempt: must be an integer, got number 1.5"),
    _type("jobId as a number", _with(STARTED, rootJobId=7), "jobId", 7,
          "jobId: must be a string, got number 7; rootJobId: must be a string, got number 7"),
    _type("reason as a number", STARTED, "reason", 5, "reason: must be a string, got number 5"),
    _type("needsEnrichment as a string", _with(FINISHED, jobType="CHECK_ALBUM_ENRICHMENT",
                                               detail={"processor": "ENRICHMENT_CHECK"}),
          "detail.needsEnrichment", "yes", 'detail.needsEnrichment: must be true or false, got string "yes"'),
    _type("confidence as a string", _with(FINISHED, jobType="DISCOGS_SEARCH_ARTIST",
                                          detail={"processor": "DISCOGS_SEARCH_ARTIST"}),
          "detail.confidence", "0.9", 'detail.confidence: must be a number, got string "0.9"'),
    _type("entity as a string", STARTED, "entity", UUID_A, f'entity: must be a JSON object, got string "{UUID_A}"'),
    _type("detail as an array", FINISHED, "detail", [], "detail: must be a JSON object, got array"),
    invalid("the value is an array", "[]", field=None, rule="type",
            message="the value must be a JSON object, got array"),
    invalid("the value is null", "null", field=None, rule="type", message="the value must be a JSON object, got null"),
    invalid("the value is a string", '"job.started"', field=None, rule="type",
            message='the value must be a JSON object, got string "job.started"'),
    invalid("empty object", {}, field="kind", rule="required",
            message=f"kind: required field is missing (one of {KINDS})"),
    # closed sets
    invalid("unknown kind", _with(STARTED, kind="job.cancelled"), field="kind", rule="enum",
            message=f'kind: must be one of {KINDS}, got string "job.cancelled"'),
    invalid("kind as a number", _with(STARTED, kind=1), field="kind", rule="enum",
            message=f"kind: must be one of {KINDS}, got number 1"),
    invalid("unknown jobType", _with(STARTED, jobType="ENRICH_PLAYLIST"), field="jobType", rule="enum",
            message=f'jobType: must be one of {JOB_TYPES}, got string "ENRICH_PLAYLIST"'),
    invalid("jobType in lower case", _with(STARTED, jobType="check_album_enrichment"), field="jobType", rule="enum",
            message=f'jobType: must be one of {JOB_TYPES}, got string "check_album_enrichment"'),
    invalid("unknown outcome", _with(FINISHED, outcome="FAILED"), field="outcome", rule="enum",
            message='outcome: must be one of "SUCCESS", "PARTIAL_SUCCESS", "COMPLETED", "NO_DATA_AVAILABLE", '
                    '"SKIPPED", "PREVIEW", got string "FAILED"'),
    invalid("unknown error.kind", _with(RETRYING, error__kind="THROTTLED"), field="error.kind", rule="enum",
            message='error.kind: must be one of "RATE_LIMIT", "NOT_FOUND", "AUTH", "TIMEOUT", "INVALID_INPUT", '
                    '"UPSTREAM", "INTERNAL", "UNKNOWN", got string "THROTTLED"'),
    invalid("unknown entity.type", _with(STARTED, entity__type="LABEL"), field="entity.type", rule="enum",
            message='entity.type: must be one of "ARTIST", "ALBUM", "TRACK", got string "LABEL"'),
    invalid("unknown image format", _with(FAILED, detail__format="tiff"), field="detail.format", rule="enum",
            message='detail.format: must be one of "jpeg", "png", "webp", "gif", "avif", "svg", "other", '
                    'got string "tiff"'),
    invalid("unknown source", _with(FINISHED, detail__sources=["MUSICBRAINZ", "X"]), field="detail.sources[1]",
            rule="enum", message='detail.sources[1]: must be one of "DISCOGS", "MUSICBRAINZ", "SPOTIFY", '
                                 '"CLOUDFLARE", "LASTFM", "WIKIDATA", got string "X"'),
    invalid("unknown detail processor", _with(FINISHED, detail={"processor": "LASTFM"}), field="detail.processor",
            rule="enum", message=f'detail.processor: must be one of {PROCESSORS}, got string "LASTFM"'),
    # lengths
    _long(STARTED, "jobId", 100) | {"event": _with(STARTED, jobId="x" * 101, rootJobId="x" * 101),
                                    "message": "jobId: must be at most 100 characters long, got 101; rootJobId: "
                                               "must be at most 100 characters long, got 101"},
    _long(RETRYING, "parentJobId", 100) | {"name": "parentJobId of 101 characters outside the BMP",
                                           "event": _with(RETRYING, parentJobId="\U0001f3b5" * 101)},
    invalid("jobId empty", _with(STARTED, jobId="", rootJobId=""), field="jobId", rule="minLength",
            message="jobId: must not be empty; rootJobId: must not be empty"),
    _long(STARTED, "triggeredBy", 50), _long(STARTED, "reason", 2000), _long(RETRYING, "error.message", 4000),
    _long(RETRYING, "error.code", 50), _long(FAILED, "detail.sourceUrl", 2048),
    invalid("error.message empty", _with(RETRYING, error__message=""), field="error.message", rule="minLength",
            message="error.message: must not be empty"),
    invalid("genres with 101 items", _with(FINISHED, jobType="DISCOGS_GET_ARTIST", detail={
        "processor": "DISCOGS_GET_ARTIST", "genres": ["g"] * 101}), field="detail.genres", rule="maxItems",
        message="detail.genres: must have at most 100 items, got 101"),
    # ranges
    invalid("attempt 0", _with(STARTED, attempt=0), field="attempt", rule="minimum",
            message="attempt: must be at least 1, got 0"),
    invalid("attempt 1001", _with(STARTED, attempt=1001), field="attempt", rule="maximum",
            message="attempt: must be at most 1000, got 1001"),
    invalid("maxAttempts 0", _with(STARTED, maxAttempts=0), field="maxAttempts", rule="minimum",
            message="maxAttempts: must be at least 1, got 0"),
    invalid("durationMs -1", _with(RETRYING, durationMs=-1), field="durationMs", rule="minimum",
            message="durationMs: must be at least 0, got -1"),
    invalid("durationMs 2147483648", _with(RETRYING, durationMs=2147483648), field="durationMs", rule="maximum",
            message="durationMs: must be at most 2147483647, got 2147483648"),
    invalid("durationMs 1e10 written as a float", _raw(RETRYING, '"durationMs":388', '"durationMs":1e10'),
            field="durationMs", rule="maximum", message="durationMs: must be at most 2147483647, got 10000000000"),
    invalid("confidence 1.5", _with(FINISHED, jobType="DISCOGS_SEARCH_ARTIST", detail={
        "processor": "DISCOGS_SEARCH_ARTIST", "confidence": 1.5}), field="detail.confidence", rule="maximum",
        message="detail.confidence: must be at most 1.0, got 1.5"),
    invalid("dimensions.width 0", _with(FAILED, detail__dimensions={"width": 0, "height": 10}),
            field="detail.dimensions.width", rule="minimum",
            message="detail.dimensions.width: must be at least 1, got 0"),
    # the NUL character
    _nul(STARTED, "jobId", "queue\u0000-48121") | {
        "event": _with(STARTED, jobId="q\u0000", rootJobId="q\u0000"),
        "message": "jobId: must not contain the NUL character (U+0000): PostgreSQL cannot store it; rootJobId: must "
                   "not contain the NUL character (U+0000): PostgreSQL cannot store it"},
    _nul(STARTED, "reason", "a\u0000b"), _nul(RETRYING, "error.message", "429\u0000"),
    _nul(FINISHED, "detail.fieldsEnriched[0]", None) | {"event": _with(FINISHED, detail__fieldsEnriched=["a\u0000"])},
    # UUIDs
    _uuid("eventId", "9a0e5a8e3c1f4f7b9a510d2b7c1e4f10", "without hyphens"),
    _uuid("eventId", "{9a0e5a8e-3c1f-4f7b-9a51-0d2b7c1e4f10}", "in braces"),
    _uuid("eventId", "urn:uuid:9a0e5a8e-3c1f-4f7b-9a51-0d2b7c1e4f10", "as a URN"),
    _uuid("eventId", "9a0e5a8e-3c1f-4f7b-9a51-0d2b7c1e4f1", "of 35 characters"),
    _uuid("eventId", "9a0e5a8e-3c1f-4f7b-9a51-0d2b7c1e4f1g", "with a non-hexadecimal digit"),
    _uuid("eventId", "9a0e5a8e3-c1f-4f7b-9a51-0d2b7c1e4f10", "with a hyphen out of place"),
    _uuid("eventId", 42, "as a number"),
    _uuid("entity.id", "album-1", "not a UUID"),
    _uuid("userId", "", "empty"),
    # date-times
    _dt("2026-02-06T12:00:00", "without an offset"),
    _dt("2026-02-06 12:00:00Z", "with a space for T"),
    _dt("2026-02-06T12:00Z", "without seconds"),
    _dt("2026-02-06T12:00:00+0100", "with an offset without a colon"),
    _dt("2026-02-06T12:00:00+01", "with an offset of hours only"),
    _dt("2026-02-06T12:00:00+24:00", "with an offset of 24 hours"),
    _dt("2026-02-06T12:00:00,5Z", "with a decimal comma"),
    _dt("2026-02-06T12:00:00.Z", "with a dot and no fraction"),
    _dt("2026-02-30T12:00:00Z", "on February 30"),
    _dt("2027-02-29T12:00:00Z", "on February 29 of a common year"),
    _dt("2100-02-29T12:00:00Z", "on February 29, 2100 (not a leap year)"),
    _dt("2026-04-31T12:00:00Z", "on April 31"),
    _dt("2016-12-31T23:59:60Z", "on a leap second"),
    _dt("2026-02-06T24:00:00Z", "at 24:00"),
    _dt("0999-12-31T23:59:59Z", "in year 999"),
    _dt("3000-01-01T00:00:00Z", "in year 3000"),
    _dt("2026-02-06", "as a date"),
    _dt("1770379200", "as epoch seconds in a string"),
    _dt(1770379200, "as epoch seconds"),
    _dt("2026-02-06T12:00:00Z\n", "with a final newline"),
    # schemaVersion
    _version("2.0"), _version("1"), _version("1.12345"), _version("v1.0"), _version("1.0\n"), _version("1.\u0661"),
    _type("schemaVersion as a number", STARTED, "schemaVersion", 1.0,
          "schemaVersion: must be a string, got number 1.0"),
    # rules across fields that JSON Schema expresses (if/then)
    invalid("detail family does not fit jobType", _with(FINISHED, detail={"processor": "CACHE_IMAGE"}),
            field="detail.processor", rule="if-then",
            message='detail.processor: must be "ENRICHMENT" for jobType ENRICH_ALBUM, got "CACHE_IMAGE"'),
    invalid("SPOTIFY_TRACK_FALLBACK as a root", _with(SPOTIFY, parentJobId=DROP, rootJobId="queue-48124"),
            field="parentJobId", rule="if-then",
            message="parentJobId: required field is missing: SPOTIFY_TRACK_FALLBACK always runs inside another "
                    "job, never as a root"),
    invalid("SPOTIFY_TRACK_FALLBACK with parentJobId null", _with(SPOTIFY, parentJobId=None, rootJobId="queue-48124"),
            field="parentJobId", rule="if-then",
            message="parentJobId: required field is missing: SPOTIFY_TRACK_FALLBACK always runs inside another "
                    "job, never as a root"),
    # rules across fields that only a reader can check
    invalid("a root whose rootJobId is not its jobId", _with(STARTED, rootJobId="someone-else"), field="rootJobId",
            rule="linking", checked_by="reader",
            message='rootJobId: must equal jobId "queue-48121" for a root job (one without parentJobId), got '
                    '"someone-else"'),
    invalid("a child whose parent is not its root", _with(RETRYING, parentJobId="queue-48122"), field="parentJobId",
            rule="linking", checked_by="reader",
            message='parentJobId: must equal rootJobId "queue-48121" (linking is flat, every job below a root '
                    'points at the root), got "queue-48122"'),
    invalid("a child that is its own parent", _with(RETRYING, jobId="queue-48121"), field="jobId", rule="linking",
            checked_by="reader",
            message='jobId: must differ from rootJobId and parentJobId (a job cannot be its own parent), got '
                    '"queue-48121"'),
    # JSON text
    _json("empty value", "", "syntax", "not valid JSON: the value is empty"),
    _json("not UTF-8", json.dumps(STARTED).encode().replace(b"admin", b"\xe9admin"), "utf-8",
          "value is not UTF-8 text (byte 0xe9 at offset 434)", reason="undecodable"),
    _json("a byte order mark before the value", "\ufeff" + json.dumps(STARTED), "bom",
          "not valid JSON: the value starts with a byte order mark (U+FEFF), which JSON text sent over a network "
          "must not have"),
    _json("truncated", json.dumps(STARTED)[:40], "syntax", "not valid JSON: EOF while parsing a string at line 1 "
          "column 40"),
    _json("text after the value", json.dumps(STARTED) + " x", "syntax",
          "not valid JSON: trailing characters at line 1 column 550"),
    _json("single quotes", "{'kind': 'job.started'}", "syntax",
          "not valid JSON: key must be a string at line 1 column 2"),
    _json("NaN as confidence", _raw(_with(FINISHED, jobType="DISCOGS_SEARCH_ARTIST", detail={
        "processor": "DISCOGS_SEARCH_ARTIST", "confidence": 0.5}), '"confidence":0.5', '"confidence":NaN'), "number",
          "not valid JSON: NaN is not a JSON number (nor are NaN, Infinity, -Infinity)"),
    _json("Infinity as attempt", _raw(STARTED, '"attempt":1,', '"attempt":Infinity,'), "number",
          "not valid JSON: Infinity is not a JSON number (nor are NaN, Infinity, -Infinity)"),
    _json("a lone surrogate escape in reason", _raw(STARTED, '"reason":"manual: enrich this album"',
                                                    '"reason":"a\\ud800b"'), "surrogate",
          "not valid JSON: unexpected end of hex escape at line 1 column 481 (a \\uD800-\\uDFFF escape must be "
          "one half of a surrogate pair)"),
    _json("a lone low surrogate escape in an unknown field", json.dumps(STARTED)[:-1] + ', "x": "\\udc00"}',
          "surrogate", "not valid JSON: lone leading surrogate in hex escape at line 1 column 561 (a \\uD800-\\uDFFF "
          "escape must be one half of a surrogate pair)"),
    _json("an empty array at depth 202", _nested(202), "depth",
          "not valid JSON here: nested deeper than 201 levels (recursion limit exceeded at line 1 column 727)"),
    _json("a number at depth 202", _nested(202, scalar=True), "depth",
          "not valid JSON here: nested deeper than 201 levels (recursion limit exceeded at line 1 column 727)"),
]

VECTORS = [*VALID, *INVALID]


def document() -> dict[str, Any]:
    return {
        "$comment": "Generated by `python -m tests.contract.vectors` from tests/contract/vectors.py: do not edit.",
        "description": (
            "Test vectors of the job event contract (docs/events.md, Validation): message values and their "
            "verdicts. Every reader must agree with each: `valid`, or for an invalid one the check that refuses "
            "it (`checkedBy`: json = the JSON text rules, json-schema = schemas/jsonschema/job-event.schema.json, "
            "reader = a reader's own rules that JSON Schema cannot express), the `field` and `rule`, and the "
            "reference reader's error kind (`reason`) and exact `message`. The value is `event` (serialise it "
            "any way), `raw` (this exact text, UTF-8) or `rawBase64` (these bytes)."
        ),
        "maxDepth": 201,
        "vectors": VECTORS,
    }


def render() -> str:
    return json.dumps(document(), indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.contract.vectors", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != render():
            print(f"stale: {OUT}; regenerate with: python -m tests.contract.vectors", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT} ({len(VECTORS)} vectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

