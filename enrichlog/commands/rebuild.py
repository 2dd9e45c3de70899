"""`enrichlog rebuild [--check]`: recompute one topic's rows from the topic; compare, or swap them in.

Exit status: 0 the rows were rebuilt (or, with --check, equal the fold); 3 with --check, a
difference (its line names example ids); 1 an error (unknown topic, a consumer without positions,
a service unreachable, rows of the topic its replay does not make without --drop-extra), nothing changed.
"""

from __future__ import annotations

import argparse
import sys
import time

from enrichlog.cli import emit_json, quiet_kafka_client, reach_services, topic_name
from enrichlog.progress import Meter
from projector.settings import ProjectorSettings


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="only compare the topic's rows with the fold of the topic (exit 3 on a difference)")
    parser.add_argument("--topic", type=topic_name, help="the topic to replay (default: ENRICHLOG_EVENTS_TOPIC)")
    parser.add_argument("--consumer", help="the consumer group that folds it (default: ENRICHLOG_CONSUMER_GROUP)")
    parser.add_argument("--drop-extra", action="store_true",
                        help="remove the topic's rows that its replay does not make (folded from a topic of the "
                        "same name since deleted, say: their events exist nowhere any more); without it the "
                        "rebuild refuses when there are any")
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                        help="how long to wait for Kafka and for PostgreSQL to answer (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from projector import rebuild

    quiet_kafka_client(args)
    settings = ProjectorSettings()
    topic = args.topic or settings.events_topic
    consumer = args.consumer or settings.consumer_group
    started = time.monotonic()
    # unreachable, or a refused login: one line, exit 1
    reach_services(settings.connection(), settings.database_url.get_secret_value(), args.connect_timeout,
                   f"replay topic {topic}")

    def announce(plan: str) -> None:  # before the swap; with --json, stdout is the report's alone
        print(plan, file=sys.stderr if args.json else sys.stdout, flush=True)

    database_url, kafka = settings.database_url.get_secret_value(), settings.connection()
    # The total is known once the replay knows where it stops (the consumer's positions): it says so.
    # A line a second, from the first second on: a quick replay says only its end, or only its error.
    with Meter(f"reading topic {topic}", None, unit="messages", quiet=args.json, interval=1.0,
               first_after=1.0) as meter:
        if args.check:
            report = rebuild.check(database_url, kafka, topic, consumer, meter.update)
        else:
            report = rebuild.rebuild(database_url, kafka, topic, consumer, meter.update, announce,
                                     drop_extra=args.drop_extra)
    elapsed = time.monotonic() - started
    if args.json:
        emit_json({"ok": report.ok, "topic": topic, "consumer": consumer, "positions": report.until,
                   "rows": report.rows_compared, "events": report.events_read,
                   "badMessages": report.dead_letters_read, "missing": report.missing[:100],
                   "extra": report.extra[:100], "different": dict(list(report.different.items())[:100]),
                   "otherTopic": dict(list(report.foreign.items())[:100]), "keptByTopic": dict(report.kept),
                   "keptUnrecorded": report.unrecorded, "seconds": round(elapsed, 2), "swapped": not args.check})
    elif args.check:
        print(f"checked: {report.summary()} ({elapsed:.1f}s)")
    else:
        print(f"rebuilt and swapped in: the {report.rows_compared - len(report.extra)} rows of topic {topic} "
              f"from {report.events_read} events ({elapsed:.1f}s)")
    return 0 if report.ok or not args.check else 3

