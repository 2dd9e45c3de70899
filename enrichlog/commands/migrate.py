"""`enrichlog migrate`: apply the SQL migrations to DATABASE_URL (or --database-url), then grant the
projector's and the reader's roles named by configuration (enrichlog.grants), or print that SQL."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING

from enrichlog.migrate import connect, migrate

if TYPE_CHECKING:
    from enrichlog import grants


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
    parser.add_argument("--projector-role", metavar="NAME",
                        help="the projector's role, granted after migrating (default: ENRICHLOG_DB_PROJECTOR_ROLE)")
    parser.add_argument("--reader-role", metavar="NAME",
                        help="the reader's role, granted after migrating (default: ENRICHLOG_DB_READER_ROLE)")
    parser.add_argument("--create-roles", action="store_true",
                        help="create the roles that do not exist (LOGIN; password from "
                        "ENRICHLOG_DB_PROJECTOR_PASSWORD / ENRICHLOG_DB_READER_PASSWORD if set); needs CREATEROLE")
    parser.add_argument("--print-grants", action="store_true",
                        help="print the SQL that creates (with --create-roles) and grants the roles, for a DBA; "
                        "connects to nothing and migrates nothing")
    parser.add_argument("--wait", type=seconds, default=0.0, metavar="S",
                        help="ask a database that refuses connections or is still starting again for up to "
                             "S seconds (a container started beside it); a wrong password fails at once "
                             "(default 0: one try)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from enrichlog import grants

    roles = grants.configured_roles(grants.RoleSettings(), args.projector_role, args.reader_role)
    if args.print_grants:
        return _print_grants(args, roles)
    if args.create_roles and not roles:
        raise ValueError("--create-roles: no roles to create: set ENRICHLOG_DB_PROJECTOR_ROLE / "
                         "ENRICHLOG_DB_READER_ROLE or pass --projector-role / --reader-role")
    url = resolve_database_url(args)
    if roles:  # before migrating: a mistyped role name changes nothing
        with connect(url, args.wait) as conn:
            grants.check_roles(conn, roles, create=args.create_roles)
    report = migrate(url, wait_s=args.wait)
    for mid in report.baselined:
        print(f"baselined {mid} (existing legacy table adopted)")
    for mid in report.applied:
        print(f"applied   {mid}")
    if not report.applied and not report.baselined:
        print(f"up to date ({len(report.already_applied)} migrations applied)")
    if roles:
        with connect(url) as conn:
            for granted in grants.apply(conn, roles, create=args.create_roles):
                print(granted.summary())
    return 0


def _print_grants(args: argparse.Namespace, roles: list[grants.Role]) -> int:
    from psycopg.conninfo import conninfo_to_dict

    from enrichlog import grants

    if not roles:
        raise ValueError("--print-grants: no roles to grant: set ENRICHLOG_DB_PROJECTOR_ROLE / "
                         "ENRICHLOG_DB_READER_ROLE or pass --projector-role / --reader-role")
    try:
        url = resolve_database_url(args)
    except ValueError as exc:
        raise ValueError(f"{exc} (only its database name is used: the grants name it; nothing connects)") from None
    params = conninfo_to_dict(url)
    database = params.get("dbname") or params.get("user")  # libpq's default database is the user's name
    if not database:
        raise ValueError("--print-grants: the database URL names no database")
    print(grants.script(roles, str(database), create=args.create_roles), end="")
    return 0
