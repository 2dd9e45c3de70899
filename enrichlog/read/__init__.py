"""The read side: the admin table (roots page) and a root's timeline, over `enrichment_logs`.

Synchronous psycopg 3. The same SQL, for people who query directly, is in docs/queries.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from enrichlog.migrate import redact
from enrichlog.read.models import (
    AmbiguousRef,
    InvalidCursor,
    InvalidFilter,
    NotARoot,
    ReadError,
    RootNotFound,
    RootRow,
    RootsPage,
    Timeline,
    TimelineJob,
)
from enrichlog.read.roots import RootFilters, decode_cursor, encode_cursor, roots_page, roots_query
from enrichlog.read.timeline import timeline


class DatabaseUnavailable(ReadError):
    """The database could not be reached; the message names it (without the password)."""


def connect(database_url: str) -> psycopg.Connection[Any]:
    """An autocommit connection for reads; DatabaseUnavailable (one line) if it cannot be made."""
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        lines = str(exc).strip().splitlines()
        reason = (lines[0] if lines else type(exc).__name__).replace(database_url, redact(database_url))
        raise DatabaseUnavailable(f"cannot connect to {redact(database_url)}: {reason}") from exc
    except Exception as exc:  # a malformed URL: libpq's parser raises ProgrammingError or ValueError
        raise DatabaseUnavailable(f"invalid database URL {redact(database_url)!r}: {exc}") from exc


class NotMigrated(ReadError):
    """The database has no enrichment_logs table (or an older shape of it)."""


@contextmanager
def reading(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection for reads, closed at the end; a missing table or column says to migrate."""
    with connect(database_url) as conn:
        try:
            yield conn
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            first = str(exc).strip().splitlines()[0]
            raise NotMigrated(f"{first}: is {redact(database_url)} migrated? run `enrichlog migrate`") from exc


__all__ = [
    "AmbiguousRef", "DatabaseUnavailable", "InvalidCursor", "InvalidFilter", "NotARoot", "NotMigrated", "ReadError",
    "RootFilters", "RootNotFound", "RootRow", "RootsPage", "Timeline", "TimelineJob", "connect", "decode_cursor",
    "encode_cursor", "reading", "roots_page", "roots_query", "timeline",
]
