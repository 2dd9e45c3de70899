"""The fold, scenario by scenario: retries, status order, root PARTIAL, duplicates, history."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterable

from projector.fold import fold, fold_by_job, fold_job, from_event, key_of, merge
from projector.rows import STATE_COLUMNS, project_all, state_of_row, to_row
from projector.state import (
    MAX_HISTORY,
    JobState,
    _key_out,
    decode_state,
    encode_state,
    state_from_json,
    state_to_json,
)
from schemas import JobEvent, JobType, Outcome
from tests.scenarios import (
    NOT_FOUND,
    RATE_LIMIT,
    Chain,
    album_chain_with_failed_child,
    state_json_as_version_3,
    state_json_as_version_4,
)


def _stored(state: JobState) -> JobState:
    """The state as the store reads it back: from the row's columns and its encoded fold_state."""
    row = to_row(state)
    return state_of_row([getattr(row, c) for c in STATE_COLUMNS])


def test_one_row_per_job_with_retries_counted_and_last_error_kept() -> None:
    c, events = album_chain_with_failed_child()
    rows = project_all(events)
    assert len(rows) == 3
    enrich = rows[f"{c.root_id}/enrich"]
    assert (enrich.status, enrich.retry_count, enrich.attempt) == ("SUCCESS", 2, 3)
    assert enrich.last_error == RATE_LIMIT.message and enrich.last_error_kind == "RATE_LIMIT"
    assert enrich.error_message is None  # it succeeded in the end
    assert [a["status"] for a in enrich.attempts] == ["RETRIED", "RETRIED", "SUCCESS"]
    cover = rows[f"{c.root_id}/cover"]
    assert (cover.status, cover.retry_count, cover.error_code) == ("FAILED", 1, NOT_FOUND.code)
    assert cover.parent_job_id == c.root_id and not cover.is_root_job


def test_root_is_partial_when_a_child_failed_permanently() -> None:
    c, events = album_chain_with_failed_child()
    root = project_all(events)[c.root_id]
    assert root.is_root_job and root.parent_job_id is None
    assert (root.status, root.job_status, root.failed_children) == ("PARTIAL", "SUCCESS", 1)


def test_running_root_with_failed_child_is_partial_but_failed_root_stays_failed() -> None:
    c = Chain()
    child = c.child(JobType.ENRICH_ALBUM, "enrich")
    running = project_all([c.started(c.root_id), c.started(child), c.failed(child, 1)])
    assert running[c.root_id].status == "PARTIAL"
    failed = project_all([c.started(c.root_id), c.failed(child, 1), c.failed(c.root_id, 1)])
    assert failed[c.root_id].status == "FAILED" and failed[c.root_id].failed_children == 1


def test_child_failure_before_any_root_event() -> None:
    c = Chain()
    child = c.child(JobType.CACHE_ALBUM_COVER_ART, "cover")
    root_started, child_failed = c.started(c.root_id), c.failed(child, 1)
    only_child = project_all([child_failed])
    assert c.root_id not in only_child  # no placeholder row for a root never seen
    assert project_all([child_failed, root_started])[c.root_id].status == "PARTIAL"


def test_retried_child_that_recovers_does_not_make_root_partial() -> None:
    c = Chain()
    child = c.child(JobType.DISCOGS_SEARCH_ARTIST, "search")
    rows = project_all([c.started(c.root_id), c.retrying(child, 1), c.finished(child, 2), c.finished(c.root_id)])
    assert rows[c.root_id].status == "SUCCESS" and rows[c.root_id].failed_children == 0


def test_terminal_status_is_not_overwritten_by_late_events_of_earlier_attempts() -> None:
    c = Chain()
    job = c.root_id
    s1, r1, s2, f2 = c.started(job, 1), c.retrying(job, 1), c.started(job, 2), c.finished(job, 2)
    state = fold(None, [f2, s2, r1, s1])
    assert state is not None
    row = to_row(state)
    assert (row.status, row.retry_count, row.duration_ms) == ("SUCCESS", 1, 250)


def test_later_attempt_outcome_wins_over_earlier_attempt() -> None:
    c = Chain()
    job = c.root_id
    early = c.finished(job, 1, Outcome.NO_DATA_AVAILABLE)
    late = c.finished(job, 2, Outcome.SUCCESS)
    for order in ([early, late], [late, early]):
        state = fold(None, order)
        assert state is not None and to_row(state).status == "SUCCESS"


def test_last_error_is_that_of_the_highest_attempt_whatever_the_order() -> None:
    c = Chain()
    job = c.root_id
    r1, r2 = c.retrying(job, 1, NOT_FOUND), c.retrying(job, 2, RATE_LIMIT)
    for order in ([r1, r2], [r2, r1]):
        state = fold(None, order)
        assert state is not None
        row = to_row(state)
        assert row.last_error_code == RATE_LIMIT.code and row.retry_count == 2 and row.status == "PENDING"


def test_redelivered_events_change_nothing() -> None:
    _, events = album_chain_with_failed_child()
    assert project_all(events + events + events[:3]) == project_all(events)


def test_started_of_a_later_attempt_implies_the_earlier_retries() -> None:
    c = Chain()
    state = fold(None, [c.started(c.root_id, 3)])
    assert state is not None and to_row(state).retry_count == 2


def test_attempt_history_is_bounded_to_the_highest_attempts() -> None:
    c = Chain()
    job = c.root_id
    events = [c.retrying(job, n) for n in range(1, MAX_HISTORY + 11)]
    state = fold(None, events)
    assert state is not None
    row = to_row(state)
    assert len(row.attempts) == MAX_HISTORY
    assert row.attempts[0]["attempt"] == 11 and row.retry_count == MAX_HISTORY + 10


def test_merge_rejects_states_of_different_jobs() -> None:
    c = Chain()
    other = c.child(JobType.ENRICH_ALBUM, "x")
    import pytest

    with pytest.raises(ValueError, match="cannot merge"):
        merge(from_event(c.started(c.root_id)), from_event(c.started(other)))


def test_state_survives_json_storage_exactly() -> None:
    _, events = album_chain_with_failed_child()
    for state in fold_by_job(events).values():
        stored = json.loads(json.dumps(state_to_json(state)))
        metadata = state.detail[1] if state.detail else None
        assert state_from_json(stored, state.identity, metadata) == state


def test_state_survives_its_stored_encoding_and_the_former_object_form_is_still_read() -> None:
    _, events = album_chain_with_failed_child()
    for state in fold_by_job(events).values():
        metadata = state.detail[1] if state.detail else None
        stored = json.loads(json.dumps(encode_state(state)))  # through JSON, as jsonb gives it back
        assert isinstance(stored, str) and stored.isascii() and '"' not in stored and "\\" not in stored
        assert decode_state(stored, state.identity, metadata) == state
        former = json.loads(json.dumps(state_json_as_version_3(state_to_json(state))))  # rows written before
        assert decode_state(former, state.identity, metadata) == state



def test_a_fold_state_that_is_not_an_encoded_state_is_refused_clearly() -> None:
    import base64

    import pytest

    _, events = album_chain_with_failed_child()
    identity = next(iter(fold_by_job(events).values())).identity
    good = encode_state(next(iter(fold_by_job(events).values())))
    for stored, match in [("not base64!", "not an encoded state"),
                          (good[:8] + "!" + good[8:], "^fold_state is not an encoded state: "),  # not ignored
                          (base64.b64encode(b"{broken").decode(), "not an encoded state"),
                          (base64.b64encode(b"[1, 2]").decode(),
                           "^fold_state is not an encoded state: not a JSON object$"),
                          (42, "^fold_state is neither a state nor its encoding: int$")]:
        with pytest.raises(ValueError, match=match):
            decode_state(stored, identity, None)
    keys_short = state_to_json(fold_job(None, _by_hand(Chain())[0])) | {"ids": [None] * 5}
    with pytest.raises(ValueError, match="zip"):  # one key per optional field, or the state is refused
        state_from_json(keys_short, identity, None)


def test_unknown_state_version_is_refused() -> None:
    _, events = album_chain_with_failed_child()
    state = next(iter(fold_by_job(events).values()))
    data = state_to_json(state) | {"v": 999}
    import pytest

    with pytest.raises(ValueError, match=r"^fold_state version 999 is not one of \(3, 4, 5\): rebuild the table$"):
        state_from_json(data, state.identity, None)


def test_detail_lands_in_metadata_and_columns() -> None:
    from schemas import DataQuality, EnrichmentDetail, Source

    c = Chain()
    enrich = c.child(JobType.ENRICH_ALBUM, "enrich")
    done = c.finished(enrich)
    detail = EnrichmentDetail(sources=[Source.MUSICBRAINZ, Source.SPOTIFY], fields_enriched=["releaseDate"],
                              data_quality_before=DataQuality.LOW, data_quality_after=DataQuality.HIGH,
                              api_call_count=4)
    done = done.model_copy(update={"detail": detail})
    row = project_all([done])[enrich]
    assert row.sources == ["MUSICBRAINZ", "SPOTIFY"] and row.fields_enriched == ["releaseDate"]
    assert (row.data_quality_before, row.data_quality_after, row.api_call_count) == ("LOW", "HIGH", 4)
    assert row.metadata is not None and row.metadata["processor"] == "ENRICHMENT"


def test_shuffled_order_gives_the_same_rows() -> None:
    _, events = album_chain_with_failed_child()
    expected = project_all(events)
    rng = random.Random(7)
    for _ in range(50):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert project_all(shuffled) == expected


def test_row_ids_are_uuid5_of_the_job_id() -> None:
    import uuid

    from projector.rows import ROW_ID_NAMESPACE, row_id

    for job_id in ("a", "root-1/cover", "x" * 100, "é/ü"):
        assert row_id(job_id) == uuid.uuid5(ROW_ID_NAMESPACE, job_id)


def test_the_store_sends_the_same_row_id_and_attempt_times_as_the_row_holds() -> None:
    """The hot path's shortcuts (projector.pgcopy.row_copy): the id's 16 bytes, and attempt times as
    datetimes that orjson writes, must give what `to_row` holds, to the character."""
    import uuid
    from datetime import UTC, datetime

    import orjson

    from projector.rows import attempts_json, row_id, row_id_bytes
    from projector.state import from_micros, iso_from_micros, micros

    for job_id in ("a", "root-1/cover", "x" * 100, "é/ü", *(f"job-{i}" for i in range(500))):
        assert uuid.UUID(bytes=bytes(row_id_bytes(job_id))) == row_id(job_id)
    lo, hi = micros(datetime(1, 1, 1, tzinfo=UTC)), micros(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))
    rng = random.Random(7)
    for us in (lo, hi, -1, 0, 1, 1_000_000, *(rng.randint(lo, hi) for _ in range(2_000))):
        assert orjson.dumps(from_micros(us)) == orjson.dumps(iso_from_micros(us)), us
    _, events = album_chain_with_failed_child()
    for state in fold_by_job(events).values():
        assert orjson.dumps(attempts_json(state, from_micros)) == orjson.dumps(attempts_json(state))


def test_events_before_1970_fold_like_any_other() -> None:
    from datetime import UTC, datetime

    from projector.fold import fold_job

    c = Chain()
    early = [e.model_copy(update={"occurred_at": datetime(1960, 1, 1, tzinfo=UTC).replace(second=i)})
             for i, e in enumerate([c.started(c.root_id), c.finished(c.root_id)])]
    assert fold_job(None, early) == fold(None, early)
    assert to_row(fold_job(None, early)).last_event_at.year == 1960


# Fields sent on one event only (issue 15, defect 3): each optional identity field is the value of
# the greatest event (by key) that carries one, whatever the order and the batching.

def _by_hand(c: Chain) -> tuple[list[JobEvent], dict[str, object]]:
    """The docs' example: triggeredBy, userId and reason on job.started only; an artist id on the
    retry only; then a retried attempt that finishes."""
    user, artist = uuid.UUID(int=7), uuid.UUID(int=8)
    started = c.started(c.root_id).model_copy(update={"triggered_by": "admin", "user_id": user,
                                                      "reason": "manual: enrich this album"})
    retrying = c.retrying(c.root_id, 1).model_copy(update={"entity": c.entity.model_copy(update={"artist_id": artist})})
    events = [started, retrying, c.started(c.root_id, 2), c.finished(c.root_id, 2)]
    return events, {"triggered_by": "admin", "user_id": str(user), "reason": "manual: enrich this album",
                    "artist_id": str(artist), "album_id": str(c.entity.album_id), "track_id": None,
                    "entity_id": str(c.entity.id), "parent_job_id": None, "is_root_job": True,
                    "operation": "CHECK_ALBUM_ENRICHMENT", "entity_type": "ALBUM"}


def _fields(state: JobState | None, names: Iterable[str]) -> dict[str, object]:
    assert state is not None
    row = to_row(state)
    return {n: getattr(row, n) for n in names}


def test_fields_sent_on_one_event_only_are_kept_in_any_order() -> None:
    events, expected = _by_hand(Chain())
    for order in itertools.permutations(events):
        assert _fields(fold(None, order), expected) == expected
        assert _fields(fold_job(None, order), expected) == expected
        for cut in range(1, len(order)):  # through the stored state, as the store continues a row
            first = _stored(fold_job(None, order[:cut]))
            assert _fields(fold_job(first, order[cut:]), expected) == expected
            assert fold_job(first, order[cut:]) == fold(None, order)


def test_when_events_disagree_the_greatest_event_that_carries_the_field_wins() -> None:
    c = Chain()
    job = c.root_id
    first = c.started(job, 1).model_copy(update={"triggered_by": "admin", "reason": "first"})
    retried = c.retrying(job, 1).model_copy(update={"triggered_by": "queue"})
    second = c.started(job, 2).model_copy(update={"triggered_by": "schedule"})
    ended = c.failed(job, 1).model_copy(update={"reason": "gave up"})  # terminal: greater than attempt 2's events
    for order in itertools.permutations([first, retried, second]):
        assert _fields(fold_job(None, order), ["triggered_by", "reason"]) == {"triggered_by": "schedule",
                                                                              "reason": "first"}
    for order in itertools.permutations([first, retried, second, ended]):
        assert _fields(fold_job(None, order), ["triggered_by", "reason"]) == {"triggered_by": "schedule",
                                                                              "reason": "gave up"}


def test_a_parent_sent_on_some_events_only_makes_the_job_a_child() -> None:
    """parentJobId is optional like the others: a job whose events disagree on it (some claim it is
    a root) hangs under the parent that the greatest of its events that has one names."""
    c = Chain()
    job = c.child(JobType.ENRICH_ALBUM, "enrich")
    as_root = {"root_job_id": job, "parent_job_id": None}
    events = [c.started(job).model_copy(update=as_root), c.retrying(job, 1),
              c.finished(job, 2).model_copy(update=as_root)]
    for order in itertools.permutations(events):
        state = fold_job(None, order)
        assert _fields(state, ["parent_job_id", "is_root_job"]) == {"parent_job_id": c.root_id, "is_root_job": False}
        assert state == fold(None, order) == fold_job(_stored(fold_job(None, order[:1])), order[1:])


def test_a_stored_state_keeps_the_key_of_a_field_only_when_it_is_not_the_heads() -> None:
    events, _ = _by_hand(Chain())
    state = fold_job(None, events)
    stored = state_to_json(state)
    started_key = _key_out(key_of(events[0]))
    assert stored["ids"] == [None, _key_out(key_of(events[1])), None, None, started_key, started_key]
    everywhere = [e.model_copy(update={"triggered_by": "admin"}) for e in events[2:]]
    assert state_to_json(fold_job(None, everywhere))["ids"] is None  # the common case: nothing extra stored


def test_states_stored_by_version_4_and_3_are_read_and_continued() -> None:
    """Before version 5 the identity was the head's: each optional field's key is the head's."""
    c = Chain()
    job = c.root_id
    events = [e.model_copy(update={"triggered_by": "admin"})
              for e in (c.started(job), c.retrying(job, 1), c.started(job, 2), c.finished(job, 2))]
    for cut in range(1, len(events)):
        state = fold_job(None, events[:cut])
        for former in (state_json_as_version_4(state_to_json(state)), state_json_as_version_3(state_to_json(state))):
            read = state_from_json(json.loads(json.dumps(former)), state.identity, None)
            assert read == state
            assert fold_job(read, events[cut:]) == fold(None, events)


# retry_count with gaps (issue 15, defect 4): the row's attempt is its deciding event's; every
# attempt below it was retried, and it too when its deciding event is a job.retrying.

def test_a_late_retry_above_the_attempt_the_job_finished_in_changes_no_count() -> None:
    c = Chain()
    job = c.root_id
    events = [c.started(job, 1), c.retrying(job, 1, NOT_FOUND), c.started(job, 2), c.retrying(job, 2),
              c.started(job, 3), c.finished(job, 3), c.retrying(job, 5, NOT_FOUND)]
    for order in (events, events[::-1]):
        row = to_row(fold_job(None, order))
        assert (row.status, row.retry_count, row.attempt, row.duration_ms) == ("SUCCESS", 2, 3, 250)
        assert [a["attempt"] for a in row.attempts] == [1, 2, 3]
        assert [a["status"] for a in row.attempts] == ["RETRIED", "RETRIED", "SUCCESS"]
        assert (row.last_error, row.last_error_code, row.error_message) == (RATE_LIMIT.message, RATE_LIMIT.code, None)
        assert fold_job(None, order).attempts[-1].number == 5  # kept in the state: it counts if attempt 5 ends


def test_a_job_run_again_after_it_failed_counts_the_new_attempt_once_it_ends() -> None:
    c = Chain()
    job = c.root_id
    failed, again, done = c.failed(job, 1), c.started(job, 2), c.finished(job, 2)
    row = to_row(fold_job(None, [failed, again]))
    assert (row.status, row.retry_count, row.attempt, row.error_message) == ("FAILED", 0, 1, NOT_FOUND.message)
    assert [a["attempt"] for a in row.attempts] == [1] and row.last_error_kind == "NOT_FOUND"
    row = to_row(fold_job(None, [done, again, failed]))
    assert (row.status, row.retry_count, row.attempt, row.error_message) == ("SUCCESS", 1, 2, None)
    assert [a["status"] for a in row.attempts] == ["FAILED", "SUCCESS"] and row.last_error == NOT_FOUND.message


def test_attempts_whose_events_are_missing_still_count_as_retried() -> None:
    c = Chain()
    job = c.root_id
    assert (to_row(fold_job(None, [c.retrying(job, 1), c.started(job, 3)])).retry_count,
            to_row(fold_job(None, [c.retrying(job, 1), c.retrying(job, 3)])).retry_count,
            to_row(fold_job(None, [c.started(job, 4), c.failed(job, 4)])).retry_count) == (2, 3, 3)
    row = to_row(fold_job(None, [c.started(job, 1)]))
    assert (row.retry_count, row.attempt, row.status, row.last_error) == (0, 1, "IN_PROGRESS", None)
    row = to_row(fold_job(None, [c.retrying(job, 1)]))
    assert (row.retry_count, row.attempt, row.status, row.last_error) == (1, 1, "PENDING", RATE_LIMIT.message)


def test_fold_job_refuses_nothing_to_fold_and_metadata_leaves_missing_detail_fields_out() -> None:
    import pytest

    from schemas import CacheImageDetail

    with pytest.raises(ValueError, match=r"^fold_job needs a state or at least one event$"):
        fold_job(None, [])
    c = Chain(root_type=JobType.CACHE_ALBUM_COVER_ART)
    done = c.finished(c.root_id).model_copy(update={"detail": CacheImageDetail(source_url="https://e.x/a.jpg")})
    assert to_row(fold_job(None, [done])).metadata == {"processor": "CACHE_IMAGE", "sourceUrl": "https://e.x/a.jpg"}


def test_the_events_api_call_count_beats_the_details_whatever_event_decides() -> None:
    """`apiCallCount` on job.finished is the row's; the detail's is only the fallback (mutation
    testing found no test that told the two apart)."""
    from schemas import EnrichmentDetail

    c = Chain()
    enrich = c.child(JobType.ENRICH_ALBUM, "enrich")
    done = c.finished(enrich).model_copy(update={
        "api_call_count": 7, "detail": EnrichmentDetail(api_call_count=2)})
    assert from_event(done).head.api_call_count == 7
    assert project_all([c.started(enrich), done])[enrich].api_call_count == 7
    without = c.finished(enrich).model_copy(update={"detail": EnrichmentDetail(api_call_count=2)})
    assert project_all([without])[enrich].api_call_count == 2


def test_fields_sent_on_one_event_only_are_kept_with_the_fold_s_getters_made_afresh() -> None:
    """The fold makes its getters of the fields a head lacks once per set of fields (a cache): the
    same fold with the cache emptied first, so that this test, not whichever ran first, makes them."""
    from projector.fold import _looked_for

    _looked_for.cache_clear()
    events, expected = _by_hand(Chain())
    for order in itertools.permutations(events):
        assert _fields(fold_job(None, order), expected) == expected
    one_field = [e.model_copy(update={"triggered_by": "admin" if e is events[0] else None}) for e in events]
    _looked_for.cache_clear()
    assert _fields(fold_job(None, list(reversed(one_field))), ["triggered_by"]) == {"triggered_by": "admin"}
