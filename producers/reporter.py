"""The API a processor uses around its work: started, then finished / retrying / failed.

    reporter = Reporter(publisher)
    link = Link.from_payload(queue_job.data)          # None: this job is a root
    with reporter.job(queue_job.id, JobType.ENRICH_ALBUM, entity=album, link=link,
                      attempt=queue_job.attempts_made + 1, max_attempts=3) as job:
        queue.add(JobType.CACHE_ALBUM_COVER_ART, {**data, **job.child_link().to_payload()})
        job.detail(EnrichmentDetail(...))
        job.finish(Outcome.PARTIAL_SUCCESS)           # optional; default SUCCESS

Leaving the block normally emits `job.finished` with the measured duration. An exception emits
`job.retrying` (the queue will run attempt + 1 with the same jobId) or `job.failed` (last attempt,
or not retryable), then is re-raised so the queue sees it. A processor raises `JobFailure` to
classify its error. Events are built (validated) on the caller's thread, so a programming error
(a detail of the wrong family, a bad id) surfaces where it was made.

An event larger than the topic accepts (a huge detail) is not lost: the sink refuses it
(`RecordTooLarge`) and the reporter sends it again without its detail, logging what it cut; the
job's status, times and error still reach the log. An event too large even without its detail
(a huge `reason`, say) raises `RecordTooLarge` to the processor, like any other invalid event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Literal
from uuid import UUID

from producers.clock import SYSTEM_CLOCK, Clock
from producers.errors import JobFailure, RecordTooLarge
from producers.linking import JobContext, Link
from producers.sinks import EventSink
from schemas import (
    DETAIL_FOR_JOB_TYPE,
    Detail,
    Entity,
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

log = logging.getLogger(__name__)
MAX_MESSAGE = 4000  # the contract's limit on error.message
MAX_CODE = 50


def error_of(exc: BaseException) -> tuple[JobError, bool]:
    """The wire error of an exception and whether the queue may retry it.

    `JobFailure` says it itself; a TimeoutError is a retryable TIMEOUT; anything else is a
    retryable UNKNOWN whose code is the exception's class name.
    """
    if isinstance(exc, JobFailure):
        message, kind, code, retryable = exc.message, exc.kind, exc.code, exc.retryable
    else:
        message, code, retryable = str(exc), type(exc).__name__, True
        kind = ErrorKind.TIMEOUT if isinstance(exc, TimeoutError) else ErrorKind.UNKNOWN
    message = message.strip() or type(exc).__name__
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    code = code[:MAX_CODE] if code else None
    return JobError(message=message, code=code, kind=kind), retryable


class Reporter:
    """Builds job events and hands them to a sink. One per process; thread-safe if the sink is."""

    def __init__(
        self,
        sink: EventSink,
        *,
        clock: Clock = SYSTEM_CLOCK,
        new_event_id: Callable[[], UUID] = uuid.uuid4,
        triggered_by: str | None = None,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.new_event_id = new_event_id
        self.triggered_by = triggered_by

    def publish(self, event: JobEvent) -> None:
        """Hand `event` to the sink; one too large for the topic goes again without its detail."""
        try:
            self.sink.publish(event)
        except RecordTooLarge as exc:
            if getattr(event, "detail", None) is None:
                raise
            log.warning("event %s (%s) of job %s: %s; sent again without its detail", event.event_id,
                        event.kind, event.job_id, exc)
            self.sink.publish(event.model_copy(update={"detail": None}))

    def job(
        self,
        job_id: str,
        job_type: JobType,
        *,
        entity: Entity,
        link: Link | None = None,
        attempt: int = 1,
        max_attempts: int | None = 3,
        triggered_by: str | None = None,
        user_id: UUID | None = None,
        reason: str | None = None,
        reraise: bool = True,
    ) -> JobRun:
        """A context manager around one attempt of a job; `link=None` makes the job a root."""
        if max_attempts is not None and attempt > max_attempts:
            raise ValueError(f"attempt {attempt} exceeds max_attempts {max_attempts}")
        return JobRun(
            self, JobContext(job_id, job_type, link), entity=entity, attempt=attempt,
            max_attempts=max_attempts, triggered_by=triggered_by or self.triggered_by,
            user_id=user_id, reason=reason, reraise=reraise,
        )


class JobRun:
    """One attempt of a job in progress; created by `Reporter.job`."""

    def __init__(
        self, reporter: Reporter, context: JobContext, *, entity: Entity, attempt: int,
        max_attempts: int | None, triggered_by: str | None, user_id: UUID | None,
        reason: str | None, reraise: bool,
    ) -> None:
        self.reporter = reporter
        self.context = context
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.reraise = reraise
        self.outcome = Outcome.SUCCESS
        self.api_call_count: int | None = None
        self._detail: Detail | None = None
        self._started = 0.0
        self._common = {
            "job_id": context.job_id, "job_type": context.job_type,
            "root_job_id": context.root_job_id, "parent_job_id": context.parent_job_id,
            "attempt": attempt, "entity": entity, "triggered_by": triggered_by,
            "user_id": user_id, "reason": reason,
        }

    def child_link(self) -> Link:
        """The linking fields for a job this one spawns (flat: the root's id)."""
        return self.context.child_link()

    def detail(self, detail: Detail) -> None:
        """Attach (or replace) the processor's detail; checked against the job type now."""
        expected = DETAIL_FOR_JOB_TYPE[self.context.job_type]
        if not isinstance(detail, expected):
            raise TypeError(f"{type(detail).__name__} does not fit {self.context.job_type}: "
                            f"expected {expected.__name__}")
        self._detail = detail

    def finish(self, outcome: Outcome, *, api_call_count: int | None = None) -> None:
        """Set the terminal outcome reported when the block ends normally (default SUCCESS)."""
        self.outcome = outcome
        if api_call_count is not None:
            self.api_call_count = api_call_count

    def __enter__(self) -> JobRun:
        clock = self.reporter.clock
        self.reporter.publish(JobStarted(
            event_id=self.reporter.new_event_id(), occurred_at=clock.now(),
            max_attempts=self.max_attempts, **self._common,  # type: ignore[arg-type]
        ))
        self._started = clock.monotonic()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False] | bool:
        if exc is not None and not isinstance(exc, Exception):
            return False  # interpreter exit / interrupt: no verdict; the queue will re-run it
        clock = self.reporter.clock
        base = {
            "event_id": self.reporter.new_event_id(), "occurred_at": clock.now(),
            "duration_ms": max(0, round((clock.monotonic() - self._started) * 1000)),
            "detail": self._detail, **self._common,
        }
        if exc is None:
            self.reporter.publish(JobFinished(
                outcome=self.outcome, api_call_count=self.api_call_count, **base))  # type: ignore[arg-type]
            return False
        error, retryable = error_of(exc)
        last = self.max_attempts is not None and self.attempt >= self.max_attempts
        kind = JobFailed if (last or not retryable) else JobRetrying
        self.reporter.publish(kind(error=error, **base))  # type: ignore[arg-type]
        return not self.reraise
