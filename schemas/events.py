"""The job events: started, retrying, finished, failed. One envelope, four kinds.

Linking is flat: a root job has rootJobId == jobId and no parent; every job below a root, at any
depth, has parentJobId == rootJobId. The Kafka message key is rootJobId, so a whole chain lands
in one partition, in order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import SchemaValidator, core_schema

from schemas.common import (
    ALWAYS_CHILD,
    DATE_TIME_FORMAT,
    NO_NUL,
    Count,
    EntityType,
    ErrorCode,
    ErrorKind,
    ErrorMessage,
    Integer,
    JobId,
    JobType,
    Label,
    Outcome,
    Reason,
    Uuid,
    WireModel,
)
from schemas.details import DETAIL_FOR_JOB_TYPE, Detail
from schemas.errors import EventDecodeError, describe, json_error, non_json_number, shown, version_error

__all__ = ["EventDecodeError", "describe"]  # re-exported: they were defined here

SCHEMA_MAJOR = 1  # schemas.errors says it in its messages
SCHEMA_VERSION = "1.0"
MAX_ATTEMPT = 1000

# [0-9], not \d: \d also matches non-ASCII digits in Python/Rust regexes, not in ECMAScript ones.
# `not` a newline: Python's `re` (JSON Schema validators written in Python) also matches `$`
# before a final newline, which pydantic's Rust regex and ECMAScript do not.
SchemaVersion = Annotated[
    str,
    Field(
        pattern=rf"^{SCHEMA_MAJOR}\.[0-9]{{1,4}}$", max_length=9,
        json_schema_extra={"not": {"type": "string", "pattern": "\n"}},
    ),
]
DurationMs = Annotated[int, Integer(0, 2**31 - 1)]
Attempt = Annotated[int, Integer(1, MAX_ATTEMPT)]


# pydantic-core gives every datetime it parses with a zero offset one tzinfo object (its own type,
# not datetime.UTC): such a datetime converts to UTC without astimezone, whose call of that
# tzinfo's utcoffset (in Rust, through Python's protocol) is most of a conversion's cost. Another
# tzinfo, or a pydantic-core that made a new one each time, takes astimezone: the same result.
_PARSED_EPOCH: datetime = SchemaValidator(core_schema.datetime_schema()).validate_json(b'"1970-01-01T00:00:00Z"')
_PARSED_UTC = _PARSED_EPOCH.tzinfo
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _envelope_rules(fields: dict[str, Any]) -> None:
    """The envelope's rules, on a model's `__dict__` (a pydantic model's attribute is read through
    its class's `__getattr__` hook, several lookups dearer than a dict's item; this runs per event).

    occurredAt is set in UTC, in place (the model is frozen to its users, not to its validator, and
    an AfterValidator would be one more Python call per event): a datetime's offset can have seconds
    (historical zones) that RFC 3339, and pydantic's serializer, drop, which would shift the instant;
    UTC also makes dump/parse exact. Then flat linking."""
    at = fields["occurred_at"]
    tz = at.tzinfo
    if tz is _PARSED_UTC:  # the instant less the epoch, both in one tzinfo, is plain arithmetic in C
        fields["occurred_at"] = _EPOCH + (at - _PARSED_EPOCH)
    elif tz is not UTC:
        try:
            fields["occurred_at"] = at.astimezone(UTC)
        except OverflowError:
            raise ValueError("occurredAt: timestamp is out of range once converted to UTC") from None
    # Each message says field: rule, got value, as schemas.errors does for the other rules.
    job_id, root_job_id, parent_job_id = fields["job_id"], fields["root_job_id"], fields["parent_job_id"]
    if parent_job_id is None:
        if fields["job_type"] in ALWAYS_CHILD:
            raise ValueError(f"parentJobId: required field is missing: {fields['job_type']} always runs inside "
                             "another job, never as a root")
        if root_job_id != job_id:
            raise ValueError(
                f"rootJobId: must equal jobId {shown(job_id)} for a root job (one without "
                f"parentJobId), got {shown(root_job_id)}"
            )
    else:
        if parent_job_id != root_job_id:
            raise ValueError(
                f"parentJobId: must equal rootJobId {shown(root_job_id)} (linking is flat, every job "
                f"below a root points at the root), got {shown(parent_job_id)}"
            )
        if job_id == root_job_id:
            raise ValueError(f"jobId: must differ from rootJobId and parentJobId (a job cannot be its own "
                             f"parent), got {shown(job_id)}")


OccurredAt = Annotated[datetime, DATE_TIME_FORMAT]  # converted by _envelope_rules


class Entity(WireModel):
    """What the job works on; artist/album/track ids locate it for the "why has this album ..." query."""

    type: EntityType
    id: Uuid
    artist_id: Uuid | None = None
    album_id: Uuid | None = None
    track_id: Uuid | None = None


class JobError(WireModel):
    """An attempt's error: the message, the processor's code, and its classification."""

    message: ErrorMessage
    code: ErrorCode | None = None
    kind: ErrorKind = ErrorKind.UNKNOWN


class _JobEvent(WireModel):
    event_id: Uuid
    schema_version: SchemaVersion = SCHEMA_VERSION
    job_id: JobId
    job_type: JobType
    root_job_id: JobId
    parent_job_id: JobId | None = None
    attempt: Attempt
    occurred_at: OccurredAt
    entity: Entity
    triggered_by: Label | None = None
    user_id: Uuid | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        """The rules across fields; one validator per model (a Python call per event: subclasses
        override it rather than add a second one)."""
        _envelope_rules(self.__dict__)
        return self

    @property
    def is_root(self) -> bool:
        return self.parent_job_id is None


class _WithDetail(_JobEvent):
    detail: Detail | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        fields = self.__dict__
        _envelope_rules(fields)
        detail = fields["detail"]
        if detail is not None and not isinstance(detail, expected := DETAIL_FOR_JOB_TYPE[fields["job_type"]]):
            raise ValueError(
                f"detail.processor: must be {shown(expected.model_fields['processor'].default)} for jobType "
                f"{fields['job_type']}, got {shown(detail.processor)}"
            )
        return self


class JobStarted(_JobEvent):
    """An attempt of the job began."""

    kind: Literal["job.started"] = "job.started"
    max_attempts: Attempt | None = None


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
# pydantic-core's own method, without the adapter's Python wrapper: parse_event is on the hot path.
_VALIDATE_JSON = JOB_EVENT.validator.validate_json


def _without_nul_rule(schema: Any) -> Any:
    """A copy of a core schema whose strings do not check NO_NUL; everything else is the same."""
    if isinstance(schema, dict):
        copy = {key: _without_nul_rule(value) for key, value in schema.items()}
        if copy.get("type") == "str" and copy.get("pattern") == NO_NUL:
            del copy["pattern"]
        return copy
    if isinstance(schema, list | tuple):
        return type(schema)(_without_nul_rule(value) for value in schema)
    return schema


# The same validator without the NUL rule (a regex run on every string of every event). JSON text
# can carry U+0000 only as the escape \u0000 (a raw control character is invalid JSON to both), so
# a value without that escape has no string the rule could refuse: both validators return the same
# event, or the same errors (a unit test checks them on every contract vector).
_VALIDATE_JSON_NO_NUL = SchemaValidator(_without_nul_rule(JOB_EVENT.core_schema)).validate_json
_BACKSLASH = ord("\\")


def parse_event(raw: bytes) -> JobEvent:
    """Parse one message value (by the wire's field names only); raise EventDecodeError with a
    one-line reason naming the field and the rule."""
    try:
        if _BACKSLASH in raw and b"\\u0000" in raw:  # an int is looked for with memchr, bytes are not
            return _VALIDATE_JSON(raw, by_name=False)
        return _VALIDATE_JSON_NO_NUL(raw, by_name=False)
    except ValidationError as exc:
        raise _decode_error(raw, exc) from None


def _decode_error(raw: bytes, exc: ValidationError) -> EventDecodeError:
    errors = exc.errors(include_url=False)
    if errors[0]["type"] == "json_invalid":
        return json_error(raw, str((errors[0].get("ctx") or {}).get("error", errors[0]["msg"])))
    not_json = non_json_number(raw) if b"NaN" in raw or b"Infinity" in raw else None
    return not_json or version_error(exc) or EventDecodeError(describe(exc), kind="schema")


def dump_event(event: JobEvent) -> bytes:
    """The wire form: camelCase JSON, nulls omitted."""
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()
