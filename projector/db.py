"""PostgreSQL connections, and what their errors mean, in one place.

Every connection of the projector and of the commands is made here (`connect`, `connect_async`,
`connection`), and every psycopg error they meet is turned into one of the projector's errors here
(`translate`, applied by `translated` around the statements of an open connection), as
pyeventsourcing's `postgres.py` does where it obtains a connection:
- a connection that cannot be made: `CannotConnect` (a StoreUnavailable: retrying may help), or
  `InvalidURL` when the URL cannot be parsed; either names the server without its password;
- a transient error of an open connection (the server gone, a serialization failure, a deadlock):
  StoreUnavailable;
- any other: StoreError with the SQLSTATE, `poison` for the data's faults (class 22, data
  exception; 23, integrity violation), and a hint of what to do where one is known (a database not
  migrated; a caller's own hints, for a privilege its statements need).
Messages are one line (the first of the server's) and never hold the URL's password (`scrub`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import psycopg

from projector.errors import StoreError, StoreUnavailable

# Errors after which the same statements may well succeed: the connection lost (or never made), or
# the transaction chosen as the victim of a serialization failure or a deadlock.
TRANSIENT = (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
NOT_MIGRATED = frozenset({"42P01", "42703"})  # undefined_table, undefined_column: a schema older than the code
INSUFFICIENT_PRIVILEGE = "42501"
MIGRATE_HINT = "; is the database migrated (enrichlog migrate)?"
HINTS: Mapping[str, str] = {state: MIGRATE_HINT for state in NOT_MIGRATED}
UNAVAILABLE = "PostgreSQL unavailable"
_POISON_CLASSES = ("22", "23")


class CannotConnect(StoreUnavailable):
    """No connection could be made (refused, no answer, a login refused ...). `where` is the URL
    without its password, `text` the driver's whole message scrubbed of it, `reason` its first line."""

    def __init__(self, where: str, text: str, sqlstate: str | None) -> None:
        self.where, self.text, self.reason = where, text, first_line_of(text, "no reason given")
        super().__init__(f"cannot connect to {where}: {self.reason}", sqlstate=sqlstate)


class InvalidURL(StoreError):
    """The database URL cannot be parsed; nothing was tried. Attributes as CannotConnect's."""

    def __init__(self, where: str, text: str, sqlstate: str | None = None) -> None:
        self.where, self.text, self.reason = where, text, first_line_of(text, "cannot be parsed")
        super().__init__(f"invalid database URL {where!r}: {self.reason}", sqlstate=sqlstate)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (a server's error has a DETAIL, a HINT, a LINE ... after
    it); the error's class name when it has no message."""
    return first_line_of(str(exc), type(exc).__name__)


def first_line_of(text: str, empty: str) -> str:
    """The first line of a message; `empty` when it has none."""
    return (text.strip().splitlines() or [empty])[0]


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def scrub(text: str, url: str) -> str:
    """text (a driver message, which may quote the URL) without the URL's password."""
    text = text.replace(url, redact(url))
    if "@" in url and "://" in url:
        creds = url.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in creds and creds.split(":", 1)[1]:
            password = creds.split(":", 1)[1]
            text = text.replace(password, "***").replace(unquote(password), "***")
    return text


def application_name(name: str | None) -> str | None:
    """What pg_stat_activity shows of a connection: PostgreSQL keeps 63 bytes of it; None: libpq's default."""
    return name[:63] if name else None


def translate(exc: psycopg.Error, doing: str, hints: Mapping[str, str] = HINTS, *,
              whole: bool = False) -> StoreError:
    """The projector's error for a psycopg error met while `doing` (the start of the message, as
    "batch rejected by PostgreSQL"); `hints` map a SQLSTATE to what to do, appended to the message.
    The message is the server's first line, or with `whole` all of it (its DETAIL, HINT, the
    statement's LINE) joined on one line."""
    said = (" ".join(str(exc).split()) or type(exc).__name__) if whole else first_line(exc)
    if isinstance(exc, TRANSIENT):
        return StoreUnavailable(f"{UNAVAILABLE}: {said}", sqlstate=exc.sqlstate)
    state = exc.sqlstate
    code = f" ({state})" if state else ""
    return StoreError(f"{doing}{code}: {said}{hints.get(state or '', '')}",
                      poison=(state or "")[:2] in _POISON_CLASSES, sqlstate=state)


@contextmanager
def translated(doing: str, hints: Mapping[str, str] = HINTS, *, whole: bool = False) -> Iterator[None]:
    """Statements on an open connection (sync or async: the body may await), their psycopg errors
    raised as `translate` says; the projector's own errors and any other pass unchanged."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, doing, hints, whole=whole) from exc


def _connect_failed(exc: Exception, url: str) -> StoreError:
    where, text = redact(url), scrub(str(exc), url)
    if isinstance(exc, TRANSIENT):
        return CannotConnect(where, text, exc.sqlstate)
    # libpq's parser refuses the URL (ProgrammingError), or Python's does (ValueError ...)
    return InvalidURL(where, text, exc.sqlstate if isinstance(exc, psycopg.Error) else None)


def connect(url: str, *, timeout: int = 5, autocommit: bool = False,
            name: str | None = None) -> psycopg.Connection[Any]:
    """A connection (the caller's to close), within `timeout` seconds (libpq counts whole seconds,
    2 at least); `name`, what pg_stat_activity shows of it. CannotConnect or InvalidURL if not."""
    try:
        return psycopg.connect(url, connect_timeout=timeout, autocommit=autocommit,
                               application_name=application_name(name))
    except Exception as exc:
        raise _connect_failed(exc, url) from exc


async def connect_async(url: str, *, timeout: int = 5, autocommit: bool = False,
                        name: str | None = None) -> psycopg.AsyncConnection[Any]:
    """`connect`, for asyncio."""
    try:
        return await psycopg.AsyncConnection.connect(url, connect_timeout=timeout, autocommit=autocommit,
                                                     application_name=application_name(name))
    except Exception as exc:
        raise _connect_failed(exc, url) from exc


@contextmanager
def connection(url: str, doing: str, *, timeout: int = 5, autocommit: bool = False, name: str | None = None,
               hints: Mapping[str, str] = HINTS) -> Iterator[psycopg.Connection[Any]]:
    """A connection for the block, closed after it: its transaction (unless `autocommit`) committed
    when the block ends, rolled back when it raises; every psycopg error translated (see `translated`),
    the commit's included."""
    with translated(doing, hints), connect(url, timeout=timeout, autocommit=autocommit, name=name) as conn:
        yield conn
