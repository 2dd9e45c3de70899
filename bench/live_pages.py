"""Open live pages: the projector's throughput and CPU with N `GET /api/live` streams open on the
console against none, and how late each stream hears of each committed batch.

    KAFKA_BOOTSTRAP_SERVERS=… DATABASE_URL=… .venv/bin/python bench/live_pages.py [--pages 200] \
        [--events 200000] [--runs 3] [--clients normal|idle|stopped] [--own-sessions]

1. Fills a topic with --events events once (bench/projector.py's fill).
2. Runs with 0 pages and with N, --runs of each, alternating (0 N, N 0, 0 N, ...). Each run: a fresh
   database; the console as a process of its own (bench/console.py's); a LISTEN connection of this
   process, the reference: when it hears a notification is taken as its batch's commit; with N,
   N streams in a process of their own (asyncio, httpx), so that their CPU is not the console's:
   half follow `root=` of a root the workload touches (timeline pages), half no root (roots pages).
   Once every stream has said `ready`, the projector reads the topic from its start: its events/s
   and CPU seconds (/proc) from its first committed batch to its last, the console's, the streams',
   PostgreSQL's (the postmaster listening on the URL's port and its children) and the broker's CPU
   over the same span; the projector's batches and their fold-and-commit time (its /metrics), the
   median time between two batches (the reference's notifications).
   --clients says how the streams' process runs, printed with every run: `normal`; `idle`, at
   SCHED_IDLE, on CPU nobody else wants (browsers on other machines take none of the projector's);
   `stopped`, SIGSTOPped once all are ready (the console still writes to them, nobody reads:
   the console's fan-out alone; no delivery figures). --own-sessions starts the console and the
   streams each in a session of its own: where the kernel schedules by autogroup (one per session,
   sched_autogroup_enabled), a group shares the CPU equally with every other busy group, so without
   it the console's and the streams' CPU comes out of the projector's group's share (this process's
   session) on a machine that other work keeps busy; with it, as with services and browsers apart.
3. Delivery: for each notification and each stream it concerns, the stream's receipt minus the
   reference's, p50/p99/max over the N-page runs; the streams that missed any (told `resync`
   instead, or not at all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.console import console, free_port  # noqa: E402
from bench.projector import (  # noqa: E402
    committed,
    cpu_seconds,
    drop_database,
    end_offsets,
    env_for,
    fill_topic,
    fresh_database,
    pids_named,
)
from producers.workload import WorkloadConfig, generate_events  # noqa: E402
from projector import notify  # noqa: E402
from tests.harness import ProjectorProcess, wait_for  # noqa: E402

SEED = 5  # bench/projector.py's fill_topic names its jobs after it
SETTLE_S = 2.0  # after the last batch: time for its notification to reach every stream

Key = tuple[tuple[str, ...], bool]  # a notification's roots and `more`, as sent and as streamed


def touched_roots(events: int, wanted: int) -> list[str]:
    """`wanted` distinct roots among the first `events` events of the fill, spread over them."""
    seen: dict[str, None] = {}
    for i, event in enumerate(generate_events(WorkloadConfig(chains=events, seed=SEED, run_id=f"b{SEED}"))):
        if i >= events:
            break
        seen.setdefault(event.root_job_id, None)
    roots = list(seen)
    step = max(len(roots) // max(wanted, 1), 1)
    return roots[::step][:wanted]


def key_of(text: str) -> Key:
    doc = json.loads(text)
    return tuple(doc["roots"]), bool(doc["more"])


def concerns(root: str | None, key: Key) -> bool:
    return root is None or key[1] or root in key[0]


# --- the streams, in a process of their own ---------------------------------------------------------


async def follow(client: httpx.AsyncClient, root: str | None, ready: asyncio.Event,
                 heard: list[tuple[str, str, float]]) -> None:
    """One open page: its stream's events as (event, data, monotonic time of receipt)."""
    params = {"root": root} if root is not None else {}
    async with client.stream("GET", "/api/live", params=params) as resp:
        resp.raise_for_status()
        event, data = "message", ""
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                heard.append((event, data, time.monotonic()))
                if event == "ready":
                    ready.set()
                event, data = "message", ""


async def pages(base: str, roots: list[str | None], pipe: Connection) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(None, connect=30)
    heard: list[list[tuple[str, str, float]]] = [[] for _ in roots]
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        readies = [asyncio.Event() for _ in roots]
        tasks = [asyncio.create_task(follow(client, r, e, h)) for r, e, h in zip(roots, readies, heard, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 120)
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        failed = [t for t in tasks if t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send((heard, len(failed)))


CLIENT_MODES = ("normal", "idle", "stopped")


def pages_process(base: str, roots: list[str | None], pipe: Connection, mode: str, own_session: bool) -> None:
    """The streams' process. `idle`: at SCHED_IDLE (it and the threads it starts), so that it runs on
    CPU nobody else wants, standing in for browsers on other machines. `own_session`: see main()."""
    if own_session:
        os.setsid()
    if mode == "idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    asyncio.run(pages(base, roots, pipe))


def listener_pid(port: int) -> int:
    """The process listening on TCP `port` of this machine (PostgreSQL's postmaster, the broker)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"pid=(\d+)", out)
    if found is None:
        raise SystemExit(f"no process found listening on port {port}")
    return int(found.group(1))


def runq_seconds(pid: int) -> float:
    """Time the process's threads have waited on a run queue, ready but not running (schedstat), 0
    when it is gone."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total / 1e9


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def scrape(port: int) -> dict[str, float]:
    """The projector's batch count and its time folding and committing them (its /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    got = dict(re.findall(r"^(enrichlog_batch_seconds_(?:sum|count)) (\S+)$", text, re.M))
    return {"batches": float(got["enrichlog_batch_seconds_count"]),
            "batch_s": float(got["enrichlog_batch_seconds_sum"])}


# --- one run ----------------------------------------------------------------------------------------


class Reference(threading.Thread):
    """This process's LISTEN: each notification's key and when it was heard."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.heard: list[tuple[Key, float]] = []
        self.listening = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"LISTEN {notify.CHANNEL}")
            self.listening.set()
            while not self.stop.is_set():
                for n in conn.notifies(timeout=0.2):
                    self.heard.append((key_of(n.payload), time.monotonic()))


def run_once(bootstrap: str, server: str, topic: str, total: int, roots: list[str | None],
             log: Path, mode: str, own_sessions: bool) -> dict[str, Any]:
    url = fresh_database(server)
    postmaster = listener_pid(urlsplit(server).port or 5432)
    broker = listener_pid(int(bootstrap.rsplit(":", 1)[1]))
    metrics_port = free_port()
    try:
        with console(url, own_sessions) as base:
            console_pids = pids_named(f"enrichlog.cli web --port {base.rsplit(':', 1)[1]}")
            reference = Reference(url)
            reference.start()
            reference.listening.wait(30)
            streams = None
            if roots:
                ours, theirs = multiprocessing.get_context("spawn").Pipe()
                streams = multiprocessing.get_context("spawn").Process(target=pages_process,
                                                                        args=(base, roots, theirs, mode, own_sessions))
                streams.start()
                if not ours.poll(180) or ours.recv() != "ready":
                    raise SystemExit("the streams did not all say ready")
                if mode == "stopped":  # the console still writes to them; nobody reads
                    os.kill(streams.pid or 0, signal.SIGSTOP)
            env = {**env_for(bootstrap, url, topic, f"live-{uuid.uuid4().hex[:6]}"),
                   "ENRICHLOG_METRICS_PORT": str(metrics_port)}
            proc = ProjectorProcess(env, log).start()
            assert proc.proc is not None
            watched = {"projector": [proc.proc.pid], "console": console_pids,
                       "streams": [streams.pid] if streams and streams.pid else [],
                       "postgres": [postmaster, *children(postmaster)], "broker": [broker]}
            wait_for(lambda: committed(url, topic) > 0, timeout=120, what="first batch")
            watched["postgres"] = [postmaster, *children(postmaster)]  # the projector's backends are up now
            before = {g: sum(map(cpu_seconds, pids)) for g, pids in watched.items()}
            waited0 = {g: sum(map(runq_seconds, watched[g])) for g in ("projector", "postgres")}
            batches0 = scrape(metrics_port)
            t0, n0 = time.monotonic(), committed(url, topic)
            wait_for(lambda: committed(url, topic) >= total, timeout=3600, what="all events")
            elapsed, events = time.monotonic() - t0, committed(url, topic) - n0
            cpu = {g: sum(map(cpu_seconds, pids)) - before[g] for g, pids in watched.items()}
            waited = {g: sum(map(runq_seconds, watched[g])) - waited0[g] for g in waited0}
            batches = {k: v - batches0[k] for k, v in scrape(metrics_port).items()}
            time.sleep(SETTLE_S)
            proc.stop()
            heard: list[list[tuple[str, str, float]]] = []
            failed = 0
            if streams is not None:
                if mode == "stopped":
                    os.kill(streams.pid or 0, signal.SIGCONT)
                ours.send("stop")
                heard, failed = ours.recv()
                streams.join(30)
            reference.stop.set()
            reference.join()
    finally:
        drop_database(server, url)
    gaps = [b - a for (_, a), (_, b) in zip(reference.heard, reference.heard[1:], strict=False)]
    return {"pages": len(roots), "mode": mode if roots else "-", "events": events, "seconds": elapsed,
            "rate": events / elapsed, "cpu": cpu, "runq": waited, **batches,
            "gap_ms": statistics.median(gaps) * 1000 if gaps else float("nan"),
            "load": os.getloadavg()[0], "notifications": len(reference.heard),
            "more": sum(key[1] for key, _ in reference.heard),
            **delivery(reference.heard, roots, heard), "failed_streams": failed}


def delivery(reference: list[tuple[Key, float]], roots: list[str | None],
             heard: list[list[tuple[str, str, float]]]) -> dict[str, Any]:
    """Each stream's lateness per notification that concerns it, and who missed any."""
    late: list[float] = []
    missed = resynced = 0
    for root, events in zip(roots, heard, strict=True):
        got: dict[Key, deque[float]] = defaultdict(deque)
        for event, data, at in events:
            if event == "rows":
                got[key_of(data)].append(at)
        lost = 0
        for key, at in reference:
            if concerns(root, key):
                if got[key]:
                    late.append((got[key].popleft() - at) * 1000)
                else:
                    lost += 1
        missed += lost > 0
        resynced += any(event == "resync" for event, _, _ in events)
    return {"late_ms": late, "missed": missed, "resynced": resynced}


# --- the whole bench ---------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, -(-int(len(ordered) * p) // 100) - 1)] if ordered else float("nan")


def print_run(r: dict[str, Any]) -> None:
    cpu = r["cpu"]
    line = (f"{r['pages']:>4} pages (clients {r['mode']}): {r['events']:,} events in {r['seconds']:.1f} s = "
            f"{r['rate']:,.0f} events/s; CPU s projector {cpu['projector']:.1f} "
            f"({cpu['projector'] * 1e6 / r['events']:.0f} µs/event), postgres {cpu['postgres']:.1f}, "
            f"broker {cpu['broker']:.1f}, console {cpu['console']:.1f}, streams {cpu['streams']:.1f}; "
            f"{r['batches']:.0f} batches, fold+commit {r['batch_s'] * 1000 / max(r['batches'], 1):.0f} ms each, "
            f"{r['gap_ms']:.0f} ms apart (median); run-queue wait s projector {r['runq']['projector']:.1f}, "
            f"postgres {r['runq']['postgres']:.1f}; {r['notifications']} notifications ({r['more']} with `more`); "
            f"load {r['load']:.2f}")
    if r["pages"] and r["mode"] == "stopped":
        line += (f"\n      (streams stopped while the projector ran: no delivery figures) resync: {r['resynced']}, "
                 f"streams ended early: {r['failed_streams']}")
    elif r["pages"]:
        late = r["late_ms"]
        line += (f"\n      delivery p50 {percentile(late, 50):.0f} ms, p99 {percentile(late, 99):.0f} ms, "
                 f"max {max(late, default=float('nan')):.0f} ms ({len(late):,}); missed any: {r['missed']}, "
                 f"resync: {r['resynced']}, streams ended early: {r['failed_streams']}")
    print(line, flush=True)


def summary(runs: list[dict[str, Any]], pages: int, mode: str, own_sessions: bool) -> None:
    def of(n: int, fn: Any) -> list[float]:
        return [fn(r) for r in runs if r["pages"] == n]

    rate0, rate_n = of(0, lambda r: r["rate"]), of(pages, lambda r: r["rate"])
    cpu0 = of(0, lambda r: r["cpu"]["projector"] / r["events"])
    cpu_n = of(pages, lambda r: r["cpu"]["projector"] / r["events"])
    console0 = of(0, lambda r: r["cpu"]["console"] / r["seconds"])
    console_n = of(pages, lambda r: r["cpu"]["console"] / r["seconds"])
    late = [ms for r in runs if r["pages"] for ms in r["late_ms"]]
    med = statistics.median
    loads = [r["load"] for r in runs]
    print(f"\nclients: {mode}{', own sessions' if own_sessions else ''}; "
          f"load (1 min) at the runs' ends {min(loads):.2f} to {max(loads):.2f}")
    print(f"median throughput: 0 pages {med(rate0):,.0f} events/s ({min(rate0):,.0f} to {max(rate0):,.0f}), "
          f"{pages} pages {med(rate_n):,.0f} ({min(rate_n):,.0f} to {max(rate_n):,.0f}) "
          f"({(med(rate_n) / med(rate0) - 1) * 100:+.1f} %)")
    print(f"median projector CPU per event: 0 pages {med(cpu0) * 1e6:.0f} µs, {pages} pages {med(cpu_n) * 1e6:.0f} µs "
          f"({(med(cpu_n) / med(cpu0) - 1) * 100:+.1f} %)")
    print(f"median console CPU (cores): 0 pages {med(console0):.3f}, {pages} pages {med(console_n):.3f}")
    for label, fn in (("PostgreSQL CPU per event (µs)", lambda r: r["cpu"]["postgres"] * 1e6 / r["events"]),
                      ("broker CPU per event (µs)", lambda r: r["cpu"]["broker"] * 1e6 / r["events"]),
                      ("fold+commit per batch (ms)", lambda r: r["batch_s"] * 1000 / max(r["batches"], 1)),
                      ("time between batches (ms)", lambda r: r["gap_ms"]),
                      ("projector run-queue wait (% of the span)",
                       lambda r: r["runq"]["projector"] * 100 / r["seconds"]),
                      ("PostgreSQL run-queue wait (s)", lambda r: r["runq"]["postgres"])):
        print(f"median {label}: 0 pages {med(of(0, fn)):.0f}, {pages} pages {med(of(pages, fn)):.0f}")
    if mode == "stopped":
        print("delivery: not measured (the streams were stopped)")
        return
    print(f"delivery over the {pages}-page runs: p50 {percentile(late, 50):.0f} ms, p99 {percentile(late, 99):.0f} ms, "
          f"max {max(late, default=float('nan')):.0f} ms ({len(late):,} deliveries); streams that missed any: "
          f"{sum(of(pages, lambda r: r['missed'])):.0f}, told resync: {sum(of(pages, lambda r: r['resynced'])):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200, help="open streams in the runs with pages")
    parser.add_argument("--events", type=int, default=200_000, help="events in the topic every run reads")
    parser.add_argument("--runs", type=int, default=3, help="runs with no page, and as many with pages")
    parser.add_argument("--clients", default="normal",
                        help="how the streams' process runs: normal; idle (SCHED_IDLE: only on CPU nobody else "
                             "wants, as browsers on other machines); stopped (SIGSTOP once all are ready: the "
                             "console writes to them, nobody reads; no delivery figures)")
    parser.add_argument("--own-sessions", action="store_true",
                        help="the console and the streams each in a session of its own: where the kernel "
                             "schedules by autogroup (one per session), their CPU then does not come out of "
                             "the share of the projector's group (this process's session), as with services "
                             "and browsers apart")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    args = parser.parse_args()
    for name in ("pages", "events", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.clients not in CLIENT_MODES:
        parser.error(f"--clients must be one of {', '.join(CLIENT_MODES)}, not {args.clients!r}")
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    if not args.bootstrap:
        parser.error("set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap")
    logs = ROOT / "bench" / "results"
    logs.mkdir(exist_ok=True)
    topic = f"bench-live-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    sent = fill_topic(args.bootstrap, topic, args.events, seed=SEED)
    total = sum(end_offsets(args.bootstrap, topic).values())
    picked = touched_roots(args.events, args.pages // 2)
    roots: list[str | None] = [picked[i % len(picked)] for i in range(args.pages // 2)] if picked else []
    roots += [None] * (args.pages - len(roots))
    sessions = "own sessions (console, streams)" if args.own_sessions else "one session with the projector"
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    grouped = autogroup.read_text().strip() if autogroup.exists() else "absent"
    print(f"clients: {args.clients}; {sessions}; sched_autogroup_enabled: {grouped}", flush=True)
    print(f"filled {topic}: {sent:,} events in {time.monotonic() - started:.0f} s; {len(picked)} roots followed",
          flush=True)
    runs = []
    for i in range(args.runs):
        for n in ((0, args.pages) if i % 2 == 0 else (args.pages, 0)):
            runs.append(run_once(args.bootstrap, args.database_url, topic, total, roots if n else [],
                                 logs / "live_pages.log", args.clients, args.own_sessions))
            print_run(runs[-1])
    summary(runs, args.pages, args.clients, args.own_sessions)


if __name__ == "__main__":
    main()
