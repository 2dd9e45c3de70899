"""What Faust alone costs per event: an agent that only takes batches and acks them, on a pre-filled
topic, through faust-streaming's stock path (`noack_take`, `stream.ack`, the stock consumer) and
through the projector's (`projector.kafka.bulk`). No parsing, no database.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/faust_path.py --topic bench-proj-... --events 190000

Each path runs in its own worker process and consumer group; it prints events/s for each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(path: str, topic_name: str, total: int) -> None:
    import faust

    from projector.kafka.bulk import BatchingApp, take_batches

    app_cls = BatchingApp if path == "batching" else faust.App
    app = app_cls(
        f"faust-path-{uuid.uuid4().hex[:8]}", broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
        store="memory://", key_serializer="raw", value_serializer="raw", topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", web_enabled=False,
        stream_buffer_maxsize=16 if path == "batching" else 4096,
        broker_max_poll_records=2000, datadir=os.path.join(tempfile.gettempdir(), "enrichlog-faust-{conf.name}"),
    )
    if path == "batching":
        app.bulk_topics = frozenset({topic_name})
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "t0": 0.0}

    def count(batch: list[Any]) -> None:
        if not seen["t0"]:
            seen["t0"] = time.monotonic()
        seen["n"] += len(batch)
        if seen["n"] >= total:
            elapsed = time.monotonic() - seen["t0"]
            print(f"{path}: {seen['n']:,} events in {elapsed:.1f}s = {seen['n'] / elapsed:,.0f} events/s", flush=True)
            os._exit(0)

    @app.agent(topic, concurrency=1)
    async def consume(stream: Any) -> None:
        if path == "batching":
            async for batch in take_batches(stream, 2000, 0.05):
                batch.ack()
                count(batch.records)
        else:
            async for batch in stream.noack_take(2000, within=0.05):
                for event in batch:
                    await stream.ack(event)
                count(batch)

    sys.argv = [sys.argv[0], "worker"]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", required=True, help="a pre-filled topic (bench/projector.py fills one)")
    ap.add_argument("--events", type=int, default=190_000, help="events to consume per path")
    ap.add_argument("--worker", choices=["stock", "batching"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.topic, args.events)
        return
    for path in ("stock", "batching"):
        out = subprocess.run([sys.executable, __file__, "--topic", args.topic, "--events", str(args.events),
                              "--worker", path], capture_output=True, text=True, timeout=900)
        # Faust's worker routes print() into its log (stderr)
        lines = [line[line.index(f"{path}: "):] for line in (out.stdout + out.stderr).splitlines()
                 if f"{path}: " in line and "events/s" in line]
        print(lines[-1] if lines else f"{path}: failed (exit {out.returncode})\n{out.stderr[-2000:]}")


if __name__ == "__main__":
    main()
