"""Services of a test's own, for the tests that crash them: a Kafka broker or a PostgreSQL cluster on
free ports with a state directory of its own under /var/tmp, so that killing or stopping it harms
neither the session's services nor anyone else's."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from enrichlog.migrate import migrate
from enrichlog.services import LocalKafka, LocalPostgres, ServicesSettings
from tests.own_services import free_port, own_broker


@pytest.fixture
def own_postgres() -> Iterator[tuple[LocalPostgres, str]]:
    """A migrated PostgreSQL cluster of this test's own, and its database URL."""
    settings = ServicesSettings(state_dir=Path(f"/var/tmp/enrichlog-outage-{uuid.uuid4().hex[:8]}"),
                                pg_port=free_port())
    pg = LocalPostgres(settings)
    pg.start()
    url = settings.database_url()
    migrate(url)
    yield pg, url
    pg.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)


@pytest.fixture
def own_kafka() -> Iterator[LocalKafka]:
    """A Kafka broker of this test's own (its bootstrap servers: `.bootstrap_servers`)."""
    kafka = own_broker("broker")
    try:
        kafka.start()
        yield kafka
    finally:
        kafka.kill()  # nothing in it is worth a controlled shutdown
        shutil.rmtree(kafka.settings.state_dir, ignore_errors=True)
