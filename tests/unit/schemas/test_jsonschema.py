"""The generated JSON Schema files: up to date, and in agreement with the models.

Consumers in other languages validate the stream with these files, so every valid event must pass
them, and what JSON Schema can express must be rejected by them as it is by `parse_event`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator, FormatChecker

from schemas import EventDecodeError, JobEvent, JobType, dump_event, parse_event
from schemas.export import OUT_DIR, UNION_FILE, build, main, render, stale_files, write
from tests.strategies import example_events, job_events

KIND_FILES = {k: f"{k}.schema.json" for k in ("job.started", "job.retrying", "job.finished", "job.failed")}
EXAMPLES = [event for job_type in JobType for event in example_events(job_type)]

# jsonschema checks "date-time" only with an optional package; consumers should assert it.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))


def _validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((OUT_DIR / file_name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FORMATS)


UNION = _validator(UNION_FILE)
BY_KIND = {kind: _validator(name) for kind, name in KIND_FILES.items()}


def _wire(event: JobEvent) -> dict[str, Any]:
    return json.loads(dump_event(event))


def _errors(validator: Draft202012Validator, wire: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(wire)]


# Up to date --------------------------------------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    stale = stale_files()
    assert not stale, f"stale JSON Schema files {[p.name for p in stale]}: run `python -m schemas.export`"


def test_there_is_one_file_per_kind_and_one_for_the_union() -> None:
    assert set(build()) == {*KIND_FILES.values(), UNION_FILE}


def test_generation_is_byte_stable() -> None:
    assert {n: render(s) for n, s in build().items()} == {n: render(s) for n, s in build().items()}
    for text in map(render, build().values()):
        assert text.endswith("}\n")


def test_check_reports_missing_changed_and_orphan_files(tmp_path: Path, capsys: Any) -> None:
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "job.started.schema.json").write_text("{}\n")
    (tmp_path / "job.cancelled.schema.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "job.started.schema.json" in err and "job.cancelled.schema.json" in err
    assert "job.finished.schema.json" not in err
    write(tmp_path)
    assert not (tmp_path / "job.cancelled.schema.json").exists()
    assert stale_files(tmp_path) == []


@pytest.mark.parametrize("name", [*KIND_FILES.values(), UNION_FILE])
def test_each_file_is_a_valid_2020_12_schema_with_a_header(name: str) -> None:
    schema = json.loads((OUT_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:enrichment-log:schema:")
    assert schema["title"]
    assert "parentJobId == rootJobId" in schema["description"]  # the rule JSON Schema cannot say


# Valid events pass -------------------------------------------------------------------------------


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.kind}-{e.job_type.value}")
def test_examples_of_every_kind_and_detail_validate(event: JobEvent) -> None:
    wire = _wire(event)
    assert _errors(UNION, wire) == []
    assert _errors(BY_KIND[event.kind], wire) == []
    for kind, validator in BY_KIND.items():
        if kind != event.kind:
            assert _errors(validator, wire), f"{event.kind} must not pass the {kind} schema"


@given(job_events())
def test_every_valid_event_validates(event: JobEvent) -> None:
    wire = _wire(event)
    assert _errors(UNION, wire) == []
    assert _errors(BY_KIND[event.kind], wire) == []


def test_a_newer_minor_version_with_unknown_fields_validates() -> None:
    wire = _wire(EXAMPLES[2]) | {"schemaVersion": "1.7", "traceId": "abc"}
    wire["entity"]["labelId"] = "x"
    wire["detail"]["cdnRegion"] = "eu"
    assert _errors(UNION, wire) == []


# Bad events fail both --------------------------------------------------------------------------

LONG = "j" * 101
BAD: dict[str, Any] = {
    "missing rootJobId": lambda w: {k: v for k, v in w.items() if k != "rootJobId"},
    "missing kind": lambda w: {k: v for k, v in w.items() if k != "kind"},
    "attempt as string": lambda w: w | {"attempt": "1"},
    "unknown jobType": lambda w: w | {"jobType": "ENRICH_PLAYLIST"},
    "naive occurredAt": lambda w: w | {"occurredAt": "2026-02-06T12:00:00"},
    "jobId of 101": lambda w: w | {"jobId": LONG, "rootJobId": LONG},
    "error message of 4001": lambda w: w | {"kind": "job.failed", "error": {"message": "m" * 4001}},
    "major version 2": lambda w: w | {"schemaVersion": "2.0"},
    "detail not fitting jobType": lambda w: w | {"detail": {"processor": "CACHE_IMAGE"}},
    "detail without processor": lambda w: w | {"detail": {"sources": []}},
    "spotify fallback as a root": lambda w: w | {
        "jobType": "SPOTIFY_TRACK_FALLBACK", "detail": {"processor": "SPOTIFY_TRACK_FALLBACK"}
    },
    "empty object": lambda w: {},
}


@pytest.mark.parametrize("mutate", BAD.values(), ids=BAD.keys())
def test_what_json_schema_can_express_is_rejected_by_both(mutate: Any) -> None:
    finished = next(e for e in example_events(JobType.ENRICH_ALBUM) if e.kind == "job.finished")
    wire = mutate(_wire(finished))
    assert _errors(UNION, wire)
    with pytest.raises(EventDecodeError):
        parse_event(json.dumps(wire).encode())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w | {"jobId": "c", "parentJobId": "root-A", "rootJobId": "root-B"},
        lambda w: w | {"rootJobId": "someone-else"},
    ],
    ids=["child whose root differs from its parent", "root whose rootJobId is not its jobId"],
)
def test_linking_is_left_to_the_reader_and_documented(mutate: Any) -> None:
    finished = next(e for e in example_events(JobType.ENRICH_ALBUM) if e.kind == "job.finished")
    wire = mutate(_wire(finished))
    assert _errors(UNION, wire) == []  # JSON Schema cannot compare two fields ...
    with pytest.raises(EventDecodeError, match=r"linking is flat|must equal jobId"):
        parse_event(json.dumps(wire).encode())  # ... the reference reader does
