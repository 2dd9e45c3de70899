"""`enrichlog timeline ID`: a root and its children as bars on one time axis.

Each job is a bar from its start to its end; earlier attempts that failed (retries) are drawn
hatched in yellow before the final attempt, so a slow call is a long bar and the failing child is
the red one. Waits between attempts are thin; retries and the last error are on the same row.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table
from rich.text import Text

from enrichlog.cli import emit_json
from enrichlog.commands.migrate import database_url_arg, resolve_database_url
from enrichlog.commands.roots import STATUS_STYLES, format_ms
from enrichlog.read import Timeline, TimelineJob, reading, timeline

BAR_WIDTH = 48
Span = tuple[datetime, datetime]


def register(parser: argparse.ArgumentParser) -> None:
    database_url_arg(parser)
    parser.add_argument("id", metavar="ID", help="a root's job id, or a row id (uuid; legacy rows)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.id.strip():
        raise ValueError("ID must not be empty: pass a root's job id or a row id")
    with reading(resolve_database_url(args)) as conn:
        found = timeline(conn, args.id)
    if args.json:
        emit_json(found.to_json())
    else:
        show(found, Console())
    return 0


def job_span(job: TimelineJob) -> Span:
    """When the job ran: first start to end (or last event while it still runs)."""
    start = job.started_at or job.created_at
    if job.finished_at is not None:
        end = job.finished_at
    elif job.last_event_at is not None:
        end = job.last_event_at
    elif job.duration_ms is not None:  # legacy rows: a start and a duration
        end = start + timedelta(milliseconds=job.duration_ms)
    else:
        end = start
    return start, max(start, end)


def _attempt_spans(job: TimelineJob) -> list[Span]:
    """The span of each attempt that has both ends, in attempt order."""
    out: list[Span] = []
    for a in job.attempts:
        started, ended = a.get("startedAt"), a.get("endedAt")
        if started and ended:
            out.append((datetime.fromisoformat(started), datetime.fromisoformat(ended)))
    return out


def bar(job: TimelineJob, axis: Span, width: int = BAR_WIDTH) -> Text:
    """The job's bar on the shared axis: earlier (failed) attempts hatched yellow, the waits between
    them thin, the final attempt (or the whole job, without attempt history) in its status colour."""
    t0, t1 = axis
    total = max((t1 - t0).total_seconds(), 1e-6)

    def paint(span: Span, char: str, style: str) -> None:
        first = min(width - 1, max(0, int((span[0] - t0).total_seconds() / total * (width - 1))))
        last = min(width - 1, max(first, int((span[1] - t0).total_seconds() / total * (width - 1))))
        for i in range(first, last + 1):
            cells[i] = Text(char, style=style)

    cells = [Text(" ")] * width
    style = STATUS_STYLES.get(job.job_status or job.status, "white")
    attempts = _attempt_spans(job)
    paint(job_span(job), "─" if attempts else "█", "dim" if attempts else style)
    for number, span in enumerate(attempts, start=1):
        final = number == len(attempts) and job.finished_at is not None
        paint(span, "█" if final else "▒", style if final else "yellow")
    return Text.assemble(*cells)


def show(found: Timeline, console: Console) -> None:
    jobs = found.jobs
    spans = [job_span(j) for j in jobs]
    axis = (min(s for s, _ in spans), max(e for _, e in spans))
    slowest = max(range(len(jobs)), key=lambda i: jobs[i].duration_ms or 0)
    root = found.root
    title = f"timeline of {root.job_id or root.id} ({root.operation}, {root.status})"
    table = Table(title=title, header_style="bold")
    table.add_column("job")
    table.add_column("status")
    seconds = (axis[1] - axis[0]).total_seconds()
    table.add_column(_axis_header(seconds), no_wrap=True)
    table.add_column("duration", justify="right")
    table.add_column("retries", justify="right")
    table.add_column("last error")
    for i, job in enumerate(jobs):
        table.add_row(*_cells(job, axis, is_child=i > 0, slowest=i == slowest and len(jobs) > 1))
    console.print(table)
    console.print(f"starts at {axis[0].isoformat()}; {len(found.children)} children"
                  + ("; legacy row (written before job linking)" if root.legacy else ""))


def _axis_header(seconds: float) -> str:
    right = f"{seconds:.1f} s"
    return "0 s" + " " * max(1, BAR_WIDTH - 3 - len(right)) + right


def _cells(job: TimelineJob, axis: Span, *, is_child: bool, slowest: bool) -> list[Text | str]:
    name = ("└ " if is_child else "") + job.operation
    status = Text(job.status, style=STATUS_STYLES.get(job.status, ""))
    duration = Text(format_ms(job.duration_ms), style="bold magenta" if slowest else "")
    if slowest:
        duration.append(" slowest", style="magenta")
    error = Text(" ".join(x for x in (job.last_error_code, job.last_error or job.error_message) if x), style="red")
    if not error and job.reason:
        error = Text(job.reason, style="dim")
    retries = str(job.retry_count) if job.retry_count else ""
    return [Text(name, style="bold red" if job.status == "FAILED" else ""), status, bar(job, axis), duration,
            Text(retries, style="yellow" if retries else ""), error]
