"""What a generic reader does with a vector: the JSON text rules, then JSON Schema.

The JSON text rules come before any schema (a schema validates a JSON value, not bytes): UTF-8
without a byte order mark, RFC 8259 syntax (no NaN, Infinity or -Infinity), no lone surrogate
escape, no value nested deeper than `maxDepth` (the top value being at depth 1).
tests/contract/js/validate.mjs does the same in JavaScript.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).parents[2]
VECTORS_FILE = ROOT / "schemas" / "vectors" / "events.json"
SCHEMA_DIR = ROOT / "schemas" / "jsonschema"


def load_vectors() -> dict[str, Any]:
    return json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


def raw_of(vector: dict[str, Any]) -> bytes:
    """The message value of a vector, as bytes."""
    if "rawBase64" in vector:
        return base64.b64decode(vector["rawBase64"])
    if "raw" in vector:
        return vector["raw"].encode("utf-8")
    return json.dumps(vector["event"]).encode()


class JsonTextError(ValueError):
    pass


def _constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number")


def _walk(value: Any, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise JsonTextError(f"nested deeper than {max_depth} levels")
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise JsonTextError("a lone surrogate")
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1, max_depth)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, depth, max_depth)
            _walk(item, depth + 1, max_depth)


def json_value(raw: bytes, max_depth: int) -> Any:
    """The JSON value of a message; JsonTextError when the bytes break a JSON text rule."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonTextError("not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise JsonTextError("a byte order mark")
    try:
        value = json.loads(text, parse_constant=_constant)
    except RecursionError as exc:
        raise JsonTextError(f"nested deeper than {max_depth} levels") from exc
    except json.JSONDecodeError as exc:
        raise JsonTextError(str(exc)) from exc
    _walk(value, 1, max_depth)
    return value


def validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def verdict(raw: bytes, max_depth: int, union: Draft202012Validator,
            by_kind: dict[str, Draft202012Validator]) -> tuple[str | None, list[str]]:
    """(None, []) when a generic reader accepts the value, else (the check that refused it, why)."""
    try:
        value = json_value(raw, max_depth)
    except JsonTextError as exc:
        return "json", [str(exc)]
    errors = [e.message for e in union.iter_errors(value)]
    kind = value.get("kind") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind in by_kind:
        own = [e.message for e in by_kind[kind].iter_errors(value)]
        if bool(own) != bool(errors):
            return "disagree", [f"union says {errors}, {kind} file says {own}"]
    return ("json-schema", errors) if errors else (None, [])
