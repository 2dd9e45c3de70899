"""The long kill run: a projector SIGKILLed again and again while it folds a large topic, restarted
at once each time (a supervisor), then the table compared with the pure fold of the topic, row for row.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 DATABASE_URL=postgresql://enrichlog@127.0.0.1:55432/enrichlog \
        .venv/bin/python bench/kill_run.py --events 1000000 --kills 50

The topic is filled first from the workload generator (producers/workload.py, as bench/projector.py
fills it); each kill comes at a random moment once the restarted projector has committed again, so
kills land mid-batch, between batches and mid-commit. Prints the kills, events, rows compared, the
times from each restart to the next committed batch, and the total time. Exit status 1 when the table
differs from the fold. Not part of CI: tests/e2e/test_crash_recovery.py is the short run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.projector import PARTITIONS, committed, drop_database, env_for, fill_topic, fresh_database  # noqa: E402
from projector.rebuild import check  # noqa: E402
from tests.harness import ProjectorProcess, caught_up, wait_for  # noqa: E402


def connections_of(url: str, instance_id: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           (f"enrichlog-projector {instance_id}",)).fetchone()
    return int(row[0]) if row else 0


def kill_run(bootstrap: str, url: str, topic: str, kills: int, seed: int, log: Path) -> list[float]:
    """SIGKILL the projector `kills` times, each restarted at once; the times from restart to the next
    commit. Then let it catch up and stop it (exit 0)."""
    rng = random.Random(seed)
    env = {**env_for(bootstrap, url, topic, f"group-{topic}"), "ENRICHLOG_LOG_LEVEL": "INFO",
           "ENRICHLOG_LOG_FORMAT": "text"}
    proc = ProjectorProcess(env, log).start()
    recoveries: list[float] = []
    try:
        wait_for(lambda: committed(url, topic) > 0, timeout=120, what="the first committed batch")
        for n in range(1, kills + 1):
            time.sleep(rng.uniform(0.0, 1.5))
            proc.kill()
            # Its transactions are over once its connections are gone: the positions stand still now.
            wait_for(lambda: connections_of(url, proc.instance_id) == 0, timeout=30, what="its connections to close")
            before = committed(url, topic)
            proc.start()
            restarted = time.monotonic()
            wait_for(lambda before=before: committed(url, topic) > before or proc.died_on_its_own(), timeout=300,
                     what="the restarted projector to commit a batch")
            if proc.died_on_its_own():
                raise SystemExit(f"the projector crashed (exit {proc.proc and proc.proc.returncode}):\n{proc.log()}")
            recoveries.append(time.monotonic() - restarted)
            print(f"kill {n}/{kills}: {before:,} events folded at the kill; committed again "
                  f"{recoveries[-1]:.1f}s after the restart", flush=True)
        wait_for(lambda: caught_up(url, bootstrap, topic), timeout=3600, what="the projector to catch up")
        status = proc.stop()
        if status != 0:
            raise SystemExit(f"the projector exited {status} when stopped:\n{proc.log()}")
    finally:
        proc.kill()
    return recoveries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    bootstrap, server = os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]
    topic = f"kill-run-{uuid.uuid4().hex[:8]}"
    url = fresh_database(server)
    log = Path(tempfile.gettempdir()) / f"{topic}.log"
    t0 = time.monotonic()
    try:
        sent = fill_topic(bootstrap, topic, args.events, args.seed)
        filled = time.monotonic() - t0
        print(f"topic {topic} ({PARTITIONS} partitions): {sent:,} events in {filled:.0f}s; projector log {log}",
              flush=True)
        t1 = time.monotonic()
        recoveries = kill_run(bootstrap, url, topic, args.kills, args.seed, log)
        folded = time.monotonic() - t1
        report = check(url, bootstrap, topic, consumer=f"group-{topic}")
        total = time.monotonic() - t0
    finally:
        drop_database(server, url)
    print(f"kills: {len(recoveries)}; events: {report.events_read:,} (sent {sent:,}); rows compared: "
          f"{report.rows_compared:,}; {report.summary()}")
    print(f"restart to the next commit: median {statistics.median(recoveries):.1f}s, max {max(recoveries):.1f}s; "
          f"folding with the kills {folded:.0f}s, total {total:.0f}s (fill {filled:.0f}s, check included)")
    sys.exit(0 if report.ok and report.events_read == sent else 1)


if __name__ == "__main__":
    main()
