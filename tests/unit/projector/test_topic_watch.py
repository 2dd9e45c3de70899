"""The topic watch's verdict (projector.topic_watch.change) and the offsets' (projector.offsets.stale_reason)."""

from __future__ import annotations

import uuid

from projector.offsets import stale_reason
from projector.topic_watch import TopicReplaced, change

A, B = uuid.uuid4(), uuid.uuid4()


def test_the_same_id_is_no_change_and_another_or_none_is() -> None:
    assert change("t", A, A) is None
    replaced = change("t", A, B)
    assert isinstance(replaced, TopicReplaced) and str(A) in str(replaced) and f"id is now {B}" in str(replaced)
    assert "no longer exists" in str(change("t", A, None))


def test_positions_are_stale_when_the_id_changed_or_one_is_past_its_end() -> None:
    assert stale_reason("t", A, A, {0: 5}, {0: 5}) is None
    assert stale_reason("t", None, A, {0: 5, 1: 0}, {0: 9}) is None  # no id recorded yet: the ends decide
    assert stale_reason("t", A, None, {0: 5}, {0: 9}) is None  # the broker gives no id: the ends decide
    assert "deleted and created again" in (stale_reason("t", A, B, {0: 1}, {0: 900}) or "")
    past = stale_reason("t", None, A, {0: 6, 1: 2, 3: 1}, {0: 5, 1: 2})
    assert past is not None and "partition 0: position 6, end offset 5" in past
    assert "partition 3: position 1, end offset none (no such partition)" in past and "partition 1" not in past
