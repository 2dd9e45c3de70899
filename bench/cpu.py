"""The projector's pure-Python CPU cost per event, without Kafka or PostgreSQL.

    .venv/bin/python bench/cpu.py [--chains 2000] [--repeat 5] [--batch 2000] [--gc-threshold 50000,20,100]

Two figures, in µs of the process's CPU time per event, on generated workload events (the same
config gives the same events):
- parse: `schemas.parse_event(raw)` of each event's wire bytes, per batch of `--batch` events
  kept in a list (as the pipeline keeps a decoded batch);
- fold+rows: per batch of `--batch` consecutive events, `fold_by_job(batch, {})`, and `row_copy` of
  each touched job (its row as the store copies it, projector.pgcopy): what the store does before
  its COPY.
The garbage collector stays on (its cost is part of the cost per event: every tracked object an
event creates counts), but the benchmark's own inputs are frozen (`gc.freeze()`), as a service's
startup heap would be, so that collections do not scan them. The collector's thresholds are
Python's defaults unless `--gc-threshold` sets others (projector/service.py sets 50000,20,100).
Each figure is the best of `--repeat` runs (the machine is shared: the best run is the least
disturbed one); the median is printed too.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from projector.fold import fold_by_job  # noqa: E402
from projector.pgcopy import copy_data, row_copy  # noqa: E402
from schemas import JobEvent, dump_event, parse_event  # noqa: E402


def _timed(run: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()  # each run starts from the same heap
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return times


def _parse_all(raws: list[bytes]) -> list[JobEvent]:
    return [parse_event(raw) for raw in raws]


def _parse_batches(raws: list[bytes], batch: int) -> int:
    count = 0
    for start in range(0, len(raws), batch):
        count += len(_parse_all(raws[start:start + batch]))
    return count


def _project_batches(events: list[JobEvent], batch: int) -> int:
    size = 0
    for start in range(0, len(events), batch):
        chunk = events[start:start + batch]
        states = fold_by_job(chunk, {})
        touched = {e.job_id: states[e.job_id] for e in chunk}
        size += len(copy_data(row_copy(s, 1) for s in touched.values()))
    return size


def _report(name: str, times: list[float], events: int) -> None:
    per_event = [t / events * 1e6 for t in times]
    print(f"{name:<15} best {min(per_event):6.2f} µs/event   median {statistics.median(per_event):6.2f}   "
          f"({', '.join(f'{x:.2f}' for x in per_event)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2000, help="workload chains (about 11 events each)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--gc-threshold", type=lambda v: tuple(int(x) for x in v.split(",")), default=None,
                        metavar="G0,G1,G2", help="gc.set_threshold(...) before measuring (default: Python's)")
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(*args.gc_threshold)

    events = list(generate_events(WorkloadConfig(chains=args.chains, seed=args.seed, run_id=f"b{args.seed}")))
    raws = [dump_event(e) for e in events]
    jobs = len({e.job_id for e in events})
    print(f"{len(events)} events, {jobs} jobs, {sum(map(len, raws)) / len(raws):.0f} bytes/event on average, "
          f"batch {args.batch}, best of {args.repeat}, gc thresholds {gc.get_threshold()}")
    del events  # parsed again below: the same values, as the projector sees them
    gc.collect()
    gc.freeze()
    _parse_batches(raws, args.batch)  # warm-up
    _report("parse", _timed(lambda: _parse_batches(raws, args.batch), args.repeat), len(raws))
    parsed = _parse_all(raws)
    gc.collect()
    gc.freeze()
    _project_batches(parsed, args.batch)  # warm-up
    _report("fold+rows", _timed(lambda: _project_batches(parsed, args.batch), args.repeat), len(parsed))


if __name__ == "__main__":
    main()
