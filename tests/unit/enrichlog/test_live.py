"""The live feed's fan-out (enrichlog.web.live), without a database: filtering by root, a slow
subscriber's resync, what a new subscriber is told, the stream's text and heartbeats."""

from __future__ import annotations

import asyncio

from enrichlog.web import live
from projector import notify


def test_a_rows_message_concerns_its_roots_or_every_root_when_cut_short() -> None:
    some = live.rows_message(notify.payload(["a", "b"]))
    assert (some.event, some.roots) == ("rows", frozenset({"a", "b"}))
    assert some.concerns("a") and some.concerns(None) and not some.concerns("c")
    assert live.rows_message(notify.ANYTHING).concerns("c")


def test_a_payload_not_of_the_projectors_shape_is_passed_on_as_anything() -> None:
    for junk in ("not json\nevent: rows", '{"roots": "a", "more": false}', '{"roots": [1]}', "[]",
                 '{"roots": ["a"], "more": "no"}'):
        message = live.rows_message(junk)
        assert (message.data, message.roots) == (notify.ANYTHING, None), junk
    assert live.rows_message('{"roots": ["a"], "more": false, "x": 1}').data == '{"roots":["a"],"more":false}'


def test_the_event_text_is_one_server_sent_event() -> None:
    assert live.rows_message(notify.payload(["a"])).encoded() == 'event: rows\ndata: {"roots":["a"],"more":false}\n\n'
    assert live.interrupted("gone\nfor now").encoded() == 'event: interrupted\ndata: {"reason":"gone\\nfor now"}\n\n'


def test_a_subscriber_that_falls_behind_gets_one_resync_instead() -> None:
    sub = live.Subscriber(None, size=3)
    for i in range(5):
        sub.offer(live.rows_message(notify.payload([f"r{i}"])))
    assert [sub.queue.get_nowait() for _ in range(sub.queue.qsize())] == [live.RESYNC, live.rows_message(
        notify.payload(["r4"]))]


def test_a_subscriber_with_a_root_gets_only_what_concerns_it() -> None:
    sub = live.Subscriber("a")
    for message in (live.rows_message(notify.payload(["b"])), live.rows_message(notify.payload(["a", "b"])),
                    live.rows_message(notify.ANYTHING), live.RESYNC):
        sub.offer(message)
    assert [sub.queue.get_nowait().data for _ in range(sub.queue.qsize())] == [
        '{"roots":["a","b"],"more":false}', notify.ANYTHING, "{}"]


def test_a_new_subscriber_is_told_where_the_feed_stands() -> None:
    feed = live.Feed("postgresql://nowhere.invalid/x")
    told = {}
    for state in ("starting", "up", "down"):
        feed.state, feed.reason = state, "gone"
        with feed.subscribe(None) as sub:
            told[state] = [sub.queue.get_nowait().event for _ in range(sub.queue.qsize())]
    assert told == {"starting": [], "up": ["ready"], "down": ["interrupted"]}


def test_a_stream_sends_retry_then_heartbeats_then_its_events() -> None:
    async def go() -> list[str]:
        feed = live.Feed("postgresql://nowhere.invalid/x")
        stream = live.stream(feed, None, heartbeat=0.05)
        out = [await anext(stream), await anext(stream)]
        feed._broadcast(live.RESYNC)  # what run() does when it listens again
        out.append(await anext(stream))
        await stream.aclose()
        return out

    assert asyncio.run(go()) == [f"retry: {live.RETRY_MS}\n\n", ": heartbeat\n\n", "event: resync\ndata: {}\n\n"]


def test_a_stream_writes_what_queued_while_it_waited_in_one_chunk_in_order() -> None:
    async def go() -> list[str]:
        feed = live.Feed("postgresql://nowhere.invalid/x")
        stream = live.stream(feed, None, heartbeat=5)
        out = [await anext(stream)]
        heard = asyncio.ensure_future(anext(stream))  # subscribed, waiting for its first message
        await asyncio.sleep(0.05)
        for roots in (["a"], ["b"], ["c"]):  # all offered before the stream runs again
            feed._broadcast(live.rows_message(notify.payload(roots)))
        out.append(await heard)
        feed._broadcast(live.RESYNC)
        out.append(await anext(stream))
        await stream.aclose()
        return out

    rows = [live.rows_message(notify.payload([r])).encoded() for r in "abc"]
    assert asyncio.run(go()) == [f"retry: {live.RETRY_MS}\n\n", "".join(rows), "event: resync\ndata: {}\n\n"]


def test_the_feed_says_it_lost_the_database_once_and_keeps_trying() -> None:
    async def go() -> list[str]:
        feed = live.Feed("postgresql://127.0.0.1:1/nothing-listens-here")
        with feed.subscribe(None) as sub:
            running = asyncio.create_task(feed.run())
            first = await asyncio.wait_for(sub.queue.get(), 10)
            await asyncio.sleep(live.BACKOFF[0] * 4)  # more attempts, all refused
            running.cancel()
            return [first.event, *(sub.queue.get_nowait().event for _ in range(sub.queue.qsize()))]

    assert asyncio.run(go()) == ["interrupted"]
