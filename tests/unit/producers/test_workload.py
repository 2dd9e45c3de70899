"""The workload generator: deterministic, valid chains, rates roughly honoured."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from producers.workload import CHILDREN, WorkloadConfig, generate_events
from schemas import ALWAYS_CHILD, JobEvent, JobFailed, JobFinished, JobStarted, dump_event, parse_event


def _chains(events: list[JobEvent]) -> dict[str, list[JobEvent]]:
    chains: dict[str, list[JobEvent]] = defaultdict(list)
    for event in events:
        chains[event.root_job_id].append(event)
    return chains


def test_same_seed_same_events_other_seed_other_events() -> None:
    config = WorkloadConfig(chains=50, seed=11)
    first = [dump_event(e) for e in generate_events(config)]
    assert first == [dump_event(e) for e in generate_events(config)]
    assert first != [dump_event(e) for e in generate_events(WorkloadConfig(chains=50, seed=12))]


def test_every_chain_is_valid_flat_ordered_and_complete() -> None:
    events = list(generate_events(WorkloadConfig(chains=400, seed=3, retry_rate=0.2,
                                                 failure_rate=0.05)))
    assert [parse_event(dump_event(e)) for e in events] == events
    chains = _chains(events)
    assert len(chains) == 400
    for root_id, chain in chains.items():
        # every chain is contiguous in the stream and its times never go back
        assert [e.occurred_at for e in chain] == sorted(e.occurred_at for e in chain)
        roots = {e.job_id for e in chain if e.parent_job_id is None}
        assert roots == {root_id}
        assert all(e.parent_job_id in (None, root_id) for e in chain)
        by_job: dict[str, list[JobEvent]] = defaultdict(list)
        for e in chain:
            by_job[e.job_id].append(e)
        for job_events in by_job.values():
            # attempts 1..n: started then a verdict; only the last verdict is terminal
            assert [e.attempt for e in job_events[::2]] == list(range(1, len(job_events) // 2 + 1))
            assert all(isinstance(e, JobStarted) for e in job_events[::2])
            assert isinstance(job_events[-1], JobFinished | JobFailed)
            assert all(e.kind == "job.retrying" for e in job_events[1:-1:2])
            assert job_events[0].job_type not in ALWAYS_CHILD or job_events[0].parent_job_id


def test_chains_follow_the_domain_spawn_tree() -> None:
    events = list(generate_events(WorkloadConfig(chains=300, seed=5)))
    parent_type = {child: parent for parent, kids in CHILDREN.items() for child in kids}
    for chain in _chains(events).values():
        types = {e.job_type for e in chain}
        for e in chain:
            if e.parent_job_id is not None:  # spawned: its spawning processor ran in this chain
                assert parent_type[e.job_type] in types
    seen = {e.job_type for e in events}
    assert seen == set(parent_type) | {p for p in CHILDREN}
    manual = [e for e in events if e.triggered_by == "admin" and e.parent_job_id is None]
    assert manual and all(e.user_id is not None for e in manual)


def test_rates_are_roughly_honoured() -> None:
    config = WorkloadConfig(chains=3000, seed=9, retry_rate=0.2, failure_rate=0.05, max_attempts=3)
    kinds = Counter(e.kind for e in generate_events(config))
    jobs = kinds["job.finished"] + kinds["job.failed"]
    # transient failures happen on attempts before the last; doomed jobs add their own retries
    assert 0.15 < kinds["job.retrying"] / kinds["job.started"] < 0.25
    assert 0.04 < kinds["job.failed"] / jobs < 0.07


def test_zero_rates_give_only_clean_runs() -> None:
    kinds = Counter(e.kind for e in generate_events(
        WorkloadConfig(chains=200, seed=1, retry_rate=0, failure_rate=0)))
    assert set(kinds) == {"job.started", "job.finished"}
    assert kinds["job.started"] == kinds["job.finished"]


def test_slow_calls_show_in_durations() -> None:
    def slow_share(rate: float) -> float:
        done = [e for e in generate_events(WorkloadConfig(chains=300, seed=2, slow_rate=rate))
                if isinstance(e, JobFinished)]
        return sum(e.duration_ms > 5000 for e in done) / len(done)

    assert slow_share(0.0) == 0
    assert slow_share(0.5) > 0.2


def test_large_workloads_are_produced_from_simulated_time() -> None:
    events = generate_events(WorkloadConfig(chains=12_000, seed=4))
    assert sum(1 for _ in events) > 100_000


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("retry_rate", 1.5, "retry_rate must be between 0 and 1"),
     ("failure_rate", -0.1, "failure_rate must be between 0 and 1"),
     ("chains", -1, "chains must be >= 0"),
     ("max_attempts", 0, "max_attempts must be >= 1")],
)
def test_bad_config_is_rejected(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkloadConfig(**{field: value})  # type: ignore[arg-type]
