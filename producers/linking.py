"""Root propagation: the linking fields a job carries and the ones it hands to its children.

Linking is flat: a root has rootJobId == jobId and no parent; every job spawned anywhere below
a root gets `rootJobId = parentJobId = <root id>`, whatever its depth. A `Link` is what travels in
the queue's job payload (`link.to_payload()` -> `{"rootJobId": ..., "parentJobId": ...}`) and is
read back by the child's processor (`Link.from_payload(job.data)`); a job whose payload carries
no link is a root.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from producers.errors import LinkError
from schemas import ALWAYS_CHILD, JobType

ROOT_KEY = "rootJobId"
PARENT_KEY = "parentJobId"
MAX_JOB_ID = 100


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_JOB_ID:
        raise LinkError(f"{name} must be a string of 1..{MAX_JOB_ID} characters, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Link:
    """The linking fields of a child job: its root and (flat) its parent, which is the root."""

    root_job_id: str

    def __post_init__(self) -> None:
        _check_id(ROOT_KEY, self.root_job_id)

    @property
    def parent_job_id(self) -> str:
        """Flat linking: the parent of every non-root job is its root."""
        return self.root_job_id

    def to_payload(self) -> dict[str, str]:
        """The fields to merge into the queue's job payload of the spawned child."""
        return {ROOT_KEY: self.root_job_id, PARENT_KEY: self.parent_job_id}

    @classmethod
    def from_payload(cls, payload: Mapping[str, object] | None) -> Link | None:
        """Read a job payload's link back; None (a root) when the payload carries none.

        A payload with only one of the two keys, or with two different ids, is rejected: it was
        written by something that does not link flat.
        """
        if not payload:
            return None
        root, parent = payload.get(ROOT_KEY), payload.get(PARENT_KEY)
        if root is None and parent is None:
            return None
        if root is None or parent is None:
            missing = ROOT_KEY if root is None else PARENT_KEY
            raise LinkError(f"job payload has {PARENT_KEY if root is None else ROOT_KEY} "
                            f"but no {missing}")
        if root != parent:
            raise LinkError(f"job payload has {PARENT_KEY}={parent!r} != {ROOT_KEY}={root!r}: "
                            "linking is flat, a child's parent is its root")
        return cls(_check_id(ROOT_KEY, root))


@dataclass(frozen=True, slots=True)
class JobContext:
    """Who a running job is: enough to link the children it spawns."""

    job_id: str
    job_type: JobType
    link: Link | None  # None for a root

    def __post_init__(self) -> None:
        _check_id("jobId", self.job_id)
        if self.link is None and self.job_type in ALWAYS_CHILD:
            raise LinkError(f"{self.job_type} always runs inside another job: it needs a parent link")
        if self.link is not None and self.link.root_job_id == self.job_id:
            raise LinkError(f"job {self.job_id!r} cannot be its own parent")

    @property
    def is_root(self) -> bool:
        return self.link is None

    @property
    def root_job_id(self) -> str:
        return self.job_id if self.link is None else self.link.root_job_id

    @property
    def parent_job_id(self) -> str | None:
        return None if self.link is None else self.link.parent_job_id

    def child_link(self) -> Link:
        """The link for a job this one spawns: `rootJobId = parent.rootJobId or parent.jobId`."""
        return link_child(self)


def link_child(parent: JobContext) -> Link:
    """The linking fields for a child of `parent`: flat, every descendant points at the root."""
    return Link(parent.root_job_id)
