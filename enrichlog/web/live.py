"""The console's live feed: the projector's notifications (projector.notify), fanned out to browsers.

One `Feed` per server process holds one connection that LISTENs on the channel, and hands each
notification to every subscriber (one per open `GET /api/live`) whose root it concerns. Each
subscriber has a bounded queue: one that does not keep up loses what it has not read yet and is
told `resync` instead (re-read everything), so a slow browser never holds up the others. When the
connection is lost the feed says `interrupted` to everyone, reconnects with a growing delay, and
says `resync` once it listens again: rows may have changed meanwhile.

The events of a stream (server-sent events, `stream`):
- `ready`: the stream is subscribed and the feed listening; nothing to re-read;
- `rows`: a batch committed; data `{"roots": [...], "more": bool}` as the projector sent it
  (`more`: the list is cut short, any root may have changed);
- `interrupted`: the feed lost the database; data `{"reason": "..."}`; more follows when it is back;
- `resync`: anything may have changed (the feed is back, or this stream fell behind);
- a comment line every `heartbeat` seconds, so that proxies keep an idle stream open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import psycopg

from projector import db, notify
from projector.errors import StoreError

log = logging.getLogger("enrichlog.web.live")

RETRY_MS = 2000  # how long a browser's EventSource waits before it connects again
QUEUE_SIZE = 32  # messages a subscriber may fall behind before it is told to resync
PROBE_EVERY = 15.0  # seconds without a notification after which the connection is checked
PROBE_TIMEOUT = 5.0
BACKOFF = (0.2, 5.0)  # the first and the longest wait between two connection attempts


@dataclass(frozen=True)
class Message:
    """One event of the streams; `roots` those it concerns, None: every stream."""

    event: str
    data: str = "{}"
    roots: frozenset[str] | None = None

    def concerns(self, root: str | None) -> bool:
        return root is None or self.roots is None or root in self.roots

    def encoded(self) -> str:
        """As server-sent event text; `data` is one line of JSON."""
        return f"event: {self.event}\ndata: {self.data}\n\n"


READY, RESYNC = Message("ready"), Message("resync")


def rows_message(text: str) -> Message:
    """The `rows` event of a notification's payload. Anyone may NOTIFY on the channel: a payload that
    is not the projector's shape is passed on as "anything may have changed"."""
    try:
        doc = json.loads(text)
        roots, more = doc["roots"], doc["more"]
        if not (isinstance(roots, list) and all(isinstance(r, str) for r in roots) and isinstance(more, bool)):
            raise TypeError(text)
    except (ValueError, TypeError, KeyError):
        return Message("rows", notify.ANYTHING)
    data = json.dumps({"roots": roots, "more": more}, separators=(",", ":"))
    return Message("rows", data, None if more else frozenset(roots))


def interrupted(reason: str) -> Message:
    return Message("interrupted", json.dumps({"reason": reason}, separators=(",", ":")))


class Subscriber:
    """One stream's queue of messages, those about `root` only when it is set."""

    def __init__(self, root: str | None, size: int = QUEUE_SIZE) -> None:
        self.root = root
        self.queue: asyncio.Queue[Message] = asyncio.Queue(size)

    def offer(self, message: Message) -> None:
        if not message.concerns(self.root):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:  # fallen behind: what it missed comes down to one resync
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class Feed:
    """The process's one LISTEN connection and its subscribers (see the module's docstring)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.name = f"enrichlog web live (pid {os.getpid()})"  # what pg_stat_activity shows of it
        self.state = "starting"  # then "up" while listening, "down" while reconnecting
        self.reason = ""
        self._subscribers: set[Subscriber] = set()

    @contextlib.contextmanager
    def subscribe(self, root: str | None) -> Iterator[Subscriber]:
        """A subscriber for the block, told at once where the feed stands (nothing while starting:
        `ready` follows when it listens)."""
        sub = Subscriber(root)
        self._subscribers.add(sub)
        if self.state == "up":
            sub.offer(READY)
        elif self.state == "down":
            sub.offer(interrupted(self.reason))
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def _broadcast(self, message: Message) -> None:
        for sub in list(self._subscribers):
            sub.offer(message)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost."""
        delay = BACKOFF[0]
        while True:
            try:
                await self._listen()
                reason = "the connection was closed"
            except (psycopg.Error, StoreError, OSError, TimeoutError) as exc:
                reason = db.scrub(db.first_line(exc), self.database_url)
            if self.state == "up":  # it had listened: the first retry comes soon again
                delay = BACKOFF[0]
            self._lost(reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF[1])

    async def _listen(self) -> None:
        async with await db.connect_async(self.database_url, autocommit=True, name=self.name) as conn:
            await conn.execute(f"LISTEN {notify.CHANNEL}")
            if self.state == "down":
                log.warning("live feed listening again")
            self._broadcast(RESYNC if self.state == "down" else READY)
            self.state = "up"
            while not conn.closed:
                async for n in conn.notifies(timeout=PROBE_EVERY):
                    self._broadcast(rows_message(n.payload))
                # a connection that went away without a word is found out by a query
                await asyncio.wait_for(conn.execute("SELECT 1"), PROBE_TIMEOUT)

    def _lost(self, reason: str, delay: float) -> None:
        if self.state != "down":
            log.warning("live feed lost the database (%s); retrying, first in %.1f s", reason, delay)
            self._broadcast(interrupted(reason))
        self.state, self.reason = "down", reason


async def stream(feed: Feed, root: str | None, heartbeat: float) -> AsyncIterator[str]:
    """The text of one `GET /api/live` response, for as long as the client stays. Each wake-up writes
    everything queued by then in one chunk: one write per notification at most, fewer when behind."""
    yield f"retry: {RETRY_MS}\n\n"
    with feed.subscribe(root) as sub:
        while True:
            try:
                async with asyncio.timeout(heartbeat):  # a timer only, not a task per message as wait_for
                    message = await sub.queue.get()
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            queued = [message.encoded()]
            while not sub.queue.empty():
                queued.append(sub.queue.get_nowait().encoded())
            yield "".join(queued)

