"""Instructions per event of the projector's pure-Python steps, counted by valgrind (callgrind):
unlike time, the count does not move with the machine's load, so two commits can be compared on a
busy machine. Each figure is (count with 3 passes - count with 1 pass) / (2 x events): start-up,
imports and the workload's generation cancel out.

    .venv/bin/python bench/instructions.py            # parse and fold+rows, about 3 min each
    .venv/bin/python bench/instructions.py fold

- parse: `schemas.parse_event(raw)` of each event's wire bytes;
- fold: `fold_by_job` over consecutive batches of 500 events, and `row_copy` of each state (the
  store's work before its COPY).
Needs valgrind (Debian's `valgrind` package). PYTHONHASHSEED is fixed: a random one moves the
count by a few hundred instructions per event between runs.
"""

from __future__ import annotations

import gc
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _work(step: str, passes: int) -> int:
    from producers.workload import WorkloadConfig, generate_events
    from projector.fold import fold_by_job
    from projector.pgcopy import row_copy
    from schemas import dump_event, parse_event

    events = list(generate_events(WorkloadConfig(chains=150, seed=5)))
    raws = [dump_event(e) for e in events]
    parsed = [parse_event(r) for r in raws]
    gc.freeze()
    # the row's source topic is an argument since migration 0008: older commits compare too
    extra = (b"topic",) if len(inspect.signature(row_copy).parameters) > 3 else ()
    for _ in range(passes):
        if step == "parse":
            for raw in raws:
                parse_event(raw)
        else:
            for i in range(0, len(parsed), 500):
                for state in fold_by_job(parsed[i:i + 500], {}).values():
                    row_copy(state, 1, 0, *extra)
    return len(raws)


def _count(step: str, passes: int) -> tuple[int, int]:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--inner", step, str(passes)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=ROOT, check=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    events = re.search(r"^events (\d+)$", done.stdout, re.MULTILINE)
    if not (collected and events):
        raise SystemExit(f"valgrind's output has no count:\n{done.stderr[-2000:]}")
    return int(collected.group(1)), int(events.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--inner"]:
        print(f"events {_work(sys.argv[2], int(sys.argv[3]))}")
        return
    steps = sys.argv[1:] or ["parse", "fold"]
    for step in steps:
        if step not in ("parse", "fold"):
            raise SystemExit(f"unknown step {step!r}: parse or fold")
        (one, events), (three, _) = _count(step, 1), _count(step, 3)
        print(f"{step}: {(three - one) // (2 * events):,} instructions/event ({events} events)", flush=True)


if __name__ == "__main__":
    main()
