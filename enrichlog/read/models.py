"""What the read side returns, and its named errors. Plain frozen dataclasses, JSON-friendly."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple


class ReadError(Exception):
    """A read could not be answered; the message says why, in one line."""


class InvalidCursor(ReadError, ValueError):
    """The cursor string was not produced by `roots_page` (or was altered)."""


class InvalidFilter(ReadError, ValueError):
    """A filter value is out of range (unknown status, negative limit, since after until ...)."""


class RootNotFound(ReadError, LookupError):
    """No row has this id or job id."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"no enrichment log row with id or job id {ref!r}")
        self.ref = ref


class NotARoot(ReadError, LookupError):
    """The ref names a child job: its timeline is its root's. `root_ref` says which root (if known)."""

    def __init__(self, ref: str, root_ref: str, root_present: bool) -> None:
        where = "" if root_present else " (its root is not in the table yet)"
        super().__init__(f"{ref!r} is a child job, not a root: its timeline is the one of root {root_ref!r}{where}")
        self.ref = ref
        self.root_ref = root_ref
        self.root_present = root_present


class AmbiguousRef(ReadError, LookupError):
    """A legacy job id shared by several legacy rows: address one of them by its row id."""

    def __init__(self, ref: str, ids: list[uuid.UUID]) -> None:
        listed = ", ".join(str(i) for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
        super().__init__(f"job id {ref!r} names {len(ids)} legacy rows; use a row id: {listed}")
        self.ref = ref
        self.ids = ids


@dataclass(frozen=True, slots=True)
class RootRow:
    """One line of the admin table: a root (projected or legacy) with its children counted."""

    id: uuid.UUID
    job_id: str | None
    operation: str
    entity_type: str
    entity_id: uuid.UUID
    artist_id: uuid.UUID | None
    album_id: uuid.UUID | None
    track_id: uuid.UUID | None
    status: str  # display status: PARTIAL for a root with a permanently failed child
    job_status: str | None  # the root's own status (null for legacy rows)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_at: datetime | None
    duration_ms: int | None
    retry_count: int
    last_error: str | None
    children: int
    failed_children: int
    legacy: bool

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self, ROOT_KEYS)


@dataclass(frozen=True, slots=True)
class RootsPage:
    rows: list[RootRow]
    next_cursor: str | None  # None: this is the last page

    def to_json(self) -> dict[str, Any]:
        return {"rows": [r.to_json() for r in self.rows], "nextCursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Roots per display status among the newest `cap` roots that the filters (but status and the
    filters on children, which are applied within them) keep."""

    counts: dict[str, int]  # in the order of the statuses, only those with roots
    cap: int
    capped: bool  # the cap was reached: the counts are within the newest `cap` roots only

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "cap": self.cap, "capped": self.capped}


@dataclass(frozen=True, slots=True)
class TimelineJob:
    """One job of a timeline (the root first, then its children by start)."""

    id: uuid.UUID
    job_id: str | None
    parent_job_id: str | None
    operation: str
    entity_type: str
    entity_id: uuid.UUID
    status: str
    job_status: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_at: datetime | None
    duration_ms: int | None
    retry_count: int
    attempt: int | None
    last_error: str | None
    last_error_code: str | None
    last_error_kind: str | None
    error_message: str | None
    error_code: str | None
    reason: str | None  # why it ran or was skipped (e.g. "no source image")
    metadata: dict[str, Any] | None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    legacy: bool = False
    # The row's own columns of an enrichment (legacy rows have them; projected ones carry them in metadata too).
    sources: list[str] = field(default_factory=list)
    fields_enriched: list[str] = field(default_factory=list)
    data_quality_before: str | None = None
    data_quality_after: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _jsonable(self, JOB_KEYS)


@dataclass(frozen=True, slots=True)
class Timeline:
    root: TimelineJob
    children: list[TimelineJob]

    @property
    def jobs(self) -> list[TimelineJob]:
        return [self.root, *self.children]

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root.to_json(), "children": [c.to_json() for c in self.children]}


class ChildLine(NamedTuple):
    """A child in outline: a TimelineJob's columns that place it and say how it ended, no jsonb (a
    tuple: a big timeline makes hundreds of them per page)."""

    id: uuid.UUID
    job_id: str | None
    operation: str
    status: str
    job_status: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_at: datetime | None
    duration_ms: int | None
    retry_count: int


# What places a job on a timeline and says how it ended: either has those fields.
JobLine = TimelineJob | ChildLine


@dataclass(frozen=True, slots=True)
class Outline:
    """A timeline as its page shows it: the root, every child in start order (in outline or in full),
    and the children read in full by row id (all of them for a small timeline)."""

    root: TimelineJob
    children: Sequence[JobLine]
    full: Mapping[uuid.UUID, TimelineJob]


def _jsonable(row: object, keys: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The row's fields under their JSON keys (`_keys`), uuids and datetimes as strings. Nested
    values (metadata, attempts) are the row's own, not copies: every caller serializes at once."""
    return {key: _value(getattr(row, name)) for name, key in keys}


def _keys(kind: type) -> tuple[tuple[str, str], ...]:
    """(field, JSON key) of a row class: snake_case to camelCase, like the event contract."""
    return tuple((f.name, _camel(f.name)) for f in fields(kind))


def _value(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


# Worked out once per class, not once per row of a page or timeline.
ROOT_KEYS = _keys(RootRow)
JOB_KEYS = _keys(TimelineJob)
