"""Make the stored positions and Kafka's committed offsets fit the topic, before consuming.

The table's positions are the truth: Kafka's committed offsets only say where Faust starts
reading. Three things are checked, and set right where they can be, before the projector joins its group:

1. Positions of another topic. A topic deleted and created again under the same name (or a topic
   of that name on another cluster, or a broker that lost its data) starts again at offset 0,
   while the positions recorded for the old one are higher: every event of the new topic below
   them would be skipped as a replay, without a word. The positions are recorded with the topic's
   id (KIP-516, table enrichment_log_topics); when the broker's id differs, or a position lies past
   its partition's end offset (which only a topic that is not the one the positions were read
   from can show; the check that covers positions recorded before their topic id was), the old
   positions are dropped and the topic is folded from its start. The rows folded from the old
   topic stay; folding an event twice changes nothing, so nothing is lost either way.
2. Events deleted before they were folded (retention shorter than the projector was behind): the
   consumer would start at the first offset left without a word; it is logged as an ERROR naming
   the partitions and offsets lost to the table.
3. Committed offsets ahead of the table. Normally they trail it (acks come after the database
   commit), and what Kafka re-delivers is skipped. But a database restored from a backup, or a new
   database given an old consumer group, is *behind* Kafka: starting from Kafka's offsets would
   silently leave out the events in between. Every partition whose committed offset is ahead of
   the table's position is moved back to that position (to the start for a partition the table
   has never seen).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from projector import db
from projector.errors import ProjectorError
from projector.kafka.group_offsets import CommitRefused, GroupOffsets
from projector.topics import Kafka

log = logging.getLogger("projector.offsets")

_LOCK_TOPIC_ID = "SELECT topic_id FROM enrichment_log_topics WHERE consumer = %s AND topic = %s FOR UPDATE"
_RECORD_TOPIC_ID = """
INSERT INTO enrichment_log_topics (consumer, topic, topic_id) VALUES (%s, %s, %s)
ON CONFLICT (consumer, topic) DO UPDATE SET topic_id = EXCLUDED.topic_id, recorded_at = now()
"""
_POSITIONS = "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s"
_DROP_POSITIONS = "DELETE FROM enrichment_log_positions WHERE consumer = %s AND topic = %s"


@dataclass(frozen=True)
class Rewind:
    partition: int
    kafka_offset: int
    table_position: int


def stale_reason(topic: str, recorded_id: uuid.UUID | None, current_id: uuid.UUID | None,
                 positions: dict[int, int], end_offsets: dict[int, int]) -> str | None:
    """Why the stored positions cannot be offsets of the topic as it is now, or None if they can.
    `end_offsets` are read after the positions (a position is never past an end offset read later,
    whatever the group's other members commit meanwhile)."""
    if recorded_id is not None and current_id is not None and recorded_id != current_id:
        return (f"topic {topic} was deleted and created again: its id is {current_id}, the positions "
                f"were recorded for topic id {recorded_id}")
    past = {p: o for p, o in sorted(positions.items()) if o > end_offsets.get(p, 0)}
    if past:
        ends = ", ".join(f"partition {p}: position {o}, end offset "
                         f"{end_offsets.get(p, 'none (no such partition)')}"
                         for p, o in past.items())
        return (f"the positions on topic {topic} are past its end offsets ({ends}): the topic was created "
                "again, or the broker lost its data")
    return None


def reconcile(kafka: Kafka, database_url: str, topic: str, group: str) -> list[Rewind]:
    """Drop the group's positions if they are another topic's, then rewind the group's committed
    offsets that are ahead of the table; the rewinds done."""
    with GroupOffsets(kafka, topic, group) as offsets:
        # Kafka first, the table second: other members of the group may be folding meanwhile, and
        # they commit to Kafka only what the table already holds, so a table position read after
        # the offset is never behind it unless the table really is behind (read the other way
        # round, a member's progress in between looked like a table behind Kafka).
        committed_offsets = offsets.committed()
        current_id = offsets.topic_id()
        positions = _checked_positions(database_url, group, topic, current_id, offsets.end_offsets)
        if offsets.partitions:
            _warn_of_deleted(topic, group, positions, offsets.first_offsets())
        rewinds = []
        for p, committed in committed_offsets.items():
            table = positions.get(p, 0)
            if committed is not None and committed > table:
                rewinds.append(Rewind(p, committed, table))
        if rewinds:
            try:
                offsets.commit({r.partition: r.table_position for r in rewinds})
            except CommitRefused as exc:
                raise ProjectorError(
                    f"consumer group {group!r} has committed offsets ahead of the database's positions "
                    f"({_describe(rewinds)}) and they could not be rewound ({exc.cause!r}); stop the group's other "
                    "members and start again, or use a new ENRICHLOG_CONSUMER_GROUP"
                ) from exc.cause
            log.warning("rewound committed offsets to the database's positions",
                        extra={"topic": topic, "group": group, "rewinds": _describe(rewinds)})
        return rewinds


def _checked_positions(database_url: str, group: str, topic: str, current_id: uuid.UUID | None,
                       end_offsets: Callable[[], dict[int, int]]) -> dict[int, int]:
    """The group's positions on the topic, in one transaction: the recorded topic id locked (two
    projectors starting at once decide one after the other), the positions read, dropped when
    they are another topic's (`stale_reason`), and the topic's current id recorded."""
    with db.connection(database_url, "cannot read the stored positions from PostgreSQL", timeout=10) as conn:
        row = conn.execute(_LOCK_TOPIC_ID, (group, topic)).fetchone()
        recorded_id = row[0] if row else None
        positions: dict[int, int] = dict(conn.execute(_POSITIONS, (group, topic)).fetchall())
        reason = stale_reason(topic, recorded_id, current_id, positions, end_offsets() if positions else {})
        if reason is not None:
            conn.execute(_DROP_POSITIONS, (group, topic))
            log.warning(f"{reason}; the positions of consumer {group!r} ({_describe_positions(positions)}) "
                        "are dropped and the topic is folded from its start (the rows already folded stay)",
                        extra={"topic": topic, "group": group, "dropped": positions,
                               "topic_id": str(current_id), "recorded_topic_id": str(recorded_id)})
            positions = {}
        if current_id is not None and current_id != recorded_id:
            conn.execute(_RECORD_TOPIC_ID, (group, topic, current_id))
    return positions


def deleted_before_folded(positions: dict[int, int], first_offsets: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Partition -> (position, first offset) where the partition's first offset is past the table's
    position: the events in between were deleted (retention, or deleted records) before they were folded."""
    return {p: (positions.get(p, 0), first) for p, first in sorted(first_offsets.items())
            if first > positions.get(p, 0)}


def _warn_of_deleted(topic: str, group: str, positions: dict[int, int], first_offsets: dict[int, int]) -> None:
    """Say so, loudly, when events were deleted from the topic before the group folded them: Kafka's
    consumer would start at the first offset left without a word, and the table never has them."""
    lost = deleted_before_folded(positions, first_offsets)
    if lost:
        described = ", ".join(f"partition {p}: offsets {at} to {first - 1} ({first - at} events)"
                              for p, (at, first) in lost.items())
        log.error(f"events of topic {topic} were deleted before consumer {group!r} folded them ({described}): "
                  "they are not in the table and cannot be replayed from Kafka (the topic's retention is shorter "
                  "than the projector was behind); folding goes on from the first offset left",
                  extra={"topic": topic, "group": group, "lost": {p: first - at for p, (at, first) in lost.items()}})


def _describe_positions(positions: dict[int, int]) -> str:
    return ", ".join(f"partition {p}: {o}" for p, o in sorted(positions.items())) or "none"


def _describe(rewinds: list[Rewind]) -> str:
    return ", ".join(f"partition {r.partition}: {r.kafka_offset} -> {r.table_position}" for r in rewinds)
