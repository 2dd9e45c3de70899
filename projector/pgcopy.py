"""Projected rows in PostgreSQL's binary COPY format: how the store sends its rows.

PostgreSQL takes a row in this form for about 40 % less of its CPU than the same row as a JSON
document that `json_populate_record` turns into columns (the form the store sent before; measured
by bench/pg_row_cost.py): nothing is lexed, no key is looked up, a uuid is 16 bytes, a time is an
integer. Only the JSON columns are parsed, as jsonb always is. Python builds a row for about what
the JSON document cost it, written out field by field below for that reason: a loop of one encoder
call per column cost a quarter more.

The format (PostgreSQL 15 manual, COPY, "Binary Format"): a header; per row, the number of fields
(16 bits) and each field as its length (32 bits, -1 for NULL) and its value in the type's binary
form (its `send` function's output); a trailer. Integers are big-endian. The forms used here:
- uuid: its 16 bytes; boolean: one byte; integer/bigint: 4/8 bytes;
- text, varchar and enum labels: the UTF-8 text (the connection's encoding);
- timestamptz: µs since 2000-01-01 UTC, 8 bytes;
- text[]: dimensions, a has-nulls flag, the element type (text), each dimension's size and lower
  bound, then each element as a length and its text;
- jsonb: a version byte (1), then the JSON text.
Every integer column is bounded by the event schema (attempts, durations, counts), so it fits.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Sequence

import orjson

from projector.rows import COLUMNS, FIELD_COLUMNS, attempts_json, row_fields, row_id_bytes
from projector.state import JobState, encode_state_ascii, from_micros

# The columns of a COPY row, in its order: grouped by form, so that the fixed-size ones that are
# never NULL are packed by one call (the row's version, fold_seq, among them).
COPY_COLUMNS: tuple[str, ...] = (
    "id", "is_root_job", "retry_count", "attempt", "api_call_count", "failed_children", "created_at",
    "last_event_at", "fold_seq",
    "operation", "entity_type", "status", "job_status", "data_quality_before", "data_quality_after",
    "last_error_kind",
    "entity_id", "artist_id", "album_id", "track_id", "user_id",
    "duration_ms", "started_at", "finished_at",
    "job_id", "parent_job_id", "triggered_by", "reason", "error_message", "error_code", "last_error",
    "last_error_code",
    "sources", "fields_enriched",
    "metadata", "attempts", "fold_state",
    "source_topic",
)
if sorted(COPY_COLUMNS) != sorted((*COLUMNS, "fold_seq", "source_topic")):
    raise RuntimeError("COPY_COLUMNS must be the row's columns, fold_seq and source_topic")
# row_copy unpacks row_fields by position: in this order.
_UNPACKED = (
    "job_id", "operation", "entity_type", "entity_id", "artist_id", "album_id", "track_id", "parent_job_id",
    "is_root_job", "triggered_by", "user_id", "status", "job_status", "reason", "sources", "fields_enriched",
    "data_quality_before", "data_quality_after", "error_message", "error_code", "retry_count", "attempt",
    "duration_ms", "api_call_count", "last_error", "last_error_code", "last_error_kind",
    "created_at", "started_at", "finished_at", "last_event_at", "failed_children",
)
if FIELD_COLUMNS != _UNPACKED:
    raise RuntimeError("projector.rows.FIELD_COLUMNS changed: update row_copy and _UNPACKED")

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no header extension
TRAILER = struct.pack(">h", -1)

_length = struct.Struct(">i").pack
# The field count, then id, is_root_job, retry_count, attempt, api_call_count, failed_children,
# created_at, last_event_at and fold_seq, each after its length.
_fixed = struct.Struct(">h i16s i? ii ii ii ii iq iq iq".replace(" ", "")).pack
_int4 = struct.Struct(">ii").pack  # a length and a value at once
_int8 = struct.Struct(">iq").pack
_NULL = _length(-1)
_UUID_LENGTH = _length(16)
_TEXT_OID = 25
_EMPTY_TEXT_ARRAY = _length(12) + struct.pack(">iii", 0, 0, _TEXT_OID)
_array_head = struct.Struct(">iiiii").pack
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, in µs since 1970-01-01


def _text(value: str) -> bytes:
    data = value.encode()
    return _length(len(data)) + data


class _Labels(dict[str | None, bytes]):
    """Encoded values of small, closed sets (job types, statuses, error kinds), looked up without a
    Python call once seen; None is NULL."""

    def __missing__(self, value: str) -> bytes:
        encoded = _text(value)
        if len(self) < 10_000:  # closed sets: the bound is only a guard
            self[value] = encoded
        return encoded


_LABEL = _Labels({None: _NULL})


def _uuid(value: str) -> bytes:
    """A uuid given as text (hyphenated or not)."""
    return _UUID_LENGTH + bytes.fromhex(value.replace("-", ""))


def _text_array(values: Sequence[str]) -> bytes:
    if not values:
        return _EMPTY_TEXT_ARRAY
    parts = [_array_head(1, 0, _TEXT_OID, len(values), 1)]  # one dimension, no NULLs, text, size, from 1
    for value in values:
        data = value.encode()
        parts += (_length(len(data)), data)
    body = b"".join(parts)
    return _length(len(body)) + body


def _jsonb(json_text: bytes) -> bytes:
    return _length(len(json_text) + 1) + b"\x01" + json_text


@functools.lru_cache(maxsize=64)
def source_field(topic: str | None) -> bytes:
    """The row's source_topic as a COPY field, made once per topic (every row of a batch has it)."""
    return _NULL if topic is None else _text(topic)


def row_copy(state: JobState, fold_seq: int, failed_children: int = 0, source: bytes = _NULL) -> bytes:
    """The row of a state as one binary COPY row (COPY_COLUMNS). `failed_children` only matters
    when the row is inserted: an update keeps the stored count (projector.sql.UPSERT_STAGED).
    `source` is the topic's `source_field` (NULL by default: a row of no recorded topic).
    Optional values are tested here rather than in the encoders: most are None, and a call costs."""
    (job_id, operation, entity_type, entity_id, artist_id, album_id, track_id, parent_job_id,
     is_root, triggered_by, user_id, status, job_status, reason, sources, fields_enriched,
     quality_before, quality_after, error_message, error_code, retry_count, attempt, duration_ms,
     api_call_count, last_error, last_error_code, last_error_kind,
     created_at, started_at, finished_at, last_event_at, failed) = row_fields(state, failed_children)
    detail = state.detail
    fold_state = encode_state_ascii(state)  # base64: a JSON string that needs no escaping
    return b"".join((
        _fixed(len(COPY_COLUMNS), 16, row_id_bytes(job_id), 1, is_root, 4, retry_count, 4, attempt,
               4, api_call_count, 4, failed, 8, created_at - _PG_EPOCH_US, 8, last_event_at - _PG_EPOCH_US,
               8, fold_seq),
        _LABEL[operation], _LABEL[entity_type], _LABEL[status], _LABEL[job_status], _LABEL[quality_before],
        _LABEL[quality_after], _LABEL[last_error_kind],
        _uuid(entity_id), _NULL if artist_id is None else _uuid(artist_id),
        _NULL if album_id is None else _uuid(album_id), _NULL if track_id is None else _uuid(track_id),
        _NULL if user_id is None else _uuid(user_id),
        _NULL if duration_ms is None else _int4(4, duration_ms),
        _NULL if started_at is None else _int8(8, started_at - _PG_EPOCH_US),
        _NULL if finished_at is None else _int8(8, finished_at - _PG_EPOCH_US),
        _text(job_id), _NULL if parent_job_id is None else _text(parent_job_id),
        _NULL if triggered_by is None else _text(triggered_by), _NULL if reason is None else _text(reason),
        _NULL if error_message is None else _text(error_message),
        _NULL if error_code is None else _text(error_code), _NULL if last_error is None else _text(last_error),
        _NULL if last_error_code is None else _text(last_error_code),
        _text_array(sources), _text_array(fields_enriched),
        _NULL if detail is None else _jsonb(orjson.dumps(detail[1])),
        _jsonb(orjson.dumps(attempts_json(state, from_micros))),
        _length(len(fold_state) + 3) + b'\x01"' + fold_state + b'"',
        source,
    ))


def copy_data(rows: Iterable[bytes]) -> bytes:
    """Rows made by `row_copy` as the data of one COPY ... FROM STDIN (FORMAT BINARY)."""
    return b"".join((HEADER, *rows, TRAILER))
