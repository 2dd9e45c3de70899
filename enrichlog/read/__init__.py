"""The read side: the admin table (roots page) and a root's timeline, over `enrichment_logs`.

Synchronous psycopg 3. The same SQL, for people who query directly, is in docs/queries.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from enrichlog.read.models import (
    AmbiguousRef,
    ChildLine,
    InvalidCursor,
    InvalidFilter,
    JobLine,
    NotARoot,
    Outline,
    ReadError,
    RootNotFound,
    RootRow,
    RootsPage,
    StatusCounts,
    Timeline,
    TimelineJob,
)
from enrichlog.read.roots import (
    EntityPrefix,
    RootFilters,
    decode_cursor,
    encode_cursor,
    roots_page,
    roots_query,
    status_counts,
)
from enrichlog.read.timeline import outline, timeline
from projector import db
from projector.errors import StoreError, StoreUnavailable


class DatabaseUnavailable(ReadError):
    """The database could not be reached; the message names it (without the password)."""


def connect(database_url: str) -> psycopg.Connection[Any]:
    """An autocommit connection for reads; DatabaseUnavailable (one line) if it cannot be made."""
    try:
        conn = db.connect(database_url, autocommit=True)
    except StoreError as exc:  # unreachable, a login refused, a malformed URL (projector.db says which)
        raise DatabaseUnavailable(str(exc)) from exc
    configure(conn)
    return conn


def configure(conn: psycopg.Connection[Any]) -> None:
    """What every read connection decodes with: jsonb (metadata, attempts) by orjson."""
    set_json_loads(json_loads, conn)


def json_loads(data: str | bytes) -> Any:
    """orjson's decoder; `json`'s for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class NotMigrated(ReadError):
    """The database has no enrichment_logs table (or an older shape of it)."""


@contextmanager
def reading(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection for reads, closed at the end. Its errors are those of `translated_reads`."""
    with connect(database_url) as conn, translated_reads(database_url):
        yield conn


@contextmanager
def translated_reads(database_url: str) -> Iterator[None]:
    """Reads on an open connection, with projector.db's errors: a missing table or column
    (NotMigrated) says to migrate, a connection lost is DatabaseUnavailable, any other refusal a
    StoreError."""
    hints = {state: f"; is {db.redact(database_url)} migrated? run `enrichlog migrate`" for state in db.NOT_MIGRATED}
    try:
        with db.translated("PostgreSQL refused the read", hints):
            yield
    except StoreUnavailable as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except StoreError as exc:
        if exc.sqlstate in db.NOT_MIGRATED:
            raise NotMigrated(str(exc)) from exc
        raise


__all__ = [
    "AmbiguousRef", "ChildLine", "DatabaseUnavailable", "EntityPrefix", "InvalidCursor", "InvalidFilter",
    "JobLine", "NotARoot", "NotMigrated", "Outline", "ReadError", "RootFilters", "RootNotFound", "RootRow",
    "RootsPage", "StatusCounts", "Timeline", "TimelineJob", "configure", "connect", "decode_cursor",
    "encode_cursor", "outline", "reading", "roots_page", "roots_query", "status_counts", "timeline",
    "translated_reads",
]
