"""The job scenarios of schemas/vectors/scenarios.json: read and checked, and played by the Python
producer (producers.Reporter) into any sink; clients/bullmq/test/flow/scenario.mjs plays the same
file with @enrichlog/bullmq. The file's `about` says what a scenario holds.

A player names the job `name` of scenario `s` `<run>-<s>-<name>`, so that the rows of two players
can be matched by what follows their run's prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from producers import JobFailure, JobRun, Link, Reporter
from schemas import ALWAYS_CHILD, DETAIL_FOR_JOB_TYPE, Entity, ErrorKind, JobType, Outcome

SCENARIOS_FILE = Path(__file__).parents[2] / "schemas" / "vectors" / "scenarios.json"
ENDINGS = ("success", "retry", "fail", "unrecoverable")


def load_scenarios(path: Path = SCENARIOS_FILE) -> list[dict[str, Any]]:
    """The scenarios of the file, each checked (`check_scenario`)."""
    scenarios: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["scenarios"]
    names = [s["name"] for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names repeat: {names}")
    for scenario in scenarios:
        check_scenario(scenario)
    return scenarios


def _check_attempts(where: str, job: dict[str, Any]) -> None:
    attempts, limit = job["attempts"], job["maxAttempts"]
    if not 1 <= len(attempts) <= limit:
        raise ValueError(f"{where}: {len(attempts)} attempts for maxAttempts {limit}")
    for number, attempt in enumerate(attempts, start=1):
        ends, last = attempt["ends"], number == len(attempts)
        if ends not in ENDINGS:
            raise ValueError(f"{where} attempt {number}: ends {ends!r} is not one of {ENDINGS}")
        if (ends == "retry") == last:
            raise ValueError(f"{where} attempt {number}: only the last attempt ends the job, every other retries")
        if (ends == "retry" and number >= limit) or (ends == "fail" and number != limit):
            raise ValueError(f"{where} attempt {number}: {ends} contradicts maxAttempts {limit}")
        if (ends == "success") == ("error" in attempt):
            raise ValueError(f"{where} attempt {number}: an error goes with a failed attempt, and only with it")
        if ends != "success" and ("outcome" in attempt or "apiCalls" in attempt):
            raise ValueError(f"{where} attempt {number}: outcome and apiCalls belong to a success")


def check_scenario(scenario: dict[str, Any]) -> None:
    """ValueError naming the mistake when the scenario breaks the file's rules."""
    name, jobs = scenario["name"], scenario["jobs"]
    seen: dict[str, dict[str, Any]] = {}
    for job in jobs:
        where = f"{name}/{job['name']}"
        if job["name"] in seen:
            raise ValueError(f"{where}: the name repeats")
        parent = job["parent"]
        if parent is not None and parent not in seen:
            raise ValueError(f"{where}: parent {parent!r} is not a job listed before it")
        if parent is None and JobType(job["jobType"]) in ALWAYS_CHILD:
            raise ValueError(f"{where}: {job['jobType']} needs a parent")
        _check_attempts(where, job)
        seen[job["name"]] = job
    steps = [tuple(step) for step in scenario["order"]]
    expected = {(j["name"], n, step) for j in jobs for n in range(1, len(j["attempts"]) + 1)
                for step in ("start", "end")}
    if len(steps) != len(set(steps)) or set(steps) != expected:
        raise ValueError(f"{name}: order must list every attempt's start and end once")
    for job_name, number, step in steps:
        if step == "end" and steps.index((job_name, number, "start")) > steps.index((job_name, number, "end")):
            raise ValueError(f"{name}: {job_name} attempt {number} ends before it starts")
        if step == "start" and number > 1 and steps.index((job_name, number - 1, "end")) > steps.index(
                (job_name, number, "start")):
            raise ValueError(f"{name}: {job_name} attempt {number} starts before attempt {number - 1} ended")


def job_id(run: str, scenario: str, name: str) -> str:
    return f"{run}-{scenario}-{name}"


@dataclass(frozen=True)
class _Job:
    spec: dict[str, Any]
    job_id: str
    job_type: JobType
    link: Link | None  # None: a root


def _jobs(run: str, scenario: dict[str, Any]) -> dict[str, _Job]:
    """Each job with its id and its flat link: the root of its parent's chain."""
    jobs: dict[str, _Job] = {}
    for spec in scenario["jobs"]:
        link = None
        if spec["parent"] is not None:
            parent = jobs[spec["parent"]]
            link = Link(parent.link.root_job_id if parent.link else parent.job_id)
        jobs[spec["name"]] = _Job(spec, job_id(run, scenario["name"], spec["name"]), JobType(spec["jobType"]), link)
    return jobs


def _end(run: JobRun, job: _Job, attempt: dict[str, Any]) -> None:
    """Ends the attempt `run` as `attempt` says: returns, or throws its error."""
    if "detail" in attempt:
        # the wire's form (strict models take ids and enums as JSON text, not as Python strings)
        detail_type = DETAIL_FOR_JOB_TYPE[job.job_type]
        run.detail(detail_type.model_validate_json(json.dumps(attempt["detail"])))  # type: ignore[arg-type]
    if attempt["ends"] == "success":
        run.finish(Outcome(attempt.get("outcome", "SUCCESS")), api_call_count=attempt.get("apiCalls"))
        run.__exit__(None, None, None)
        return
    error = attempt["error"]
    failure = JobFailure(error["message"], kind=ErrorKind(error.get("kind", "UNKNOWN")), code=error.get("code"),
                         retryable=attempt["ends"] != "unrecoverable")
    run.__exit__(JobFailure, failure, None)


def play(reporter: Reporter, scenarios: list[dict[str, Any]], run: str) -> int:
    """Plays every scenario into the reporter's sink, in its order; the number of events sent."""
    sent = 0
    for scenario in scenarios:
        jobs = _jobs(run, scenario)
        running: dict[tuple[str, int], JobRun] = {}
        for name, number, step in scenario["order"]:
            job = jobs[name]
            if step == "start":
                spec = job.spec
                user_id = spec.get("userId")
                running[(name, number)] = reporter.job(
                    job.job_id, job.job_type, link=job.link,
                    entity=Entity.model_validate_json(json.dumps(spec["entity"])),
                    attempt=number, max_attempts=spec["maxAttempts"], triggered_by=spec.get("triggeredBy"),
                    user_id=None if user_id is None else UUID(user_id), reason=spec.get("reason"),
                ).__enter__()
            else:
                _end(running.pop((name, number)), job, job.spec["attempts"][number - 1])
            sent += 1
    return sent
