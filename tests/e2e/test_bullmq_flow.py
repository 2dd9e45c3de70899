"""End to end on real services: BullMQ on Redis, Workers wrapped by @enrichlog/bullmq, the projector.

clients/bullmq/test/flow/album_flow.mjs runs two album trees on a FlowProducer (linkFlow) with
BullMQ's own retries and backoff: in one the cover-art job fails twice and then succeeds, in the
other it throws UnrecoverableError; each ENRICH_ALBUM adds a SPOTIFY_TRACK_FALLBACK itself with
`queue.add(childData(job, ...))`; and a job without entity data runs too. The projector folds the
topic; the rows in PostgreSQL are asserted here. Bad settings of the script (REDIS_URL, the topic)
make it exit 2 with a line naming them.

It needs node (>= 20), `npm ci` and a build in clients/bullmq (scripts/test does both) and Redis
(the redis_url fixture).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from schemas import parse_event
from tests.bullmq_package import PACKAGE, node
from tests.harness import ProjectorProcess, caught_up, read_records, wait_for

SCRIPT = PACKAGE / "test" / "flow" / "album_flow.mjs"
PARTITIONS = 3  # the projector_env fixture's ENRICHLOG_TOPIC_PARTITIONS, for the topic and its .dlq


def run_flow(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node(), str(SCRIPT), *args], cwd=PACKAGE, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _rows(db: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(db, row_factory=dict_row) as conn:
        return {r["job_id"]: r for r in conn.execute("SELECT * FROM enrichment_logs")}


@pytest.fixture
def flow_env(projector_env: dict[str, str], projector_topics: None, redis_url: str) -> dict[str, str]:
    return {**projector_env, "REDIS_URL": redis_url}


def test_album_flows_on_bullmq_are_projected_one_row_per_job(flow_env: dict[str, str], projector: ProjectorProcess,
                                                             kafka_bootstrap: str) -> None:
    done = run_flow(flow_env)
    assert done.returncode == 0, f"album_flow.mjs exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(done.stdout)
    ids: dict[str, str] = summary["jobs"]
    assert summary["states"] == {**{name: "completed" for name in ids}, "partial-cover": "failed"}
    # 2 events per attempt: three of the retried cover-art job, one of each other job; none for the
    # job without entity, which is counted invalid and said on stderr.
    assert summary["stats"] == {"published": 20, "buffered": 0, "dropped": 0, "failed": 0, "invalid": 1}
    assert f"no events for job {ids['no-entity']} (CACHE_ARTIST_IMAGE): no entity" in done.stderr

    topic = flow_env["ENRICHLOG_EVENTS_TOPIC"]
    db = flow_env["DATABASE_URL"]
    wait_for(lambda: caught_up(db, kafka_bootstrap, topic), timeout=60, what="the projector to catch up")
    records = read_records(kafka_bootstrap, topic, 20, PARTITIONS)
    assert len(records) == 20
    for _, _, value in records:
        parse_event(value)  # the reference reader: raises on anything it refuses
    assert read_records(kafka_bootstrap, f"{topic}.dlq", 0, PARTITIONS) == [], "nothing dead-lettered"
    rows = _rows(db)
    by_name = {name: rows.get(job_id) for name, job_id in ids.items()}
    assert sorted(rows) == sorted(job_id for name, job_id in ids.items() if name != "no-entity"), "one row per job"
    assert by_name["no-entity"] is None

    for chain in ("retried", "partial"):
        root = by_name[f"{chain}-check"]
        assert root is not None
        assert root["is_root_job"] and root["parent_job_id"] is None
        assert root["triggered_by"] == "admin" and root["reason"] == f"e2e: {chain}"
        for name in ("enrich", "cover", "spotify"):  # flat: depth 1 (enrich) and 2 (cover, spotify) alike
            child = by_name[f"{chain}-{name}"]
            assert child is not None
            assert child["parent_job_id"] == ids[f"{chain}-check"] and not child["is_root_job"], name
    for name, row in by_name.items():
        if row is not None:
            assert row["duration_ms"] is not None and row["started_at"] is not None, name
            assert row["finished_at"] is not None and row["finished_at"] >= row["started_at"], name
            assert row["entity_type"] == "ALBUM" and str(row["album_id"]) == "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f"

    retried = by_name["retried-cover"]
    assert retried is not None
    assert (retried["status"], retried["job_status"], retried["attempt"], retried["retry_count"]) == (
        "SUCCESS", "SUCCESS", 3, 2)
    assert (retried["last_error"], retried["last_error_code"], retried["last_error_kind"]) == (
        "429 Too Many Requests (attempt 2)", "HTTP_429", "RATE_LIMIT")
    assert [(a["attempt"], a["status"], a["error"]["message"] if "error" in a else None)
            for a in retried["attempts"]] == [
        (1, "RETRIED", "429 Too Many Requests (attempt 1)"), (2, "RETRIED", "429 Too Many Requests (attempt 2)"),
        (3, "SUCCESS", None)]
    assert all(a["durationMs"] is not None for a in retried["attempts"])
    assert retried["metadata"]["cloudflareImageId"] == "cf-7f3a2b"
    assert retried["metadata"]["dimensions"] == {"width": 1200, "height": 1200}
    assert retried["api_call_count"] == 1

    partial_cover = by_name["partial-cover"]
    assert partial_cover is not None
    assert (partial_cover["job_status"], partial_cover["attempt"], partial_cover["retry_count"]) == ("FAILED", 1, 0)
    assert (partial_cover["error_message"], partial_cover["error_code"], partial_cover["last_error_kind"]) == (
        "source image returned 404", "IMAGE_FETCH_FAILED", "NOT_FOUND")
    assert partial_cover["metadata"]["processor"] == "CACHE_IMAGE"
    assert "cloudflareImageId" not in partial_cover["metadata"]  # the detail of the failed attempt

    assert by_name["partial-check"]["status"] == "PARTIAL"  # type: ignore[index]
    assert by_name["partial-check"]["failed_children"] == 1  # type: ignore[index]
    assert by_name["retried-check"]["status"] == "SUCCESS"  # type: ignore[index]
    assert by_name["retried-check"]["metadata"]["missingFields"] == ["coverArt", "genres"]  # type: ignore[index]
    enrich = by_name["retried-enrich"]
    assert enrich is not None
    assert (enrich["status"], enrich["api_call_count"], enrich["sources"], enrich["fields_enriched"]) == (
        "PARTIAL_SUCCESS", 3, ["MUSICBRAINZ", "SPOTIFY"], ["releaseDate", "label"])
    assert (enrich["data_quality_before"], enrich["data_quality_after"]) == ("LOW", "MEDIUM")
    spotify = by_name["partial-spotify"]
    assert spotify is not None and spotify["metadata"]["tracksMatched"] == 11


@pytest.mark.parametrize(("redis", "message"), [
    ("not a url", 'REDIS_URL "not a url" is not a URL'),
    ("http://127.0.0.1:6379", 'REDIS_URL "http://127.0.0.1:6379" is not redis://host:port'),
    ("redis://127.0.0.1:1", "cannot reach Redis at REDIS_URL=redis://127.0.0.1:1"),
])
def test_a_bad_redis_url_exits_2_naming_it(projector_env: dict[str, str], redis: str, message: str) -> None:
    done = run_flow({**projector_env, "REDIS_URL": redis}, timeout=30)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_topic_that_does_not_exist_exits_2_naming_it(projector_env: dict[str, str], redis_url: str) -> None:
    env = {**projector_env, "REDIS_URL": redis_url}  # the test's topic, never created
    done = run_flow(env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"topic {env['ENRICHLOG_EVENTS_TOPIC']} (ENRICHLOG_EVENTS_TOPIC) does not exist" in done.stderr


def test_a_bad_kafka_setting_exits_2_naming_it(projector_env: dict[str, str], redis_url: str) -> None:
    done = run_flow({**projector_env, "REDIS_URL": redis_url, "KAFKA_BOOTSTRAP_SERVERS": "no-port"}, timeout=30)
    assert done.returncode == 2, done.stderr
    assert 'KAFKA_BOOTSTRAP_SERVERS: "no-port" is not host:port' in done.stderr

