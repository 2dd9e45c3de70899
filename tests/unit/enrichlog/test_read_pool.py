"""ReadPool's sizes are checked when it is made, before anything connects."""

from __future__ import annotations

import pytest

from enrichlog.read.pool import ReadPool


@pytest.mark.parametrize(("low", "high"), [(0, 4), (5, 4), (-1, 1)])
def test_sizes_out_of_order_are_refused_naming_them(low: int, high: int) -> None:
    with pytest.raises(ValueError, match=f"1 <= min_size <= max_size, not {low} and {high}"):
        ReadPool("postgresql://nobody@127.0.0.1:1/nowhere", name="t", min_size=low, max_size=high)


def test_a_pool_is_made_closed_and_sized_as_asked() -> None:
    reads = ReadPool("postgresql://nobody@127.0.0.1:1/nowhere", name="t", min_size=2, max_size=3)
    assert reads.pool.closed and (reads.pool.min_size, reads.pool.max_size) == (2, 3)
