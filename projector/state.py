"""The state of one job's row, as the fold sees it: immutable values, no I/O.

The values are NamedTuples rather than frozen dataclasses: as immutable, and cheaper to build (a
frozen dataclass's __init__ sets each field through object.__setattr__, a tuple is made in one
step), which counts since the fold builds a few of them per job on the projector's hot path
(docs/benchmarks.md has the figures).

Every field is a join-semilattice (a max by a total order, a min, or a bounded set of the highest
attempts), so folding events in any order, with any duplicates, gives the same state. The state is
stored with the row (`fold_state`, see `encode_state`) so that a later batch can continue from it.

Times are integers (microseconds since the epoch, UTC): cheap to compare, exact to store.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

STATE_VERSION = 5
# Versions read, and how the older ones differ (each is continued exactly as stored):
# 3: as 4, with event ids as integers and stored as a JSON object (see encode_state);
# 4: no "ids" (the identity was the head's, so each optional field's key is the head's), "seen" also
#    held the retry count and the highest attempt, and "error" the error of the highest attempt:
#    the row now derives them from the head and the attempts' history, and those are ignored.
READ_VERSIONS = (3, 4, 5)
MAX_HISTORY = 20  # attempts kept in the row's history (the highest attempt numbers)

# Total order of events of one job: terminal first (a terminal outcome is never overwritten by a
# non-terminal event), then attempt, then kind rank, then time, then event id (event ids are unique,
# so only a re-delivery of the same event ties, and it carries the same content).
Key = tuple[int, int, int, int, int]  # (terminal, attempt, rank, time in µs, event id as int)

RANK = {"job.started": 0, "job.retrying": 1, "job.finished": 2, "job.failed": 3}
TERMINAL = frozenset({"job.finished", "job.failed"})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


_NAIVE_EPOCH = datetime(1970, 1, 1)


def micros(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    # Integer timedelta arithmetic, exact (as is timedelta(microseconds=us), whose keyword argument
    # goes through a slower, float-aware normalization: rows call this several times).
    return _EPOCH + _MICROSECOND * us


def iso_from_micros(us: int) -> str:
    """`from_micros(us).isoformat()` ("...+00:00"), without formatting the offset: a naive datetime's
    isoformat plus the constant suffix, for less (the offset's formatting is Python code)."""
    return (_NAIVE_EPOCH + _MICROSECOND * us).isoformat() + "+00:00"


class Identity(NamedTuple):
    """What the job is and where it hangs: the row's identity columns.

    The first three fields are required on every event and the same on all of a job's events (the
    contract says so); the state takes them from its head. The others (OPTIONAL) may be sent on some
    events only: each is the value of the greatest event (by Key) that carries it, and the state
    keeps that event's key beside it (JobState.identity_keys), so that any order gives the same.
    The root of the chain is not kept: it is `parent_job_id or job_id` (flat linking).
    """

    job_type: str
    entity_type: str
    entity_id: str
    parent_job_id: str | None
    artist_id: str | None
    album_id: str | None
    track_id: str | None
    triggered_by: str | None
    user_id: str | None


REQUIRED = 3  # Identity's first fields are required; the others are OPTIONAL
OPTIONAL = Identity._fields[REQUIRED:]
IdentityKeys = tuple[Key | None, ...]  # per OPTIONAL field: the key of the event its value is from
NO_KEYS: IdentityKeys = (None,) * len(OPTIONAL)


class Head(NamedTuple):
    """The event that decides the job's status: the greatest by Key."""

    key: Key
    kind: str
    outcome: str | None
    duration_ms: int | None
    api_call_count: int | None


class ErrorInfo(NamedTuple):
    message: str
    code: str | None
    kind: str


class Attempt(NamedTuple):
    """One attempt: when it started, and how it ended (the greatest end event by Key)."""

    number: int
    started_at: int | None
    end_key: Key | None = None
    end_status: str | None = None  # RETRIED, FAILED or the finished outcome
    ended_at: int | None = None
    duration_ms: int | None = None
    error: ErrorInfo | None = None


class JobState(NamedTuple):
    job_id: str
    head: Head
    identity: Identity
    identity_keys: IdentityKeys  # None where the field's value is None
    first_seen: int
    last_event: int
    first_started: int | None
    attempts: tuple[Attempt, ...]
    reason: tuple[Key, str] | None = None
    detail: tuple[Key, dict[str, Any]] | None = None


# --- serialization of the state into the row's fold_state (JSON) ---------------------------------

def _err_out(e: ErrorInfo | None) -> list[Any] | None:
    return None if e is None else [e.message, e.code, e.kind]


def _err_in(v: list[Any] | None) -> ErrorInfo | None:
    return None if v is None else ErrorInfo(v[0], v[1], v[2])


def _key_in(v: list[Any] | None) -> Key | None:
    if v is None:
        return None
    event_id = v[4]  # 32 hex digits; an integer in states stored before version 4
    return (v[0], v[1], v[2], v[3], event_id if isinstance(event_id, int) else int(event_id, 16))


def _key_out(k: Key) -> list[Any]:
    """A key as stored: the 128-bit event id as 32 hex digits (JSON encoders, and PostgreSQL's
    jsonb, handle integers of at most 64 bits natively)."""
    return [k[0], k[1], k[2], k[3], f"{k[4]:032x}"]


def _identity_keys_out(keys: IdentityKeys, head: Key) -> list[Any] | None:
    """The optional fields' keys as stored: None for a field without a value or with the head's
    (the field's value says which), and None for all of them when every one is so (the common case:
    every event carries the same fields)."""
    for k in keys:
        if k is not None and k is not head and k != head:  # mostly the head's own key: no tuple compared
            return [None if k is None or k == head else _key_out(k) for k in keys]
    return None


def _identity_keys_in(stored: list[Any] | None, identity: Identity, head: Key) -> IdentityKeys:
    return tuple(None if value is None else (_key_in(k) or head)
                 for value, k in zip(identity[REQUIRED:], stored or NO_KEYS, strict=True))


def state_to_json(s: JobState) -> dict[str, Any]:
    h = s.head
    return {
        "v": STATE_VERSION,
        "job": s.job_id,
        # The identity and the detail's body are the row's own columns (operation, entity_*, ...,
        # metadata): not repeated here, so each row carries (and PostgreSQL parses) less.
        "head": [_key_out(h.key), h.kind, h.outcome, h.duration_ms, h.api_call_count],
        "ids": _identity_keys_out(s.identity_keys, h.key),
        "seen": [s.first_seen, s.last_event, s.first_started],
        "attempts": [
            [a.number, a.started_at, None if a.end_key is None else _key_out(a.end_key), a.end_status,
             a.ended_at, a.duration_ms, _err_out(a.error)]
            for a in s.attempts
        ],
        "reason": None if s.reason is None else [_key_out(s.reason[0]), s.reason[1]],
        "detail": None if s.detail is None else _key_out(s.detail[0]),
    }


# How the state is stored in its row's `fold_state` (jsonb): as one JSON string, the base64 of the
# state's JSON (`state_to_json`), not as a JSON object. The state is the projector's own, and
# PostgreSQL's jsonb input was the largest single cost of writing a row: an object means parsing its
# numbers (39-digit event ids, microsecond times), building and sorting its containers, while a
# string without escapes is one scan (bench/pg_row_cost.py; docs/benchmarks.md has the figures).
# Rows written before hold the object; both are read. The row itself has no integer beyond 64 bits
# then, so orjson can encode it.

def encode_state(s: JobState) -> str:
    """The state as stored in `fold_state`: base64 of its JSON (see above)."""
    return encode_state_ascii(s).decode("ascii")


def encode_state_ascii(s: JobState) -> bytes:
    """`encode_state` as ASCII bytes, as the store sends it."""
    return binascii.b2a_base64(orjson.dumps(state_to_json(s)), newline=False)


def stored_state_json(stored: Any) -> dict[str, Any]:
    """A row's `fold_state` (as psycopg loads it) as the state's JSON: either stored form."""
    if isinstance(stored, dict):
        return stored  # written before the state was stored as a string
    if not isinstance(stored, str):
        raise ValueError(f"fold_state is neither a state nor its encoding: {type(stored).__name__}")
    try:
        d = orjson.loads(base64.b64decode(stored, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"fold_state is not an encoded state: {exc}") from None
    if not isinstance(d, dict):
        raise ValueError("fold_state is not an encoded state: not a JSON object")
    return d


def decode_state(stored: Any, identity: Identity, metadata: dict[str, Any] | None) -> JobState:
    """The state stored in a row: its fold_state (either form), plus identity and detail from its columns."""
    return state_from_json(stored_state_json(stored), identity, metadata)


def state_from_json(d: dict[str, Any], identity: Identity, metadata: dict[str, Any] | None) -> JobState:
    """The state stored in a row: its fold_state, plus the identity and detail from its columns."""
    if d.get("v") not in READ_VERSIONS:
        raise ValueError(f"fold_state version {d.get('v')!r} is not one of {READ_VERSIONS}: rebuild the table")
    hk, kind, outcome, duration, api_calls = d["head"]
    first_seen, last_event, first_started = d["seen"][:3]  # versions 3 and 4 have two more
    reason, detail = d["reason"], d["detail"]
    head_key: Key = _key_in(hk)  # type: ignore[assignment]
    return JobState(
        job_id=d["job"],
        head=Head(head_key, kind, outcome, duration, api_calls),
        identity=identity,
        identity_keys=_identity_keys_in(d.get("ids"), identity, head_key),
        first_seen=first_seen,
        last_event=last_event,
        first_started=first_started,
        attempts=tuple(
            Attempt(n, st, _key_in(ek), status, ended, dur, _err_in(err))
            for n, st, ek, status, ended, dur, err in d["attempts"]
        ),
        reason=None if reason is None else (_key_in(reason[0]), reason[1]),  # type: ignore[arg-type]
        detail=None if detail is None else (_key_in(detail), metadata or {}),  # type: ignore[arg-type]
    )
