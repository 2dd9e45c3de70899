"""How long a batch of bad messages takes to dead-letter: the pipeline's commit of a batch whose every
message is undecodable, through the real dead-letter producer (acks=all) and an in-memory store.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/dead_letters.py --messages 2000 --runs 3

Prints, per run, the seconds and dead letters per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def one_run(bootstrap: str, topic: str, messages: int, size: int) -> float:
    from projector.deadletter import RawMessage
    try:
        from projector.kafka.deadletter import KafkaDeadLetters
    except ImportError:  # before the Kafka edge had a package: to measure it against
        try:
            from projector.deadletter_kafka import KafkaDeadLetters  # type: ignore[no-redef]
        except ImportError:  # before the writer had a module of its own
            from projector.deadletter import KafkaDeadLetters  # type: ignore[attr-defined,no-redef]
    from projector.memory_store import InMemoryStore
    from projector.pipeline import BatchHandler

    sink = KafkaDeadLetters(bootstrap, f"{topic}.dlq")
    handler = BatchHandler(InMemoryStore(), sink)
    batch = [RawMessage(topic, i % 3, i, f"k{i}".encode(), b"\xff" + b"x" * size) for i in range(messages)]
    try:
        await handler.handle(batch[:1])  # the producer started and its limits read: not timed
        started = time.perf_counter()
        await handler.handle(batch[1:])
        return time.perf_counter() - started
    finally:
        await sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=300, help="bytes of each bad value")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = f"bench-dlq-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(f"{topic}.dlq", 3, 1)])
    try:
        for run in range(args.runs):
            seconds = asyncio.run(one_run(bootstrap, topic, args.messages, args.size))
            print(f"run {run + 1}: {args.messages - 1} dead letters in {seconds:.2f} s "
                  f"({(args.messages - 1) / seconds:,.0f}/s)")
    finally:
        admin.delete_topics([f"{topic}.dlq"])
        admin.close()


if __name__ == "__main__":
    main()
