"""Stop the projector when its events topic is deleted or replaced while it runs.

Deleted under a running projector, the topic is gone from the group's assignment; created again
(by an operator, or at once by the broker's auto-creation when a client asks for it), it has a new
topic id and starts again at offset 0, while the stored positions are the old topic's. Folding on
would skip the new topic's events as replays, or fold nothing at all. The start-up knows what to
do (projector.offsets drops positions recorded for another topic id, projector.service creates a
missing topic): so the watch asks the broker for the topic's id every few seconds (the Kafka edge
runs it: projector.kafka.app `FaustEdge.every`) and, when it is no longer the one the projector
started with, the edge crashes the worker (exit 1) for its supervisor to start it again (a topic
not found must be so twice in a row: a broker just started may not know it yet). Whatever was
folded from the new topic meanwhile is folded again after the restart, from the topic's start:
nothing is skipped. A broker that does not answer, or answers with an error, is not
a change (the consumer's own errors report outages).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from projector.errors import ProjectorError
from projector.topics import Kafka, admin_client, described_topic_id
from schemas.kafka_connection import as_connection

log = logging.getLogger("projector.topic_watch")

INTERVAL_S = 5.0


class TopicReplaced(ProjectorError):
    """The events topic was deleted, or deleted and created again, while the projector ran."""


def change(topic: str, started_with: uuid.UUID, found: uuid.UUID | None) -> TopicReplaced | None:
    """What changed since the start, or None."""
    if found == started_with:
        return None
    now = "it no longer exists" if found is None else f"its id is now {found}"
    return TopicReplaced(f"topic {topic} was deleted while the projector ran (topic id {started_with} at start, "
                         f"{now}): stopping, so that the start-up drops the old topic's positions and folds "
                         "the new topic from its start")


class TopicWatch:
    """Whether the events topic is still the one the projector started with, asked by `check`."""

    def __init__(self, kafka: Kafka, topic: str, started_with: uuid.UUID, interval_s: float = INTERVAL_S) -> None:
        self.kafka, self.topic, self.started_with, self.interval_s = kafka, topic, started_with, interval_s
        self._bootstrap = as_connection(kafka).bootstrap_servers
        self._missing = 0  # checks in a row that found no such topic
        self._admin: Any = None  # one client for the watch's lifetime, made again after an error

    async def check(self) -> TopicReplaced | None:
        """Ask the broker once: the change, when the projector must stop, else None."""
        try:
            found = await asyncio.get_running_loop().run_in_executor(None, self._ask)
        except ProjectorError:  # no answer, or an error about the topic: not a change
            return None
        # A topic not found once may be a broker that has just started: it must be missing twice.
        self._missing = self._missing + 1 if found is None else 0
        replaced = change(self.topic, self.started_with, found)
        if replaced is not None and (found is not None or self._missing >= 2):
            log.error(str(replaced), extra={"topic": self.topic, "topic_id": str(self.started_with),
                                            "found": str(found)})
            return replaced
        return None

    def _ask(self) -> uuid.UUID | None:
        if self._admin is None:
            self._admin = admin_client(self.kafka, self.interval_s)
        try:
            return described_topic_id(self._admin, self._bootstrap, self.topic, self.interval_s)
        except ProjectorError:
            admin, self._admin = self._admin, None
            admin.close()
            raise


def watch(kafka: Kafka, topic: str, started_with: uuid.UUID | None,
          interval_s: float = INTERVAL_S) -> TopicWatch | None:
    """The watch of the events topic, for the edge to run every `interval_s`. No id at start (a
    broker or client without topic ids): nothing to compare, no watch."""
    if started_with is None:
        log.warning("the broker gives no topic id: a topic deleted and created again under a running projector "
                    "is not detected", extra={"topic": topic})
        return None
    return TopicWatch(kafka, topic, started_with, interval_s)
