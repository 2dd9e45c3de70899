"""The job events: started, retrying, finished, failed. One envelope, four kinds.

Linking is flat: a root job has rootJobId == jobId and no parent; every job below a root, at any
depth, has parentJobId == rootJobId. The Kafka message key is rootJobId, so a whole chain lands
in one partition, in order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from schemas.common import (
    ALWAYS_CHILD,
    NO_NUL,
    Count,
    EntityType,
    ErrorCode,
    ErrorKind,
    ErrorMessage,
    JobId,
    JobType,
    Label,
    Outcome,
    Reason,
    WireModel,
)
from schemas.details import DETAIL_FOR_JOB_TYPE, Detail

SCHEMA_MAJOR = 1
SCHEMA_VERSION = "1.0"
MAX_ATTEMPT = 1000

# [0-9], not \d: \d also matches non-ASCII digits in Python/Rust regexes, not in ECMAScript ones.
SchemaVersion = Annotated[str, Field(pattern=rf"^{SCHEMA_MAJOR}\.[0-9]{{1,4}}$", max_length=9)]
DurationMs = Annotated[int, Field(ge=0, le=2**31 - 1)]


def _to_utc(value: datetime) -> datetime:
    # The wire carries UTC: a datetime's offset can have seconds (historical zones) that RFC 3339,
    # and pydantic's serializer, drop, which would shift the instant; UTC also makes dump/parse exact.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None


OccurredAt = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class Entity(WireModel):
    """What the job works on; artist/album/track ids locate it for the "why has this album ..." query."""

    type: EntityType
    id: UUID
    artist_id: UUID | None = None
    album_id: UUID | None = None
    track_id: UUID | None = None


class JobError(WireModel):
    """An attempt's error: the message, the processor's code, and its classification."""

    message: ErrorMessage
    code: ErrorCode | None = None
    kind: ErrorKind = ErrorKind.UNKNOWN


class _JobEvent(WireModel):
    event_id: UUID
    schema_version: SchemaVersion = SCHEMA_VERSION
    job_id: JobId
    job_type: JobType
    root_job_id: JobId
    parent_job_id: JobId | None = None
    attempt: Annotated[int, Field(ge=1, le=MAX_ATTEMPT)]
    occurred_at: OccurredAt
    entity: Entity
    triggered_by: Label | None = None
    user_id: UUID | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _flat_linking(self) -> Self:
        if self.parent_job_id is None:
            if self.root_job_id != self.job_id:
                raise ValueError(
                    f"rootJobId {self.root_job_id!r} must equal jobId {self.job_id!r} for a root job "
                    "(a job without parentJobId)"
                )
            if self.job_type in ALWAYS_CHILD:
                raise ValueError(f"{self.job_type} always runs inside another job: parentJobId is required")
        else:
            if self.parent_job_id != self.root_job_id:
                raise ValueError(
                    f"parentJobId {self.parent_job_id!r} differs from rootJobId {self.root_job_id!r}: "
                    "linking is flat, every job below a root points at the root"
                )
            if self.job_id == self.root_job_id:
                raise ValueError(f"job {self.job_id!r} cannot be its own parent")
        return self

    @property
    def is_root(self) -> bool:
        return self.parent_job_id is None


class _WithDetail(_JobEvent):
    detail: Detail | None = None

    @model_validator(mode="after")
    def _detail_fits_job_type(self) -> Self:
        expected = DETAIL_FOR_JOB_TYPE[self.job_type]
        if self.detail is not None and not isinstance(self.detail, expected):
            raise ValueError(
                f"detail.processor {self.detail.processor!r} does not fit jobType {self.job_type}: "
                f"expected {expected.model_fields['processor'].default!r}"
            )
        return self


class JobStarted(_JobEvent):
    """An attempt of the job began."""

    kind: Literal["job.started"] = "job.started"
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPT)] | None = None


class JobRetrying(_WithDetail):
    """An attempt failed and the queue will try again (the same jobId, attempt + 1)."""

    kind: Literal["job.retrying"] = "job.retrying"
    error: JobError
    duration_ms: DurationMs


class JobFinished(_WithDetail):
    """The job ended with a terminal outcome (SUCCESS, SKIPPED, NO_DATA_AVAILABLE ...)."""

    kind: Literal["job.finished"] = "job.finished"
    outcome: Outcome
    duration_ms: DurationMs
    api_call_count: Count | None = None


class JobFailed(_WithDetail):
    """The job failed permanently: its last attempt, or an error the processor marked not retryable."""

    kind: Literal["job.failed"] = "job.failed"
    error: JobError
    duration_ms: DurationMs


JobEvent = Annotated[JobStarted | JobRetrying | JobFinished | JobFailed, Field(discriminator="kind")]
EVENT_KINDS: tuple[type[_JobEvent], ...] = (JobStarted, JobRetrying, JobFinished, JobFailed)

# One adapter, built once at import: parsing is `JOB_EVENT.validate_json(raw_bytes)`.
JOB_EVENT: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)


class EventDecodeError(ValueError):
    """Raw bytes are not a valid job event; `reason` says which field and why."""

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "undecodable" | "invalid-json" | "schema" | "unsupported-version"


def parse_event(raw: bytes) -> JobEvent:
    """Parse one message value; raise EventDecodeError with a one-line reason."""
    try:
        return JOB_EVENT.validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        if first["type"] == "json_invalid":
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise EventDecodeError("value is not UTF-8 text", kind="undecodable") from None
            raise EventDecodeError(f"invalid JSON: {first['msg']}", kind="invalid-json") from None
        version = next((e for e in errors if e["loc"][-1:] == ("schemaVersion",)), None)
        if version is not None:
            raise EventDecodeError(
                f"unsupported schemaVersion {version['input']!r}: this reader understands "
                f"{SCHEMA_MAJOR}.x; {describe(exc)}",
                kind="unsupported-version",
            ) from None
        raise EventDecodeError(describe(exc), kind="schema") from None


def describe(exc: ValidationError, limit: int = 3) -> str:
    """`field.path: message; ...` for the first errors of a validation failure."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        msg = err["msg"]
        if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == NO_NUL:
            msg = "must not contain the NUL character (U+0000): PostgreSQL cannot store it"
        parts.append(f"{loc}: {msg}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def dump_event(event: JobEvent) -> bytes:
    """The wire form: camelCase JSON, nulls omitted."""
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()
