"""A deployment's three database roles, for the tests: an owner (not a superuser) that owns the database
and runs `enrichlog migrate`, which creates the projector's and the reader's roles and grants them.

Roles are cluster-wide, so every name carries a random suffix and everything is dropped afterwards
(the database first: its grants would keep the roles from being dropped)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ENRICHLOG = str(Path(sys.executable).with_name("enrichlog"))


def as_role(url: str, role: str, database: str | None = None) -> str:
    """The same server URL, connecting as `role` (the test cluster trusts local connections)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(netloc=f"{role}@{host}", path=path))


def enrichlog(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed `enrichlog` with exactly the role and database settings given in `env`."""
    base = {k: v for k, v in os.environ.items()
            if k != "DATABASE_URL" and not k.startswith("ENRICHLOG_DB_")}
    return subprocess.run([ENRICHLOG, *args], env={**base, "COLUMNS": "200", **env}, capture_output=True,
                          text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class Deployment:
    server: str  # the superuser's URL, for the test's own checks
    database: str
    owner: str
    projector: str
    reader: str

    def url(self, role: str) -> str:
        return as_role(self.server, role, self.database)

    @property
    def owner_url(self) -> str:
        return self.url(self.owner)

    @property
    def projector_url(self) -> str:
        return self.url(self.projector)

    @property
    def reader_url(self) -> str:
        return self.url(self.reader)

    def roles_env(self) -> dict[str, str]:
        return {"ENRICHLOG_DB_PROJECTOR_ROLE": self.projector, "ENRICHLOG_DB_READER_ROLE": self.reader}


def lock_down(server: str, database: str) -> None:
    """Take PostgreSQL's default CONNECT and TEMPORARY from PUBLIC on the database, as a hardened
    deployment does: the roles then have on it exactly what migrate grants them."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def drop_roles(server: str, *roles: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        for role in roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@contextmanager
def owned_database(server: str, *, createrole: bool = True) -> Iterator[Deployment]:
    """A database owned by a new owner role (LOGIN, CREATEROLE when asked, not a superuser), not yet
    migrated, locked down (`lock_down`); the projector's and reader's role names chosen but not created.
    All dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    d = Deployment(server, f"t_roles_{suffix}", f"enrichlog_owner_{suffix}", f"enrichlog_projector_{suffix}",
                   f"enrichlog_reader_{suffix}")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN {}").format(
            sql.Identifier(d.owner), sql.SQL("CREATEROLE" if createrole else "NOCREATEROLE")))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(d.database),
                                                                    sql.Identifier(d.owner)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(d.database),
                                                                         sql.Identifier(d.owner)))
    lock_down(server, d.database)
    try:
        yield d
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(d.database)))
        drop_roles(server, d.projector, d.reader, d.owner)


@contextmanager
def deployment(server: str) -> Iterator[Deployment]:
    """`owned_database`, migrated by its owner with `enrichlog migrate --create-roles`."""
    with owned_database(server) as d:
        done = enrichlog({"DATABASE_URL": d.owner_url, **d.roles_env()}, "migrate", "--create-roles")
        assert done.returncode == 0, done.stderr + done.stdout
        yield d
