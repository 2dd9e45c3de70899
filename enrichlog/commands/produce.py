"""`enrichlog produce`: publish a simulated workload (the real chains of DOMAIN.md) to Kafka.

It creates the events topic when it is missing, with ENRICHLOG_TOPIC_PARTITIONS partitions (or
--partitions), through the admin API: the broker's auto-creation would give it the broker's
`num.partitions` (1 on the local broker) and cap the projector's scale-out. It always ends with its
summary (delivered, failed, dropped), also after an outage or a SIGINT/SIGTERM, and its exit
status says how it went: 0 every event delivered, 3 some events lost (failed or dropped: see the
summary and the logged job ids), 130 interrupted (SIGINT), 143 stopped (SIGTERM), 1 an error
before the workload started (configuration, broker unreachable). On stderr it says what it does
(enrichlog.progress): whom it connects to, the chains published, then the wait for the broker to
acknowledge the events still spooled, counted down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import NoReturn

from enrichlog.cli import quiet_kafka_client, topic_name
from enrichlog.progress import Meter, phase
from producers import KafkaPublisher, ProducerSettings, PublishStats
from producers.topics import create_topic
from producers.workload import WorkloadConfig, WorkloadSummary, run_workload
from schemas import JobEvent

EXIT_LOST = 3
_DRAIN_POLL_S = 0.1  # how often the wait for the acknowledgements looks at the spool


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive(kind: type[int] | type[float], *, allow_zero: bool = False) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if allow_zero else '> 0'}, got {text}")
        return value
    return parse


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """Bad arguments give one line (`enrichlog produce: error: ...`) and exit 2, without usage."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message} (see --help)\n")

    parser.error = error  # type: ignore[method-assign]


def register(parser: argparse.ArgumentParser) -> None:
    _one_line_errors(parser)
    parser.add_argument("--chains", type=_positive(int, allow_zero=True), default=100,
                        help="number of chains (roots with their children) to simulate")
    parser.add_argument("--retry-rate", type=_probability, default=0.1,
                        help="probability that an attempt fails and is retried (0..1)")
    parser.add_argument("--failure-rate", type=_probability, default=0.02,
                        help="probability that a job fails permanently (0..1)")
    parser.add_argument("--slow-rate", type=_probability, default=0.05,
                        help="probability that an attempt makes a slow API call (0..1)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--topic", type=topic_name, default=None, help="topic (default: ENRICHLOG_EVENTS_TOPIC)")
    parser.add_argument("--bootstrap-servers", default=None,
                        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--rate", type=_positive(float), default=None,
                        help="throttle to this many events/s (default: as fast as possible)")
    parser.add_argument("--connect-timeout", type=_positive(float), default=15.0,
                        help="seconds to wait for the broker before giving up")
    parser.add_argument("--partitions", type=_positive(int), default=None,
                        help="partitions of the topic if it must be created (default: ENRICHLOG_TOPIC_PARTITIONS, 6)")
    parser.add_argument("--drain-timeout", type=_positive(float, allow_zero=True), default=60.0,
                        help="seconds to wait at the end for the spooled events to be delivered")
    parser.set_defaults(handler=run)


class _Stopped(Exception):
    """A SIGINT or SIGTERM arrived: the workload stops at its next event."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _GaveUp(Exception):
    """The broker did not acknowledge every spooled event within --drain-timeout."""


class _StoppableSink:
    """The publisher, with a stop check before each event (a signal handler only sets a flag, so
    that the publisher's counters are never interrupted half-way)."""

    def __init__(self, publisher: KafkaPublisher, meter: Meter) -> None:
        self.publisher = publisher
        self.meter = meter
        self.root: str | None = None  # the chain being published: the workload publishes chain by chain
        self.signum: int | None = None

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    def publish(self, event: JobEvent) -> bool:
        if self.signum is not None:
            raise _Stopped(self.signum)
        if event.root_job_id != self.root:
            self.root = event.root_job_id
            self.meter.update(self.meter.done + 1)
        return self.publisher.publish(event)

    def flush(self, timeout: float | None = None) -> None:
        self.publisher.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self.publisher.close(timeout)


def _settings(args: argparse.Namespace) -> ProducerSettings:
    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.topic:
        overrides["topic"] = args.topic
    if args.partitions:
        overrides["topic_partitions"] = args.partitions
    return ProducerSettings(**overrides)  # type: ignore[arg-type]


def _ensure_topic(settings: ProducerSettings, timeout_s: float) -> None:
    """The topic, created when missing; the broker reached first, within `timeout_s` in all."""
    from kafka.errors import KafkaError

    from projector.kafka.login import check_login
    from projector.unreachable import ServiceUnreachable, kafka_failed, reach_kafka

    started, what = time.monotonic(), f"create or describe topic {settings.topic}"
    reach_kafka(settings.bootstrap_servers, timeout_s, what)
    check_login(settings.connection(), max(1.0, timeout_s - (time.monotonic() - started)))  # refused: one line
    left = max(1.0, timeout_s - (time.monotonic() - started))
    bounded = settings.model_copy(update={"request_timeout_ms": int(min(left * 1000, settings.request_timeout_ms))})
    try:
        topic, created = create_topic(bounded, settings.topic_partitions)
    except KafkaError as exc:
        raise ServiceUnreachable(kafka_failed(settings.bootstrap_servers, left, what, exc), service="Kafka",
                                 address=settings.bootstrap_servers) from exc
    if created:
        print(f"created topic {topic.name} with {topic.partitions} partitions", file=sys.stderr)
    elif topic.partitions < settings.topic_partitions:
        print(f"note: topic {topic.name} has {topic.partitions} partition(s), fewer than "
              f"ENRICHLOG_TOPIC_PARTITIONS={settings.topic_partitions}: at most {topic.partitions} "
              "projector process(es) can share its load", file=sys.stderr)


def _summary(settings: ProducerSettings, summary: WorkloadSummary | None, stats: PublishStats,
             elapsed: float, seed: int, stopped: int | None) -> None:
    if summary is not None:
        kinds = ", ".join(f"{kind.removeprefix('job.')}={n}" for kind, n in sorted(summary.events.items()))
        print(f"topic {settings.topic}: {summary.chains} chains, {summary.jobs} jobs, "
              f"{summary.total_events} events ({kinds}) in {elapsed:.1f}s, seed {seed}")
    else:
        print(f"topic {settings.topic}: stopped by {signal.Signals(stopped or signal.SIGTERM).name} after "
              f"{stats.accepted + stats.dropped + stats.refused} events in {elapsed:.1f}s, seed {seed}")
    print(f"delivered {stats.sent}, failed {stats.failed}, dropped {stats.dropped}"
          + (f", refused as too large {stats.refused}" if stats.refused else "")
          + (f" (sent again after a failed delivery: {stats.resent}, producers replaced: {stats.replaced})"
             if stats.resent or stats.replaced else ""))
    if stats.lost:
        print(f"enrichlog produce: {stats.lost} event(s) not delivered (their job ids are logged): "
              f"{stats.last_error}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    quiet_kafka_client(args)
    settings = _settings(args)
    connect_deadline = time.monotonic() + args.connect_timeout  # the broker's answers, all within it
    with phase(f"connecting to {settings.bootstrap_servers}…"):
        _ensure_topic(settings, args.connect_timeout)
        publisher = KafkaPublisher(settings).start()
        connected = publisher.wait_connected(max(1.0, connect_deadline - time.monotonic()))
    if not connected:
        from projector.unreachable import ServiceUnreachable, kafka_no_reply

        publisher.close(timeout=0)
        raise ServiceUnreachable(kafka_no_reply(settings.bootstrap_servers, args.connect_timeout,
                                                f"fetch the partitions of topic {settings.topic}"),
                                 service="Kafka", address=settings.bootstrap_servers)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    config = WorkloadConfig(
        chains=args.chains, retry_rate=args.retry_rate, failure_rate=args.failure_rate,
        slow_rate=args.slow_rate, seed=seed, start=datetime.now(UTC),
        run_id=f"{uuid.uuid4().hex[:8]}",
    )
    started = time.monotonic()
    meter = Meter(f"publishing to {settings.topic}", args.chains, unit="chains")
    sink = _StoppableSink(publisher, meter)
    previous = {signum: signal.signal(signum, sink.stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    summary: WorkloadSummary | None = None
    try:
        with contextlib.suppress(_Stopped), meter:  # the summary says how far it got
            summary = run_workload(config, sink, rate=args.rate)
    finally:
        left = _drain(publisher, args.drain_timeout)
        publisher.close(timeout=left)  # bounded; what is left is counted and logged
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    _summary(settings, summary, publisher.stats, time.monotonic() - started, seed, sink.signum)
    if sink.signum is not None:
        return 128 + sink.signum
    return EXIT_LOST if publisher.stats.lost else 0


def _drain(publisher: KafkaPublisher, timeout_s: float) -> float:
    """Wait at most `timeout_s` for the broker to acknowledge the events still spooled, counting
    them down (a delivery that fails for good counts too: it is settled, and the summary says so);
    the seconds of `timeout_s` left for close()."""
    deadline = time.monotonic() + timeout_s
    waiting = publisher.stats.pending
    if not waiting:
        return timeout_s
    meter = Meter(f"waiting for the broker to acknowledge {waiting:,} events", waiting, unit="events",
                  countdown=True, interval=1.0)
    with contextlib.suppress(_GaveUp), meter:  # given up: no "done" line, the line below instead
        while (pending := publisher.stats.pending) and time.monotonic() < deadline:
            meter.update(max(0, waiting - pending))
            time.sleep(_DRAIN_POLL_S)
        meter.update(max(0, waiting - publisher.stats.pending))
        if publisher.stats.pending:
            raise _GaveUp
    if publisher.stats.pending:
        print(f"{meter.what}: {publisher.stats.pending:,} still unacknowledged after {timeout_s:g} s "
              "(--drain-timeout): given up, counted as failed", file=sys.stderr, flush=True)
    return max(0.0, deadline - time.monotonic())
