"""`enrichlog project`: run the projector (Faust) until SIGTERM; configuration from the environment."""

from __future__ import annotations

import argparse

from enrichlog.cli import quiet_kafka_client
from projector.settings import ProjectorSettings


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="check the configuration, reach Kafka and PostgreSQL (topics, partitions, migrations) "
                             "and exit: 0 ready, 1 a service unreachable or not migrated, 3 a topic missing or "
                             "with fewer partitions than ENRICHLOG_TOPIC_PARTITIONS")
    parser.add_argument("--health", action="store_true",
                        help="ask the running projector's metrics endpoint (ENRICHLOG_METRICS_HOST/PORT) and exit: "
                             "0 it answers as a started projector, 1 it does not within 3 s (a container healthcheck)")
    parser.add_argument("--timeout", "--connect-timeout", dest="timeout", type=float, default=None, metavar="S",
                        help="how long to wait for each service: with --check (default 10), at the start "
                             "(default ENRICHLOG_CONNECT_TIMEOUT_S, 30)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = ProjectorSettings()
    if args.health:
        from projector.metrics import probe

        print(f"healthy: {probe(settings.metrics_host, settings.metrics_port)} answers")
        return 0
    if args.check:
        from projector.preflight import check_services

        quiet_kafka_client(args)
        timeout = 10.0 if args.timeout is None else args.timeout
        ready = check_services(settings, timeout)  # raises, naming what failed: exit 1
        if ready.problems:
            print(f"not as configured: {'; '.join(ready.problems)}")
            return 3
        print(f"ready: {ready.summary()}; group {settings.consumer_group}")
        return 0
    from projector.service import run as run_projector

    if args.timeout is not None:
        settings = settings.model_copy(update={"connect_timeout_s": args.timeout})
    return run_projector(settings)
