"""The timeline of a root: the root, then its children in start order (flat linking).

A ref is a row id (uuid) or a job id. A legacy row (written before linking) is its own root and
usually has no children: a one-item timeline. A child's ref does not silently show the root:
`NotARoot` names the root to ask for, so that the caller knows which timeline it is looking at.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from enrichlog.read import sql as q
from enrichlog.read.models import AmbiguousRef, NotARoot, RootNotFound, Timeline, TimelineJob


def timeline(conn: psycopg.Connection[Any], root_ref: str | uuid.UUID) -> Timeline:
    """The root named by `root_ref` and its children, ordered by (created_at, id).

    Raises RootNotFound (no such row), NotARoot (a child: the error names its root) or
    AmbiguousRef (a job id shared by several legacy rows: use one's row id).
    """
    ref = str(root_ref).strip()
    with conn.transaction():  # one transaction, no idle one left open on an autocommit connection
        found = _resolve(conn, ref)
        if not found["is_root_job"] and found["parent_job_id"] is not None:
            raise _not_a_root(conn, ref, found["parent_job_id"])
        with conn.cursor(row_factory=class_row(TimelineJob)) as cur:
            root = cur.execute(q.TIMELINE_ROOT, {"id": found["id"]}).fetchone()
            if root is None:  # deleted between the two statements
                raise RootNotFound(ref)
            children = [] if root.job_id is None else cur.execute(
                q.TIMELINE_CHILDREN, {"job_id": root.job_id}).fetchall()
    return Timeline(root, children)


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
