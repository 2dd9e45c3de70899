"""Every reader agrees with every vector: the reference reader (parse_event, and the projector's
decode), and Python's jsonschema on the generated files (ajv: test_vectors_ajv.py)."""

from __future__ import annotations

from typing import Any

import pytest

from projector.deadletter import RawMessage
from projector.pipeline import decode
from projector.ports import Positioned
from schemas import EventDecodeError, parse_event
from tests.contract import vectors
from tests.contract.conformance import load_vectors, raw_of, validator, verdict

DOC = load_vectors()
VECTORS = DOC["vectors"]
UNION = validator("job-event.schema.json")
BY_KIND = {k: validator(f"{k}.schema.json") for k in ("job.started", "job.retrying", "job.finished", "job.failed")}


def _ids(vector: dict[str, Any]) -> str:
    return vector["name"]


def test_the_vectors_file_is_up_to_date() -> None:
    assert vectors.main(["--check"]) == 0, "run `python -m tests.contract.vectors`"


def test_names_are_unique_and_every_check_is_covered() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names))
    assert {v["checkedBy"] for v in VECTORS if not v["valid"]} == {"json", "json-schema", "reader"}
    assert {v["reason"] for v in VECTORS if not v["valid"]} == {"undecodable", "invalid-json", "schema",
                                                               "unsupported-version"}


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_the_reference_reader_agrees(vector: dict[str, Any]) -> None:
    raw = raw_of(vector)
    if vector["valid"]:
        parse_event(raw)
        return
    with pytest.raises(EventDecodeError) as caught:
        parse_event(raw)
    assert (caught.value.kind, caught.value.reason) == (vector["reason"], vector["message"])
    assert "\n" not in caught.value.reason  # it goes into a Kafka header and a log line


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_the_projectors_decode_agrees(vector: dict[str, Any]) -> None:
    item = decode(RawMessage("t", 0, 7, b"k", raw_of(vector)))
    if vector["valid"]:
        assert isinstance(item, Positioned) and item.event is not None and item.offset == 7
    else:
        assert not isinstance(item, Positioned)
        _, error = item
        assert (error.kind, error.reason) == (vector["reason"], vector["message"])


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_python_jsonschema_agrees(vector: dict[str, Any]) -> None:
    check, why = verdict(raw_of(vector), DOC["maxDepth"], UNION, BY_KIND)
    expected = None if vector["valid"] or vector["checkedBy"] == "reader" else vector["checkedBy"]
    assert check == expected, why
