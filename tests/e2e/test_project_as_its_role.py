"""`enrichlog project` connected as the projector's role, with exactly the grants `enrichlog migrate` gave
it, folds a stream end to end; `rebuild --check` runs as the reader, `rebuild` as the owner (the
projector's role may not delete rows)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from projector.service import ensure_topics
from projector.settings import ProjectorSettings
from tests.e2e.test_projector_service import _publish
from tests.harness import ProjectorProcess, wait_for
from tests.roles import Deployment, deployment, enrichlog
from tests.scenarios import album_chain_with_failed_child

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Deployment]:
    with deployment(postgres_url) as d:
        yield d


def _env(kafka_bootstrap: str, topic: str, database_url: str) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": database_url, "ENRICHLOG_EVENTS_TOPIC": topic,
            "ENRICHLOG_TOPIC_PARTITIONS": "3", "ENRICHLOG_CONSUMER_GROUP": f"group-{topic}",
            "ENRICHLOG_METRICS_PORT": "0", "ENRICHLOG_LOG_FORMAT": "text", "ENRICHLOG_DB_RETRY_TIMEOUT_S": "30"}


def _statuses(url: str, root: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT job_id, status::text FROM enrichment_logs WHERE job_id LIKE %s",
                                 (f"{root}%",)).fetchall())


def test_the_projector_folds_as_its_role_and_rebuild_runs_as_the_owner(
        roles: Deployment, kafka_bootstrap: str, topic: str, tmp_path: Any) -> None:
    env = _env(kafka_bootstrap, topic, roles.projector_url)
    ensure_topics(ProjectorSettings(kafka_bootstrap_servers=kafka_bootstrap,  # type: ignore[call-arg]
                                    database_url=roles.owner_url, events_topic=topic, topic_partitions=3))
    checked = enrichlog(env, "project", "--check")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ENRICHLOG_DB_")}
    projector = ProjectorProcess({**base, **env}, tmp_path / "projector.log").start()
    try:
        chain, events = album_chain_with_failed_child()
        _publish(kafka_bootstrap, topic, events)
        wanted = {chain.root_id: "PARTIAL", f"{chain.root_id}/enrich": "SUCCESS", f"{chain.root_id}/cover": "FAILED"}
        wait_for(lambda: _statuses(roles.reader_url, chain.root_id) == wanted, timeout=90,
                 what="the chain's rows, folded by the projector's role")
        assert projector.running(), projector.log()
        assert projector.stop() == 0, projector.log()
    finally:
        projector.kill()
    assert "permission denied" not in projector.log()

    check = enrichlog({**env, "DATABASE_URL": roles.reader_url}, "rebuild", "--check")
    assert check.returncode == 0, check.stderr + check.stdout
    refused = enrichlog(env, "rebuild")
    assert refused.returncode == 1
    assert "permission denied for table enrichment_logs" in refused.stderr, refused.stderr
    rebuilt = enrichlog({**env, "DATABASE_URL": roles.owner_url}, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr + rebuilt.stdout
    assert _statuses(roles.reader_url, chain.root_id) == wanted
