"""`enrichlog produce`: publish a simulated workload (the real chains of DOMAIN.md) to Kafka."""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

from producers import KafkaPublisher, ProducerSettings
from producers.workload import WorkloadConfig, run_workload


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
    parser.add_argument("--topic", default=None, help="topic (default: ENRICHLOG_EVENTS_TOPIC)")
    parser.add_argument("--bootstrap-servers", default=None,
                        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--rate", type=_positive(float), default=None,
                        help="throttle to this many events/s (default: as fast as possible)")
    parser.add_argument("--connect-timeout", type=_positive(float), default=15.0,
                        help="seconds to wait for the broker before giving up")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.topic:
        overrides["topic"] = args.topic
    settings = ProducerSettings(**overrides)  # type: ignore[arg-type]
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    config = WorkloadConfig(
        chains=args.chains, retry_rate=args.retry_rate, failure_rate=args.failure_rate,
        slow_rate=args.slow_rate, seed=seed, start=datetime.now(UTC),
        run_id=f"{uuid.uuid4().hex[:8]}",
    )
    started = time.monotonic()
    with KafkaPublisher(settings) as publisher:
        if not publisher.wait_connected(args.connect_timeout):
            raise ConnectionError(f"Kafka at {settings.bootstrap_servers} did not answer within "
                                  f"{args.connect_timeout:g}s: {publisher.stats.last_error or 'no reply'}")
        summary = run_workload(config, publisher, rate=args.rate)
    stats = publisher.stats
    elapsed = time.monotonic() - started
    kinds = ", ".join(f"{kind.removeprefix('job.')}={n}" for kind, n in sorted(summary.events.items()))
    print(f"topic {settings.topic}: {summary.chains} chains, {summary.jobs} jobs, "
          f"{summary.total_events} events ({kinds}) in {elapsed:.1f}s, seed {seed}")
    print(f"delivered {stats.sent}, failed {stats.failed}, dropped {stats.dropped}")
    if stats.lost:
        raise RuntimeError(f"{stats.lost} event(s) not delivered: {stats.last_error}")
    return 0
