"""From a job's fold state to its `enrichment_logs` row. Pure.

JobRow declares the row's columns, once: each field's type, form, value and rules (projector.columns).
`row_fields` (the values), `state_of_row` (a stored state read back), the COPY encoder
(projector.pgcopy) and the SQL's column lists (projector.sql) are derived from it.

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
from typing import Annotated, Any

from projector.columns import (
    BOOL,
    COPY_FIELD,
    DETAIL,
    FOLD_STATE,
    INT4,
    INT8,
    JSONB,
    JSONB_ASCII_STRING,
    LABEL,
    TEXT,
    TEXT_ARRAY,
    TIMESTAMP,
    UUID_BYTES,
    UUID_TEXT,
    Column,
    Update,
    check_names,
    columns_of,
    generate,
)
from projector.fold import (
    attempt_history,
    attempt_of,
    display_status,
    failed_permanently,
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
    encode_state_ascii,
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


_EMPTY: dict[str, Any] = {}
# SOURCES_OF_DETAIL with the sources as plain strings, as a detail's own `sources` are.
_SOURCES_OF_PROCESSOR: dict[str, tuple[str, ...]] = {
    processor: tuple(s.value for s in sources) for processor, sources in SOURCES_OF_DETAIL.items()
}

# What the columns' values (Column.value) are written in, besides `state` (the job's JobState) and
# `failed_children` (a root's permanently failed children): these names, computed once per row.
ROW_FACTS = """\
head, ident = state.head, state.identity
detail = state.detail[1] if state.detail else None
own = job_status(state)
is_root = ident.parent_job_id is None
terminal = head.kind in TERMINAL
error = last_error(state)
failed_error = error if own == "FAILED" else None
detail_get = detail.get if detail else _EMPTY.get
"""

_KEPT, _DERIVED = Update.KEPT, Update.DERIVED


@dataclass(frozen=True, slots=True)
class JobRow:
    """One projected row: the table's columns as the projection makes them, in this order; the one
    declaration of them (projector.columns). Values are as psycopg reads them back."""

    id: Annotated[uuid.UUID, Column(UUID_BYTES, "row_id_bytes(state.job_id)", update=_KEPT)]
    job_id: Annotated[str, Column(TEXT, "state.job_id", update=_KEPT)]
    operation: Annotated[str, Column(LABEL, "ident.job_type", state="job_type")]
    entity_type: Annotated[str, Column(LABEL, "ident.entity_type", state="entity_type")]
    entity_id: Annotated[str, Column(UUID_TEXT, "ident.entity_id", state="entity_id")]
    artist_id: Annotated[str | None, Column(UUID_TEXT, "ident.artist_id", state="artist_id")]
    album_id: Annotated[str | None, Column(UUID_TEXT, "ident.album_id", state="album_id")]
    track_id: Annotated[str | None, Column(UUID_TEXT, "ident.track_id", state="track_id")]
    parent_job_id: Annotated[str | None, Column(TEXT, "ident.parent_job_id", state="parent_job_id")]
    is_root_job: Annotated[bool, Column(BOOL, "is_root")]
    triggered_by: Annotated[str | None, Column(TEXT, "ident.triggered_by", state="triggered_by")]
    user_id: Annotated[str | None, Column(UUID_TEXT, "ident.user_id", state="user_id")]
    # An update derives it from the stored count (projector.sql); a row made here, from the one given.
    status: Annotated[str, Column(LABEL, "display_status(own, is_root, failed_children)", update=_DERIVED)]
    job_status: Annotated[str, Column(LABEL, "own")]
    reason: Annotated[str | None, Column(TEXT, "state.reason[1] if state.reason else None")]
    sources: Annotated[list[str], Column(
        TEXT_ARRAY, 'detail_get("sources") or _SOURCES_OF_PROCESSOR.get(str(detail_get("processor")), ())')]
    fields_enriched: Annotated[list[str], Column(TEXT_ARRAY, 'detail_get("fieldsEnriched") or ()')]
    data_quality_before: Annotated[str | None, Column(LABEL, 'detail_get("dataQualityBefore")')]
    data_quality_after: Annotated[str | None, Column(LABEL, 'detail_get("dataQualityAfter")')]
    error_message: Annotated[str | None, Column(TEXT, "failed_error.message if failed_error else None")]
    error_code: Annotated[str | None, Column(TEXT, "failed_error.code if failed_error else None")]
    retry_count: Annotated[int, Column(INT4, "retry_count(state)")]
    attempt: Annotated[int, Column(INT4, "attempt_of(state)")]
    duration_ms: Annotated[int | None, Column(INT4, "head.duration_ms if terminal else None")]
    api_call_count: Annotated[int, Column(INT4, "int((head.api_call_count if head.api_call_count is not None "
                                                "else detail_get('apiCallCount')) or 0)")]
    metadata: Annotated[dict[str, Any] | None, Column(JSONB, "detail", state=DETAIL)]
    last_error: Annotated[str | None, Column(TEXT, "error.message if error else None")]
    last_error_code: Annotated[str | None, Column(TEXT, "error.code if error else None")]
    last_error_kind: Annotated[str | None, Column(LABEL, "error.kind if error else None")]
    # The history's times as datetimes, which orjson writes as iso_from_micros does, for less.
    attempts: Annotated[list[dict[str, Any]], Column(JSONB, "attempts_json(state, from_micros)")]
    created_at: Annotated[datetime, Column(TIMESTAMP, "state.first_seen")]
    started_at: Annotated[datetime | None, Column(TIMESTAMP, "state.first_started")]
    finished_at: Annotated[datetime | None, Column(TIMESTAMP, "head.key[3] if terminal else None")]
    last_event_at: Annotated[datetime, Column(TIMESTAMP, "state.last_event")]
    # The stored count is the recount's (projector.sql.REFRESH_ROOTS); a row made here starts with this.
    failed_children: Annotated[int, Column(INT4, "failed_children if is_root else 0", update=_DERIVED)]
    # The state's encoding (projector.state.encode_state), base64: a JSON string without escapes.
    fold_state: Annotated[str, Column(JSONB_ASCII_STRING, "encode_state_ascii(state)", state=FOLD_STATE)]


PROJECTED: tuple[Column, ...] = columns_of(JobRow)
COLUMNS: tuple[str, ...] = tuple(c.name for c in PROJECTED)
# The columns the store writes beside the projection's, their values given to projector.pgcopy.row_copy
# under these names: the row's version (each write names the one it was folded from, migration 0006)
# and the topic the row was first folded from (migration 0008).
STORE_COLUMNS: tuple[Column, ...] = check_names((
    Column(INT8, "fold_seq", name="fold_seq"),
    Column(COPY_FIELD, "source", name="source_topic", nullable=True, update=Update.FIRST),
))
# The columns a stored state is read back from (state_of_row), and those sent as jsonb.
STATE_COLUMNS: tuple[str, ...] = tuple(c.name for c in PROJECTED if c.state is not None)
JSONB_COLUMNS: tuple[str, ...] = tuple(c.name for c in PROJECTED if c.form.pg_type == "jsonb")


def _attempt_json(a: Attempt, stamp: Callable[[int], Any]) -> dict[str, Any]:
    started, ended, error = a.started_at, a.ended_at, a.error
    out: dict[str, Any] = {"attempt": a.number,
                           "startedAt": None if started is None else stamp(started),
                           "endedAt": None if ended is None else stamp(ended),
                           "durationMs": a.duration_ms, "status": a.end_status}
    if error is not None:
        out["error"] = {"message": error.message, "code": error.code, "kind": error.kind}
    return out


def attempts_json(state: JobState, stamp: Callable[[int], Any] = iso_from_micros) -> list[dict[str, Any]]:
    """The row's `attempts`: its attempt history, as JSON. `stamp` makes a time (µs) a JSON value:
    the row's values pass `from_micros`, a datetime, which orjson writes exactly as `iso_from_micros`
    does (a unit test checks it), for less."""
    return [_attempt_json(a, stamp) for a in attempt_history(state)]


# What the facts and the columns' values may use, besides `state` and `failed_children`.
VALUE_NAMES: dict[str, Any] = {
    "TERMINAL": TERMINAL, "_EMPTY": _EMPTY, "_SOURCES_OF_PROCESSOR": _SOURCES_OF_PROCESSOR,
    "attempt_of": attempt_of, "attempts_json": attempts_json, "display_status": display_status,
    "encode_state_ascii": encode_state_ascii, "from_micros": from_micros, "job_status": job_status,
    "last_error": last_error, "retry_count": retry_count, "row_id_bytes": row_id_bytes,
}


def facts_code() -> str:
    """ROW_FACTS as the first lines of a generated function's body (row_fields', projector.pgcopy's
    row_copy's): what the columns' values are then computed from."""
    return "".join(f"    {line}\n" for line in ROW_FACTS.splitlines())


def _row_fields_source() -> str:
    facts = facts_code()
    values = "".join(f"        {c.value},  # {c.name}\n" for c in PROJECTED)
    return (f"def row_fields(state, failed_children):\n"
            f"    {_ROW_FIELDS_DOC!r}\n{facts}    return (\n{values}    )\n")


_ROW_FIELDS_DOC = """Every column's value (COLUMNS' order), in its form's value (projector.columns.Form):
the one place that computes them, for `to_row` and for the store's binary rows alike. A tuple: on the
hot path. Generated from JobRow's declaration."""
row_fields: Callable[[JobState, int], tuple[Any, ...]] = generate(
    "row_fields", _row_fields_source(), VALUE_NAMES, __name__)
_AS_ROW = tuple(c.form.as_row for c in PROJECTED)


def row_values(state: JobState, failed_children: int = 0) -> dict[str, Any]:
    """Every column's value, by column name: what `to_row` holds."""
    return {name: v if as_row is None or v is None else as_row(v)
            for name, as_row, v in zip(COLUMNS, _AS_ROW, row_fields(state, failed_children), strict=True)}


def to_row(state: JobState, failed_children: int = 0) -> JobRow:
    return JobRow(**row_values(state, failed_children))


def failed_children_of(states: Iterable[JobState]) -> Counter[str]:
    """Per root job id: how many of its children failed permanently."""
    counts: Counter[str] = Counter()
    for s in states:
        parent = s.identity.parent_job_id
        if parent is not None and failed_permanently(s):
            counts[parent] += 1
    return counts


def project_all(events: Iterable[JobEvent]) -> dict[str, JobRow]:
    """Every job's row from all events at once: the reference projection."""
    states = fold_by_job(events)
    failed = failed_children_of(states.values())
    return {job_id: to_row(s, failed.get(job_id, 0)) for job_id, s in states.items()}


def _state_of_row_source() -> tuple[str, dict[str, Any]]:
    """state_of_row's code: STATE_COLUMNS' values unpacked, each read back by its form, given to
    decode_state as the identity's fields (in Identity's order), the stored state and the detail."""
    columns = [c for c in PROJECTED if c.state is not None]
    namespace: dict[str, Any] = {"decode_state": decode_state, "Identity": Identity}
    read: dict[str, str] = {}
    for i, c in enumerate(columns):
        value = f"_s{i}"
        if c.form.read_back is not None:
            namespace[f"_read_back_{i}"] = c.form.read_back
            value = f"_read_back_{i}({value})"
            value = f"(None if _s{i} is None else {value})" if c.nullable else value
        if c.state in read:
            raise ValueError(f"two columns give back the state's {c.state}")
        read[str(c.state)] = value
    wanted = {*Identity._fields, FOLD_STATE, DETAIL}
    if read.keys() != wanted:
        raise ValueError(f"the state columns must give back {sorted(wanted)}, not {sorted(read)}")
    identity = ", ".join(read[f] for f in Identity._fields)
    unpacked = "".join(f"_s{i}, " for i in range(len(columns)))
    return (f"def state_of_row(values):\n"
            f"    {_STATE_OF_ROW_DOC!r}\n"
            f"    ({unpacked}) = values\n"
            f"    return decode_state({read[FOLD_STATE]}, Identity({identity}), {read[DETAIL]})\n"), namespace


_STATE_OF_ROW_DOC = "A stored row's state from its STATE_COLUMNS values (as psycopg returns them)."
state_of_row: Callable[[Sequence[Any]], JobState] = generate("state_of_row", *_state_of_row_source(), __name__)


def roots_to_recount(states: dict[str, tuple[JobState, int]], before: dict[str, JobState]) -> list[str]:
    """The roots whose count of permanently failed children (and so PARTIAL) this batch may change,
    given each touched job's new state and its stored one, if any. The upsert keeps a stored root's
    count as it is, so a root is recounted only when it needs to be:
    - a child became, or stopped being, FAILED: its root;
    - a FAILED child moved to another root (its parent changed): the former root and the new one;
    - a root row is new, or was a child's until now: the root itself (children of it may have
      failed before its own events arrived; a new root is inserted with the failed children of its
      own batch, so the recount finds nothing to write unless earlier ones exist).
    It spares the recounts of the roots of chains that run across many batches, as they do at low
    rates; in the throughput bench nearly every touched root is new, and each costs one probe of its
    own index and one of the failed-children index (REFRESH_ROOTS)."""
    roots: set[str] = set()
    for job_id, (after, _) in states.items():
        prior = before.get(job_id)
        parent = after.identity.parent_job_id
        failed = failed_permanently(after)
        if prior is None:
            if parent is None:
                roots.add(job_id)
            elif failed:
                roots.add(parent)
            continue
        prior_parent = prior.identity.parent_job_id
        prior_failed = failed_permanently(prior)
        if parent is None and prior_parent is not None:
            roots.add(job_id)
        if parent == prior_parent:
            if failed != prior_failed and parent is not None:
                roots.add(parent)
            continue
        if prior_failed and prior_parent is not None:
            roots.add(prior_parent)
        if failed and parent is not None:
            roots.add(parent)
    return sorted(roots)
