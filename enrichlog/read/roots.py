"""The admin table: roots newest first, keyset-paginated with an opaque cursor.

The cursor is the (created_at, id) of the last row of a page. Rows inserted meanwhile are newer
than any page already read (created_at is the job's first event), so they land before the cursor:
the next pages have neither gaps nor duplicates. No OFFSET: page 1,000 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from enrichlog.read import sql as q
from enrichlog.read.models import InvalidCursor, InvalidFilter, RootRow, RootsPage, StatusCounts
from enrichlog.read.rows import positional
from schemas.common import EntityType, ErrorKind, JobType

MAX_LIMIT = 1000


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of a cursor from `encode_cursor`; InvalidCursor for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, id_text = raw.split("|")
        created_at, row_id = datetime.fromisoformat(at_text), uuid.UUID(id_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}: pass the nextCursor of a previous page") from exc
    if created_at.tzinfo is None:
        raise InvalidCursor(f"malformed cursor {cursor[:40]!r}: its time has no time zone")
    return created_at, row_id


JOB_TYPES: tuple[str, ...] = tuple(t.value for t in JobType)
ERROR_KINDS: tuple[str, ...] = tuple(k.value for k in ErrorKind)
ENTITY_TYPES: tuple[str, ...] = tuple(t.value for t in EntityType)
SHORT_ID = re.compile(r"[0-9a-f]{4,32}")


@dataclass(frozen=True, slots=True)
class EntityPrefix:
    """The ids a short id (the first hex digits of a uuid, as the table shows them) names: the
    inclusive range from the prefix padded with zeros to the prefix padded with f."""

    digits: str

    @classmethod
    def parse(cls, text: str) -> EntityPrefix:
        """InvalidFilter unless `text` is 4 to 32 hex digits (dashes ignored)."""
        digits = text.replace("-", "").lower()
        if not SHORT_ID.fullmatch(digits):
            raise InvalidFilter(f"entity: {text[:40]!r} is not a uuid or a short id (4 to 32 hex digits)")
        return cls(digits)

    @property
    def lo(self) -> uuid.UUID:
        return uuid.UUID(self.digits.ljust(32, "0"))

    @property
    def hi(self) -> uuid.UUID:
        return uuid.UUID(self.digits.ljust(32, "f"))


@dataclass(frozen=True, slots=True)
class RootFilters:
    """Optional filters of the roots page; None means "any"."""

    status: str | None = None
    operation: str | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    entity_id: uuid.UUID | None = None  # entity_id, artist_id, album_id or track_id
    stuck_after: timedelta | None = None  # running, and no event for this long
    entity_prefix: EntityPrefix | None = None  # like entity_id, for the ids a short id starts
    failing: str | None = None  # a child of this job type failed permanently
    error_kind: str | None = None  # a child's last error is of this kind
    entity_type: str | None = None  # with an id or a short id: only rows of this entity type

    def validate(self) -> None:
        if self.status is not None and self.status not in q.STATUSES:
            raise InvalidFilter(f"unknown status {self.status!r}; one of {', '.join(q.STATUSES)}")
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise InvalidFilter(f"{name} must have a time zone (e.g. 2026-02-06T12:00:00+00:00)")
        if self.since and self.until and self.since >= self.until:
            raise InvalidFilter(f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})")
        if self.stuck_after is not None and self.stuck_after <= timedelta(0):
            raise InvalidFilter("stuck_after must be positive")
        if self.entity_id is not None and self.entity_prefix is not None:
            raise InvalidFilter("entity: an id or a short id, not both")
        if self.entity_type is not None and self.entity_type not in ENTITY_TYPES:
            raise InvalidFilter(f"entity: unknown entity type {self.entity_type!r}; one of {', '.join(ENTITY_TYPES)}")
        if self.entity_type is not None and self.entity is None:
            raise InvalidFilter("entity: an entity type goes with an id or a short id (e.g. ALBUM ce400e5a)")
        if self.failing is not None and self.failing not in JOB_TYPES:
            raise InvalidFilter(f"failing: unknown operation {self.failing!r}; one of {', '.join(JOB_TYPES)}")
        if self.error_kind is not None and self.error_kind not in ERROR_KINDS:
            raise InvalidFilter(f"error_kind: unknown error kind {self.error_kind!r}; one of {', '.join(ERROR_KINDS)}")

    @property
    def entity(self) -> str | None:
        """How the entity is matched: "id", "range" (a short id) or None (any entity)."""
        if self.entity_id is not None:
            return "id"
        return None if self.entity_prefix is None else "range"

    def entity_params(self) -> dict[str, Any]:
        if self.entity_id is not None:
            return {"entity": self.entity_id}
        if self.entity_prefix is not None:
            return {"entity_lo": self.entity_prefix.lo, "entity_hi": self.entity_prefix.hi}
        return {}

    def fragments(self) -> tuple[list[str], dict[str, Any]]:
        """The SQL filter fragments and their parameters."""
        pairs: list[tuple[str, str, object]] = [
            (q.WITH_STATUS, "status", self.status),
            (q.WITH_OPERATION, "operation", self.operation),
            (q.SINCE, "since", self.since),
            (q.UNTIL, "until", self.until),
            (q.STUCK, "stuck_after", self.stuck_after),
            (q.FAILING, "failing", self.failing),
            (q.WITH_ERROR_KIND, "error_kind", self.error_kind),
            (q.WITH_ENTITY_TYPE, "entity_type", self.entity_type),
        ]
        used = [(frag, name, value) for frag, name, value in pairs if value is not None]
        return [frag for frag, _, _ in used], {name: value for _, name, value in used}


def roots_page(
    conn: psycopg.Connection[Any],
    *,
    limit: int = 50,
    cursor: str | None = None,
    status: str | None = None,
    operation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    entity_id: uuid.UUID | str | None = None,
    stuck_after: timedelta | None = None,
    entity_prefix: EntityPrefix | None = None,
    failing: str | None = None,
    error_kind: str | None = None,
    entity_type: str | None = None,
) -> RootsPage:
    """One page of roots (legacy rows included), newest first; `next_cursor` is None on the last.

    `entity_id` matches entity_id, artist_id, album_id or track_id; `stuck_after` keeps roots
    still PENDING or IN_PROGRESS whose last event is older than that; `entity_prefix` matches like
    `entity_id` the ids that start with its digits; `failing` keeps roots with a child of that job
    type that failed, `error_kind` roots with a child whose last error is of that kind; `entity_type`,
    with an id or a short id, keeps only roots of that entity type. Bad values raise
    InvalidFilter or InvalidCursor (both ValueErrors) before any SQL runs.
    """
    filters = RootFilters(status, operation, since, until, _as_uuid(entity_id), stuck_after, entity_prefix,
                          failing, error_kind, entity_type)
    query, params = roots_query(filters, limit=limit, cursor=cursor)
    with conn.cursor(row_factory=positional(RootRow)) as cur:
        rows = cur.execute(query, params).fetchall()
    if len(rows) <= limit:
        return RootsPage(rows, None)
    last = rows[limit - 1]
    return RootsPage(rows[:limit], encode_cursor(last.created_at, last.id))


def roots_query(filters: RootFilters, *, limit: int, cursor: str | None) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement of one page and its parameters (it fetches limit + 1 rows: is there more?)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidFilter(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    filters.validate()
    fragments, params = filters.fragments()
    if cursor is not None:
        params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
        fragments.insert(0, q.AFTER_CURSOR)
    params.update(filters.entity_params())
    params["limit"] = limit + 1
    return q.roots_page_query(entity=filters.entity, filters=fragments), params


COUNTS_CAP = 10_000  # roots counted at most: the newest ones, so that the count stays bounded


def status_counts(conn: psycopg.Connection[Any], filters: RootFilters, *, cap: int = COUNTS_CAP) -> StatusCounts:
    """The roots per display status among the newest `cap` roots the filters keep, whatever their
    status filter: what the page's status links would show. The filters on children (`failing`,
    `error_kind`) are applied within those `cap` roots. `capped` says the cap was reached."""
    filters = replace(filters, status=None)
    filters.validate()
    fragments, params = filters.fragments()
    params.update(filters.entity_params())
    params["limit"] = cap
    if filters == RootFilters():
        rows = _counts_by_status(conn, cap)
    else:
        rows = conn.execute(q.status_counts_query(entity=filters.entity, filters=fragments), params).fetchall()
    found = {status: roots for status, roots, _ in rows if roots}
    ordered = {s: found[s] for s in q.STATUSES if s in found}
    return StatusCounts(ordered, cap, sum(scanned for _, _, scanned in rows) >= cap)


def _counts_by_status(conn: psycopg.Connection[Any], cap: int) -> list[tuple[str, int, int]]:
    """(status, roots, scanned) of the newest `cap` roots, without any other filter (sql.COUNTS_EDGE)."""
    edge = conn.execute(q.COUNTS_EDGE, {"limit": cap}).fetchone()
    if edge is None:
        return conn.execute(q.STATUS_COUNTS_ALL).fetchall()
    return conn.execute(q.STATUS_COUNTS_FROM_EDGE, {"edge_at": edge[0], "edge_id": edge[1]}).fetchall()


def _as_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidFilter(f"entity id {value!r} is not a UUID") from exc
