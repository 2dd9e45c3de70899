"""What the batch notification (projector.notify) costs the store: the same generated events applied
through projector.store.PostgresStore with and without it, in turn (each first in every other
round), each run into a fresh database.

    DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog .venv/bin/python bench/notify_cost.py

Each run applies `--events` events in batches of `--batch`, as the projector does (`prepare` of the
next batch while the previous one commits is not used: one transaction after the other); it prints
events/s per run and the best and median of each form. "without" makes every batch's notice None,
so no pg_notify is sent: the store's path before the notification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.projector import drop_database, fresh_database  # noqa: E402
from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from projector import notify  # noqa: E402
from projector.ports import Positioned  # noqa: E402
from projector.store import PostgresStore  # noqa: E402


async def _apply(url: str, batches: list[list[Positioned]]) -> float:
    store = PostgresStore(url, consumer="bench")
    started = time.perf_counter()
    for batch in batches:
        await store.apply(batch)
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = os.environ["DATABASE_URL"]
    events = list(generate_events(WorkloadConfig(chains=args.events // 11, seed=7, run_id=uuid.uuid4().hex[:6])))
    positioned = [Positioned("events", 0, i, e) for i, e in enumerate(events)]
    batches = [positioned[i:i + args.batch] for i in range(0, len(positioned), args.batch)]
    payload = notify.payload
    rates: dict[str, list[float]] = {"with": [], "without": []}
    try:
        for i in range(args.repeat):
            for form in list(rates)[:: 1 if i % 2 == 0 else -1]:  # each form first in every other round
                notify.payload = payload if form == "with" else (lambda roots: None)  # type: ignore[assignment,return-value]
                url = fresh_database(server)
                try:
                    rate = len(events) / asyncio.run(_apply(url, batches))
                finally:
                    drop_database(server, url)
                rates[form].append(rate)
                print(f"{form:8} {rate:10,.0f} events/s", flush=True)
    finally:
        notify.payload = payload
    for form, values in rates.items():
        print(f"{form:8} best {max(values):,.0f} median {statistics.median(values):,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
