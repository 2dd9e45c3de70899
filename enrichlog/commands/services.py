"""`enrichlog services up|down|status|env`: the local Kafka broker and PostgreSQL cluster."""

from __future__ import annotations

import argparse
import time

from enrichlog import services


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--env", action="store_true", help="with up: print only `export` lines (for eval)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = services.ServicesSettings()
    if args.action == "down":
        services.down(settings)
        print("local services stopped")
        return 0
    if args.action == "status":
        kafka, pg = services.LocalKafka(settings), services.LocalPostgres(settings)
        print(f"kafka     {'running' if kafka.running() else 'stopped'}  {settings.bootstrap_servers}"
              f"  logs: {kafka.logs_dir / 'server.log'}")
        print(f"postgres  {'running' if pg.running() else 'stopped'}  {settings.database_url()}"
              f"  logs: {pg.log_file}")
        return 0 if kafka.running() and pg.running() else 3
    started = time.monotonic()
    endpoints = (services.up(settings) if args.action == "up"
                 else services.Endpoints(settings.bootstrap_servers, settings.database_url()))
    for key, value in endpoints.as_env().items():
        print(f"export {key}={value}")
    if args.action == "up" and not args.env:
        print(f"# ready in {time.monotonic() - started:.1f}s; state and logs under {settings.state_dir}")
    return 0
