"""Property: any permutation of a stream's events, with any duplicates, folds to the same rows."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector.fold import fold_by_job, key_of, merge
from projector.rows import STATE_COLUMNS, project_all, state_of_row, to_row
from projector.state import MAX_HISTORY, TERMINAL, JobState
from schemas import JobEvent, JobFailed, JobRetrying, JobType, Outcome
from tests.scenarios import NOT_FOUND, RATE_LIMIT, Chain
from tests.strategies import histories, links

CHILD_TYPES = [JobType.ENRICH_ALBUM, JobType.CACHE_ALBUM_COVER_ART, JobType.SPOTIFY_TRACK_FALLBACK,
               JobType.DISCOGS_SEARCH_ARTIST, JobType.CACHE_ARTIST_IMAGE]


@st.composite
def job_history(draw: st.DrawFn, chain: Chain, job_id: str) -> list[JobEvent]:
    """The events of one job as a queue would emit them: attempts, retries, an ending (or none)."""
    attempts = draw(st.integers(1, 4))
    ending = draw(st.sampled_from(["finished", "failed", "running", "waiting"]))
    events: list[JobEvent] = []
    for n in range(1, attempts + 1):
        events.append(chain.started(job_id, n))
        last = n == attempts
        if not last or ending == "waiting":
            events.append(chain.retrying(job_id, n, draw(st.sampled_from([RATE_LIMIT, NOT_FOUND]))))
        elif ending == "finished":
            events.append(chain.finished(job_id, n, draw(st.sampled_from(list(Outcome)))))
        elif ending == "failed":
            events.append(chain.failed(job_id, n))
    return events


@st.composite
def streams(draw: st.DrawFn) -> list[JobEvent]:
    events: list[JobEvent] = []
    for _ in range(draw(st.integers(1, 3))):
        chain = Chain()
        events += draw(job_history(chain, chain.root_id))
        for i in range(draw(st.integers(0, 4))):
            child = chain.child(draw(st.sampled_from(CHILD_TYPES)), f"c{i}")
            events += draw(job_history(chain, child))
    return events


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_permutation_with_duplicates_folds_to_the_in_order_rows(data: st.DataObject) -> None:
    events = data.draw(streams())
    expected = project_all(events)
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = data.draw(st.permutations(events + duplicates))
    assert project_all(shuffled) == expected


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_folding_in_batches_equals_folding_at_once(data: st.DataObject) -> None:
    """What the store does: fold batch after batch onto the stored states."""
    events = data.draw(st.permutations(data.draw(streams())))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=5)))
    states: dict[str, object] = {}
    start = 0
    for cut in [*cuts, len(events)]:
        states = fold_by_job(events[start:cut], states)  # type: ignore[arg-type]
        start = cut
    assert states == fold_by_job(events)


@settings(max_examples=100)
@given(data=st.data())
def test_merge_is_commutative_associative_idempotent(data: st.DataObject) -> None:
    chain = Chain()
    events = data.draw(job_history(chain, chain.root_id))
    parts = [fold_by_job(data.draw(st.lists(st.sampled_from(events), min_size=1)))[chain.root_id] for _ in range(3)]
    a, b, c = parts
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_pass_fold_equals_the_merge_of_single_events(data: st.DataObject) -> None:
    """`fold_job` (the hot path) against `merge` over `from_event` (the definition)."""
    from projector.fold import fold, fold_job

    chain = Chain()
    events = data.draw(job_history(chain, chain.root_id))
    events = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    cut = data.draw(st.integers(0, len(events)))
    start = fold(None, events[:cut])
    assert fold_job(start, events[cut:]) == fold(start, events[cut:])


# The same properties on events drawn from tests/strategies.py: any kind first, sub-second times in
# many zones, reasons, details, and the envelope's optional fields and the entity's optional ids
# on some events only, often disagreeing.

def _stored(state: JobState) -> JobState:
    """The state as the store reads it back: from the row's columns and its encoded fold_state."""
    row = to_row(state)
    return state_of_row([getattr(row, c) for c in STATE_COLUMNS])


def _reference_row(events: list[JobEvent]) -> dict[str, object]:
    """What docs/events.md says a job's row holds, computed from the events themselves."""
    keyed = sorted(events, key=key_of)

    def latest(value: Callable[[JobEvent], object]) -> object:  # of the greatest event that carries one
        carried = [value(e) for e in keyed if value(e) is not None]
        return str(carried[-1]) if carried else None

    ended = [e.attempt for e in events if e.kind in TERMINAL]
    attempt = max(ended) if ended else max(e.attempt for e in events)
    retried = not ended and any(e.kind == "job.retrying" and e.attempt == attempt for e in events)
    history = [n for n in sorted({e.attempt for e in events})[-MAX_HISTORY:] if n <= attempt]
    last_error = None
    for n in reversed(history):
        ends = [e for e in keyed if e.attempt == n and e.kind != "job.started"]
        if ends and isinstance(ends[-1], JobRetrying | JobFailed):
            last_error = ends[-1].error.message
            break
    return {
        "parent_job_id": latest(lambda e: e.parent_job_id), "triggered_by": latest(lambda e: e.triggered_by),
        "user_id": latest(lambda e: e.user_id), "reason": latest(lambda e: e.reason),
        "artist_id": latest(lambda e: e.entity.artist_id), "album_id": latest(lambda e: e.entity.album_id),
        "track_id": latest(lambda e: e.entity.track_id), "entity_id": str(keyed[-1].entity.id),
        "operation": keyed[-1].job_type.value, "retry_count": attempt - 1 + retried, "attempt": attempt,
        "attempts": history, "last_error": last_error,
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(links().flatmap(histories))
def test_the_row_holds_what_the_contract_says_for_any_events(events: list[JobEvent]) -> None:
    row = project_all(events)[events[0].job_id]
    got = {c: getattr(row, c) for c in _reference_row(events)} | {"attempts": [a["attempt"] for a in row.attempts]}
    assert got == _reference_row(events)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_with_duplicates_and_any_batching_through_the_store_folds_alike(data: st.DataObject) -> None:
    """One fold of all events (the definition: merge over from_event) equals the one-pass fold of
    any permutation with duplicates, cut into batches, each folded onto the state read back from
    the row the batch before wrote."""
    from projector.fold import fold, fold_job

    events = data.draw(links().flatmap(histories))
    expected = fold(None, events)
    assert expected is not None
    shuffled = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    cuts = sorted(data.draw(st.lists(st.integers(1, len(shuffled)), max_size=3)))
    state: JobState | None = None
    for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        stored = None if state is None else _stored(state)
        assert stored == state  # the stored form loses nothing
        state = fold_job(stored, shuffled[start:end]) if start < end or stored is None else stored
        assert state == fold(stored, shuffled[start:end])
    assert state == expected
    assert to_row(state) == to_row(expected)
