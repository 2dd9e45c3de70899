"""Make Kafka's committed offsets agree with the positions stored in PostgreSQL, before consuming.

The table's positions are the truth: Kafka's committed offsets only say where Faust starts
reading. Normally they trail the table (acks come after the database commit), and what Kafka
re-delivers is skipped. But a database restored from a backup, or a new database given an old
consumer group, is *behind* Kafka: starting from Kafka's offsets would silently leave out the
events in between. So, before the projector joins its group, every partition whose committed
offset is ahead of the table's position is moved back to that position (to the start for a
partition the table has never seen).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from projector.errors import ProjectorError

log = logging.getLogger("projector.offsets")


@dataclass(frozen=True)
class Rewind:
    partition: int
    kafka_offset: int
    table_position: int


def reconcile(bootstrap: str, database_url: str, topic: str, group: str) -> list[Rewind]:
    """Rewind the group's committed offsets that are ahead of the table; the rewinds done."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        # Kafka first, the table second: other members of the group may be folding meanwhile, and
        # they commit to Kafka only what the table already holds, so a table position read after
        # the offset is never behind it unless the table really is behind (read the other way
        # round, a member's progress in between looked like a table behind Kafka).
        committed_offsets = {p: consumer.committed(TopicPartition(topic, p)) for p in sorted(partitions)}
        try:
            with psycopg.connect(database_url, connect_timeout=10) as conn:
                rows = conn.execute(
                    "SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s AND topic = %s",
                    (group, topic),
                ).fetchall()
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ProjectorError(f"cannot read the stored positions from PostgreSQL: {first}") from exc
        positions = {p: o for p, o in rows}
        rewinds = []
        for p, committed in committed_offsets.items():
            table = positions.get(p, 0)
            if committed is not None and committed > table:
                rewinds.append(Rewind(p, committed, table))
        if rewinds:
            try:
                consumer.commit({TopicPartition(topic, r.partition): OffsetAndMetadata(r.table_position, "", -1)
                                 for r in rewinds})
            except KafkaError as exc:
                raise ProjectorError(
                    f"consumer group {group!r} has committed offsets ahead of the database's positions "
                    f"({_describe(rewinds)}) and they could not be rewound ({exc!r}); stop the group's other "
                    "members and start again, or use a new ENRICHLOG_CONSUMER_GROUP"
                ) from exc
            log.warning("rewound committed offsets to the database's positions",
                        extra={"topic": topic, "group": group, "rewinds": _describe(rewinds)})
        return rewinds
    finally:
        consumer.close()


def _describe(rewinds: list[Rewind]) -> str:
    return ", ".join(f"partition {r.partition}: {r.kafka_offset} -> {r.table_position}" for r in rewinds)
