"""Proof that both producers agree: the Python producer (producers.Reporter on a KafkaPublisher) and
@enrichlog/bullmq (clients/bullmq/test/flow/scenario.mjs) play the scenarios of
schemas/vectors/scenarios.json, each to a topic of its own; every event of both topics passes the
contract's JSON Schema (Python's jsonschema) and the reference reader (schemas.parse_event); a
projector folds each topic into a database of its own; and the two tables are equal, row for row,
column by column, except for what a second run of the same producer would change too (`IGNORED`).

It needs node (>= 20), `npm ci` and a build in clients/bullmq (scripts/test does both).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from producers import KafkaPublisher, ProducerSettings, Reporter
from projector.service import ensure_topics
from projector.settings import ProjectorSettings
from schemas import parse_event
from tests.bullmq_package import PACKAGE, node
from tests.conftest import create_database, drop_database
from tests.contract.conformance import validator
from tests.contract.scenario_python import SCENARIOS_FILE, load_scenarios, play
from tests.harness import ProjectorProcess, caught_up, read_records, wait_for

PLAYER = PACKAGE / "test" / "flow" / "scenario.mjs"
PARTITIONS = 3

# Columns left out of the comparison, and why: each differs between two runs of one producer.
IGNORED = {
    "id": "the row's uuid, derived from the job id",
    "fold_state": "the projector's own state of the job: event ids and times in microseconds (the "
                  "columns derived from it are compared)",
    "fold_seq": "the order in which the projector wrote the rows",
    "source_topic": "each side's topic",
    "created_at": "when the row was inserted",
}
# Compared after the run's prefix is taken off: `<run>-<scenario>-<name>` becomes `<scenario>-<name>`.
JOB_IDS = ("job_id", "parent_job_id")
# Times and durations: only whether they are there (and, for the times, the order of the jobs of a
# scenario by them, compared separately); their values are the clocks'.
PRESENCE = ("started_at", "finished_at", "last_event_at", "duration_ms")
ATTEMPT_PRESENCE = ("startedAt", "endedAt", "durationMs")


class Side:
    """One producer's topic, database and projector."""

    def __init__(self, name: str, kafka_bootstrap: str, postgres_url: str, template: str, tmp_path: Path) -> None:
        self.name = name
        self.run = f"{name}{uuid.uuid4().hex[:6]}"
        self.topic = f"test-agree-{self.run}"
        self.postgres_url = postgres_url
        self.db = create_database(postgres_url, template=template)
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": self.db,
               "ENRICHLOG_EVENTS_TOPIC": self.topic,
               "ENRICHLOG_TOPIC_PARTITIONS": str(PARTITIONS), "ENRICHLOG_CONSUMER_GROUP": f"group-{self.topic}",
               "ENRICHLOG_METRICS_PORT": "0", "ENRICHLOG_LOG_FORMAT": "text", "ENRICHLOG_DB_RETRY_TIMEOUT_S": "120"}
        ensure_topics(ProjectorSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=self.db,  # type: ignore[call-arg]
                                        events_topic=self.topic, topic_partitions=PARTITIONS))
        self.env = {**os.environ, **env}
        self.projector = ProjectorProcess(self.env, tmp_path / f"projector-{name}.log")

    def close(self) -> None:
        self.projector.kill()
        drop_database(self.postgres_url, self.db)


@pytest.fixture
def sides(kafka_bootstrap: str, postgres_url: str, migrated_template: str, tmp_path: Path) -> Iterator[dict[str, Side]]:
    made = {name: Side(name, kafka_bootstrap, postgres_url, migrated_template, tmp_path) for name in ("python", "node")}
    yield made
    for side in made.values():
        side.close()
        print(side.projector.log())


def _play_python(side: Side, kafka_bootstrap: str, scenarios: list[dict[str, Any]]) -> int:
    with KafkaPublisher(ProducerSettings(bootstrap_servers=kafka_bootstrap, topic=side.topic)) as publisher:
        sent = play(Reporter(publisher), scenarios, side.run)
        publisher.flush(30)
        stats = publisher.stats
    assert (stats.sent, stats.lost) == (sent, 0), stats
    return sent


def _play_node(side: Side) -> int:
    done = subprocess.run([node(), str(PLAYER), str(SCENARIOS_FILE), side.run], cwd=PACKAGE, env=side.env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"scenario.mjs exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(done.stdout)
    sent: int = summary["sent"]
    return sent


def _events(side: Side, values: list[bytes]) -> dict[tuple[str, int, str], dict[str, Any]]:
    """The side's events as the reference reader reads them (defaults filled in: the Python producer
    writes a detail's empty lists, the package leaves them out, and both mean []), by job, attempt and
    kind; without their eventId, occurredAt and durationMs, and their job ids without the run's prefix."""
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for value in values:
        event = parse_event(value).model_dump(mode="json", by_alias=True, exclude_none=True,
                                              exclude={"event_id", "occurred_at", "duration_ms"})
        for field in ("jobId", "rootJobId", "parentJobId"):
            if field in event:
                event[field] = event[field].removeprefix(f"{side.run}-")
        key = (event["jobId"], event["attempt"], event["kind"])
        assert key not in out, f"{side.name}: {key} twice"
        out[key] = event
    return out


def _rows(side: Side) -> dict[str, dict[str, Any]]:
    """The side's rows by `<scenario>-<name>`, as compared: ids without the run's prefix, times and
    durations as their presence, the ignored columns left out."""
    prefix = f"{side.run}-"
    with psycopg.connect(side.db, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM enrichment_logs").fetchall()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        for column in JOB_IDS:
            if row[column] is not None:
                assert row[column].startswith(prefix), (column, row[column])
                row[column] = row[column].removeprefix(prefix)
        for column in PRESENCE:
            row[column] = row[column] is not None
        for attempt in row["attempts"]:
            for field in ATTEMPT_PRESENCE:
                attempt[field] = attempt[field] is not None
        assert row["source_topic"] == side.topic
        out[row["job_id"]] = {k: v for k, v in row.items() if k not in IGNORED}
    return out


def _order_by_start(side: Side) -> dict[str, list[str]]:
    """Each scenario's jobs in the order of their started_at (the first event of each)."""
    with psycopg.connect(side.db) as conn:
        ids = [r[0] for r in conn.execute("SELECT job_id FROM enrichment_logs ORDER BY started_at, job_id")]
    by_scenario: dict[str, list[str]] = {}
    for job_id in ids:
        name = job_id.removeprefix(f"{side.run}-")
        scenario = next(s["name"] for s in load_scenarios() if name.startswith(s["name"] + "-"))
        by_scenario.setdefault(scenario, []).append(name.removeprefix(scenario + "-"))
    return by_scenario


def test_the_python_and_the_bullmq_producers_make_the_same_rows(sides: dict[str, Side], kafka_bootstrap: str) -> None:
    scenarios = load_scenarios()
    python, node = sides["python"], sides["node"]
    for side in (python, node):
        side.projector.start()
    sent = {"python": _play_python(python, kafka_bootstrap, scenarios), "node": _play_node(node)}
    expected = sum(2 * len(job["attempts"]) for s in scenarios for job in s["jobs"])
    assert sent == {"python": expected, "node": expected}

    schema = validator("job-event.schema.json")
    events = {}
    for side in (python, node):
        values = [value for _, _, value in read_records(kafka_bootstrap, side.topic, expected, PARTITIONS)]
        assert len(values) == expected, side.name
        for value in values:
            errors = [e.message for e in schema.iter_errors(json.loads(value))]
            assert errors == [], f"{side.name}: {value!r}: {errors}"
        events[side.name] = _events(side, values)  # parse_event raises on anything it refuses
    assert sorted(events["python"]) == sorted(events["node"])
    for key, event in events["python"].items():
        assert event == events["node"][key], f"{key}: python vs node"

    for side in (python, node):
        wait_for(lambda s=side: caught_up(s.db, kafka_bootstrap, s.topic), timeout=90,  # type: ignore[misc]
                 what=f"the {side.name} side's projector to catch up")
    rows = {"python": _rows(python), "node": _rows(node)}
    jobs = sorted(f"{s['name']}-{job['name']}" for s in scenarios for job in s["jobs"])
    assert sorted(rows["python"]) == jobs and sorted(rows["node"]) == jobs
    for job in jobs:
        py, js = rows["python"][job], rows["node"][job]
        differ = {column: (py[column], js[column]) for column in py if py[column] != js[column]}
        assert differ == {}, f"{job}: python vs node: {differ}"
    assert _order_by_start(python) == _order_by_start(node)

    # The scenarios' own claims, on the rows both sides agree on.
    row = rows["python"]
    assert row["permanent-failure-partial-check"]["status"] == "PARTIAL"
    assert row["permanent-failure-partial-check"]["failed_children"] == 2
    assert (row["retries-then-success-search"]["retry_count"], row["retries-then-success-search"]["last_error"]) == (
        2, "no answer within 10s")
    assert row["retries-then-success-get"]["parent_job_id"] == "retries-then-success-enrich"  # flat at depth 2
    standalone = row["standalone-root-enrich"]
    assert standalone["is_root_job"] and standalone["status"] == "NO_DATA_AVAILABLE"
    assert row["child-before-root-enrich"]["parent_job_id"] == "child-before-root-check"


@pytest.mark.parametrize(("args", "message"), [
    ([], "scenario: usage: node scenario.mjs SCENARIOS_FILE RUN_ID"),
    (["/nonexistent/scenarios.json", "r"], "scenario: cannot read the scenarios of /nonexistent/scenarios.json"),
])
def test_the_node_player_refuses_bad_arguments_naming_them(args: list[str], message: str) -> None:
    done = subprocess.run([node(), str(PLAYER), *args], cwd=PACKAGE, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
