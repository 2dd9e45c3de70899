"""schemas/vectors/scenarios.json follows its own rules (tests/contract/scenario_python.py checks
them), and each mistake a scenario can make is refused naming the scenario, the job and the rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from producers import ListSink, Reporter
from schemas import JobFailed, JobFinished, JobRetrying, JobStarted
from tests.contract.scenario_python import check_scenario as check
from tests.contract.scenario_python import load_scenarios, play

SCENARIOS = load_scenarios()


def _by_name(name: str) -> dict[str, Any]:
    return copy.deepcopy(next(s for s in SCENARIOS if s["name"] == name))


def test_the_file_holds_the_scenarios_the_comparison_needs() -> None:
    assert [s["name"] for s in SCENARIOS] == [
        "album-chain-succeeds", "retries-then-success", "permanent-failure-partial", "standalone-root",
        "child-before-root"]
    endings = {a["ends"] for s in SCENARIOS for j in s["jobs"] for a in j["attempts"]}
    assert endings == {"success", "retry", "fail", "unrecoverable"}


def test_played_by_the_python_producer_each_step_is_one_event_in_the_order_given() -> None:
    sink = ListSink()
    sent = play(Reporter(sink), SCENARIOS, "u")
    assert sent == len(sink.events) == sum(len(s["order"]) for s in SCENARIOS)
    partial = [e for e in sink.events if e.root_job_id == "u-permanent-failure-partial-check"]
    assert [(e.job_id.rsplit("-", 1)[1], e.attempt, type(e)) for e in partial] == [
        ("check", 1, JobStarted), ("cover", 1, JobStarted), ("enrich", 1, JobStarted), ("cover", 1, JobRetrying),
        ("enrich", 1, JobFailed), ("check", 1, JobFinished), ("cover", 2, JobStarted), ("cover", 2, JobFailed)]
    assert {e.parent_job_id for e in partial if e.job_id != e.root_job_id} == {"u-permanent-failure-partial-check"}


def _broken(change: Any) -> dict[str, Any]:
    scenario = _by_name("retries-then-success")
    change(scenario)
    return scenario


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["jobs"][1].update(name="enrich"), "retries-then-success/enrich: the name repeats"),
    (lambda s: s["jobs"][2].update(parent="nobody"), "retries-then-success/get: parent 'nobody' is not a job listed"),
    (lambda s: s["jobs"][1]["attempts"][0].update(ends="crash"), "attempt 1: ends 'crash' is not one of"),
    (lambda s: s["jobs"][1]["attempts"].pop(), "attempt 2: only the last attempt ends the job"),
    (lambda s: s["jobs"][1].update(maxAttempts=2), "3 attempts for maxAttempts 2"),
    (lambda s: s["jobs"][2]["attempts"][0].update(ends="fail", error={"message": "x"}),
     "retries-then-success/get attempt 1: fail contradicts maxAttempts 2"),
    (lambda s: s["jobs"][1]["attempts"][2].update(error={"message": "x"}), "an error goes with a failed attempt"),
    (lambda s: s["jobs"][1]["attempts"][0].update(outcome="SUCCESS"), "outcome and apiCalls belong to a success"),
    (lambda s: s["order"].pop(), "order must list every attempt's start and end once"),
    (lambda s: s["order"].insert(0, s["order"].pop(2)), "search attempt 1 ends before it starts"),
    (lambda s: s["order"].insert(1, s["order"].pop(3)), "search attempt 2 starts before attempt 1 ended"),
])
def test_a_broken_scenario_is_refused_naming_its_mistake(change: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check(_broken(change))


def test_a_job_type_that_is_always_a_child_needs_a_parent() -> None:
    scenario = _by_name("album-chain-succeeds")
    scenario["jobs"] = [j for j in scenario["jobs"] if j["name"] == "spotify"]
    scenario["jobs"][0]["parent"] = None
    scenario["order"] = [["spotify", 1, "start"], ["spotify", 1, "end"]]
    with pytest.raises(ValueError, match="album-chain-succeeds/spotify: SPOTIFY_TRACK_FALLBACK needs a parent"):
        check(scenario)
