"""`enrichlog web`: the console (enrichlog.web) on 127.0.0.1, or on another address with a credential."""

from __future__ import annotations

import argparse
import sys

from enrichlog.commands.migrate import database_url_arg, resolve_database_url
from enrichlog.web.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_POOL_SIZE,
    WebSettings,
    bind_problem,
    pool_size,
)

STOP_GRACE = 2  # seconds a stopping server waits for its open requests

# Who the console reads as, and whether that role could change the log (any of these privileges).
ROLE_QUERY = "SELECT current_user, has_table_privilege('enrichment_logs', 'INSERT, UPDATE, DELETE, TRUNCATE')"


def register(parser: argparse.ArgumentParser) -> None:
    database_url_arg(parser)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; another needs ENRICHLOG_WEB_TOKEN)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--pool-size", type=pool_size, metavar="N",
                        help=f"most read connections kept open, 1 to {MAX_POOL_SIZE} "
                        "(default: ENRICHLOG_WEB_POOL_SIZE, else 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = WebSettings()
    if args.pool_size is not None:
        settings = settings.model_copy(update={"pool_size": args.pool_size})
    problem = bind_problem(args.host, settings)
    if problem is not None:
        print(f"enrichlog web: error: {problem}", file=sys.stderr)
        return 2
    database_url = resolve_database_url(args)
    import uvicorn

    from enrichlog.web.app import create_app

    print(f"enrichlog web: http://{_url_host(args.host)}:{args.port}/ reading {_role_line(database_url)}", flush=True)
    # Open live streams (GET /api/live) never end by themselves: on a stop, they are cut after a moment.
    uvicorn.run(create_app(database_url, settings), host=args.host, port=args.port,
                log_level="info" if args.verbose else "warning", timeout_graceful_shutdown=STOP_GRACE)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _role_line(database_url: str) -> str:
    """Which role the console reads as and whether it could write the log: it needs SELECT only
    (docs/operations-postgres.md, the reader role). A database not reachable now is said, not fatal:
    every request answers 503 until it is."""
    from projector import db

    try:
        with db.connection(database_url, "checking the console's role", autocommit=True) as conn:
            row = conn.execute(ROLE_QUERY).fetchone()
    except Exception as exc:  # the line says so; the server starts anyway
        return f"{db.redact(database_url)} (not answering now: {' '.join(str(exc).split())})"
    assert row is not None
    role, writes = row
    if writes:
        return (f"{db.redact(database_url)} as role {role}, which may also write enrichment_logs: "
                "the console needs SELECT only, use the reader role (docs/operations-postgres.md)")
    return f"{db.redact(database_url)} as role {role} (SELECT only)"
