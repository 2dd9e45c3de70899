"""JSON Schema of the wire contract, generated from the models into `schemas/jsonschema/`.

One file per event kind (`job.started.schema.json` ...) and one for the whole `JobEvent` union
(`job-event.schema.json`), so that consumers in other languages can validate the stream. The
files are kept in the repository; a unit test fails when they are stale.

    python -m schemas.export           # rewrite the files
    python -m schemas.export --check   # exit 1 and list the stale files

The output is deterministic (sorted keys, two-space indent, trailing newline): regenerating
from unchanged models gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from schemas.common import ALWAYS_CHILD, NO_NUL, NO_NUL_JSON_SCHEMA
from schemas.details import DETAIL_FOR_JOB_TYPE
from schemas.events import EVENT_KINDS, SCHEMA_VERSION, JobEvent

OUT_DIR = Path(__file__).parent / "jsonschema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:enrichment-log:schema:"
UNION_FILE = "job-event.schema.json"

JSONSchema = dict[str, Any]

EXPRESSED = (
    "Expressed in this schema with if/then (allOf): detail.processor must fit jobType, and a "
    f"{', '.join(sorted(ALWAYS_CHILD))} job must have a parentJobId."
)
RUNTIME_ONLY = (
    "Checked by the reference reader (schemas.parse_event) but not expressible in JSON Schema, "
    "which cannot compare two fields: flat linking: a root job has no parentJobId and "
    "rootJobId == jobId; every job below a root, at any depth, has parentJobId == rootJobId and "
    "jobId != rootJobId. Before this schema applies, the value must be JSON text as RFC 8259 "
    "defines it: UTF-8 without a byte order mark, no NaN or Infinity, no lone surrogate escape, "
    "no value nested deeper than 201 levels (docs/events.md, Validation)."
)
FORWARD_COMPAT = (
    f"Contract version {SCHEMA_VERSION}. schemaVersion is MAJOR.MINOR: a reader accepts any "
    "minor version of its major one and ignores unknown fields (additionalProperties is open on "
    "purpose); a new major version comes on a new topic or a dual-write period."
)


class _WireSchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator without per-property titles (it derives "Sourceurl" from the alias)."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def _generate(target: Any) -> JSONSchema:
    return TypeAdapter(target).json_schema(
        by_alias=True, mode="validation", schema_generator=_WireSchemaGenerator
    )


def _portable(node: Any) -> None:
    """What every JSON Schema validator reads the same way, in place.

    `discriminator` is an OpenAPI keyword, not JSON Schema's (ajv's strict mode refuses it; `oneOf`
    over members with a `const` tag already chooses the member). The NUL rule also refuses lone
    surrogates, which the reader refuses as invalid JSON.
    """
    if isinstance(node, dict):
        node.pop("discriminator", None)
        if node.get("pattern") == NO_NUL:
            node["pattern"] = NO_NUL_JSON_SCHEMA
        for value in node.values():
            _portable(value)
    elif isinstance(node, list):
        for value in node:
            _portable(value)


def _require_discriminators(schema: JSONSchema) -> None:
    """Make `kind` and `processor` required: the reader needs them to choose a model.

    The models give them a default (so producers need not pass them), which pydantic turns into
    "optional" in the schema; on the wire they are always present.
    """
    nodes = [schema, *schema.get("$defs", {}).values()]
    for node in nodes:
        props = node.get("properties", {})
        for tag in ("kind", "processor"):
            if "const" in props.get(tag, {}):
                required = node.setdefault("required", [])
                if tag not in required:
                    required.insert(0, tag)


def _fit_rules(with_detail: bool) -> list[JSONSchema]:
    """The if/then rules for an event object: ALWAYS_CHILD job types, detail family per jobType."""
    rules: list[JSONSchema] = [
        {
            "if": {"properties": {"jobType": {"const": str(job_type)}}, "required": ["jobType"]},
            "then": {"properties": {"parentJobId": {"type": "string"}}, "required": ["parentJobId"]},
        }
        for job_type in sorted(ALWAYS_CHILD)
    ]
    if not with_detail:
        return rules
    families: dict[str, list[str]] = {}
    for job_type, model in DETAIL_FOR_JOB_TYPE.items():
        families.setdefault(model.model_fields["processor"].default, []).append(str(job_type))
    for processor, job_types in sorted(families.items()):
        # `detail` may be null: the rule applies to an object (and says so, for ajv's strictTypes)
        rules.append(
            {
                "if": {
                    "properties": {"jobType": {"enum": sorted(job_types)}, "detail": {"type": "object"}},
                    "required": ["jobType", "detail"],
                },
                "then": {
                    "properties": {"detail": {"type": "object", "properties": {"processor": {"const": processor}}}}
                },
            }
        )
    return rules


def _annotate_event(node: JSONSchema, model: type) -> None:
    node["allOf"] = _fit_rules(with_detail="detail" in node.get("properties", {}))
    doc = (model.__doc__ or "").strip()
    node["description"] = f"{doc} {EXPRESSED} {RUNTIME_ONLY}".strip()


def _with_header(schema: JSONSchema, file_name: str, title: str, description: str) -> JSONSchema:
    stem = file_name.removesuffix(".schema.json")
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{stem}:{SCHEMA_VERSION.split('.')[0]}",
        "$comment": "Generated by `python -m schemas.export` from schemas/*.py: do not edit.",
        **schema,
        "title": title,
        "description": description,
    }


def build() -> dict[str, JSONSchema]:
    """Every schema file, by file name."""
    files: dict[str, JSONSchema] = {}
    for model in EVENT_KINDS:
        kind = model.model_fields["kind"].default
        schema = _generate(model)
        _portable(schema)
        _require_discriminators(schema)
        _annotate_event(schema, model)
        name = f"{kind}.schema.json"
        files[name] = _with_header(
            schema, name, f"{model.__name__} ({kind})", f"{schema['description']} {FORWARD_COMPAT}"
        )
    union = _generate(JobEvent)
    _portable(union)
    _require_discriminators(union)
    for model in EVENT_KINDS:
        _annotate_event(union["$defs"][model.__name__], model)
    files[UNION_FILE] = _with_header(
        union,
        UNION_FILE,
        "JobEvent",
        "One message value of the job event topic (Kafka key: rootJobId), one of the kinds "
        f"{', '.join(m.model_fields['kind'].default for m in EVENT_KINDS)}, chosen by `kind`. "
        f"{EXPRESSED} {RUNTIME_ONLY} {FORWARD_COMPAT}",
    )
    return files


def render(schema: JSONSchema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_files(out_dir: Path = OUT_DIR) -> list[Path]:
    """Files that are missing, differ from a fresh generation, or are no longer generated."""
    expected = {name: render(schema) for name, schema in build().items()}
    stale = [
        out_dir / name
        for name, text in sorted(expected.items())
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]
    if out_dir.is_dir():
        stale += sorted(p for p in out_dir.glob("*.schema.json") if p.name not in expected)
    return stale


def write(out_dir: Path = OUT_DIR) -> list[Path]:
    """(Re)write every schema file, remove ones no longer generated; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = build()
    for old in out_dir.glob("*.schema.json"):
        if old.name not in files:
            old.unlink()
    written = []
    for name, schema in sorted(files.items()):
        path = out_dir / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.export", description="Generate the event contract's JSON Schema files."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any file is stale")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"directory (default {OUT_DIR})")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        if stale:
            print("regenerate with: python -m schemas.export", file=sys.stderr)
            return 1
        return 0
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
