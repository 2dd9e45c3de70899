"""A few read connections kept open, for a process that reads on every request (the console).

`reading` opens a connection per call: right for a command that reads once, but a server would pay
a new PostgreSQL backend (and its cold catalog cache) on every request. `ReadPool` keeps between
`min_size` and `max_size` autocommit connections (psycopg_pool), checks each one before handing it
out so that a connection the server dropped is replaced, and gives the same errors as `reading`.

When no pooled connection is ready within `POOL_WAIT` seconds (the database went away, or every
connection is busy), the read opens one of its own as `reading` does: its error says why the
database cannot be reached (a 503 at once rather than a wait), or, when it can, the read goes on
while the pool reconnects in the background.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from enrichlog.read import configure, reading, translated_reads
from projector import db

POOL_WAIT = 0.5  # seconds a read waits for a pooled connection before it opens one of its own
CONNECT_TIMEOUT = 5  # seconds, as projector.db.connect


class ReadPool:
    """Read connections to `database_url`, named `name` in pg_stat_activity; `open` before use."""

    def __init__(self, database_url: str, *, name: str, min_size: int = 1, max_size: int = 4) -> None:
        if not 1 <= min_size <= max_size:
            raise ValueError(f"pool sizes must be 1 <= min_size <= max_size, not {min_size} and {max_size}")
        self.database_url = database_url
        self.pool = ConnectionPool(
            database_url, min_size=min_size, max_size=max_size, open=False, name=name,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": db.application_name(name)},
            configure=configure, check=ConnectionPool.check_connection)

    def open(self) -> None:
        """Start connecting in the background: a database down now is not an error until a read."""
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for reads, back to the pool at the end; errors as `enrichlog.read.reading`."""
        try:
            conn = self.pool.getconn(timeout=POOL_WAIT)
        except PoolTimeout:
            with reading(self.database_url) as own:
                yield own
            return
        try:
            with translated_reads(self.database_url):
                yield conn
        finally:
            self.pool.putconn(conn)
