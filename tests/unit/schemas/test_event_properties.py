"""Property tests: any valid event survives the wire exactly; the strategies keep flat linking."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from schemas import ALWAYS_CHILD, DETAIL_FOR_JOB_TYPE, JobEvent, dump_event, parse_event
from tests.strategies import chains, job_events

_KNOWN = {"eventId", "schemaVersion", "jobId", "jobType", "rootJobId", "parentJobId", "attempt",
          "occurredAt", "entity", "triggeredBy", "userId", "reason", "kind", "maxAttempts",
          "detail", "error", "outcome", "durationMs", "apiCallCount"}
_extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in _KNOWN and k.isidentifier()),
    st.none() | st.integers() | st.text(max_size=10) | st.lists(st.booleans(), max_size=3),
    max_size=4,
)


@given(job_events())
def test_dump_then_parse_gives_an_equal_event(event: JobEvent) -> None:
    raw = dump_event(event)
    parsed = parse_event(raw)
    assert parsed == event
    assert dump_event(parsed) == raw


@given(job_events(), _extra_fields)
def test_unknown_top_level_fields_are_ignored(event: JobEvent, extra: dict[str, object]) -> None:
    wire = json.loads(dump_event(event)) | extra
    assert parse_event(json.dumps(wire).encode()) == event


@given(chains())
def test_chains_link_flat_to_one_root_with_fitting_details(events: list[JobEvent]) -> None:
    roots = [e for e in events if e.parent_job_id is None]
    root_id = events[0].root_job_id
    assert roots, "a chain has its root's events"
    for event in events:
        assert event.root_job_id == root_id
        assert event.parent_job_id in (None, root_id)
        assert (event.parent_job_id is None) == (event.job_id == root_id)
        assert event.parent_job_id is not None or event.job_type not in ALWAYS_CHILD
        detail = getattr(event, "detail", None)
        assert detail is None or isinstance(detail, DETAIL_FOR_JOB_TYPE[event.job_type])
        assert event.occurred_at.utcoffset() is not None
