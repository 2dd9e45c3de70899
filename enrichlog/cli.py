"""`enrichlog`: the one entry point. Each subcommand does one thing; errors are one line, exit 1.

Subcommands are listed in COMMANDS (module, register function, help); each module keeps its heavy
imports (Faust, Kafka clients) inside its handler, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from enrichlog import jsondoc

if TYPE_CHECKING:
    from schemas.kafka_connection import KafkaConnection

# name -> (module, function, help). The function takes the parsed args and returns an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "services": ("enrichlog.commands.services", "register", "start/stop the local Kafka and PostgreSQL (no Docker)"),
    "migrate": ("enrichlog.commands.migrate", "register", "apply the SQL migrations (idempotent, locked)"),
    "project": ("enrichlog.commands.project", "register", "run the projector: Kafka events -> enrichment_logs rows"),
    "rebuild": ("enrichlog.commands.rebuild", "register",
                "recompute the projection from the topic (--check: compare only)"),
    "demo": ("enrichlog.commands.demo", "register", "services up, migrate, project a demo stream, show it"),
    "produce": ("enrichlog.commands.produce", "register", "publish a simulated workload of job events to Kafka"),
    "roots": ("enrichlog.commands.roots", "register", "the admin table: roots newest first, filters, next-page cursor"),
    "timeline": ("enrichlog.commands.timeline", "register", "a root and its children as bars on one time axis"),
    "web": ("enrichlog.commands.web", "register", "the console: roots and timelines in a browser, and a JSON API"),
}


class CliError(Exception):
    """An error meant for the user: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enrichlog",
        description="Event-sourced enrichment job log: Kafka events -> one EnrichmentLog row per job.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, func, help_) in COMMANDS.items():
        register: Callable[[argparse.ArgumentParser], None] = getattr(importlib.import_module(module), func)
        register(sub.add_parser(name, help=help_, description=help_))
    return parser


def topic_name(text: str) -> str:
    """An argparse type: a topic name that Kafka accepts (schemas.topic_names), else the rule it breaks."""
    from schemas.topic_names import topic_name_problem

    problem = topic_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def emit_json(payload: object) -> None:
    """`payload` on stdout as the console's API answers it (enrichlog.jsondoc)."""
    sys.stdout.write(jsondoc.dumps(payload).decode())


def quiet_kafka_client(args: argparse.Namespace) -> None:
    """kafka-python logs every failed connection attempt as an ERROR: for a command whose outcome is
    one line, that line says what failed; -v shows the attempts."""
    if not args.verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def reach_services(kafka: KafkaConnection | str, database_url: str, timeout_s: float, what: str) -> None:
    """Kafka and PostgreSQL answer, each within `timeout_s`; else the one line saying which does not
    (projector.unreachable): nothing listening, no answer, a login refused, a broker that says nothing.
    `kafka`: a connection, or the bootstrap servers of a plaintext one."""
    import time

    from projector.kafka.login import check_login
    from projector.topics import admin_client
    from projector.unreachable import reach_kafka, reach_postgres
    from schemas.kafka_connection import as_connection

    connection = as_connection(kafka)
    started = time.monotonic()
    reach_kafka(connection.bootstrap_servers, timeout_s, what)
    check_login(connection, max(1.0, timeout_s - (time.monotonic() - started)))
    admin_client(connection, max(1.0, timeout_s - (time.monotonic() - started))).close()
    reach_postgres(database_url, timeout_s, what)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("enrichlog: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI turns every error into one readable line
        if args.verbose:
            raise
        print(f"enrichlog {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return code


def _one_line(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from schemas.events import describe

        return f"invalid configuration: {describe(exc)}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
