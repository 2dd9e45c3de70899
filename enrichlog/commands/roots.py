"""`enrichlog roots`: the admin table, newest roots first, with filters and a cursor for the next page."""

from __future__ import annotations

import argparse
import re
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from enrichlog.cli import emit_json
from enrichlog.commands.migrate import database_url_arg, resolve_database_url
from enrichlog.read import RootFilters, RootRow, RootsPage, reading, roots_page
from schemas.common import JobType

DEFAULT_LIMIT = "50"
OPERATION_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
JOB_TYPES = ", ".join(t.value for t in JobType)
# The full table (every column, the ref unfolded) needs about this many columns; below it each root
# is a block of lines: its fields, its ref alone on a line, its last error cut to the width.
WIDE = 132
# The options that choose a page's rows, as `enrichlog roots` spells them: the next-page command repeats them.
FILTER_OPTIONS = ("status", "operation", "since", "until", "entity", "stuck", "limit")

STATUS_STYLES = {
    "PARTIAL": "bold black on yellow", "FAILED": "bold red", "SUCCESS": "green", "COMPLETED": "green",
    "PARTIAL_SUCCESS": "yellow", "IN_PROGRESS": "cyan", "PENDING": "blue", "SKIPPED": "dim",
    "NO_DATA_AVAILABLE": "dim", "PREVIEW": "magenta",
}


def register(parser: argparse.ArgumentParser) -> None:
    database_url_arg(parser)
    parser.add_argument("--status", help="only this display status (e.g. PARTIAL, FAILED, IN_PROGRESS)")
    parser.add_argument("--operation", help="only this job type (e.g. CHECK_ALBUM_ENRICHMENT)")
    parser.add_argument("--since", help="created at or after this ISO datetime (no zone: UTC)")
    parser.add_argument("--until", help="created before this ISO datetime (no zone: UTC)")
    parser.add_argument("--entity", metavar="UUID", help="an entity, artist, album or track id")
    parser.add_argument("--stuck", metavar="MINUTES", help="only roots still running with no event for MINUTES")
    parser.add_argument("--limit", default=DEFAULT_LIMIT, help=f"rows per page (1-1000, default {DEFAULT_LIMIT})")
    parser.add_argument("--cursor", help="the next-page cursor printed by a previous call")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    query = RootsQuery.parse(status=args.status, operation=args.operation, since=args.since, until=args.until,
                             entity=args.entity, stuck=args.stuck, limit=args.limit, cursor=args.cursor)
    with reading(resolve_database_url(args)) as conn:
        page = query.page(conn)
    if args.json:
        emit_json(page.to_json())
    else:
        show(page, Console(), filters=filter_words(args), operation=query.filters.operation)
    return 0


def filter_words(args: argparse.Namespace) -> list[str]:
    """The filter options of this call as typed (`--status PARTIAL --limit 20`), for the next-page command."""
    words: list[str] = []
    for name in FILTER_OPTIONS:
        value = getattr(args, name)
        if value is not None and not (name == "limit" and value == DEFAULT_LIMIT):
            words += [f"--{name}", value]
    return words


@dataclass(frozen=True, slots=True)
class RootsQuery:
    """A roots page asked for in words (the options of `enrichlog roots`, the query parameters of
    `GET /api/roots`), parsed: one code path for the CLI and the console."""

    filters: RootFilters
    limit: int
    cursor: str | None

    @classmethod
    def parse(cls, *, status: str | None, operation: str | None, since: str | None, until: str | None,
              entity: str | None, stuck: str | None, limit: str | None, cursor: str | None,
              prefix: str = "--") -> RootsQuery:
        """ValueError naming the option (`prefix` + its name: "--since" for the CLI, "since" for the
        API) for a value that is not one."""
        return cls(
            RootFilters(status=status.strip().upper() if status else None,
                        operation=parse_operation(operation, f"{prefix}operation"),
                        since=parse_datetime(since, f"{prefix}since"), until=parse_datetime(until, f"{prefix}until"),
                        entity_id=parse_uuid(entity, f"{prefix}entity"),
                        stuck_after=parse_minutes(stuck, f"{prefix}stuck")),
            parse_int(DEFAULT_LIMIT if limit is None else limit, f"{prefix}limit"),
            cursor,
        )

    def page(self, conn: psycopg.Connection[Any]) -> RootsPage:
        f = self.filters
        return roots_page(conn, limit=self.limit, cursor=self.cursor, status=f.status, operation=f.operation,
                          since=f.since, until=f.until, entity_id=f.entity_id, stuck_after=f.stuck_after)


def parse_int(value: str, option: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not a whole number") from None
    if number < 1:
        raise ValueError(f"{option}: must be at least 1, got {number}")
    return number


def parse_operation(value: str | None, option: str) -> str | None:
    """A job type's name (letters, digits, `_ . : -`, at most 100: the column's width), as given."""
    if value is None:
        return None
    if not OPERATION_NAME.fullmatch(value):
        raise ValueError(f"{option}: {value[:40]!r} is not an operation name; the job types are {JOB_TYPES}")
    return value


def parse_datetime(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not an ISO datetime (e.g. 2026-02-06T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_uuid(value: str | None, option: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not a UUID") from None


def parse_minutes(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not a number of minutes") from None
    if not minutes > 0 or minutes == float("inf"):
        raise ValueError(f"{option}: must be a positive number of minutes, got {value}")
    return timedelta(minutes=minutes)


def show(page: RootsPage, console: Console, *, filters: Sequence[str] = (), operation: str | None = None) -> None:
    """The page as a table (a block per root below WIDE columns), then what to type next: `filters` are
    the options that made the page, repeated in the next-page command."""
    if console.width >= WIDE:
        console.print(_table(page))
    else:
        console.print("enrichment roots, newest first", style="bold italic", justify="center")
        _blocks(page, console)
    if not page.rows:
        unknown = operation is not None and operation not in {t.value for t in JobType}
        console.print("no roots match" + (f"; {operation!r} is none of the job types: {JOB_TYPES}" if unknown else ""))
    else:
        legacy = "; * legacy row (before job linking), ref = row id" if any(r.legacy for r in page.rows) else ""
        console.print(f"✗ failed children{legacy}; `enrichlog timeline REF` expands a row", style="dim")
    if page.next_cursor:
        command = shlex.join(["enrichlog", "roots", *filters, "--cursor", page.next_cursor])
        console.print(f"next page: {command}", soft_wrap=True)


def _table(page: RootsPage) -> Table:
    table = Table(title="enrichment roots, newest first", header_style="bold", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for name in ("created (UTC)", "status", "operation", "entity"):
        table.add_column(name, no_wrap=True)
    for name in ("duration", "retries", "children"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("last error", overflow="ellipsis", no_wrap=True, max_width=40)
    table.add_column("ref", no_wrap=True)
    for row in page.rows:
        table.add_row(*_cells(row), style="on grey15" if row.status == "PARTIAL" else None)
    return table


def _blocks(page: RootsPage, console: Console) -> None:
    """Each root as lines that fit a narrow terminal: its fields aligned, its ref whole on a line of its
    own (printed unwrapped even if longer than the width, so it pastes), its last error cut with an ellipsis."""
    fields = [[_text(c) for c in _cells(row)[:7]] for row in page.rows]
    widths = [max(len(t.plain) for t in column) for column in zip(*fields, strict=True)]
    for row, texts in zip(page.rows, fields, strict=True):
        line = Text(" ").join(_pad(t, width) for t, width in zip(texts, widths, strict=True))
        console.print(line, no_wrap=True, overflow="ellipsis")
        console.print(Text("  ref ", style="dim").append(_ref(row), style="bold"), soft_wrap=True)
        if row.last_error:
            console.print(Text("  ✗ ", style="red").append(row.last_error, style="red"),
                          no_wrap=True, overflow="ellipsis")


def _text(cell: Text | str) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _pad(text: Text, width: int) -> Text:
    padded = text.copy()
    padded.pad_right(width - len(text.plain))
    return padded


def _ref(row: RootRow) -> str:
    """What `enrichlog timeline` takes for this root: its job id, or the row id of a legacy row."""
    return str(row.id) if row.legacy or row.job_id is None else row.job_id


def _cells(row: RootRow) -> list[Text | str]:
    children = Text(str(row.children))
    if row.failed_children:
        children.append(f" ✗{row.failed_children}", style="bold red")
    return [
        row.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        Text(row.status, style=STATUS_STYLES.get(row.status, "")).append("*" if row.legacy else ""),
        row.operation,
        f"{row.entity_type} {str(row.entity_id)[:8]}",
        format_ms(row.duration_ms),
        str(row.retry_count) if row.retry_count else "",
        children,
        Text(row.last_error or "", style="red"),
        _ref(row),
    ]


def format_ms(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
