"""The timeline of a root: the root, then its children in start order (flat linking); `outline` is
the same timeline for a page that renders a bounded number of its children in full.

A ref is a row id (uuid) or a job id. A legacy row (written before linking) is its own root and
usually has no children: a one-item timeline. A child's ref does not silently show the root:
`NotARoot` names the root to ask for, so that the caller knows which timeline it is looking at.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

import psycopg
from psycopg.rows import dict_row

from enrichlog.read import sql as q
from enrichlog.read.models import AmbiguousRef, ChildLine, NotARoot, Outline, RootNotFound, Timeline, TimelineJob
from enrichlog.read.rows import positional


def timeline(conn: psycopg.Connection[Any], root_ref: str | uuid.UUID) -> Timeline:
    """The root named by `root_ref` and its children, ordered by (created_at, id).

    Raises RootNotFound (no such row), NotARoot (a child: the error names its root) or
    AmbiguousRef (a job id shared by several legacy rows: use one's row id).
    """
    with conn.transaction():  # one transaction, no idle one left open on an autocommit connection
        root = _root(conn, str(root_ref).strip())
        return Timeline(root, _children(conn, root))


def outline(conn: psycopg.Connection[Any], root_ref: str | uuid.UUID, *, full_up_to: int,
            in_full: Callable[[TimelineJob, list[ChildLine]], Collection[uuid.UUID]]) -> Outline:
    """The timeline of `root_ref` for a page that renders some children only. A root with at most
    `full_up_to` children has them all read in full (its Timeline's children); a bigger one has every
    child in outline and only those `in_full` picks (row ids) read in full. Errors as `timeline`'s."""
    with conn.transaction():
        root = _root(conn, str(root_ref).strip())
        if root.job_id is None or _count(conn, root.job_id) <= full_up_to:
            children = _children(conn, root)
            return Outline(root, children, {c.id: c for c in children})
        with conn.cursor(row_factory=positional(ChildLine)) as lines:
            found = lines.execute(q.OUTLINE_CHILDREN, {"job_id": root.job_id}).fetchall()
        wanted = list(in_full(root, found))
        with conn.cursor(row_factory=positional(TimelineJob)) as cur:
            full = cur.execute(q.TIMELINE_JOBS, {"ids": wanted}).fetchall() if wanted else []
    return Outline(root, found, {j.id: j for j in full})


def _root(conn: psycopg.Connection[Any], ref: str) -> TimelineJob:
    found = _resolve(conn, ref)
    if not found["is_root_job"] and found["parent_job_id"] is not None:
        raise _not_a_root(conn, ref, found["parent_job_id"])
    with conn.cursor(row_factory=positional(TimelineJob)) as cur:
        root = cur.execute(q.TIMELINE_ROOT, {"id": found["id"]}).fetchone()
    if root is None:  # deleted between the two statements
        raise RootNotFound(ref)
    return root


def _children(conn: psycopg.Connection[Any], root: TimelineJob) -> list[TimelineJob]:
    if root.job_id is None:
        return []
    with conn.cursor(row_factory=positional(TimelineJob)) as cur:
        return cur.execute(q.TIMELINE_CHILDREN, {"job_id": root.job_id}).fetchall()


def _count(conn: psycopg.Connection[Any], job_id: str) -> int:
    row = conn.execute(q.CHILDREN_COUNT, {"job_id": job_id}).fetchone()
    return int(row[0]) if row else 0


def _resolve(conn: psycopg.Connection[Any], ref: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row_id = _maybe_uuid(ref)
        if row_id is not None:
            row = cur.execute(q.RESOLVE_BY_ID, {"id": row_id}).fetchone()
            if row is not None:
                return row
        rows = cur.execute(q.RESOLVE_BY_JOB_ID, {"job_id": ref}).fetchall()
    if not rows:
        raise RootNotFound(ref)
    if rows[0]["legacy"] and len(rows) > 1:
        raise AmbiguousRef(ref, [r["id"] for r in rows])
    return rows[0]


def _not_a_root(conn: psycopg.Connection[Any], ref: str, parent_job_id: str) -> NotARoot:
    present = conn.execute(q.ROW_OF_JOB, {"job_id": parent_job_id}).fetchone() is not None
    return NotARoot(ref, parent_job_id, present)


def _maybe_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None
