"""`enrichlog demo`: bring everything up on this machine and show the result."""

from __future__ import annotations

import argparse

from enrichlog import services
from enrichlog.migrate import migrate


def register(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    endpoints = services.up()
    print(f"kafka     {endpoints.bootstrap_servers}\npostgres  {endpoints.database_url}")
    report = migrate(endpoints.database_url)
    print(f"migrations applied: {report.applied or 'none (up to date)'}")
    return 0
