"""The fold: job events -> one row state per job. Pure: no Kafka, no PostgreSQL, no clock.

`fold(state, events)` is `merge` over `from_event` of each event. `merge` is commutative,
associative and idempotent, which is what makes the projection exact under re-delivery, late and
out-of-order events: any permutation of the events, with any duplicates, folds to the same state.

The one cross-row rule, a root's PARTIAL status when a child failed permanently, needs the children
and so lives outside the per-job fold: `display_status` decides it from `failed_children`, which
the store counts in SQL and `project_all` counts in memory.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from pydantic import TypeAdapter

from projector.state import (
    MAX_HISTORY,
    RANK,
    REQUIRED,
    TERMINAL,
    Attempt,
    ErrorInfo,
    Head,
    Identity,
    IdentityKeys,
    JobState,
    Key,
    micros,
)
from schemas import JobEvent, JobFailed, JobFinished, JobRetrying, JobStarted
from schemas.common import WireModel

T = TypeVar("T")

# The job's own status by the kind of its deciding event (finished: its outcome).
STATUS_OF_KIND = {"job.started": "IN_PROGRESS", "job.retrying": "PENDING", "job.failed": "FAILED"}
PARTIAL = "PARTIAL"
FAILED = STATUS_OF_KIND["job.failed"]


def key_of(event: JobEvent) -> Key:
    terminal = 1 if event.kind in TERMINAL else 0
    return (terminal, event.attempt, RANK[event.kind], micros(event.occurred_at), event.event_id.int)


# On the hot path, an enum member's value is read as `member._value_` (the attribute Enum stores it
# in) rather than `member.value`, a Python-level property that costs two Python calls per read.
# The hot path makes its NamedTuples with positional arguments, in the fields' order: by keyword,
# the generated __new__ matches each name against its parameters, which costs markedly more.
def _identity(event: JobEvent) -> Identity:
    ent = event.entity.__dict__
    entity_id, artist_id, album_id, track_id = _IDS_JSON(
        (ent["id"], ent["artist_id"], ent["album_id"], ent["track_id"]), mode="json")
    return Identity(
        event.job_type._value_,  # job_type
        ent["type"]._value_,  # entity_type
        entity_id,
        event.parent_job_id,
        artist_id,
        album_id,
        track_id,
        event.triggered_by,
        None if event.user_id is None else str(event.user_id),  # user_id
    )


# The entity's ids as strings, in one pydantic-core call (UUID.__str__ is Python): a serializer of
# the four ids alone costs less than the entity's own (its fields, its enum's Python `value`).
_IDS_JSON = TypeAdapter(tuple[UUID, UUID | None, UUID | None, UUID | None]).serializer.to_python


def _head(event: JobEvent, key: Key) -> Head:
    return Head(
        key,
        event.kind,
        event.outcome._value_ if isinstance(event, JobFinished) else None,  # outcome
        None if isinstance(event, JobStarted) else event.duration_ms,  # duration_ms
        event.api_call_count if isinstance(event, JobFinished) else None,  # api_call_count
    )


def from_event(event: JobEvent) -> JobState:
    """The state of a job that has seen only this event."""
    key, at = key_of(event), micros(event.occurred_at)
    started = isinstance(event, JobStarted)
    error = None
    if isinstance(event, JobRetrying | JobFailed):
        error = ErrorInfo(event.error.message, event.error.code, event.error.kind.value)
    outcome = event.outcome.value if isinstance(event, JobFinished) else None
    end_status = None if started else (outcome or ("RETRIED" if isinstance(event, JobRetrying) else "FAILED"))
    duration = None if isinstance(event, JobStarted) else event.duration_ms
    detail = getattr(event, "detail", None)
    identity = _identity(event)
    return JobState(
        job_id=event.job_id,
        head=_head(event, key),
        identity=identity,
        identity_keys=tuple(None if v is None else key for v in identity[REQUIRED:]),
        first_seen=at,
        last_event=at,
        first_started=at if started else None,
        attempts=(
            Attempt(
                number=event.attempt,
                started_at=at if started else None,
                end_key=None if started else key,
                end_status=end_status,
                ended_at=None if started else at,
                duration_ms=duration,
                error=error,
            ),
        ),
        reason=None if event.reason is None else (key, event.reason),
        detail=None if detail is None else (key, _detail_json(detail)),
    )


def _greatest(a: tuple[Key, T] | None, b: tuple[Key, T] | None) -> tuple[Key, T] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[0] >= b[0] else b


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _merge_attempt(a: Attempt, b: Attempt) -> Attempt:
    started = _min_opt(a.started_at, b.started_at)
    end = b if b.end_key is not None and (a.end_key is None or b.end_key > a.end_key) else a
    return Attempt(a.number, started, end.end_key, end.end_status, end.ended_at, end.duration_ms, end.error)


def _merge_attempts(a: tuple[Attempt, ...], b: tuple[Attempt, ...]) -> tuple[Attempt, ...]:
    by_number = {x.number: x for x in a}
    for x in b:
        mine = by_number.get(x.number)
        by_number[x.number] = x if mine is None else _merge_attempt(mine, x)
    numbers = sorted(by_number)[-MAX_HISTORY:]
    return tuple(by_number[n] for n in numbers)


def merge(a: JobState, b: JobState) -> JobState:
    """The join of two states of the same job."""
    if a.job_id != b.job_id:
        raise ValueError(f"cannot merge states of jobs {a.job_id!r} and {b.job_id!r}")
    first = a if a.head.key >= b.head.key else b
    values: list[Any] = list(first.identity[:REQUIRED])
    keys: list[Key | None] = []
    for value_a, key_a, value_b, key_b in zip(a.identity[REQUIRED:], a.identity_keys,
                                              b.identity[REQUIRED:], b.identity_keys, strict=True):
        b_wins = key_b is not None and (key_a is None or key_b > key_a)
        values.append(value_b if b_wins else value_a)
        keys.append(key_b if b_wins else key_a)
    return JobState(
        job_id=a.job_id,
        head=first.head,
        identity=Identity(*values),
        identity_keys=tuple(keys),
        first_seen=min(a.first_seen, b.first_seen),
        last_event=max(a.last_event, b.last_event),
        first_started=_min_opt(a.first_started, b.first_started),
        attempts=_merge_attempts(a.attempts, b.attempts),
        reason=_greatest(a.reason, b.reason),
        detail=_greatest(a.detail, b.detail),
    )


def fold(state: JobState | None, events: Iterable[JobEvent]) -> JobState | None:
    """Apply events (all of one job) to a state; None stays None only when there are no events."""
    result = state
    for event in events:
        s = from_event(event)
        result = s if result is None else merge(result, s)
    return result


def fold_by_job(events: Iterable[JobEvent], states: dict[str, JobState] | None = None) -> dict[str, JobState]:
    """Fold a batch of events of many jobs onto their known states (the dict is not modified)."""
    by_job: defaultdict[str, list[JobEvent]] = defaultdict(list)
    for event in events:
        by_job[event.job_id].append(event)
    result = dict(states or {})
    for job_id, job_events in by_job.items():
        result[job_id] = fold_job(result.get(job_id), job_events)
    return result


def fold_job(state: JobState | None, events: Sequence[JobEvent]) -> JobState:
    """`fold(state, events)` in one pass, for the hot path: the same result (a property test checks
    it against merge), without building a state per event. `events` must all be of one job."""
    if not events:
        if state is None:
            raise ValueError("fold_job needs a state or at least one event")
        return state
    head_event: JobEvent | None = None
    detail_model: WireModel | None = None
    if state is None:
        job_id, head_key, detail_key = events[0].job_id, None, None
        first_seen, last_event, first_started = _FAR_FUTURE, -_FAR_FUTURE, None
        reason: tuple[Key, str] | None = None
        attempts: dict[int, list[Any]] = {}
    else:
        job_id, head_key = state.job_id, state.head.key
        detail_key = state.detail[0] if state.detail else None
        first_seen, last_event, first_started = state.first_seen, state.last_event, state.first_started
        reason = state.reason
        attempts = {a.number: [a.started_at, a.end_key, a.end_status, a.ended_at, a.duration_ms, a.error]
                    for a in state.attempts}
    for e in events:
        kind, attempt, at = e.kind, e.attempt, micros(e.occurred_at)
        key: Key = (1 if kind in TERMINAL else 0, attempt, RANK[kind], at, e.event_id.int)  # key_of(e), inlined
        if head_key is None or key > head_key:
            head_key, head_event = key, e
        if at < first_seen:
            first_seen = at
        if at > last_event:
            last_event = at
        record = attempts.get(attempt)
        if record is None:
            record = attempts[attempt] = [None, None, None, None, None, None]
        if kind == "job.started":
            first_started = at if first_started is None or at < first_started else first_started
            record[0] = at if record[0] is None or at < record[0] else record[0]
        else:
            err = None
            if kind != "job.finished":
                e_error = e.error  # type: ignore[union-attr]
                err = ErrorInfo(e_error.message, e_error.code, e_error.kind._value_)
            if record[1] is None or key > record[1]:
                status = e.outcome._value_ if kind == "job.finished" else (  # type: ignore[union-attr]
                    "RETRIED" if kind == "job.retrying" else "FAILED")
                record[1:] = [key, status, at, e.duration_ms, err]  # type: ignore[union-attr]
            e_detail = e.detail  # type: ignore[union-attr]
            if e_detail is not None and (detail_key is None or key > detail_key):
                detail_key, detail_model = key, e_detail
        if e.reason is not None and (reason is None or key > reason[0]):
            reason = (key, e.reason)
    head = _head(head_event, head_key) if head_event is not None else state.head  # type: ignore[union-attr, arg-type]
    identity, identity_keys = _fold_identity(state, head_event, head.key, events)
    detail = None if state is None else state.detail
    if detail_model is not None and detail_key is not None:
        detail = (detail_key, _detail_json(detail_model))
    numbers = sorted(attempts)[-MAX_HISTORY:]
    return JobState(  # positional: see _identity
        job_id, head, identity, identity_keys, first_seen, last_event, first_started,
        tuple([Attempt(n, *attempts[n]) for n in numbers]),  # attempts
        reason, detail,
    )


_FAR_FUTURE = 2**62


def _fold_identity(state: JobState | None, head_event: JobEvent | None, head_key: Key,
                   events: Sequence[JobEvent]) -> tuple[Identity, IdentityKeys]:
    """`fold_job`'s identity: the required fields of the head, each OPTIONAL field from the greatest
    event that carries it. The head's own values beat every other event's, so only the fields it
    lacks are looked for in the other events, and only an event that carries one has its key made."""
    if head_event is None:  # the stored head stays
        identity, keys = state.identity, state.identity_keys  # type: ignore[union-attr]
    else:
        identity = _identity(head_event)
        _, _, _, parent, artist, album, track, by, user = identity
        keys = (None if parent is None else head_key, None if artist is None else head_key,
                None if album is None else head_key, None if track is None else head_key,
                None if by is None else head_key, None if user is None else head_key)
        if state is not None:
            identity, keys = _or_else(identity, keys, state.identity, state.identity_keys)
        if len(events) == 1:
            return identity, keys  # the head is the only event
    # The fields looked for: those whose value is not the head's (a stored key equal to the head's
    # but another object is looked for too, and no event can beat it: the head is the greatest).
    wanted, own_of, own_none, entity_of, entity_none = _looked_for(
        (keys[0] is not head_key, keys[1] is not head_key, keys[2] is not head_key, keys[3] is not head_key,
         keys[4] is not head_key, keys[5] is not head_key))
    if not wanted:
        return identity, keys
    values: list[Any] | None = None
    found: list[Key | None] = list(keys)
    for e in events:
        if e is head_event:
            continue  # its values are the identity's: a field it lacks is None in it
        # Read from the models' __dict__: a pydantic model's attribute goes through its class's
        # __getattr__ hook, several lookups dearer than a dict's item, and this runs per event.
        fields = e.__dict__
        entity = fields["entity"].__dict__
        if own_of(fields) == own_none and entity_of(entity) == entity_none:
            continue  # it carries none of them (the common case), found in C
        key: Key | None = None
        for i, name, on_entity in wanted:
            value = entity[name] if on_entity else fields[name]
            if value is not None:
                key = key or key_of(e)
                current = found[i]
                if current is None or key > current:
                    if values is None:
                        values = list(identity)
                    values[REQUIRED + i], found[i] = str(value), key
    return (identity, keys) if values is None else (Identity(*values), tuple(found))


# Where an event carries each OPTIONAL field of Identity, in its order: the field's name, and
# whether it is the entity's (True) or the event's own.
_CARRIED = (("parent_job_id", False), ("artist_id", True), ("album_id", True), ("track_id", True),
            ("triggered_by", False), ("user_id", False))


def _none_of(names: list[str]) -> tuple[Callable[[dict[str, Any]], Any], Any]:
    """A getter of `names` from a model's __dict__ and what it returns when every one is None."""
    if not names:
        return (lambda _: None), None
    return operator.itemgetter(*names), (None if len(names) == 1 else (None,) * len(names))


@functools.cache
def _looked_for(lacking: tuple[bool, ...]) -> tuple[list[tuple[int, str, bool]], Any, Any, Any, Any]:
    """For the OPTIONAL fields `lacking` (a flag per field): (index, name, on the entity) of each,
    and `_none_of` the event's own and the entity's names among them (at most 64 sets, made once)."""
    wanted = [(i, *_CARRIED[i]) for i, lacks in enumerate(lacking) if lacks]
    own = _none_of([name for _, name, on_entity in wanted if not on_entity])
    entity = _none_of([name for _, name, on_entity in wanted if on_entity])
    return (wanted, *own, *entity)


def _or_else(identity: Identity, keys: IdentityKeys, other: Identity,
             other_keys: IdentityKeys) -> tuple[Identity, IdentityKeys]:
    """`identity` (the new head's), its OPTIONAL fields without a value taken from `other`."""
    if None not in keys:
        return identity, keys
    values: list[Any] = list(identity)
    found = list(keys)
    for i, k in enumerate(keys):
        if k is None:
            values[REQUIRED + i], found[i] = other[REQUIRED + i], other_keys[i]
    return Identity(*values), tuple(found)


def _json_dict(model: WireModel, *, by_alias: bool = False, exclude_none: bool = False) -> dict[str, Any]:
    """`model.model_dump(mode="json", ...)` through the model's pydantic-core serializer directly:
    model_dump's Python wrapper adds a large share of the serialization's own cost."""
    return model.__pydantic_serializer__.to_python(model, mode="json", by_alias=by_alias, exclude_none=exclude_none)


def _detail_json(detail: WireModel) -> dict[str, Any]:
    """The detail as the row's metadata: camelCase, nulls omitted."""
    return _json_dict(detail, by_alias=True, exclude_none=True)


def job_status(state: JobState) -> str:
    head = state.head
    return head.outcome if head.kind == "job.finished" and head.outcome else STATUS_OF_KIND[head.kind]


def attempt_of(state: JobState) -> int:
    """The row's `attempt`: the attempt of the deciding event. That is the highest attempt seen,
    unless the job ended (finished or failed): then the attempt it ended in, whatever events of
    higher attempts say (they count once a terminal event of theirs arrives, see docs/events.md)."""
    return state.head.key[1]


def retry_count(state: JobState) -> int:
    """The row's `retry_count`: its failed attempts that were retried. Attempts are numbered without
    gaps, so every attempt below the row's attempt was retried, whether its events arrived or not;
    the row's attempt itself only if its deciding event is a job.retrying."""
    head = state.head
    return head.key[1] if head.kind == "job.retrying" else head.key[1] - 1


def attempt_history(state: JobState) -> tuple[Attempt, ...]:
    """The row's `attempts`: of the attempts the state keeps (the highest ones seen), those up to
    the row's attempt."""
    attempt, attempts = state.head.key[1], state.attempts
    if not attempts or attempts[-1].number <= attempt:
        return attempts
    return tuple(a for a in attempts if a.number <= attempt)


def last_error(state: JobState) -> ErrorInfo | None:
    """The row's `last_error`: the error of the highest failed attempt in the row's history (an
    attempt's error is that of the event that ended it: job.retrying or job.failed)."""
    attempt = state.head.key[1]
    for a in reversed(state.attempts):
        if a.error is not None and a.number <= attempt:
            return a.error
    return None


# The PARTIAL rule, in two halves: which children count against their root, and what the root then
# shows. Stated here once for Python; projector.sql states it once for SQL (DISPLAY_STATUS and the
# recount's failed children); tests check that both agree.

def failed_permanently(state: JobState) -> bool:
    """Whether the job failed for good (its own status FAILED): such a child makes its root PARTIAL."""
    return job_status(state) == FAILED


def display_status(own_status: str, is_root: bool, failed_children: int) -> str:
    """What the table shows: a root with a permanently failed child is PARTIAL unless it failed itself."""
    if is_root and failed_children > 0 and own_status != FAILED:
        return PARTIAL
    return own_status
