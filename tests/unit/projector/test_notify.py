"""The batch notification's payload: the touched roots, bounded in number and in bytes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from projector import notify
from projector.fold import fold_by_job
from projector.state import JobState
from tests.scenarios import album_chain_with_failed_child


def test_lists_the_roots_sorted_once_each() -> None:
    assert json.loads(notify.payload(["b", "a", "b"])) == {"roots": ["a", "b"], "more": False}


def test_cuts_the_list_at_max_roots_and_says_so() -> None:
    ids = [f"job-{i:03}" for i in range(notify.MAX_ROOTS + 1)]
    doc = json.loads(notify.payload(ids))
    assert doc == {"roots": ids[: notify.MAX_ROOTS], "more": True}
    assert json.loads(notify.payload(ids[: notify.MAX_ROOTS]))["more"] is False


@given(st.lists(st.text(min_size=1, max_size=2000), max_size=80))
def test_stays_under_notifys_limit_whatever_the_ids(ids: list[str]) -> None:
    text = notify.payload(ids)
    assert len(text.encode()) <= notify.MAX_PAYLOAD < 8000
    doc = json.loads(text)
    assert set(doc["roots"]) <= set(ids) and doc["roots"] == sorted(doc["roots"])
    assert doc["more"] == (len(doc["roots"]) < len(set(ids)))


def test_anything_is_an_empty_list_cut_short() -> None:
    assert json.loads(notify.ANYTHING) == {"roots": [], "more": True}


def test_a_job_touches_its_root_and_a_root_itself() -> None:
    chain, events = album_chain_with_failed_child()
    states: dict[str, tuple[JobState, int]] = {j: (s, 1) for j, s in fold_by_job(events, {}).items()}
    assert len(states) > 1  # the root and its children
    assert notify.touched_roots(states, {}) == {chain.root_id}


def test_a_child_moved_to_another_root_touches_both() -> None:
    chain, events = album_chain_with_failed_child()
    child = next(e for e in events if e.job_id != chain.root_id)
    before = fold_by_job([child], {})
    moved = child.model_copy(update={"parent_job_id": "another-root", "root_job_id": "another-root"})
    after = fold_by_job([moved], {})
    assert notify.touched_roots({child.job_id: (after[child.job_id], 2)}, before) == {chain.root_id, "another-root"}
