"""enrichlog.progress as a log reads it (not a terminal): a phase's one line, a countdown's lines."""

from __future__ import annotations

import io
import time

from enrichlog.progress import Meter, phase


def test_a_phase_is_one_line_once_it_lasts_and_nothing_when_quick_or_quiet() -> None:
    out = io.StringIO()
    with phase("connecting to broker:9092…", stream=out, first_after=0.05):
        time.sleep(0.3)
        assert out.getvalue() == "connecting to broker:9092…\n"
    assert out.getvalue() == "connecting to broker:9092…\n"
    quick = io.StringIO()
    with phase("connecting to broker:9092…", stream=quick, first_after=5):
        pass
    assert quick.getvalue() == ""  # a quick step (or one that fails at once) adds no line
    quiet = io.StringIO()
    with phase("connecting to broker:9092…", stream=quiet, quiet=True, first_after=0):
        time.sleep(0.1)
    assert quiet.getvalue() == ""


def test_a_countdown_says_what_is_left_and_its_end() -> None:
    out = io.StringIO()
    with Meter("waiting for 1,200 events", 1200, unit="events", countdown=True, stream=out, interval=0) as meter:
        meter.update(0)
        meter.update(900)
        meter.update(1200)
    lines = out.getvalue().splitlines()
    assert lines[0] == "waiting for 1,200 events: 1,200 of 1,200 events to go"
    assert lines[1].startswith("waiting for 1,200 events: 300 of 1,200 events to go, about ")
    assert lines[2] == "waiting for 1,200 events: 0 of 1,200 events to go"
    assert lines[3].startswith("waiting for 1,200 events: done, 1,200 events in ")


def test_a_count_up_is_as_before() -> None:
    out = io.StringIO()
    with Meter("reading topic t", 10, unit="messages", stream=out, interval=0) as meter:
        meter.update(5)
    assert out.getvalue().splitlines()[0].startswith("reading topic t: 5 / 10 messages (50%)")


def test_with_first_after_a_quick_work_says_only_its_end_and_a_failed_one_nothing() -> None:
    out = io.StringIO()
    with Meter("reading topic t", 10, unit="messages", stream=out, interval=0, first_after=60) as meter:
        meter.update(0)
        meter.update(10)
    assert out.getvalue().splitlines()[0].startswith("reading topic t: done, 10 messages in ")
    failed = io.StringIO()
    try:
        with Meter("reading topic t", 10, unit="messages", stream=failed, first_after=60) as meter:
            meter.update(5)
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert failed.getvalue() == ""
