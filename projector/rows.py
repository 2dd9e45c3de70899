"""From a job's fold state to its `enrichment_logs` row. Pure.

`project_all` is the whole projection in memory (every job's row, roots' failed children counted):
the reference that the PostgreSQL store must equal, used by the rebuild check and the kill test.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projector.fold import (
    attempt_history,
    attempt_of,
    display_status,
    fold_by_job,
    job_status,
    last_error,
    retry_count,
)
from projector.state import (
    TERMINAL,
    Attempt,
    Identity,
    JobState,
    decode_state,
    encode_state,
    from_micros,
    iso_from_micros,
)
from schemas import JobEvent
from schemas.details import SOURCES_OF_DETAIL

# Row ids of projected rows are derived from the job id, so a rebuild gives the same ids.
ROW_ID_NAMESPACE = uuid.UUID("6f1d1f3c-3b0e-4b7e-9f53-7b7c3d0e6a11")
_NAMESPACE_BYTES = ROW_ID_NAMESPACE.bytes


def row_id(job_id: str) -> uuid.UUID:
    """uuid5(ROW_ID_NAMESPACE, job_id), without uuid5's per-call conversion of the namespace."""
    return uuid.UUID(bytes=hashlib.sha1(_NAMESPACE_BYTES + job_id.encode()).digest()[:16], version=5)


def row_id_bytes(job_id: str) -> bytearray:
    """`row_id(job_id).bytes`, without building a UUID (whose constructor is Python code): the hot
    path writes the id's 16 bytes as they are (binary COPY, projector.pgcopy)."""
    b = bytearray(hashlib.sha1(_NAMESPACE_BYTES + job_id.encode()).digest()[:16])
    b[6] = b[6] & 0x0F | 0x50  # version 5
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    return b


@dataclass(frozen=True, slots=True)
class JobRow:
    """One projected row; field names are the table's column names."""

    id: uuid.UUID
    job_id: str
    operation: str
    entity_type: str
    entity_id: str
    artist_id: str | None
    album_id: str | None
    track_id: str | None
    parent_job_id: str | None
    is_root_job: bool
    triggered_by: str | None
    user_id: str | None
    status: str
    job_status: str
    reason: str | None
    sources: list[str]
    fields_enriched: list[str]
    data_quality_before: str | None
    data_quality_after: str | None
    error_message: str | None
    error_code: str | None
    retry_count: int
    attempt: int
    duration_ms: int | None
    api_call_count: int
    metadata: dict[str, Any] | None
    last_error: str | None
    last_error_code: str | None
    last_error_kind: str | None
    attempts: list[dict[str, Any]]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_at: datetime
    failed_children: int
    fold_state: str  # the state's encoding (projector.state.encode_state)


COLUMNS: tuple[str, ...] = tuple(JobRow.__dataclass_fields__)


def _attempt_json(a: Attempt, stamp: Callable[[int], Any]) -> dict[str, Any]:
    started, ended, error = a.started_at, a.ended_at, a.error
    out: dict[str, Any] = {"attempt": a.number,
                           "startedAt": None if started is None else stamp(started),
                           "endedAt": None if ended is None else stamp(ended),
                           "durationMs": a.duration_ms, "status": a.end_status}
    if error is not None:
        out["error"] = {"message": error.message, "code": error.code, "kind": error.kind}
    return out


_EMPTY: dict[str, Any] = {}
# SOURCES_OF_DETAIL with the sources as plain strings, as a detail's own `sources` are.
_SOURCES_OF_PROCESSOR: dict[str, tuple[str, ...]] = {
    processor: tuple(s.value for s in sources) for processor, sources in SOURCES_OF_DETAIL.items()
}


# The columns `row_fields` gives, in its order: every column but the id and the JSON ones (metadata,
# attempts, fold_state), which are made apart (row_values; the store's projector.pgcopy.row_copy).
FIELD_COLUMNS: tuple[str, ...] = (
    "job_id", "operation", "entity_type", "entity_id", "artist_id", "album_id", "track_id", "parent_job_id",
    "is_root_job", "triggered_by", "user_id", "status", "job_status", "reason", "sources", "fields_enriched",
    "data_quality_before", "data_quality_after", "error_message", "error_code", "retry_count", "attempt",
    "duration_ms", "api_call_count", "last_error", "last_error_code", "last_error_kind",
    "created_at", "started_at", "finished_at", "last_event_at", "failed_children",
)
# Of those, the times: `row_fields` gives them in µs since the epoch (None: no such time).
TIME_COLUMNS: tuple[str, ...] = ("created_at", "started_at", "finished_at", "last_event_at")
if sorted((*FIELD_COLUMNS, "id", "metadata", "attempts", "fold_state")) != sorted(COLUMNS):
    raise RuntimeError("FIELD_COLUMNS must be the JobRow's columns but id, metadata, attempts and fold_state")


def row_fields(state: JobState, failed_children: int = 0) -> tuple[Any, ...]:
    """The row's FIELD_COLUMNS values, in that order, times in µs: the one place that decides them,
    for `to_row` and for the store's binary rows alike. A tuple, not a dict: on the hot path."""
    head, ident = state.head, state.identity
    detail = state.detail[1] if state.detail else None
    own = job_status(state)
    is_root = ident.parent_job_id is None
    terminal = head.kind in TERMINAL
    error = last_error(state)
    failed_error = error if own == "FAILED" else None
    detail_get = detail.get if detail else _EMPTY.get
    sources = detail_get("sources") or _SOURCES_OF_PROCESSOR.get(str(detail_get("processor")), ())
    api_calls = head.api_call_count if head.api_call_count is not None else detail_get("apiCallCount")
    return (
        state.job_id,
        ident.job_type,
        ident.entity_type,
        ident.entity_id,
        ident.artist_id,
        ident.album_id,
        ident.track_id,
        ident.parent_job_id,
        is_root,
        ident.triggered_by,
        ident.user_id,
        display_status(own, is_root, failed_children),
        own,
        state.reason[1] if state.reason else None,
        sources,
        detail_get("fieldsEnriched") or (),
        detail_get("dataQualityBefore"),
        detail_get("dataQualityAfter"),
        failed_error.message if failed_error else None,
        failed_error.code if failed_error else None,
        retry_count(state),
        attempt_of(state),
        head.duration_ms if terminal else None,
        int(api_calls or 0),
        error.message if error else None,
        error.code if error else None,
        error.kind if error else None,
        state.first_seen,
        state.first_started,
        head.key[3] if terminal else None,
        state.last_event,
        failed_children if is_root else 0,
    )


def attempts_json(state: JobState, stamp: Callable[[int], Any] = iso_from_micros) -> list[dict[str, Any]]:
    """The row's `attempts`: its attempt history, as JSON. `stamp` makes a time (µs) a JSON value:
    the store passes `from_micros`, a datetime, which orjson writes exactly as `iso_from_micros`
    does (a unit test checks it) in a third of the time."""
    return [_attempt_json(a, stamp) for a in attempt_history(state)]


def row_values(state: JobState, failed_children: int = 0) -> dict[str, Any]:
    """Every column's value, by column name: what `to_row` holds."""
    values = dict(zip(FIELD_COLUMNS, row_fields(state, failed_children), strict=True))
    for column in TIME_COLUMNS:
        if values[column] is not None:
            values[column] = from_micros(values[column])
    values["sources"] = list(values["sources"])
    values["fields_enriched"] = list(values["fields_enriched"])
    values["id"] = row_id(state.job_id)
    values["metadata"] = state.detail[1] if state.detail else None
    values["attempts"] = attempts_json(state)
    values["fold_state"] = encode_state(state)
    return values


def to_row(state: JobState, failed_children: int = 0) -> JobRow:
    return JobRow(**row_values(state, failed_children))


def failed_children_of(states: Iterable[JobState]) -> Counter[str]:
    """Per root job id: how many of its children failed permanently."""
    counts: Counter[str] = Counter()
    for s in states:
        parent = s.identity.parent_job_id
        if parent is not None and job_status(s) == "FAILED":
            counts[parent] += 1
    return counts


def project_all(events: Iterable[JobEvent]) -> dict[str, JobRow]:
    """Every job's row from all events at once: the reference projection."""
    states = fold_by_job(events)
    failed = failed_children_of(states.values())
    return {job_id: to_row(s, failed.get(job_id, 0)) for job_id, s in states.items()}


# The columns a stored state is read back from (see decode_state).
STATE_COLUMNS = ("job_id", "fold_state", "metadata", "operation", "parent_job_id", "entity_type", "entity_id",
                 "artist_id", "album_id", "track_id", "triggered_by", "user_id")


def state_of_row(values: Sequence[Any]) -> JobState:
    """A stored row's state from its STATE_COLUMNS values (as psycopg returns them)."""
    _, fold_state, metadata, operation, parent, entity_type, entity_id, artist, album, track, by, user = values
    identity = Identity(
        job_type=operation, parent_job_id=parent, entity_type=entity_type,
        entity_id=str(entity_id), artist_id=_str(artist), album_id=_str(album), track_id=_str(track),
        triggered_by=by, user_id=_str(user),
    )
    return decode_state(fold_state, identity, metadata)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)
