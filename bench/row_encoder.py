"""The row encoder's cost per row: projector.pgcopy.row_copy (generated from the row's declaration,
each column's value and encoding written out in line) beside a loop of one encoder call per column
over the row's values (projector.rows.row_fields), made from the same declaration: the form the
generated code replaces. Both must give the same bytes (checked). The rows are the states of a
generated workload. Two measures: instructions per row, counted by valgrind (callgrind) as
bench/instructions.py counts them (the count with 3 passes less the count with 1, over 2 passes:
start-up cancels out; it does not move with the machine's load), and µs of CPU per row.

    .venv/bin/python bench/row_encoder.py [--chains 2000] [--repeat 7] [--no-instructions]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from producers.workload import WorkloadConfig, generate_events
from projector import pgcopy
from projector.fold import fold_by_job
from projector.rows import PROJECTED, STORE_COLUMNS, row_fields
from projector.state import JobState


def _per_column_encoder() -> Callable[[JobState, int], bytes]:
    """row_copy as a loop: per COPY column, a function of its value (its form's code, one call each)."""
    written = (*PROJECTED, *STORE_COLUMNS)
    index = {c.name: i for i, c in enumerate(written)}
    encoders: list[tuple[int, Callable[[Any], bytes]]] = []
    for name in pgcopy.COPY_COLUMNS:
        c = written[index[name]]
        binary = pgcopy._BINARY[c.form]
        code = binary.encode.format(v="v")
        if c.nullable and not binary.null_safe:
            code = f"_NULL if v is None else {code}"
        encoders.append((index[name], eval(f"lambda v: {code}", dict(pgcopy._ENCODERS))))
    count = struct.pack(">h", len(pgcopy.COPY_COLUMNS))

    def encode(state: JobState, fold_seq: int) -> bytes:
        values = (*row_fields(state, 0), fold_seq, pgcopy.source_field(None))
        return b"".join([count, *[f(values[i]) for i, f in encoders]])

    return encode


def _forms() -> dict[str, Callable[[JobState], bytes]]:
    loop = _per_column_encoder()
    return {"generated (row_copy)": lambda st: pgcopy.row_copy(st, 1), "a call per column": lambda st: loop(st, 1)}


def _states(chains: int) -> list[JobState]:
    return list(fold_by_job(generate_events(WorkloadConfig(chains=chains, seed=9, run_id="enc"))).values())


def _instructions(form: str, chains: int, passes: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--inner", form, str(chains), str(passes)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if collected is None:
        raise SystemExit(f"valgrind's output has no count:\n{done.stderr[-2000:]}")
    return int(collected.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--inner"]:
        form, chains, passes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        states, encode = _states(chains), _forms()[form]
        gc.freeze()
        for _ in range(passes):
            for st in states:
                encode(st)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-instructions", action="store_true", help="only the CPU time (no valgrind)")
    args = parser.parse_args()
    states = _states(args.chains)
    forms = _forms()
    if len({tuple(encode(st) for st in states) for encode in forms.values()}) != 1:
        raise SystemExit("the two encoders give different rows")
    print(f"{len(states):,} rows")
    if not args.no_instructions:
        for label in forms:
            one, three = _instructions(label, args.chains, 1), _instructions(label, args.chains, 3)
            print(f"{label:<22} {(three - one) // (2 * len(states)):,} instructions/row", flush=True)
    times: dict[str, list[float]] = {label: [] for label in forms}
    for _ in range(args.repeat):
        for label, encode in forms.items():
            start = time.process_time()
            for st in states:
                encode(st)
            times[label].append((time.process_time() - start) / len(states) * 1e6)
    for label, per_row in times.items():
        print(f"{label:<22} best {min(per_row):5.1f} µs/row   median {statistics.median(per_row):5.1f}")


if __name__ == "__main__":
    main()
