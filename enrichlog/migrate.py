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
    "triggered_by": "character varying", "user_id": "uuid", "created_at": "timestamp with time zone",
}
# Columns that only 0002 adds: finding one before 0002 is recorded means a half-applied schema.
COLUMNS_OF_0002 = ("is_root_job", "job_status", "attempts", "fold_state", "failed_children")


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
    raise MigrationError(f"DATABASE_URL must start with postgresql://, got {redact(database_url)!r}")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def _connect(database_url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MigrationError(f"cannot connect to {redact(database_url)}: {reason}") from exc
    except Exception as exc:  # invalid DSN syntax (ProgrammingError from conninfo parsing, etc.)
        raise MigrationError(f"invalid database URL {redact(database_url)!r}: {exc}") from exc


def _acquire(conn: psycopg.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise MigrationError(f"another migration runner held the lock for more than {timeout:.0f}s")
        time.sleep(0.2)


def _columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def preflight(conn: psycopg.Connection, applied_ids: set[str]) -> bool:
    """Check the schema against the recorded history; True when 0001 must be baselined."""
    columns = _columns(conn, "enrichment_logs")
    first, second = "0001_legacy_enrichment_logs", "0002_root_and_retry_tracking"
    if first not in applied_ids and columns:
        wrong = sorted(c for c, t in LEGACY_COLUMNS.items() if columns.get(c) != t)
        if wrong:
            detail = ", ".join(f"{c} (expected {LEGACY_COLUMNS[c]}, found {columns.get(c, 'missing')})" for c in wrong)
            raise MigrationError(
                "enrichment_logs exists but does not have the legacy shape that 0001 describes: "
                f"{detail}. Nothing was changed; bring the table to that shape (or restore it) and run again."
            )
    if second not in applied_ids:
        early = [c for c in COLUMNS_OF_0002 if c in columns]
        if early:
            raise MigrationError(
                f"enrichment_logs already has column(s) {', '.join(early)} of migration 0002, but 0002 "
                "is not recorded as applied: the schema was changed by hand or half-applied by another "
                "tool. Nothing was changed; drop those columns or record 0002 (yoyo mark), then run again."
            )
    if first not in applied_ids and not columns:
        types = conn.execute(
            "SELECT string_agg(typname, ', ') FROM pg_type WHERE typname = ANY(%s) "
            "AND typnamespace = current_schema()::regnamespace",
            (["enrichment_entity_type", "enrichment_status", "data_quality"],),
        ).fetchone()[0]  # type: ignore[index]
        if types:
            raise MigrationError(
                f"type(s) {types} exist without the enrichment_logs table and 0001 is not recorded: "
                "a half-applied earlier version. Nothing was changed; drop them and run again."
            )
    return first not in applied_ids and bool(columns)


def migrate(database_url: str, *, lock_timeout: float = 3600.0) -> MigrationReport:
    """Bring the database up to date; a no-op when it already is."""
    report = MigrationReport()
    with _connect(database_url) as guard:
        _acquire(guard, lock_timeout)
        backend = get_backend(_yoyo_url(database_url))
        try:
            backend.break_lock()  # we hold the advisory lock: any yoyo lock row is stale
            found = read_migrations(str(migrations_dir()))
            migrations = found.__class__([m for m in found if m.path.endswith(".sql")])
            hashes = set(backend.get_applied_migration_hashes())
            applied = {m.id for m in migrations if m.hash in hashes}
            if preflight(guard, applied):
                to_mark = [m for m in migrations if m.id.startswith("0001_")]
                backend.mark_migrations(migrations.__class__(to_mark))
                report.baselined = [m.id for m in to_mark]
                applied |= set(report.baselined)
            report.already_applied = sorted(applied - set(report.baselined))
            with backend.lock(timeout=60):
                for migration in backend.to_apply(migrations):
                    log.info("applying %s", migration.id)
                    try:
                        backend.apply_one(migration)
                    except psycopg.Error as exc:
                        raise MigrationError(f"migration {migration.id} failed: {exc}") from exc
                    report.applied.append(migration.id)
        except LockTimeout as exc:
            raise MigrationError(f"yoyo lock: {exc}") from exc
        finally:
            backend.connection.close()
    return report
