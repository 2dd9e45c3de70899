"""The vocabulary of a row's declaration (projector.rows.JobRow): its columns' forms and rules.

A column is declared once, as a field of JobRow annotated with a `Column`: its Python type (`| None`
makes it nullable), the form its value is sent in, the expression that computes the value, what of
the stored state it gives back, and what an update does with it. Everything that lists columns is
derived from that: the row's values and the COPY encoder (generated once, at import, as dataclasses
and namedtuple generate their methods), the state read back, the SQL's column lists.
"""

from __future__ import annotations

import enum
import keyword
import linecache
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, get_args, get_type_hints

import orjson

from projector.state import from_micros


@dataclass(frozen=True, eq=False)
class Form:
    """How a column's value travels: the PostgreSQL type whose binary form is sent (text's for the
    varchar and enum columns too, whose binary input is text's), what the row holds of it, and what
    the state takes from a stored value. The value is what the column's expression gives (a cheap
    form, for the hot path: times in µs, the id's 16 bytes); `as_row` turns it into the value psycopg
    reads back from the column (JobRow's), `read_back` a value read back into the state's."""

    name: str
    pg_type: str
    as_row: Callable[[Any], Any] | None = None  # None: the value as it is
    read_back: Callable[[Any], Any] | None = None  # None: the stored value as it is

    def __repr__(self) -> str:
        return f"Form({self.name})"


def _uuid_of_bytes(value: bytes | bytearray) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(value))


def _as_stored_json(value: Any) -> Any:
    """A JSON value as PostgreSQL gives it back: what orjson writes of it (datetimes as ISO text)."""
    return orjson.loads(orjson.dumps(value))


def _ascii(value: bytes) -> str:
    return value.decode("ascii")


UUID_BYTES = Form("uuid given as its 16 bytes", "uuid", as_row=_uuid_of_bytes)
UUID_TEXT = Form("uuid given as text", "uuid", read_back=str)  # the state keeps ids as text
BOOL = Form("boolean", "bool")
INT4 = Form("integer", "int4")
INT8 = Form("bigint", "int8")
TIMESTAMP = Form("timestamptz given in µs since 1970", "timestamptz", as_row=from_micros)
TEXT = Form("text", "text")
LABEL = Form("text of a small closed set (job types, statuses, kinds)", "text")  # encoded once per value
TEXT_ARRAY = Form("text[] given as a sequence", "text[]", as_row=list)
JSONB = Form("jsonb", "jsonb", as_row=_as_stored_json)
JSONB_ASCII_STRING = Form("jsonb string given as the ASCII of its content, which needs no escapes",
                          "jsonb", as_row=_ascii)
COPY_FIELD = Form("text given as its COPY field (projector.pgcopy.source_field)", "text")


class Update(enum.Enum):
    """What the upsert of a stored row does with a column (projector.sql.UPSERT_STAGED)."""

    NEW = "takes the new value"
    KEPT = "keeps the stored value (the row's identity)"
    FIRST = "keeps the first value recorded: the new one only where the stored one is NULL"
    DERIVED = "is derived in SQL from other columns (projector.sql gives how)"


# What a stored column gives back to the state, besides the identity's fields (named as Identity's).
FOLD_STATE = "fold_state"
DETAIL = "detail"


@dataclass(frozen=True)
class Column:
    """One column. `value` is a Python expression of the row's value (see projector.rows for the
    names it may use). `state`: what of the stored state the column gives back (an Identity field's
    name, FOLD_STATE or DETAIL), None if nothing. `name` and `nullable` come from the JobRow field
    it annotates; a column declared apart (the store's) gives them itself."""

    form: Form
    value: str
    state: str | None = None
    update: Update = Update.NEW
    name: str = ""
    nullable: bool = False


def columns_of(cls: type) -> tuple[Column, ...]:
    """The columns of a dataclass whose fields are annotated with a Column, in the fields' order."""
    hints = get_type_hints(cls, include_extras=True)
    out = []
    for f in fields(cls):
        declared = [a for a in getattr(hints[f.name], "__metadata__", ()) if isinstance(a, Column)]
        if len(declared) != 1:
            raise TypeError(f"{cls.__name__}.{f.name} must be annotated with one Column")
        nullable = type(None) in get_args(get_args(hints[f.name])[0])
        out.append(replace(declared[0], name=f.name, nullable=nullable))
    return check_names(tuple(out))


def check_names(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """`columns` if their names are distinct identifiers (generated code names them)."""
    names = [c.name for c in columns]
    bad = [n for n in names if not n.isidentifier() or keyword.iskeyword(n) or n.startswith("_")]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"column names must be distinct identifiers not starting with _: {names}")
    return columns


def generate(name: str, source: str, namespace: dict[str, Any], module: str) -> Callable[..., Any]:
    """The function `name` that `source` defines, with `namespace` as its globals (as namedtuple makes
    its methods). Its source is registered with linecache, so that a traceback shows its lines."""
    filename = f"<generated {module}.{name}>"
    defined: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace, defined)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    function: Callable[..., Any] = defined[name]
    function.__module__ = module
    return function
