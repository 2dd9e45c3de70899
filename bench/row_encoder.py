"""The row encoder's cost, in µs of Python's CPU per row: projector.pgcopy.row_copy (generated from the
row's declaration, each column's encoding written out in line) beside a loop of one encoder call per
column made from the same declaration, the form the generated code replaces. Both must give the same
bytes (checked). The rows are the states of a generated workload.

    .venv/bin/python bench/row_encoder.py [--chains 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import struct
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    states = list(fold_by_job(generate_events(WorkloadConfig(chains=args.chains, seed=9, run_id="enc"))).values())
    loop = _per_column_encoder()
    if any(loop(st, 1) != pgcopy.row_copy(st, 1) for st in states):
        raise SystemExit("the two encoders give different rows")
    forms = {"generated (row_copy)": lambda st: pgcopy.row_copy(st, 1), "a call per column": lambda st: loop(st, 1)}
    times: dict[str, list[float]] = {label: [] for label in forms}
    for _ in range(args.repeat):
        for label, encode in forms.items():
            start = time.process_time()
            for st in states:
                encode(st)
            times[label].append((time.process_time() - start) / len(states) * 1e6)
    print(f"{len(states):,} rows")
    for label, per_row in times.items():
        print(f"{label:<22} best {min(per_row):5.1f} µs/row   median {statistics.median(per_row):5.1f}")


if __name__ == "__main__":
    main()
