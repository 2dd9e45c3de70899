"""Property: any permutation of a stream's events, with any duplicates, folds to the same rows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projector.fold import fold_by_job, merge
from projector.rows import project_all
from schemas import JobEvent, JobType, Outcome
from tests.scenarios import NOT_FOUND, RATE_LIMIT, Chain

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
