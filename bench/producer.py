"""Producer benchmark (a script, not a test): caller-thread cost per event and throughput.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/producer.py [--events N]

1. Caller cost: for each event, building the model (validation) + `publisher.publish` (JSON
   serialization + hand-off to the publisher's bounded queue), timed on the caller's thread
   while the real publisher delivers to the real broker. Median and p99, in microseconds.
2. Throughput: the same pre-built events published as fast as possible; events/s counted from
   the first publish to the last broker acknowledgement (flush), from one process.
3. For reference, kafka-python's own `KafkaProducer.send` throughput on pre-serialized bytes.
Each phase uses a fresh topic (3 partitions) and runs a few seconds.

--gc-freeze moves the pre-built workload (~500k GC-tracked objects, which no processor holds) out
of the cyclic collector's reach, so that its full collections cost what they would in a
processor; without it they take ~20% of the throughput phase. Off by default.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from producers import KafkaPublisher, ProducerSettings
from producers.kafka_internals import CachedKeyPartitioner
from producers.workload import WorkloadConfig, generate_events
from schemas import JobEvent, dump_event


def _topic(settings: ProducerSettings, label: str) -> ProducerSettings:
    name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(name, 3, 1)])
    finally:
        admin.close()
    return settings.model_copy(update={"topic": name})


def _rebuilders(events: list[JobEvent]) -> list[Callable[[], JobEvent]]:
    """Functions that build each event again from its fields (what a Reporter does per event)."""
    def rebuild(event: JobEvent) -> Callable[[], JobEvent]:
        cls, fields = type(event), {name: getattr(event, name) for name in type(event).model_fields}
        return lambda: cls(**fields)
    return [rebuild(e) for e in events]


def caller_cost(settings: ProducerSettings, events: list[JobEvent]) -> tuple[float, float, float]:
    builders = _rebuilders(events)
    costs: list[int] = []
    with KafkaPublisher(_topic(settings, "cost")) as publisher:
        publisher.wait_connected(15)
        publish, clock = publisher.publish, time.perf_counter_ns
        for build in builders:
            started = clock()
            publish(build())
            costs.append(clock() - started)
        publisher.flush(60)
        assert publisher.stats.lost == 0, publisher.stats
    costs.sort()
    return (statistics.median(costs) / 1000, costs[int(len(costs) * 0.99)] / 1000,
            statistics.fmean(costs) / 1000)


def throughput(settings: ProducerSettings, events: list[JobEvent]) -> float:
    with KafkaPublisher(_topic(settings, "tput")) as publisher:
        publisher.wait_connected(15)
        started = time.perf_counter()
        for event in events:
            publisher.publish(event)
        publisher.flush(120)
        elapsed = time.perf_counter() - started
        assert publisher.stats.sent == len(events), publisher.stats
    return len(events) / elapsed


def raw_kafka_python(settings: ProducerSettings, events: list[JobEvent]) -> float:
    pairs = [(e.root_job_id.encode(), dump_event(e)) for e in events]
    settings = _topic(settings, "raw")
    config: dict[str, Any] = {**settings.kafka_config(), "partitioner": CachedKeyPartitioner()}
    producer = KafkaProducer(**config)
    producer.partitions_for(settings.topic)
    started = time.perf_counter()
    for key, value in pairs:
        producer.send(settings.topic, value, key=key)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    producer.close()
    return len(pairs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--compression", default=None, help="override ENRICHLOG_PRODUCER_COMPRESSION_TYPE")
    parser.add_argument("--linger-ms", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() the pre-built workload before measuring (see the docstring)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("compression_type", args.compression), ("linger_ms", args.linger_ms),
                                   ("batch_size", args.batch_size)) if v is not None}
    settings = ProducerSettings(**overrides)
    events: list[JobEvent] = []
    for event in generate_events(WorkloadConfig(chains=args.events // 8, seed=42, run_id=uuid.uuid4().hex[:8])):
        events.append(event)
        if len(events) == args.events:
            break
    size = statistics.fmean(len(dump_event(e)) for e in events[:5000])
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    print(f"settings: acks=all idempotence={settings.enable_idempotence} compression={settings.compression_type} "
          f"linger_ms={settings.linger_ms} batch_size={settings.batch_size} buffer_memory={settings.buffer_memory} "
          f"max_block_ms={settings.max_block_ms} fast_append={settings.fast_append} "
          f"gc_freeze={args.gc_freeze}; {len(events)} workload events, mean value {size:.0f} bytes, "
          f"3 partitions, broker {settings.bootstrap_servers}")
    median, p99, mean = caller_cost(settings, events[:20_000])
    print(f"caller cost per event (build+validate + serialize + enqueue): median {median:.1f} us, "
          f"p99 {p99:.1f} us, mean {mean:.1f} us   [target: median < 50 us]")
    print(f"throughput, one process (publish -> broker ack): {throughput(settings, events):,.0f} events/s   "
          f"[target: >= 30,000]")
    print(f"reference, bare kafka-python KafkaProducer.send of pre-serialized events: "
          f"{raw_kafka_python(settings, events):,.0f} events/s")


if __name__ == "__main__":
    main()
