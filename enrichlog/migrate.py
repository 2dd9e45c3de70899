"""Apply the plain-SQL migrations of `migrations/` in order, with yoyo-migrations.

yoyo records what ran and applies each file once; around it this runner adds what yoyo lacks:
- a PostgreSQL session advisory lock, so two runners at once are safe and a crashed runner's lock
  goes away with its connection (yoyo's own lock row would survive a crash and is cleared here);
- a preflight check that adopts an existing legacy `enrichment_logs` table (baseline of 0001) or
  refuses, changing nothing, a database whose schema does not match what the history says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout

from projector import db
from projector.db import redact
from projector.errors import StoreError

log = logging.getLogger(__name__)

_LOCK_KEY = 0x656E7269  # 'enri': one advisory lock key for all migration runners

# Columns (and SQL types) of the legacy table that 0001 creates and later files rely on.
LEGACY_COLUMNS: dict[str, str] = {
    "id": "uuid", "entity_type": "USER-DEFINED", "entity_id": "uuid", "artist_id": "uuid",
    "album_id": "uuid", "track_id": "uuid", "operation": "character varying", "sources": "ARRAY",
    "status": "USER-DEFINED", "reason": "text", "fields_enriched": "ARRAY",
    "data_quality_before": "USER-DEFINED", "data_quality_after": "USER-DEFINED",
    "error_message": "text", "error_code": "character varying", "retry_count": "integer",
    "duration_ms": "integer", "api_call_count": "integer", "metadata": "jsonb",
    "preview_data": "jsonb", "job_id": "character varying", "parent_job_id": "character varying",
    "triggered_by": "character varying", "user_id": "uuid",
    "created_at": "timestamp with time zone",
}
# What only 0002 adds: finding any of it before 0002 is recorded means a half-applied schema
# (0002 would fail on it, after the baseline of 0001 was already recorded).
COLUMNS_OF_0002 = (
    "is_root_job", "job_status", "attempt", "last_error", "last_error_code", "last_error_kind",
    "attempts", "started_at", "finished_at", "last_event_at", "failed_children", "fold_state",
)
RELATIONS_OF_0002 = ("enrichment_log_positions",)
_FIRST, _SECOND = "0001_legacy_enrichment_logs", "0002_root_and_retry_tracking"


class MigrationError(RuntimeError):
    """Migrations could not run; the message says why. Nothing was changed by the failing step."""


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    baselined: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)


def migrations_dir() -> Path:
    return Path(str(resources.files("migrations")))


def _yoyo_url(database_url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    raise MigrationError(
        f"the database URL must start with postgresql:// (or postgres://), "
        f"got {redact(database_url)!r}"
    )


def connect(database_url: str, wait_s: float = 0.0) -> psycopg.Connection:
    """An autocommit connection; MigrationError (one line, no password) when it cannot be made. With
    `wait_s`, a server not up yet is asked again until `wait_s` have passed."""
    _yoyo_url(database_url)  # refuse another scheme before libpq echoes the URL back
    deadline = time.monotonic() + wait_s
    tries = 0
    while True:
        tries += 1
        # libpq's connect_timeout counts whole seconds, 2 at least; one try alone waits 5
        timeout = max(2, min(5, round(deadline - time.monotonic()))) if wait_s else 5
        try:
            return db.connect(database_url, autocommit=True, timeout=timeout)
        except db.CannotConnect as exc:
            if not _not_up_yet(exc) or time.monotonic() >= deadline:
                waited = f" (waited {wait_s:g}s, {tries} tries)" if wait_s and tries > 1 else ""
                raise MigrationError(f"cannot connect to {exc.where}{waited}: {exc.reason}") from exc
            log.info("PostgreSQL at %s not up yet (%s): trying again", exc.where, exc.reason)
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        except db.InvalidURL as exc:
            raise MigrationError(str(exc)) from exc


# "the database system is starting up" (or shutting down, as the PostgreSQL image's init-time server
# does before the one that stays starts): SQLSTATE 57P03, cannot_connect_now.
_NOT_UP_YET = "57P03"


def _not_up_yet(exc: db.CannotConnect) -> bool:
    """A server that is not (yet) there: refused, no answer, or starting; worth asking again.
    A wrong password or a missing database is not: those stay wrong, and are reported at once."""
    if exc.sqlstate is not None:
        return exc.sqlstate == _NOT_UP_YET
    return not any(wrong in exc.text for wrong in ("password authentication failed", "does not exist",
                                                     "no password supplied", "no pg_hba.conf entry"))


def _acquire(conn: psycopg.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    lock = "SELECT pg_try_advisory_lock(%s)"
    while not conn.execute(lock, (_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise MigrationError(
                f"another migration runner held the lock for more than {timeout:.0f}s"
            )
        time.sleep(0.2)


def _columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def _present(conn: psycopg.Connection, names: tuple[str, ...]) -> list[str]:
    """Those of the named relations (tables, indexes) that exist on the search path."""
    rows = conn.execute(
        "SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NOT NULL", (list(names),)
    ).fetchall()
    return [r[0] for r in rows]


def recorded(conn: psycopg.Connection) -> set[str]:
    """Ids of the migrations yoyo recorded as applied, read without creating yoyo's tables."""
    if not _present(conn, ("_yoyo_migration",)):
        return set()
    return {r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()}


def pending(conn: psycopg.Connection) -> list[str]:
    """Ids of the migrations in `migrations/` that the database has not recorded as applied."""
    done = recorded(conn)
    return sorted(p.stem for p in migrations_dir().glob("*.sql") if p.stem not in done)


def preflight(conn: psycopg.Connection, applied_ids: set[str]) -> bool:
    """Check the schema against the recorded history; True when 0001 must be baselined."""
    columns = _columns(conn, "enrichment_logs")
    if _FIRST not in applied_ids and columns:
        wrong = sorted(c for c, t in LEGACY_COLUMNS.items() if columns.get(c) != t)
        if wrong:
            detail = ", ".join(
                f"{c} (expected {LEGACY_COLUMNS[c]}, found {columns.get(c, 'missing')})"
                for c in wrong
            )
            raise MigrationError(
                "enrichment_logs exists but does not have the legacy shape that 0001 describes: "
                f"{detail}. Nothing was changed; bring the table to that shape (or restore it) "
                "and run again."
            )
    if _SECOND not in applied_ids:
        early = [c for c in COLUMNS_OF_0002 if c in columns] + _present(conn, RELATIONS_OF_0002)
        if early:
            raise MigrationError(
                f"the database already has {', '.join(early)} of migration 0002, but 0002 is not "
                "recorded as applied: the schema was changed by hand or half-applied by another "
                "tool. Nothing was changed; drop those or record 0002 (yoyo mark), then run again."
            )
    if _FIRST not in applied_ids and not columns:
        types = conn.execute(
            "SELECT string_agg(typname, ', ' ORDER BY typname) FROM pg_type "
            "WHERE typname = ANY(%s) AND typnamespace = current_schema()::regnamespace",
            (["enrichment_entity_type", "enrichment_status", "data_quality"],),
        ).fetchone()[0]  # type: ignore[index]
        if types:
            raise MigrationError(
                f"type(s) {types} exist without the enrichment_logs table and 0001 is not "
                "recorded: a half-applied earlier version. Nothing was changed; drop them and "
                "run again."
            )
    _refuse_invalid_indexes(conn)
    return _FIRST not in applied_ids and bool(columns)


def _refuse_invalid_indexes(conn: psycopg.Connection) -> None:
    """An interrupted CREATE INDEX CONCURRENTLY (0004) leaves an INVALID index that IF NOT EXISTS skips."""
    invalid = conn.execute(
        "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
        " WHERE t.relname = 'enrichment_logs' AND t.relnamespace = current_schema()::regnamespace"
        " AND NOT i.indisvalid"
    ).fetchone()[0]  # type: ignore[index]
    if invalid:
        raise MigrationError(
            f"index(es) {invalid} on enrichment_logs are INVALID (an interrupted CREATE INDEX CONCURRENTLY). "
            "Nothing was changed; run DROP INDEX CONCURRENTLY on each, then run again."
        )


def migrate(database_url: str, *, lock_timeout: float = 3600.0, wait_s: float = 0.0) -> MigrationReport:
    """Bring the database up to date; a no-op when it already is.

    `wait_s`: how long a server that refuses connections or is still starting is asked again (a
    container started beside its database); a wrong password or database name fails at once.
    The preflight runs before yoyo is touched, so a refused database does not even get yoyo's
    bookkeeping tables.
    """
    report = MigrationReport()
    with connect(database_url, wait_s) as guard:
        _acquire(guard, lock_timeout)
        found = read_migrations(str(migrations_dir()))
        migrations = found.__class__([m for m in found if m.path.endswith(".sql")])
        applied = {m.id for m in migrations} & recorded(guard)
        baseline = preflight(guard, applied)
        try:
            backend = get_backend(_yoyo_url(database_url))
        except Exception as exc:
            reason = db.scrub(" ".join(str(exc).split()), database_url)
            raise MigrationError(f"yoyo cannot use {redact(database_url)}: {reason}") from exc
        try:
            backend.break_lock()  # we hold the advisory lock: any yoyo lock row is stale
            if baseline:
                to_mark = [m for m in migrations if m.id == _FIRST]
                backend.mark_migrations(migrations.__class__(to_mark))
                report.baselined = [m.id for m in to_mark]
            report.already_applied = sorted(applied)
            with backend.lock(timeout=60):
                for migration in backend.to_apply(migrations):
                    log.info("applying %s", migration.id)
                    try:
                        with db.translated("PostgreSQL refused it", whole=True):
                            backend.apply_one(migration)
                    except StoreError as exc:
                        raise MigrationError(f"migration {migration.id} failed: {exc}") from exc
                    report.applied.append(migration.id)
        except LockTimeout as exc:
            raise MigrationError(f"yoyo lock: {exc}") from exc
        finally:
            backend.connection.close()
    return report
