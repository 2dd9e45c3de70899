"""`enrichlog migrate`: apply the SQL migrations to DATABASE_URL (or --database-url)."""

from __future__ import annotations

import argparse
import math
import os

from enrichlog.migrate import migrate


def database_url_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: the DATABASE_URL environment variable)",
    )


def resolve_database_url(args: argparse.Namespace) -> str:
    """The URL to connect to, with the password of DATABASE_PASSWORD_FILE merged in when it is set."""
    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise ValueError("no database: set DATABASE_URL or pass --database-url "
                         "(`eval \"$(enrichlog services up --env)\"` starts a local one)")
    from projector.settings import database_url_problem

    variable = "--database-url" if args.database_url else "DATABASE_URL"
    problem = database_url_problem(url, variable)
    if problem is not None:
        raise ValueError(problem)
    password_file = os.environ.get("DATABASE_PASSWORD_FILE")
    if password_file:
        from pathlib import Path

        from projector.settings import with_password_file

        return with_password_file(url, Path(password_file), variable)
    return str(url)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, 0 or more, got {text!r}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    database_url_arg(parser)
    parser.add_argument("--wait", type=seconds, default=0.0, metavar="S",
                        help="ask a database that refuses connections or is still starting again for up to "
                             "S seconds (a container started beside it); a wrong password fails at once "
                             "(default 0: one try)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    report = migrate(resolve_database_url(args), wait_s=args.wait)
    for mid in report.baselined:
        print(f"baselined {mid} (existing legacy table adopted)")
    for mid in report.applied:
        print(f"applied   {mid}")
    if not report.applied and not report.baselined:
        print(f"up to date ({len(report.already_applied)} migrations applied)")
    return 0
