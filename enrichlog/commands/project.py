"""`enrichlog project`: run the projector (Faust) until SIGTERM; configuration from the environment."""

from __future__ import annotations

import argparse

from projector.settings import ProjectorSettings


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = ProjectorSettings()
    if args.check:
        print(f"configuration ok: topic {settings.events_topic} ({settings.topic_partitions} partitions), "
              f"dead letters {settings.dlq_topic}, group {settings.consumer_group}")
        return 0
    from projector.service import run as run_projector

    return run_projector(settings)
