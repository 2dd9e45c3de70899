"""`enrichlog timeline ID`: a root and its children as bars on one time axis.

Each job is a bar from its start to its end; earlier attempts that failed (retries) are drawn
hatched in yellow before the final attempt, so a slow call is a long bar and the failing child is
the red one. Waits between attempts are thin. Below the bars, a legend, and every attempt's error.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from enrichlog.cli import emit_json
from enrichlog.commands.migrate import database_url_arg, resolve_database_url
from enrichlog.commands.roots import STATUS_STYLES, format_ms
from enrichlog.read import JobLine, Timeline, TimelineJob, reading, timeline

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


def job_span(job: JobLine) -> Span:
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


LEGEND = ("█ an attempt, coloured by how it ended: green done, red failed, yellow partial",
          "▒ an earlier attempt that failed and was retried   ─ waiting between attempts",
          "cyan: still running")
GAPS = 12  # the padding around the table's five columns


def show(found: Timeline, console: Console) -> None:
    """The bars (as wide as the terminal leaves room for), a legend, then what went wrong: a PARTIAL
    root's failed children and every attempt's error of every job."""
    jobs = found.jobs
    spans = [job_span(j) for j in jobs]
    axis = (min(s for s, _ in spans), max(e for _, e in spans))
    slowest = max(range(len(jobs)), key=lambda i: jobs[i].duration_ms or 0)
    root = found.root
    names = max(len(_name(j, is_child=i > 0)) for i, j in enumerate(jobs))
    statuses = max(len(j.status) for j in jobs)
    durations = max(len("duration"), *(len(format_ms(j.duration_ms)) + len(" slowest") for j in jobs))
    width = max(12, min(BAR_WIDTH, console.width - GAPS - names - statuses - durations - len("retries")))
    title = f"timeline of {root.job_id or root.id} ({root.operation}, {root.status})"
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("job", no_wrap=True)
    table.add_column("status", no_wrap=True, min_width=statuses)
    seconds = (axis[1] - axis[0]).total_seconds()
    table.add_column(_axis_header(seconds, width), no_wrap=True, min_width=width)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("retries", justify="right", no_wrap=True, min_width=len("retries"))
    for i, job in enumerate(jobs):
        table.add_row(*_cells(job, axis, width, is_child=i > 0, slowest=i == slowest and len(jobs) > 1))
    console.print(table)
    for legend in LEGEND:
        console.print(legend, style="dim")
    console.print(f"starts at {axis[0].isoformat()}; {len(found.children)} children"
                  + ("; legacy row (written before job linking)" if root.legacy else ""))
    for problem in problems(found):
        console.print(problem, soft_wrap=True)


def problems(found: Timeline) -> list[Text]:
    """What went wrong, in words: which children made a PARTIAL root partial (operation and ref),
    then each job's attempt errors (enrichlog.web.bars.attempt_errors, as the console shows them)
    and its final error when no attempt carries it."""
    # Imported here: enrichlog.web.bars reads this module's job_span at its own import.
    from enrichlog.web.bars import attempt_errors

    out: list[Text] = []
    root = found.root
    if root.status == "PARTIAL":
        failed = [c for c in found.children if c.status == "FAILED"]
        named = ", ".join(f"{c.operation} (ref {c.job_id or c.id})" for c in failed) or "a child not in the table"
        out.append(Text(f"PARTIAL: failed child {named}", style="bold yellow"))
    for job in found.jobs:
        lines = attempt_errors(job)
        message = job.last_error or job.error_message
        if message and not any(message in line for line in lines):
            lines.append(" ".join(x for x in (job.last_error_code, message) if x))
        if not lines and job.reason:
            lines.append(f"({job.reason})")
        if lines:
            style = "bold red" if job.status == "FAILED" else "bold"
            out.append(Text(f"{job.operation} {job.job_id or job.id}:", style=style))
            out.extend(Text(f"  {line}", style="dim" if line.startswith("(") else "red") for line in lines)
    return out


def _axis_header(seconds: float, width: int) -> str:
    right = f"{seconds:.1f} s"
    return "0 s" + " " * max(1, width - 3 - len(right)) + right


def _name(job: TimelineJob, *, is_child: bool) -> str:
    return ("└ " if is_child else "") + job.operation


def _cells(job: TimelineJob, axis: Span, width: int, *, is_child: bool, slowest: bool) -> list[Text | str]:
    status = Text(job.status, style=STATUS_STYLES.get(job.status, ""))
    duration = Text(format_ms(job.duration_ms), style="bold magenta" if slowest else "")
    if slowest:
        duration.append(" slowest", style="magenta")
    retries = str(job.retry_count) if job.retry_count else ""
    return [Text(_name(job, is_child=is_child), style="bold red" if job.status == "FAILED" else ""), status,
            bar(job, axis, width), duration, Text(retries, style="yellow" if retries else "")]
