"""How a big timeline's page folds its children (enrichlog.web.groups, enrichlog.web.rows): the
children that matter in full, runs of plain successes as groups, `?expand=` parsed and checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from enrichlog.read import ChildLine
from enrichlog.web import bars, groups, rows
from enrichlog.web.params import BadParameter

T0 = datetime(2026, 2, 6, 12, 0, tzinfo=UTC)


def child(n: int, status: str = "SUCCESS", *, retries: int = 0, ms: int = 100, op: str = "ENRICH_ALBUM",
          job_status: str | None = None) -> ChildLine:
    start = T0 + timedelta(seconds=n)
    return ChildLine(uuid.uuid4(), f"root/{n}", op, status, job_status or status, start, start,
                     start + timedelta(milliseconds=ms), start + timedelta(milliseconds=ms), ms, retries)


def shown(entries: list[int | groups.Group]) -> list[int | tuple[int, int]]:
    """Each entry as an index, or a group as its (first, last) child numbers."""
    return [(e.first, e.last) if isinstance(e, groups.Group) else e for e in entries]


def test_a_small_timeline_shows_every_child() -> None:
    children = [child(i) for i in range(groups.SMALL)]
    assert groups.layout(children, keep=set(), expand=None) == list(range(groups.SMALL))


def test_runs_of_plain_successes_fold_around_the_children_that_matter() -> None:
    children = [child(i) for i in range(100)]
    children[10] = child(10, "FAILED")
    children[20] = child(20, retries=1)  # succeeded after a retry
    children[30] = child(30, "IN_PROGRESS")
    children[40] = child(40, "NO_DATA_AVAILABLE")
    children[41] = child(41, "SUCCESS", job_status="PENDING")  # the row's status lags its job's
    laid = groups.layout(children, keep={70}, expand=None)
    assert shown(laid) == [(1, 10), 10, (12, 20), 20, (22, 30), 30, (32, 40), 40, 41, (43, 70), 70, (72, 100)]
    folded = [e for e in laid if isinstance(e, groups.Group)]
    assert sum(len(g.children) for g in folded) + sum(1 for e in laid if isinstance(e, int)) == 100


def test_a_run_shorter_than_min_run_is_shown_as_it_is() -> None:
    children = [child(i, "FAILED" if i % 3 == 2 else "SUCCESS") for i in range(90)]
    assert groups.layout(children, keep=set(), expand=None) == list(range(90))  # runs of two
    children = [child(i, "FAILED" if i % 4 == 3 else "SUCCESS") for i in range(90)]
    expected: list[int | tuple[int, int]] = [x for i in range(3, 88, 4) for x in ((i - 2, i), i)]
    assert shown(groups.layout(children, keep=set(), expand=None)) == [*expected, 88, 89]


def test_an_expanded_range_is_shown_in_full_and_all_shows_everything() -> None:
    children = [child(i) for i in range(200)]
    assert shown(groups.layout(children, keep=set(), expand=None)) == [(1, 200)]
    laid = groups.layout(children, keep=set(), expand=groups.Expand(50, 52))
    assert shown(laid) == [(1, 49), 49, 50, 51, (53, 200)]
    assert groups.layout(children, keep=set(), expand=groups.ALL) == list(range(200))


def test_a_group_says_its_operations_and_span() -> None:
    run = [child(0, op="B"), child(1, op="A"), child(2, op="B", ms=5000), child(3, op="C")]
    group = groups.Group(7, run)
    assert group.last == 10 and group.expand.query == "7-10"
    assert group.operations == [("B", 2), ("A", 1), ("C", 1)]
    assert group.span == (T0, T0 + timedelta(seconds=7))


def test_the_slowest_and_the_job_asked_for_are_kept() -> None:
    root = child(0, ms=10)
    children = [child(i, ms=50) for i in range(1, 101)]
    children[60] = child(61, ms=9000)
    jobs = [root, *children]
    assert groups.slowest(jobs) == 61 and groups.slowest([root]) is None
    assert rows.keep(jobs, 61, None) == {60}
    assert rows.keep(jobs, 61, children[5].job_id) == {60, 5}
    assert rows.keep(jobs, 61, str(children[7].id)) == {60, 7}
    folding = rows.Folding(children[5].job_id, None)
    ids = folding(root, children)  # type: ignore[arg-type]
    assert set(ids) == {children[5].id, children[60].id}
    assert shown(folding.layout) == [(1, 5), 5, (7, 60), 60, (62, 100)]


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), ("all", groups.ALL), ("ALL", groups.ALL),
    ("3-9", groups.Expand(3, 9)), ("5-5", groups.Expand(5, 5)),
])
def test_expand_parses_all_or_a_range(value: str | None, expected: groups.Expand | None) -> None:
    assert groups.parse_expand(value) == expected


@pytest.mark.parametrize(("value", "says"), [
    ("some", "is not all or a range"), ("3", "is not all or a range"), ("3-", "is not all or a range"),
    ("-3", "is not all or a range"), ("a-b", "is not all or a range"), ("1-2-3", "is not all or a range"),
    ("0-4", "child numbers start at 1"), ("9-3", "FIRST must not be after LAST"),
    ("1234567890-1234567891", "is not all or a range"),
])
def test_a_bad_expand_is_refused_naming_it(value: str, says: str) -> None:
    with pytest.raises(BadParameter) as refused:
        groups.parse_expand(value)
    assert refused.value.name == "expand" and str(refused.value).startswith("expand: ") and says in str(refused.value)


def test_a_range_beyond_the_children_is_refused() -> None:
    groups.check_expand(groups.Expand(1, 500), 500)
    groups.check_expand(groups.ALL, 3)
    groups.check_expand(None, 0)
    with pytest.raises(BadParameter, match="expand: 1-501: this timeline has 500 children"):
        groups.check_expand(groups.Expand(1, 501), 500)


def test_a_groups_bar_is_the_stretches_in_which_its_children_ran() -> None:
    on = (T0, T0 + timedelta(seconds=100))
    together = [child(0, ms=2000), child(1, ms=2000), child(2, ms=2000)]  # 0-4 s, overlapping
    apart = [child(50, ms=1000)]
    segs = bars.group_segments([*together, *apart], on, "4 jobs succeeded")
    assert [(s.left, s.width, s.kind, s.outcome) for s in segs] == [(0.0, 4.0, "group", "SUCCESS"),
                                                                    (50.0, 1.0, "group", "SUCCESS")]
    assert {s.label for s in segs} == {"4 jobs succeeded"}
