"""Small hand-written job chains for tests of the fold, the store and the service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    Entity,
    EntityType,
    ErrorKind,
    JobError,
    JobEvent,
    JobFailed,
    JobFinished,
    JobRetrying,
    JobStarted,
    JobType,
    Outcome,
)

T0 = datetime(2026, 2, 6, 12, 0, tzinfo=UTC)
RATE_LIMIT = JobError(message="429 Too Many Requests", code="HTTP_429", kind=ErrorKind.RATE_LIMIT)
NOT_FOUND = JobError(message="404 image not found", code="IMAGE_FETCH_FAILED", kind=ErrorKind.NOT_FOUND)


class Chain:
    """Builds events of one root and its children with unique ids and increasing times."""

    def __init__(self, root_id: str | None = None, root_type: JobType = JobType.CHECK_ALBUM_ENRICHMENT) -> None:
        self.root_id = root_id or f"root-{uuid.uuid4().hex[:10]}"
        self.root_type = root_type
        self.entity = Entity(type=EntityType.ALBUM, id=uuid.uuid4(), album_id=uuid.uuid4())
        self.clock = 0
        self.types: dict[str, JobType] = {self.root_id: root_type}

    def child(self, job_type: JobType, suffix: str) -> str:
        job_id = f"{self.root_id}/{suffix}"
        self.types[job_id] = job_type
        return job_id

    def _base(self, job_id: str, attempt: int) -> dict[str, object]:
        self.clock += 1
        return {
            "event_id": uuid.uuid4(),
            "job_id": job_id,
            "job_type": self.types[job_id],
            "root_job_id": self.root_id,
            "parent_job_id": None if job_id == self.root_id else self.root_id,
            "attempt": attempt,
            "occurred_at": T0 + timedelta(seconds=self.clock),
            "entity": self.entity,
        }

    def started(self, job_id: str, attempt: int = 1) -> JobEvent:
        return JobStarted(**self._base(job_id, attempt))  # type: ignore[arg-type]

    def retrying(self, job_id: str, attempt: int, error: JobError = RATE_LIMIT) -> JobEvent:
        return JobRetrying(**self._base(job_id, attempt), error=error, duration_ms=100 * attempt)  # type: ignore[arg-type]

    def finished(self, job_id: str, attempt: int = 1, outcome: Outcome = Outcome.SUCCESS) -> JobEvent:
        return JobFinished(**self._base(job_id, attempt), outcome=outcome, duration_ms=250)  # type: ignore[arg-type]

    def failed(self, job_id: str, attempt: int, error: JobError = NOT_FOUND) -> JobEvent:
        return JobFailed(**self._base(job_id, attempt), error=error, duration_ms=300)  # type: ignore[arg-type]


def album_chain_with_failed_child() -> tuple[Chain, list[JobEvent]]:
    """A root that succeeds, a child retried twice then succeeding, a child failing permanently."""
    c = Chain()
    enrich = c.child(JobType.ENRICH_ALBUM, "enrich")
    cover = c.child(JobType.CACHE_ALBUM_COVER_ART, "cover")
    events = [
        c.started(c.root_id),
        c.started(enrich), c.retrying(enrich, 1), c.started(enrich, 2), c.retrying(enrich, 2),
        c.started(enrich, 3), c.finished(enrich, 3),
        c.started(cover), c.retrying(cover, 1, NOT_FOUND), c.started(cover, 2), c.failed(cover, 2),
        c.finished(c.root_id),
    ]
    return c, events


def big_chain(children: int, *, retried: int, failed: int) -> tuple[Chain, list[JobEvent]]:
    """A root with `children` children that succeed at their first try, but child number `retried`
    (from 1) succeeds after a retry and child number `failed` fails permanently."""
    c = Chain()
    types = (JobType.ENRICH_ALBUM, JobType.CACHE_ALBUM_COVER_ART, JobType.CACHE_ARTIST_IMAGE)
    events = [c.started(c.root_id)]
    for n in range(1, children + 1):
        job = c.child(types[n % len(types)], f"child-{n}")
        if n == retried:
            events += [c.started(job), c.retrying(job, 1), c.started(job, 2), c.finished(job, 2)]
        elif n == failed:
            events += [c.started(job), c.failed(job, 1)]
        else:
            events += [c.started(job), c.finished(job)]
    return c, [*events, c.finished(c.root_id)]


def state_json_as_version_4(d: dict[str, Any]) -> dict[str, Any]:
    """A state's JSON as version 4 stored it: no keys of the optional identity fields (they were
    the head's), "seen" with the retry count and the highest attempt after the three times, and the
    last error apart (values a reader now ignores: plausible ones)."""
    highest = max((a[0] for a in d["attempts"]), default=1)
    errors = [[a[2], a[6]] for a in d["attempts"] if a[6] is not None]
    old = {k: v for k, v in d.items() if k != "ids"}
    return old | {"v": 4, "seen": [*d["seen"][:3], highest - 1, highest], "error": errors[-1] if errors else None}


def state_json_as_version_3(d: dict[str, Any]) -> dict[str, Any]:
    """A state's JSON as version 3 stored it (a JSON object in the column): version 4's, with event
    ids as integers."""
    def key(k: list[Any] | None) -> list[Any] | None:
        return None if k is None else [*k[:4], int(k[4], 16)]

    d = state_json_as_version_4(d)
    return d | {
        "v": 3,
        "head": [key(d["head"][0]), *d["head"][1:]],
        "attempts": [[*a[:2], key(a[2]), *a[3:]] for a in d["attempts"]],
        "reason": None if d["reason"] is None else [key(d["reason"][0]), d["reason"][1]],
        "detail": key(d["detail"]),
        "error": None if d["error"] is None else [key(d["error"][0]), d["error"][1]],
    }
