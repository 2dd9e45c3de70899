"""Whatever is wrong with a value, the reason reads `field: rule, got value` in a producer's words:
no pydantic wording, no union member in the path (tests/contract/vectors.py pins exact messages;
this looks for error types the vectors do not reach)."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EventDecodeError, parse_event
from tests.contract.vectors import FAILED, FINISHED, RETRYING, SPOTIFY, STARTED

PYDANTIC_WORDING = re.compile(r"Input should|Value error|tagged-union|function-after|validation error|"
                              r"\bjob\.(started|retrying|finished|failed)\.|\.(ENRICHMENT|CACHE_IMAGE)\.|"
                              r"\.(integer|number)\b|\[type=")
BASES = [STARTED, RETRYING, FINISHED, FAILED, SPOTIFY]
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5) | st.sampled_from(["", "x" * 5000]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    return out


@st.composite
def broken_events(draw: st.DrawFn) -> dict[str, Any]:
    event = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(event)))
        node = event
        for key in path[:-1]:
            node = node[key] if isinstance(node, dict) and isinstance(node.get(key), dict) else {}
        if draw(st.booleans()):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = draw(ANY_JSON)
    return event


@settings(max_examples=400, deadline=None)
@given(broken_events())
def test_every_reason_is_in_a_producers_words(event: dict[str, Any]) -> None:
    try:
        parse_event(json.dumps(event).encode())
    except EventDecodeError as exc:
        assert "\n" not in exc.reason
        assert not PYDANTIC_WORDING.search(exc.reason), exc.reason
        for part in exc.reason.split("; "):
            assert re.match(r"^([A-Za-z][\w.\[\]]*: |the value must|and \d+ more$)", part), part
