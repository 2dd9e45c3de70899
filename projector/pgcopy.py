"""Projected rows in PostgreSQL's binary COPY format: how the store sends its rows.

In this form PostgreSQL parses nothing but the JSON columns (as jsonb always is): no text is lexed,
no key looked up, a uuid is 16 bytes, a time an integer (docs/benchmarks.md compares it with the
JSON documents the store sent before and with psycopg's own binary COPY). The encoder, `row_copy`,
is generated once at import from the row's declaration (projector.rows.JobRow), each column's
encoding written out in line: a loop of one encoder call per column costs markedly more per row.

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
import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import orjson
from psycopg.types.json import Jsonb

from projector import columns as form
from projector.columns import Column, Form, generate
from projector.rows import COLUMNS, JSONB_COLUMNS, PROJECTED, STORE_COLUMNS, VALUE_NAMES, facts_code
from projector.state import JobState

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no header extension
TRAILER = struct.pack(">h", -1)

_length = struct.Struct(">i").pack
_int4 = struct.Struct(">ii").pack  # a length and a value at once
_int8 = struct.Struct(">iq").pack
_NULL = _length(-1)
_UUID_LENGTH = _length(16)
_BOOL_LENGTH = _length(1)
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


def _jsonb(value: Any) -> bytes:
    json_text = orjson.dumps(value)
    return _length(len(json_text) + 1) + b"\x01" + json_text


@functools.lru_cache(maxsize=64)
def source_field(topic: str | None) -> bytes:
    """The row's source_topic as a COPY field, made once per topic (every row of a batch has it)."""
    return _NULL if topic is None else _text(topic)


def _bool(value: bool) -> bytes:
    return _BOOL_LENGTH + (b"\x01" if value else b"\x00")


class _Binary(NamedTuple):
    """How a form's value becomes its COPY field, as code of the value `{v}`: `encode` gives the whole
    field; a form of fixed size also has `fixed`, its value's struct format when the field is packed
    with the row's other fixed-size fields that are never NULL, and `packed`, the value packed.
    `null_safe`: `encode` gives NULL for None itself."""

    encode: str
    fixed: str | None = None
    packed: str = "{v}"
    null_safe: bool = False


_BINARY: dict[Form, _Binary] = {
    form.UUID_BYTES: _Binary("_UUID_LENGTH + {v}", "16s"),
    form.BOOL: _Binary("_bool({v})", "?"),
    form.INT4: _Binary("_int4(4, {v})", "i"),
    form.INT8: _Binary("_int8(8, {v})", "q"),
    form.TIMESTAMP: _Binary("_int8(8, {v} - _PG_EPOCH_US)", "q", "{v} - _PG_EPOCH_US"),
    form.TEXT: _Binary("_text({v})"),
    form.LABEL: _Binary("_LABEL[{v}]", null_safe=True),
    form.UUID_TEXT: _Binary("_uuid({v})"),
    form.TEXT_ARRAY: _Binary("_text_array({v})"),
    form.JSONB: _Binary("_jsonb({v})"),
    form.JSONB_ASCII_STRING: _Binary("_length(len({v}) + 3) + b'\\x01\"' + {v} + b'\"'"),
    form.COPY_FIELD: _Binary("{v}", null_safe=True),
}


def _packed(c: Column) -> bool:
    return not c.nullable and _BINARY[c.form].fixed is not None


# The columns of a COPY row, in its order: the fixed-size ones that are never NULL first, packed by
# one call (the row's version among them), then the others, each in the declaration's order.
_WRITTEN: tuple[Column, ...] = (*PROJECTED, *STORE_COLUMNS)
_IN_ORDER: tuple[Column, ...] = (*filter(_packed, _WRITTEN), *(c for c in _WRITTEN if not _packed(c)))
COPY_COLUMNS: tuple[str, ...] = tuple(c.name for c in _IN_ORDER)
# The field count, then each packed field's length and value.
_fixed = struct.Struct(">h" + "".join("i" + str(_BINARY[c.form].fixed) for c in _IN_ORDER if _packed(c))).pack


def _row_copy_source() -> str:
    """row_copy's code: the row's facts (projector.rows.ROW_FACTS), then each column's field in
    COPY_COLUMNS' order, its value's expression (Column.value) in line. A value that the field's code
    reads twice (an optional one: NULL or its encoding) is computed into a local first. Optional
    values are tested here rather than in the encoders: most are None, and a call costs."""
    fixed, fields, computed = [str(len(COPY_COLUMNS))], [], []
    for i, c in enumerate(_IN_ORDER):
        binary = _BINARY[c.form]
        code = binary.packed if _packed(c) else binary.encode
        if not _packed(c) and c.nullable and not binary.null_safe:
            code = f"_NULL if {{v}} is None else {code}"
        if code.count("{v}") > 1 and not c.value.isidentifier():
            computed.append(f"    _v{i} = {c.value}\n")
            v = f"_v{i}"
        else:
            v = c.value if c.value.isidentifier() else f"({c.value})"
        if _packed(c):
            fixed += [str(struct.calcsize(f">{binary.fixed}")), code.format(v=v)]
        else:
            fields.append(code.format(v=v))
    joined = "".join(f"        {f},\n" for f in [f"_fixed({', '.join(fixed)})", *fields])
    return ("def row_copy(state, fold_seq, failed_children=0, source=_NULL):\n"
            f"    {_ROW_COPY_DOC!r}\n{facts_code()}{''.join(computed)}"
            f"    return b''.join((\n{joined}    ))\n")


_ROW_COPY_DOC = """The row of a state as one binary COPY row (COPY_COLUMNS). `failed_children` only matters
when the row is inserted: an update keeps the stored count (projector.sql.UPSERT_STAGED).
`source` is the topic's `source_field` (NULL by default: a row of no recorded topic): the store's
columns (projector.rows.STORE_COLUMNS) take their values from these parameters. Generated from the
row's declaration (projector.rows.JobRow)."""


class RowCopy(Protocol):
    def __call__(self, state: JobState, fold_seq: int, failed_children: int = 0, source: bytes = ...) -> bytes: ...


# What row_copy's code uses, besides what the row's values use (projector.rows.VALUE_NAMES).
_ENCODERS: dict[str, Any] = {
    "_fixed": _fixed, "_NULL": _NULL, "_PG_EPOCH_US": _PG_EPOCH_US,
    "_UUID_LENGTH": _UUID_LENGTH, "_LABEL": _LABEL, "_bool": _bool, "_int4": _int4, "_int8": _int8,
    "_jsonb": _jsonb, "_length": _length, "_text": _text, "_text_array": _text_array, "_uuid": _uuid,
}
if _ENCODERS.keys() & VALUE_NAMES.keys():
    raise RuntimeError(f"projector.pgcopy and projector.rows both name {sorted(_ENCODERS.keys() & VALUE_NAMES.keys())}")
row_copy: RowCopy = generate("row_copy", _row_copy_source(), {**VALUE_NAMES, **_ENCODERS}, __name__)


def copy_data(rows: Iterable[bytes]) -> bytes:
    """Rows made by `row_copy` as the data of one COPY ... FROM STDIN (FORMAT BINARY)."""
    return b"".join((HEADER, *rows, TRAILER))


def db_values(row: Any) -> list[Any]:
    """A JobRow as the values psycopg sends (a text COPY's `write_row`, statement parameters), in
    COLUMNS order: the jsonb columns wrapped, the rest as they are."""
    values = [getattr(row, c) for c in COLUMNS]
    for i, c in enumerate(COLUMNS):
        if c in JSONB_COLUMNS and values[i] is not None:
            values[i] = Jsonb(values[i], dumps=_dumps)
    return values


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
