"""Profile one projector process folding a pre-filled topic: py-spy samples it for a fixed window
and the events folded in that window are counted, so that two commits can be compared by CPU
samples per event and function rather than by throughput alone (which the machine's noise hides).

    .venv/bin/python bench/profile_projector.py --topic bench-proj-1m --seconds 40 --out /tmp/prof/new
    .venv/bin/python bench/profile_projector.py --compare /tmp/prof/base /tmp/prof/new

Needs py-spy (`pip install py-spy`); run as root so that py-spy may attach.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.projector import committed, cpu_seconds, drop_database, env_for, fresh_database  # noqa: E402
from tests.harness import ProjectorProcess, wait_for  # noqa: E402


def profile(bootstrap: str, server_url: str, topic: str, seconds: int, out: Path) -> None:
    url = fresh_database(server_url)
    out.mkdir(parents=True, exist_ok=True)
    try:
        env = env_for(bootstrap, url, topic, f"prof-{uuid.uuid4().hex[:6]}")
        proc = ProjectorProcess(env, out / "projector.log").start()
        assert proc.proc is not None
        wait_for(lambda: committed(url, topic) > 50_000, timeout=300, what="warm-up")
        n0, c0 = committed(url, topic), cpu_seconds(proc.proc.pid)
        subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(proc.proc.pid),
                        "--duration", str(seconds), "--rate", "200", "--format", "raw", "--nonblocking",
                        "--output", str(out / "stacks.txt")], check=True, capture_output=True)
        events, cpu = committed(url, topic) - n0, cpu_seconds(proc.proc.pid) - c0
        proc.stop()
    finally:
        drop_database(server_url, url)
    (out / "meta.json").write_text(json.dumps({"events": events, "seconds": seconds, "cpu": cpu}))
    print(f"{out}: {events} events in {seconds} s, {cpu / events * 1e6:.1f} us of projector CPU per event")


def load(out: Path) -> tuple[dict, collections.Counter, collections.Counter]:
    meta = json.loads((out / "meta.json").read_text())
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    for line in (out / "stacks.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")" for f in stack.split(";")]
        n = int(count)
        if "idle" in stack.lower() and "(select" in stack:
            continue
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return meta, own, total


def compare(a: Path, b: Path, top: int) -> None:
    (ma, oa, ta), (mb, ob, tb) = load(a), load(b)
    # A sample counts while its thread runs or waits for a core, so a loaded machine inflates the
    # counts: each function's share of the samples is scaled to the process's measured CPU time.
    ka = ma["cpu"] * 1e6 / ma["events"] / sum(oa.values())
    kb = mb["cpu"] * 1e6 / mb["events"] / sum(ob.values())
    print(f"{'':60} {'A us/ev':>8} {'B us/ev':>8} {'B-A':>7}")
    print(f"{'all samples':60} {sum(oa.values()) * ka:8.2f} {sum(ob.values()) * kb:8.2f}")
    for title, ca, cb in (("self", oa, ob), ("cumulative", ta, tb)):
        print(f"-- {title}")
        keys = set(ca) | set(cb)
        rows = sorted(keys, key=lambda k: -abs(cb[k] * kb - ca[k] * ka))[:top]
        for k in rows:
            print(f"{k[:60]:60} {ca[k] * ka:8.2f} {cb[k] * kb:8.2f} {cb[k] * kb - ca[k] * ka:+7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", default="bench-proj-1m")
    ap.add_argument("--seconds", type=int, default=40)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare, args.top)
        return
    if args.out is None:
        ap.error("--out is required unless --compare is given")
    profile(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"], args.topic, args.seconds, args.out)


if __name__ == "__main__":
    main()
