"""The fold's times are integer microseconds since the Unix epoch, exact to the microsecond on
either side of the epoch (mutation testing found sub-second and pre-epoch errors unnoticed)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest

from projector.state import from_micros, micros


@pytest.mark.parametrize("ts", [
    datetime(2026, 3, 4, 5, 6, 7, 890_123, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(1900, 2, 28, 12, 0, 0, 1, tzinfo=UTC),
    datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
])
def test_micros_is_exact_and_from_micros_inverts_it(ts: datetime) -> None:
    expected = calendar.timegm(ts.utctimetuple()) * 1_000_000 + ts.microsecond
    assert micros(ts) == expected
    assert from_micros(expected) == ts


def test_micros_orders_as_the_times_do_within_a_second() -> None:
    t = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    steps = [t + timedelta(microseconds=n) for n in (-1, 0, 1, 999_999)]
    assert [micros(s) for s in steps] == sorted(micros(s) for s in steps)
    assert micros(steps[1]) - micros(steps[0]) == 1
    assert micros(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -500_000
