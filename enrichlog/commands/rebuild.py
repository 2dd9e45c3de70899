"""`enrichlog rebuild [--check]`: recompute the projection from the topic; compare, or swap it in."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from enrichlog.cli import emit_json
from projector.settings import ProjectorSettings


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="only compare the table with the fold of the topic (exit 3 on mismatch)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from projector import rebuild

    settings = ProjectorSettings()
    console = Console(stderr=True)
    started = time.monotonic()
    with console.status("reading the topic…") as status:
        def progress(n: int) -> None:
            status.update(f"reading the topic… {n:,} messages")

        target = rebuild.check if args.check else rebuild.rebuild
        report = target(settings.database_url.get_secret_value(), settings.kafka_bootstrap_servers,
                        settings.events_topic, settings.consumer_group, progress)
    elapsed = time.monotonic() - started
    if args.json:
        emit_json({"ok": report.ok, "rows": report.rows_compared, "events": report.events_read,
                   "badMessages": report.dead_letters_read, "missing": report.missing[:100],
                   "extra": report.extra[:100], "different": dict(list(report.different.items())[:100]),
                   "seconds": round(elapsed, 2), "swapped": not args.check})
    else:
        verb = "checked" if args.check else "rebuilt and swapped in"
        print(f"{verb}: {report.summary()} ({elapsed:.1f}s)")
    return 0 if report.ok else 3
