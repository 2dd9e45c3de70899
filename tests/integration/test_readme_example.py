"""The README's processor example, run as a new user would paste it, against the real broker.

The example is taken from README.md as it stands (the first ```python block of "Plugging in a
processor"); the queue job, the queue and the lookup client are the processor's own objects, stood
in for by plain ones. What it published is read back from the topic.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from producers import JobFailure
from schemas import JobEvent, parse_event

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    section = README.read_text().split("## Plugging in a processor", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md: no python block under 'Plugging in a processor'"
    return match.group(1)


class _Queue:
    def __init__(self) -> None:
        self.added: list[tuple[str, dict[str, Any]]] = []

    def add(self, name: str, data: dict[str, Any]) -> None:
        self.added.append((name, data))


class _MusicBrainz:
    def __init__(self, release: object | None) -> None:
        self.release = release

    def lookup(self, _album_id: uuid.UUID) -> object | None:
        return self.release


def _read(bootstrap: str, topic: str, expected: int) -> list[JobEvent]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=10_000)
    try:
        events: list[JobEvent] = []
        for record in consumer:
            events.append(parse_event(record.value))
            if len(events) >= expected:
                break
        return events
    finally:
        consumer.close()


def test_the_readme_example_publishes_a_root_and_links_its_child(kafka_bootstrap: str, topic: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("ENRICHLOG_EVENTS_TOPIC", topic)
    scope: dict[str, Any] = {}
    exec(compile(_example(), str(README), "exec"), scope)  # the README's own code
    album_id = str(uuid.uuid4())
    queue = _Queue()
    root = SimpleNamespace(id=f"root-{uuid.uuid4().hex[:8]}", data={"albumId": album_id}, attempts_made=0)
    scope["enrich_album"](root, queue, _MusicBrainz(release=object()))
    (child_name, child_data), = queue.added
    child = SimpleNamespace(id=f"child-{uuid.uuid4().hex[:8]}", data=child_data, attempts_made=2)
    with pytest.raises(JobFailure):
        scope["enrich_album"](child, queue, _MusicBrainz(release=None))  # its last attempt: no release
    scope["publisher"].close()

    events = _read(kafka_bootstrap, topic, 4)
    kinds = [(e.job_id, e.kind) for e in events]
    assert sorted(kinds) == sorted([(root.id, "job.started"), (root.id, "job.finished"),
                                    (child.id, "job.started"), (child.id, "job.failed")])
    assert child_name == "CACHE_ALBUM_COVER_ART"
    assert child_data["albumId"] == album_id
    by_kind = {(e.job_id, e.kind): e for e in events}
    assert by_kind[(child.id, "job.failed")].root_job_id == root.id  # flat: the child points at the root
    assert by_kind[(child.id, "job.failed")].parent_job_id == root.id
    assert by_kind[(root.id, "job.started")].root_job_id == root.id
    assert by_kind[(root.id, "job.finished")].detail is not None
