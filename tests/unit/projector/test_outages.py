"""The outage log's rules (projector.outages) on a clock of the test's own; the real projector's is in
tests/e2e/test_outage_log.py. And the words of projector.unreachable's lines."""

from __future__ import annotations

import logging

import pytest

from projector.outages import LibraryNoise, Outages
from projector.unreachable import describe_unreachable, postgres_cause, split_servers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outages(clock: Clock, answers: list[str | None]) -> Outages:
    outages = Outages(reminder_s=30, settle_s=60, clock=clock)
    outages.watch("Kafka", "broker:9092", lambda: answers[0])
    return outages


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str | None]]:
    return [(r.levelname, getattr(r, "outage", None)) for r in caplog.records if r.name == "projector.outages"]


def test_gone_once_reminded_every_interval_back_once_with_how_long(caplog: pytest.LogCaptureFixture) -> None:
    clock, answer = Clock(), ["connection refused"]
    outages = _outages(clock, answer)
    caplog.set_level(logging.INFO)
    outages.suspect("Kafka", "Unable connect to node")
    for _ in range(95):  # 95 s away, checked every second
        clock.now += 1
        outages.check()
    answer[0] = None
    clock.now += 1
    outages.check()
    outages.check()
    assert _lines(caplog) == [("ERROR", "gone"), ("ERROR", "still-gone"), ("ERROR", "still-gone"),
                              ("ERROR", "still-gone"), ("WARNING", "back")]
    back = next(r for r in caplog.records if getattr(r, "outage", None) == "back")
    assert back.away_s == 96.0 and "is back after 96.0s away" in back.getMessage()  # type: ignore[attr-defined]


def test_a_suspicion_the_probe_does_not_confirm_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outages = _outages(clock, [None])
    caplog.set_level(logging.INFO)
    outages.suspect("Kafka", "NodeNotReadyError")
    outages.check()
    assert _lines(caplog) == [] and not outages.troubled("Kafka")


def test_the_filter_keeps_library_outage_records_out_and_reports_those_of_a_reachable_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outages = _outages(clock, [None])
    noise = LibraryNoise(outages)

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, (), None)

    assert not noise.filter(record("aiokafka", logging.ERROR, "Unable connect to node with id 1: refused"))
    assert outages.troubled("Kafka")
    assert not noise.filter(record("aiokafka.consumer.fetcher", logging.ERROR, "anything, while suspected"))
    assert noise.filter(record("aiokafka", logging.INFO, "Updating subscribed topics"))
    assert noise.filter(record("projector.store", logging.ERROR, "NodeNotReadyError"))  # ours: never kept out
    caplog.set_level(logging.INFO)
    clock.now += 1
    outages.check()  # the broker answers: not an outage; what was kept out is said, once
    assert not outages.troubled("Kafka")
    clock.now += 31
    outages.check()
    [said] = [r.getMessage() for r in caplog.records if r.name == "projector.outages"]
    assert "2 warning(s) or error(s) of the Kafka clients kept out of the log while Kafka at broker:9092 answered" \
        in said and "Unable connect" in said
    assert noise.filter(record("aiokafka", logging.ERROR, "Commit failed: an error that is no outage's"))


def test_the_aftermath_is_kept_out_for_the_settle_time_after_back() -> None:
    clock, answer = Clock(), ["connection refused"]
    outages = _outages(clock, answer)
    outages.suspect("Kafka", "x")
    outages.check()
    answer[0] = None
    outages.check()
    assert outages.troubled("Kafka")  # back, settling: a rejoin's UnknownMemberIdError stays out
    clock.now += 61
    assert not outages.troubled("Kafka")


def test_the_lines_words() -> None:
    assert describe_unreachable("Kafka", "h:1", "refused", "3 TCP connections in 3s", "start it") == \
        "Kafka at h:1 unreachable: refused; tried 3 TCP connections in 3s; start it"
    assert split_servers("a:1, [::1]:2,b") == [("a", 1), ("::1", 2), ("b", 9092)]
    assert postgres_cause('connection failed: connection to server at "127.0.0.1", port 5 failed: Connection '
                          "refused\n\tIs the server running") == "connection refused (nothing listens on that port)"
    assert postgres_cause('connection failed: connection to server at "h", port 5 failed: FATAL:  password '
                          'authentication failed for user "u"') == 'password authentication failed for user "u"'


def test_a_service_nobody_uses_is_probed_now_and_then_and_found_gone(caplog: pytest.LogCaptureFixture) -> None:
    clock, answer = Clock(), [None]
    outages = _outages(clock, answer)
    caplog.set_level(logging.INFO)
    outages.check()  # probed: answers
    answer[0] = "connection refused"
    for _ in range(9):
        clock.now += 1
        outages.check()
    assert _lines(caplog) == []  # not probed again yet (every 10 s)
    clock.now += 1
    outages.check()
    assert _lines(caplog) == [("ERROR", "gone")]
