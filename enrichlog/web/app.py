"""The console's ASGI app: a read-only JSON API and the HTML pages made from the same reads.

`GET /api/roots` and `GET /api/timeline/{id}` answer exactly the documents `enrichlog roots --json`
and `enrichlog timeline ID --json` print: both parse their parameters with the CLI's RootsQuery
and read with enrichlog.read. `/` and `/roots/{id}` render those same reads as HTML. Requests read
on a few connections the app keeps open (enrichlog.read.pool, opened and closed with the app).
Errors are one line: a bad parameter 400 (naming it), an unknown id 404, the database unreachable
or not migrated 503. `GET /api/live` is the one stream: server-sent events when rows change
(enrichlog.web.live), which the pages' script (static/live.js) follows to refresh them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader

from enrichlog import jsondoc
from enrichlog.commands.roots import RootsQuery, format_ms
from enrichlog.read import (
    AmbiguousRef,
    DatabaseUnavailable,
    InvalidCursor,
    InvalidFilter,
    NotARoot,
    NotMigrated,
    ReadError,
    RootNotFound,
    Timeline,
    outline,
    timeline,
)
from enrichlog.read import sql as q
from enrichlog.read.pool import ReadPool
from enrichlog.read.roots import ERROR_KINDS, JOB_TYPES
from enrichlog.web import access, bars, groups, live, rows
from enrichlog.web.params import BadParameter, checked
from enrichlog.web.settings import WebSettings
from projector.errors import StoreError

ENTITY_HELP = "an entity, artist, album or track id, or its short id as the table shows it (e.g. ce400e5a)"
FAILING_HELP = "a job type: only roots with a child of that type that failed"
ERROR_KIND_HELP = "an error kind: only roots with a child whose last error is of that kind"

ROOT_FILTERS = ("status", "operation", "since", "until", "entity", "stuck", "failing", "error_kind", "limit")

# What each refusal answers; the first class that matches wins.
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (RootNotFound, 404), (NotARoot, 404), (AmbiguousRef, 409),
    (BadParameter, 400), (InvalidFilter, 400), (InvalidCursor, 400),
    (DatabaseUnavailable, 503), (NotMigrated, 503),
)

Next = Callable[[Request], Awaitable[Response]]


def status_of(exc: Exception) -> int:
    """The HTTP status a read's error answers with; 500 for a refusal of the database not listed."""
    return next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 500)


def document(payload: object, status_code: int = 200) -> Response:
    """JSON as `enrichlog ... --json` prints it (enrichlog.cli.emit_json), so that both are the same document."""
    return Response(jsondoc.dumps(payload), status_code, media_type="application/json")


def roots_query(params: dict[str, str | None], cursor: str | None) -> RootsQuery:
    """The roots page asked for by query parameters; BadParameter names the one that is not one."""
    given = {name: checked(name, value) for name, value in params.items()}
    try:
        return RootsQuery.parse(**given, cursor=checked("cursor", cursor), prefix="")
    except ValueError as exc:
        name = str(exc).split(":", 1)[0]
        raise BadParameter(name, str(exc).split(": ", 1)[-1]) from exc


def root_ref(ref: str) -> str:
    """The path's root id, checked; BadParameter("id") for an empty one."""
    wanted = checked("id", ref)
    if wanted is None:
        raise BadParameter("id", "must not be empty")
    return wanted


def create_app(database_url: str, settings: WebSettings) -> FastAPI:
    """The console over the database at `database_url` (the reader role: it only reads)."""
    feed = live.Feed(database_url)
    reads = ReadPool(database_url, name=f"enrichlog web reads (pid {os.getpid()})", min_size=1,
                     max_size=settings.pool_size)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        reads.open()
        listening = asyncio.create_task(feed.run(), name="live feed")
        try:
            yield
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            await asyncio.to_thread(reads.close)

    app = FastAPI(title="enrichlog console", version="1",
                  description="The enrichment log's roots and timelines, read-only.",
                  docs_url=None, redoc_url=None,  # their pages load scripts from a CDN: not served
                  lifespan=lifespan)
    pages = Environment(loader=PackageLoader("enrichlog.web", "templates"), autoescape=True)
    pages.filters["ms"] = format_ms
    app.mount("/static", StaticFiles(packages=[("enrichlog.web", "static")]), name="static")

    token = settings.credential
    if token is not None:
        @app.middleware("http")
        async def require_credential(request: Request, call_next: Next) -> Response:
            if access.allowed(request.headers.get("authorization"), token):
                return await call_next(request)
            return refusal(request, 401, "a credential is required (Authorization: Bearer, or Basic)",
                           access.CHALLENGE)

    def refusal(request: Request, code: int, message: str, headers: dict[str, str] | None = None,
                **extra: Any) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return JSONResponse({"error": message, "status": code, **extra}, code, headers)
        html = pages.get_template("error.html").render(code=code, message=message, **extra)
        return HTMLResponse(html, code, headers)

    @app.exception_handler(ReadError)
    @app.exception_handler(BadParameter)
    @app.exception_handler(StoreError)
    async def refused(request: Request, exc: Exception) -> Response:
        extra: dict[str, Any] = {"root": exc.root_ref} if isinstance(exc, NotARoot) else {}
        return refusal(request, status_of(exc), " ".join(str(exc).split()), **extra)

    def read_timeline(ref: str) -> Timeline:
        with reads.reading() as conn:
            return timeline(conn, root_ref(ref))

    @app.get("/api/roots", summary="roots newest first: the document of `enrichlog roots --json`")
    def api_roots(status: str | None = None, operation: str | None = None,
                  since: str | None = Query(None, description="ISO datetime, created at or after (no zone: UTC)"),
                  until: str | None = Query(None, description="ISO datetime, created before (no zone: UTC)"),
                  entity: str | None = Query(None, description=ENTITY_HELP),
                  stuck: str | None = Query(None, description="minutes: running with no event for that long"),
                  failing: str | None = Query(None, description=FAILING_HELP),
                  error_kind: str | None = Query(None, description=ERROR_KIND_HELP),
                  limit: str | None = Query(None, description="rows per page, 1-1000, default 50"),
                  cursor: str | None = Query(None, description="the nextCursor of a previous page")) -> Response:
        query = roots_query({"status": status, "operation": operation, "since": since, "until": until,
                             "entity": entity, "stuck": stuck, "failing": failing, "error_kind": error_kind,
                             "limit": limit}, cursor)
        with reads.reading() as conn:
            return document(query.page(conn).to_json())

    @app.get("/api/roots/counts", summary="roots per status: the document of `enrichlog roots --counts --json`")
    def api_root_counts(status: str | None = None, operation: str | None = None,
                        since: str | None = None, until: str | None = None,
                        entity: str | None = Query(None, description=ENTITY_HELP), stuck: str | None = None,
                        failing: str | None = Query(None, description=FAILING_HELP),
                        error_kind: str | None = Query(None, description=ERROR_KIND_HELP)) -> Response:
        query = roots_query({"status": status, "operation": operation, "since": since, "until": until,
                             "entity": entity, "stuck": stuck, "failing": failing, "error_kind": error_kind,
                             "limit": None}, None)
        with reads.reading() as conn:
            return document(query.counts(conn).to_json())

    @app.get("/api/timeline/{ref:path}", summary="a root and its children: the document of `enrichlog timeline --json`")
    def api_timeline(ref: str) -> Response:
        return document(read_timeline(ref).to_json())

    @app.get("/api/live", response_class=StreamingResponse,
             summary="server-sent events when rows change: `rows` (the roots a committed batch touched), "
                     "`ready`, `interrupted`, `resync`; heartbeat comments",
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "an endless event stream (docs/queries.md, Live updates)"}})
    async def api_live(root: str | None = Query(None, description="a root's job id: only the events that "
                                                "may concern its timeline")) -> StreamingResponse:
        wanted = checked("root", root)
        if root is not None and wanted is None:
            raise BadParameter("root", "must not be empty (leave it out for every root)")
        return StreamingResponse(live.stream(feed, wanted, settings.live_heartbeat), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def roots_html(request: Request) -> HTMLResponse:
        params = {name: request.query_params.get(name) for name in ROOT_FILTERS}
        query = roots_query(params, request.query_params.get("cursor"))
        with reads.reading() as conn:
            page, counts = query.page(conn), query.counts(conn)
        kept = {name: value for name, value in params.items() if value}
        following = urlencode({**kept, "cursor": page.next_cursor}) if page.next_cursor else None
        but_status = {name: value for name, value in kept.items() if name != "status"}
        status_links = {s: urlencode({**but_status, "status": s}) for s in counts.counts}
        return HTMLResponse(pages.get_template("roots.html").render(
            page=page, filters=kept, next_query=following, statuses=q.STATUSES, counts=counts,
            status_links=status_links, any_status=urlencode(but_status), error_kinds=ERROR_KINDS,
            operations=JOB_TYPES, first_page=urlencode(kept) if query.cursor else None))

    @app.get("/roots/{ref:path}", response_class=HTMLResponse, include_in_schema=False)
    def timeline_html(ref: str, job: str | None = Query(None, description="a job id or row id: its detail open"),
                      expand: str | None = Query(None, description="all, or FIRST-LAST: those children in full")
                      ) -> HTMLResponse:
        opened = checked("job", job)
        unfold = groups.parse_expand(checked("expand", expand))
        folding = rows.Folding(opened, unfold)
        with reads.reading() as conn:
            found = outline(conn, root_ref(ref), full_up_to=groups.SMALL, in_full=folding)
        groups.check_expand(unfold, len(found.children))
        on = bars.axis([found.root, *found.children])
        shown = folding.rows(found, on)
        folded = any(r.kind == "group" for r in shown)
        keeping = {"job": opened} if opened else {}
        return HTMLResponse(pages.get_template("timeline.html").render(
            found=found, rows=shown, axis=on, seconds=(on[1] - on[0]).total_seconds(), opened=opened,
            expand_all=f"?{urlencode({**keeping, 'expand': 'all'})}" if folded else None,
            collapse=f"?{urlencode(keeping)}" if unfold is not None and len(found.children) > groups.SMALL else None))

    return app
