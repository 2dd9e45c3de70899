"""The console's pure helpers: bar geometry, parameter checks, the credential, the bind rule."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enrichlog.commands.roots import RootsQuery
from enrichlog.read import DatabaseUnavailable, InvalidCursor, NotARoot, RootNotFound, TimelineJob
from enrichlog.web import access, bars
from enrichlog.web.app import status_of
from enrichlog.web.params import MAX_LENGTH, BadParameter, checked
from enrichlog.web.settings import WebSettings, bind_problem, is_loopback
from projector.errors import StoreError

T0 = datetime(2026, 2, 6, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(start: float, end: float | None, attempts: list[dict[str, Any]] | None = None,
        status: str = "SUCCESS") -> TimelineJob:
    return TimelineJob(
        id=uuid.uuid4(), job_id="j", parent_job_id=None, operation="ENRICH_ALBUM", entity_type="ALBUM",
        entity_id=uuid.uuid4(), status=status, job_status=status, created_at=at(start), started_at=at(start),
        finished_at=None if end is None else at(end), last_event_at=at(end if end is not None else start),
        duration_ms=None, retry_count=0, attempt=None, last_error=None, last_error_code=None,
        last_error_kind=None, error_message=None, error_code=None, reason=None, metadata=None,
        attempts=attempts or [])


def attempt(n: int, start: float, end: float | None, status: str | None, **error: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attempt": n, "startedAt": at(start).isoformat(),
                           "endedAt": None if end is None else at(end).isoformat(),
                           "durationMs": None if end is None else int((end - start) * 1000), "status": status}
    if error:
        out["error"] = error
    return out


def test_place_is_percent_of_the_axis_and_stays_inside_it() -> None:
    axis = (at(0), at(10))
    assert bars.place((at(0), at(10)), axis) == (0.0, 100.0)
    assert bars.place((at(2.5), at(5)), axis) == (25.0, 25.0)
    assert bars.place((at(5), at(5)), axis) == (50.0, bars.MIN_WIDTH)  # an instant stays visible
    left, width = bars.place((at(10), at(10)), axis)
    assert left + width <= 100.0 and width == bars.MIN_WIDTH
    assert bars.place((at(3), at(3)), (at(3), at(3))) == (0.0, bars.MIN_WIDTH)  # an axis of no length


def test_each_attempt_is_a_segment_with_the_waits_between_them() -> None:
    j = job(0, 10, [attempt(1, 0, 2, "RETRIED"), attempt(2, 4, 6, "RETRIED"), attempt(3, 8, 10, "FAILED")],
            status="FAILED")
    got = bars.segments(j, (at(0), at(10)))
    assert [(s.kind, s.outcome, s.left, s.width) for s in got] == [
        ("attempt", "RETRIED", 0.0, 20.0), ("wait", "", 20.0, 20.0), ("attempt", "RETRIED", 40.0, 20.0),
        ("wait", "", 60.0, 20.0), ("attempt", "FAILED", 80.0, 20.0)]
    assert got[1].label == "wait 2.0 s" and got[4].label == "attempt 3: FAILED"


def test_a_running_attempt_lasts_until_the_last_event_and_a_job_without_history_is_one_bar() -> None:
    running = job(0, None, [attempt(1, 0, None, None)], status="IN_PROGRESS")
    running = TimelineJob(**{**{f: getattr(running, f) for f in running.__slots__}, "last_event_at": at(5)})
    assert [(s.outcome, s.left, s.width) for s in bars.segments(running, (at(0), at(10)))] == [
        ("RUNNING", 0.0, 50.0)]
    plain = bars.segments(job(5, 10), (at(0), at(10)))
    assert [(s.kind, s.outcome, s.left, s.width) for s in plain] == [("job", "SUCCESS", 50.0, 50.0)]
    assert bars.axis([job(2, 4), job(1, 3), job(3, 9)]) == (at(1), at(9))


def test_attempt_errors_are_one_line_each() -> None:
    j = job(0, 4, [attempt(1, 0, 1, "RETRIED", kind="RATE_LIMIT", code="HTTP_429", message="slow down"),
                   attempt(2, 2, 4, "SUCCESS")])
    assert bars.attempt_errors(j) == ["attempt 1: RATE_LIMIT HTTP_429 slow down (1000 ms)"]


def test_parameters_are_short_lines_of_text() -> None:
    assert checked("status", None) is None and checked("status", "  ") is None
    assert checked("status", " partial ") == "partial"
    with pytest.raises(BadParameter, match=f"^entity: longer than {MAX_LENGTH} characters"):
        checked("entity", "x" * (MAX_LENGTH + 1))
    with pytest.raises(BadParameter, match=r"^id: contains a control character"):
        checked("id", "a\x00b")


@pytest.mark.parametrize(("given", "says"), [
    ({"limit": "ten"}, "limit: 'ten' is not a whole number"),
    ({"since": "yesterday"}, "since: 'yesterday' is not an ISO datetime"),
    ({"entity": "' OR 1=1 --"}, "entity: \"' OR 1=1 --\" is not a UUID"),
    ({"stuck": "-1"}, "stuck: must be a positive number"),
    ({"operation": "X'; DROP TABLE enrichment_logs; --"}, "operation: "),
])
def test_roots_query_names_the_parameter(given: dict[str, str], says: str) -> None:
    words: dict[str, str | None] = dict.fromkeys(
        ("status", "operation", "since", "until", "entity", "stuck", "limit", "cursor"))
    with pytest.raises(ValueError, match="^" + re.escape(says)):
        RootsQuery.parse(**{**words, **given}, prefix="")


def test_roots_query_of_the_cli_and_the_api_are_the_same() -> None:
    words = {"status": "partial", "operation": "ENRICH_ALBUM", "since": "2026-02-06", "until": None,
             "entity": str(uuid.UUID(int=7)), "stuck": "5", "limit": None, "cursor": None}
    cli, api = RootsQuery.parse(**words), RootsQuery.parse(**words, prefix="")
    assert cli == api and cli.limit == 50 and cli.filters.status == "PARTIAL"
    assert cli.filters.since == datetime(2026, 2, 6, tzinfo=UTC)


def test_the_credential_as_bearer_or_basic_password() -> None:
    basic = "Basic " + base64.b64encode(b"anyone:s3cret").decode()
    assert access.allowed("Bearer s3cret", "s3cret") and access.allowed(basic, "s3cret")
    for header in (None, "", "Bearer", "Bearer wrong", "Basic !!!", "Basic " + base64.b64encode(b"s3cret").decode(),
                   "Token s3cret", "Basic " + base64.b64encode(b"s3cret:").decode()):
        assert not access.allowed(header, "s3cret"), header


def test_only_loopback_without_a_credential() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.org"))
    none = WebSettings(token=None)
    assert bind_problem("127.0.0.1", none) is None
    problem = bind_problem("0.0.0.0", none)
    assert problem is not None and "ENRICHLOG_WEB_TOKEN" in problem and "0.0.0.0" in problem
    assert bind_problem("0.0.0.0", WebSettings(token="t")) is None
    assert bind_problem("0.0.0.0", WebSettings(token="")) is not None  # an empty token is none


def test_status_of_each_refusal() -> None:
    assert status_of(RootNotFound("x")) == 404 and status_of(NotARoot("x", "r", True)) == 404
    assert status_of(InvalidCursor("c")) == 400 and status_of(BadParameter("limit", "no")) == 400
    assert status_of(DatabaseUnavailable("gone")) == 503 and status_of(StoreError("refused")) == 500
