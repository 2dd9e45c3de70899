"""`enrichlog demo`: everything on this machine, end to end, and what a user sees at the end.

Services up (local Kafka + PostgreSQL, or the ones named by KAFKA_BOOTSTRAP_SERVERS/DATABASE_URL),
migrations, the projector as a real subprocess, a few simulated album and artist chains published
through the producer library (with retries and one permanent failure), then this run's roots and
the timeline of the root whose child failed, then the console (enrichlog web) on them until Ctrl-C
(not with --no-console or --json). Each run has entities of its own (its workload seed is drawn at
random), so a second run's roots never mix with the first's. The local services it started, it
stops at the end (unless --keep-running).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from enrichlog.cli import emit_json, quiet_kafka_client, reach_services
from enrichlog.web.settings import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from producers.workload import WorkloadConfig
    from schemas.kafka_connection import KafkaConnection

DEMO_TOPIC = "enrichment.job-events.demo"
DEMO_GROUP = "enrichment-log-demo"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chains", type=int, default=6, help="simulated chains to stream (1-200, default 6)")
    parser.add_argument("--json", action="store_true", help="print the roots page and the timeline as JSON")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the projector, and the local services the demo started, running afterwards")
    parser.add_argument("--no-console", action="store_true",
                        help="end after the tables instead of serving the console on the demo's data (tests, CI)")
    parser.add_argument("--console-port", type=int, default=DEFAULT_PORT,
                        help=f"the console's port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="S",
                        help="how long to wait for the Kafka and PostgreSQL named by KAFKA_BOOTSTRAP_SERVERS and "
                             "DATABASE_URL to answer (default 30)")
    parser.set_defaults(handler=run)


def _pick_seed(chains: int, run_id: str) -> int:
    """A workload seed whose chains have retries and exactly one permanent failure, searched from a
    random one: the seed draws the entity ids, so each run's entities are its own."""
    from producers.workload import generate_events

    first = uuid.uuid4().int % 2**31
    for seed in range(first, first + 500):
        events = list(generate_events(_config(chains, seed, run_id)))
        kinds = [e.kind for e in events]
        types = {e.job_type.value for e in events}
        if (kinds.count("job.failed") == 1 and kinds.count("job.retrying") >= 2
                and "ENRICH_ALBUM" in types and "ENRICH_ARTIST" in types):
            failed = next(e for e in events if e.kind == "job.failed")
            if failed.parent_job_id is not None:
                return seed
    return first


def _config(chains: int, seed: int, run_id: str) -> WorkloadConfig:
    from producers.workload import WorkloadConfig

    return WorkloadConfig(chains=chains, seed=seed, retry_rate=0.2, failure_rate=0.05, run_id=run_id,
                          start=datetime.now(UTC) - timedelta(minutes=5), chain_interval_s=20)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.chains <= 200:
        raise ValueError(f"--chains must be between 1 and 200, got {args.chains}")
    if not 1 <= args.console_port <= 65535:
        raise ValueError(f"--console-port must be between 1 and 65535, got {args.console_port}")
    from enrichlog import services
    from schemas.kafka_connection import KafkaConnection, plaintext

    quiet_kafka_client(args)

    # Wide enough for the tables when the output is not a terminal (a log, a CI run, a pipe).
    width = None if sys.stdout.isatty() else 160
    console = Console(stderr=args.json, width=width)
    bootstrap, database_url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    local = None if bootstrap and database_url else services.ServicesSettings()
    # What this demo starts, it stops at the end: nothing it leaves holds the ports (docker-compose.yml's
    # included). Services that already ran are left as they were.
    started = [] if local is None else [
        s for s in (services.LocalKafka(local), services.LocalPostgres(local)) if not s.running()]
    try:
        if local is None:  # the services named: the KAFKA_* variables say how to connect
            kafka = KafkaConnection()
        else:
            with console.status("starting Kafka and PostgreSQL…"):
                endpoints = services.up(local, redis=False)
            kafka, database_url = plaintext(endpoints.bootstrap_servers), endpoints.database_url
        assert database_url
        return _demo(args, console, kafka, database_url)
    finally:
        if started and not args.keep_running:
            for service in started:
                service.stop()
            names = " and ".join("Kafka" if isinstance(s, services.LocalKafka) else "PostgreSQL" for s in started)
            console.print(f"stopped the local {names} this demo started (--keep-running leaves them running)")


def _demo(args: argparse.Namespace, console: Console, kafka: KafkaConnection, database_url: str) -> int:
    from enrichlog.migrate import migrate

    bootstrap = kafka.bootstrap_servers
    reach_services(kafka, database_url, args.connect_timeout, "run the demo")  # else one line, exit 1
    console.print(f"[bold]kafka[/] {kafka.describe()}   [bold]postgres[/] {database_url}")
    report = migrate(database_url)
    console.print(f"migrations: {', '.join(report.applied) or 'up to date'}")

    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url,
           "ENRICHLOG_EVENTS_TOPIC": DEMO_TOPIC, "ENRICHLOG_CONSUMER_GROUP": DEMO_GROUP,
           "ENRICHLOG_TOPIC_PARTITIONS": "3", "ENRICHLOG_METRICS_PORT": "0", "ENRICHLOG_LOG_LEVEL": "WARNING"}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / "enrichlog-demo-projector.log"
    from projector.service import ensure_topics
    from projector.settings import ProjectorSettings

    ensure_topics(ProjectorSettings(**dict(kafka), database_url=database_url,
                                    events_topic=DEMO_TOPIC, topic_partitions=3), args.connect_timeout)
    with log_path.open("ab") as log:
        projector = subprocess.Popen([sys.executable, "-m", "enrichlog.cli", "project"], env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
    try:
        this_run = _stream(console, kafka, args.chains)
        _wait_projected(console, database_url, kafka, projector, log_path)
        _show(console, database_url, this_run, as_json=args.json)
        if not (args.no_console or args.json):
            _serve_console(console, database_url, args.console_port, args.verbose)
    finally:
        if not args.keep_running:
            projector.terminate()
            projector.wait(60)
    return 0


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What one run streamed: its roots (job ids), when its workload starts, the root whose child fails."""

    roots: frozenset[str]
    start: datetime
    failed_root: str


def _stream(console: Console, kafka: KafkaConnection, chains: int) -> DemoRun:
    from producers import KafkaPublisher, ProducerSettings
    from producers.workload import generate_events, run_workload

    run_id = f"demo-{uuid.uuid4().hex[:6]}"
    seed = _pick_seed(chains, run_id)
    config = _config(chains, seed, run_id)
    events = list(generate_events(config))
    failed = next(e for e in events if e.kind == "job.failed")
    settings = ProducerSettings(**dict(kafka), topic=DEMO_TOPIC)
    with console.status(f"streaming {chains} simulated chains…"), KafkaPublisher(settings) as publisher:
        summary = run_workload(config, publisher)
        publisher.flush(30)
    console.print(f"streamed {summary.total_events} events of {summary.jobs} jobs "
                  f"({dict(summary.events)}) through the producer library")
    return DemoRun(frozenset(e.root_job_id for e in events), config.start, failed.root_job_id)


def _wait_projected(console: Console, database_url: str, kafka: KafkaConnection, projector: subprocess.Popen[bytes],
                    log_path: Path) -> None:
    import psycopg
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**kafka.kafka_python(), group_id=None, enable_auto_commit=False)
    tps = [TopicPartition(DEMO_TOPIC, p) for p in consumer.partitions_for_topic(DEMO_TOPIC) or ()]
    ends = {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    consumer.close()
    deadline = time.monotonic() + 120
    with console.status("projecting…"), psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            if projector.poll() is not None:
                raise RuntimeError(f"the projector exited with status {projector.returncode}; see {log_path}")
            rows = conn.execute("SELECT partition, next_offset FROM enrichment_log_positions "
                                "WHERE consumer = %s AND topic = %s", (DEMO_GROUP, DEMO_TOPIC)).fetchall()
            done: dict[int, int] = dict(rows)
            if all(done.get(p, 0) >= off for p, off in ends.items()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the projector did not catch up within 120s; see {log_path}")
            time.sleep(0.2)


def _show(console: Console, database_url: str, run: DemoRun, *, as_json: bool) -> None:
    """This run's roots (not an earlier run's: the rows of its root job ids) and the failed root's timeline."""
    from enrichlog.commands import roots as roots_cmd
    from enrichlog.commands import timeline as timeline_cmd
    from enrichlog.read import RootsPage, reading
    from enrichlog.read.roots import MAX_LIMIT, roots_page
    from enrichlog.read.timeline import timeline

    with reading(database_url) as conn:
        listed = roots_page(conn, limit=MAX_LIMIT, since=run.start)
        found = timeline(conn, run.failed_root)
    page = RootsPage([r for r in listed.rows if r.job_id in run.roots], None)
    if as_json:
        emit_json({"roots": page.to_json(), "timeline": found.to_json()})
        return
    since = run.start.isoformat(timespec="seconds")
    console.rule(f"this run's roots (newest first): enrichlog roots --since {since}")
    roots_cmd.show(page, console)
    console.rule(f"timeline of {run.failed_root}: enrichlog timeline {run.failed_root}")
    timeline_cmd.show(found, console)
    console.print(f"this run's roots: {', '.join(sorted(run.roots))}", soft_wrap=True)


def _serve_console(console: Console, database_url: str, port: int, verbose: bool) -> None:
    """`enrichlog web` on the demo's database until Ctrl-C (its first line is the URL)."""
    from enrichlog.commands import web

    console.rule("the console: open the URL below; Ctrl-C stops it (and the demo)")
    # Ctrl-C is the way to stop it (uvicorn returns, or re-raises the signal): the demo then cleans up.
    with contextlib.suppress(KeyboardInterrupt):
        web.run(argparse.Namespace(host=DEFAULT_HOST, port=port, database_url=database_url, verbose=verbose,
                                   pool_size=None))
    console.print("console stopped")
