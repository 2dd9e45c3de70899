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
from enrichlog.read import (
    EntityPrefix,
    InvalidFilter,
    RootFilters,
    RootRow,
    RootsPage,
    StatusCounts,
    reading,
    roots_page,
    status_counts,
)
from enrichlog.read.roots import ENTITY_TYPES, ERROR_KINDS, JOB_TYPES

DEFAULT_LIMIT = "50"
OPERATION_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# The full table (every column, the ref unfolded) needs about this many columns; below it each root
# is a block of lines: its fields, its ref alone on a line, its last error cut to the width.
WIDE = 132
# The options that choose a page's rows, as `enrichlog roots` spells them: the next-page command repeats them.
FILTER_OPTIONS = ("status", "operation", "since", "until", "entity", "stuck", "failing_operation", "error_kind",
                  "limit")

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
    parser.add_argument("--entity", metavar="ID",
                        help="an entity, artist, album or track id, or its short id as shown (e.g. ce400e5a); "
                        "after an entity type as shown (ALBUM ce400e5a), only roots of that type")
    parser.add_argument("--stuck", metavar="MINUTES", help="only roots still running with no event for MINUTES")
    parser.add_argument("--failing-operation", metavar="OPERATION",
                        help="only roots with a child of this job type that failed (e.g. CACHE_ALBUM_COVER_ART)")
    parser.add_argument("--error-kind", metavar="KIND", help="only roots with a child whose last error is of this kind")
    parser.add_argument("--counts", action="store_true",
                        help="the roots per status for these filters (the newest ones, see docs) instead of a page")
    parser.add_argument("--limit", default=DEFAULT_LIMIT, help=f"rows per page (1-1000, default {DEFAULT_LIMIT})")
    parser.add_argument("--cursor", help="the next-page cursor printed by a previous call")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    query = RootsQuery.parse(status=args.status, operation=args.operation, since=args.since, until=args.until,
                             entity=args.entity, stuck=args.stuck, limit=args.limit, cursor=args.cursor,
                             failing=args.failing_operation, error_kind=args.error_kind)
    with reading(resolve_database_url(args)) as conn:
        if args.counts:
            counts = query.counts(conn)
        else:
            page = query.page(conn)
    if args.counts:
        emit_json(counts.to_json()) if args.json else Console().print(format_counts(counts))
    elif args.json:
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
            words += [f"--{name.replace('_', '-')}", value]
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
              failing: str | None = None, error_kind: str | None = None, prefix: str = "--") -> RootsQuery:
        """ValueError naming the option (`prefix` + its name: "--since" for the CLI, "since" for the
        API; the CLI spells two of them differently, CLI_NAMES) for a value that is not one."""
        def option(name: str) -> str:
            return prefix + (CLI_NAMES.get(name, name) if prefix == "--" else name)

        entity_id, entity_prefix, entity_type = parse_entity(entity, option("entity"))
        return cls(
            RootFilters(status=status.strip().upper() if status else None,
                        operation=parse_operation(operation, option("operation")),
                        since=parse_datetime(since, option("since")), until=parse_datetime(until, option("until")),
                        entity_id=entity_id, entity_prefix=entity_prefix, entity_type=entity_type,
                        stuck_after=parse_minutes(stuck, option("stuck")),
                        failing=parse_choice(failing, option("failing"), JOB_TYPES, "operation"),
                        error_kind=parse_choice(error_kind, option("error_kind"), ERROR_KINDS, "error kind")),
            parse_int(DEFAULT_LIMIT if limit is None else limit, option("limit")),
            cursor,
        )

    def page(self, conn: psycopg.Connection[Any]) -> RootsPage:
        f = self.filters
        return roots_page(conn, limit=self.limit, cursor=self.cursor, status=f.status, operation=f.operation,
                          since=f.since, until=f.until, entity_id=f.entity_id, stuck_after=f.stuck_after,
                          entity_prefix=f.entity_prefix, failing=f.failing, error_kind=f.error_kind,
                          entity_type=f.entity_type)

    def counts(self, conn: psycopg.Connection[Any]) -> StatusCounts:
        """The roots per status for these filters but the status (and the cursor, the limit)."""
        return status_counts(conn, self.filters)


# The CLI's names of the options the API calls otherwise.
CLI_NAMES = {"failing": "failing-operation", "error_kind": "error-kind"}


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
        raise ValueError(f"{option}: {value[:40]!r} is not an operation name; the job types are {', '.join(JOB_TYPES)}")
    return value


def parse_datetime(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not an ISO datetime (e.g. 2026-02-06T12:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_entity(value: str | None, option: str) -> tuple[uuid.UUID | None, EntityPrefix | None, str | None]:
    """A full id, or a short id as the table shows it (the first hex digits of the id), after its
    entity type or not: (id, short id, type). The id is matched in every id column; the type, when
    given, keeps only rows of that entity type (ALBUM and a short id: the albums whose id starts so)."""
    if value is None:
        return None, None, None
    words = value.split()
    kind = None
    if len(words) == 2 and words[0].upper() in ENTITY_TYPES:
        kind, words = words[0].upper(), words[1:]
    text = words[0] if len(words) == 1 else value
    try:
        return uuid.UUID(text), None, kind
    except ValueError:
        pass
    try:
        return None, EntityPrefix.parse(text), kind
    except InvalidFilter:
        raise ValueError(f"{option}: {value[:40]!r} is not a UUID or a short id (4 to 32 hex digits,"
                         f" e.g. ce400e5a), after an entity type or not ({', '.join(ENTITY_TYPES)})") from None


def parse_choice(value: str | None, option: str, choices: tuple[str, ...], what: str) -> str | None:
    """One of `choices`, in any case; the error lists them."""
    if value is None:
        return None
    if value.strip().upper() not in choices:
        raise ValueError(f"{option}: {value[:40]!r} is not an {what}; one of {', '.join(choices)}")
    return value.strip().upper()


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
        unknown = operation is not None and operation not in JOB_TYPES
        known = f"; {operation!r} is none of the job types: {', '.join(JOB_TYPES)}" if unknown else ""
        console.print("no roots match" + known)
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


def format_counts(counts: StatusCounts) -> str:
    """`PARTIAL 3 · FAILED 1 · SUCCESS 12`, and over how many roots if the cap was reached."""
    said = " · ".join(f"{status} {n}" for status, n in counts.counts.items()) or "no roots match"
    return said + (f" (among the newest {counts.cap} roots)" if counts.capped else "")


def format_ms(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
