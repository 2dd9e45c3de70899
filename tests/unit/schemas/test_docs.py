"""docs/events.md stays accurate: its examples parse and validate, it names every wire field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas import DETAIL_FOR_JOB_TYPE, EVENT_KINDS, JobType, dump_event, parse_event
from schemas.events import Entity, JobError
from schemas.export import OUT_DIR, UNION_FILE
from tests.strategies import example_events

DOC = (Path(__file__).parents[3] / "docs" / "events.md").read_text(encoding="utf-8")
BLOCKS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)]
EVENTS = [b for b in BLOCKS if "kind" in b]
DETAILS = [b for b in BLOCKS if "kind" not in b]
UNION = Draft202012Validator(json.loads((OUT_DIR / UNION_FILE).read_text(encoding="utf-8")))
JOB_TYPE_OF = {model.model_fields["processor"].default: t for t, model in DETAIL_FOR_JOB_TYPE.items()}


def _aliases(model: Any) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def test_the_doc_has_an_example_of_every_kind_and_detail() -> None:
    assert {e["kind"] for e in EVENTS} == {m.model_fields["kind"].default for m in EVENT_KINDS}
    processors = {b["processor"] for b in DETAILS} | {e["detail"]["processor"] for e in EVENTS if "detail" in e}
    assert processors == set(JOB_TYPE_OF)


@pytest.mark.parametrize("example", EVENTS, ids=lambda e: e["kind"])
def test_event_examples_parse_and_validate(example: dict[str, Any]) -> None:
    raw = json.dumps(example).encode()
    event = parse_event(raw)
    assert list(UNION.iter_errors(example)) == []
    if example["schemaVersion"] == "1.0":  # a newer minor's unknown fields are dropped
        assert json.loads(dump_event(event)) == example


@pytest.mark.parametrize("detail", DETAILS, ids=lambda d: d["processor"])
def test_detail_examples_parse_and_validate(detail: dict[str, Any]) -> None:
    job_type = JOB_TYPE_OF[detail["processor"]]
    wire = json.loads(dump_event(example_events(JobType(job_type))[2])) | {"detail": detail}
    parse_event(json.dumps(wire).encode())
    assert list(UNION.iter_errors(wire)) == []


def test_the_doc_names_every_wire_field() -> None:
    fields = _aliases(Entity) | _aliases(JobError)
    for model in [*EVENT_KINDS, *DETAIL_FOR_JOB_TYPE.values()]:
        fields |= _aliases(model)
    missing = sorted(f for f in fields if f"`{f}`" not in DOC)
    assert not missing, f"docs/events.md does not mention {missing}"


def test_the_doc_names_every_job_type() -> None:
    assert not [t for t in JobType if f"`{t.value}`" not in DOC]
