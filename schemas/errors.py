"""Why a message value is not a job event, in words a producer's author understands.

Every reason is one line, `field.path: rule, got value` (several joined by "; "), because it ends in
the dead-letter header `dlq.error` and in logs. Formatting runs only for invalid input, never on the
valid path.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.common import NO_NUL

KINDS = ("job.started", "job.retrying", "job.finished", "job.failed")
PROCESSORS = (
    "CACHE_IMAGE", "DISCOGS_SEARCH_ARTIST", "DISCOGS_GET_ARTIST", "ENRICHMENT", "SPOTIFY_TRACK_FALLBACK",
    "ENRICHMENT_CHECK",
)
# The reader's JSON parser (pydantic-core's) refuses a value nested deeper than this, counting every
# value: the event object is at depth 1, its fields' values at depth 2, and so on.
MAX_DEPTH = 201
SCHEMA_MAJOR = 1
UUID_EXAMPLE = "0b9c3a52-5c7e-4d1e-9b6e-1f4a2c3d4e5f"
JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", type(None): "null",
              list: "array", dict: "object"}


class EventDecodeError(ValueError):
    """Raw bytes are not a valid job event; `reason` says which field and why."""

    def __init__(self, reason: str, *, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "undecodable" | "invalid-json" | "schema" | "unsupported-version"


def shown(value: Any, limit: int = 60) -> str:
    """A value as it looks in JSON, cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _got(value: Any) -> str:
    kind = JSON_TYPES.get(type(value))
    if kind in (None, "object", "array"):
        return f"got {kind or type(value).__name__}"
    if kind == "null":
        return "got null"
    return f"got {kind} {shown(value)}"


def _quoted_list(expected: str) -> str:
    # pydantic writes "'A', 'B' or 'C'"; a producer reads JSON: "A", "B", "C"
    return ", ".join(f'"{v.strip().strip(chr(39))}"' for v in expected.replace(" or ", ", ").split(","))


def _path(loc: tuple[int | str, ...]) -> str:
    """`detail.fieldsEnriched[2]` for pydantic's ('job.finished', 'detail', 'ENRICHMENT', 'fieldsEnriched', 2)."""
    out = ""
    for i, part in enumerate(loc):
        if (i == 0 and part in KINDS) or (i > 0 and loc[i - 1] == "detail" and part in PROCESSORS):
            continue  # the union member pydantic tried, not a field
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _rule(err: ErrorDetails, path: str) -> tuple[str, str]:
    """(path, rule) of one pydantic error."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing":
        return path, "required field is missing"
    if kind == "union_tag_not_found":
        tag = "kind" if not path else "processor"
        tags = KINDS if tag == "kind" else PROCESSORS
        return (f"{path}.{tag}" if path else tag), f"required field is missing (one of {_quoted_list(', '.join(tags))})"
    if kind == "union_tag_invalid":
        tag = "kind" if not path else "processor"
        given = value.get(tag) if isinstance(value, dict) else ctx.get("tag")  # pydantic's tag is str()'d
        return (f"{path}.{tag}" if path else tag), (
            f"must be one of {_quoted_list(ctx.get('expected_tags', ''))}, {_got(given)}"
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"{'must' if path else 'the value must'} be a JSON object, {_got(value)}"
    if kind in ("integer_type", "int_type", "int_parsing", "int_from_float"):
        return path, f"must be an integer, {_got(value)}"
    if kind == "string_type":
        return path, f"must be a string, {_got(value)}"
    if kind in ("float_type", "finite_number"):
        return path, f"must be a number, {_got(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return path, f"must be true or false, {_got(value)}"
    if kind == "list_type":
        return path, f"must be an array, {_got(value)}"
    if kind in ("enum", "literal_error"):
        return path, f"must be one of {_quoted_list(ctx.get('expected', ''))}, {_got(value)}"
    if kind == "greater_than_equal":
        return path, f"must be at least {ctx['ge']}, got {shown(value)}"
    if kind == "less_than_equal":
        return path, f"must be at most {ctx['le']}, got {shown(value)}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return path, "must not be empty"
        return path, f"must be at least {ctx['min_length']} characters long, got {len(value)}"
    if kind == "string_too_long":
        return path, f"must be at most {ctx['max_length']} characters long, got {len(value)}"
    if kind == "too_long":
        return path, f"must have at most {ctx['max_length']} items, got {ctx.get('actual_length', len(value))}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL:
        return path, "must not contain the NUL character (U+0000): PostgreSQL cannot store it"
    if kind == "string_pattern_mismatch" and path == "schemaVersion":
        return path, f'must be "{SCHEMA_MAJOR}.MINOR" (e.g. "{SCHEMA_MAJOR}.0"), got {shown(value)}'
    if kind == "string_pattern_mismatch":
        return path, f"must match the pattern {ctx.get('pattern')}, {_got(value)}"
    if kind == "uuid_format":
        return path, (f"must be a UUID in its 36-character form, 8-4-4-4-12 hexadecimal digits "
                      f'(e.g. "{UUID_EXAMPLE}"), {_got(value)}')
    if kind == "date_time_format":
        return path, ('must be an RFC 3339 date-time with an offset, e.g. "2026-02-06T12:00:00Z" or '
                      f'"2026-02-06T13:00:00.250+01:00" (years 1000 to 2999, no leap second), {_got(value)}')
    if kind == "value_error":
        return path, str(ctx.get("error", err["msg"]))  # the models' own rules say field and rule themselves
    return path, f"{err['msg']}, {_got(value)}"


def describe(exc: ValidationError, limit: int = 3) -> str:
    """`field.path: rule, got value; ...` for the first errors of a validation failure."""
    return describe_errors(exc.errors(include_url=False), limit)


# The two branches of schemas.common.Integer, as pydantic names them in an error's location.
_INTEGER_BRANCHES = ("integer", "number")
_RANGE = ("greater_than_equal", "less_than_equal")


def _one_per_integer(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """One error per Integer field (pydantic reports each branch): a range error if the value is a
    whole number, else "must be an integer"."""
    out: list[ErrorDetails] = []
    branches: dict[tuple[int | str, ...], list[ErrorDetails]] = {}
    for err in errors:
        loc = err["loc"]
        if loc and loc[-1] in _INTEGER_BRANCHES:
            if loc[:-1] not in branches:
                branches[loc[:-1]] = []
                out.append(err)  # its place; replaced below
            branches[loc[:-1]].append(err)
        else:
            out.append(err)
    for i, err in enumerate(out):
        group = branches.get(err["loc"][:-1]) if err["loc"] and err["loc"][-1] in _INTEGER_BRANCHES else None
        if group is None:
            continue
        ranged = [e for e in group if e["type"] in _RANGE]
        chosen = ranged[0] if ranged else {**group[0], "type": "integer_type"}
        value = chosen.get("input")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[i] = {**chosen, "loc": err["loc"][:-1], "input": value}
    return out


def describe_errors(errors: list[ErrorDetails], limit: int = 3) -> str:
    errors = _one_per_integer(errors)
    parts = []
    for err in errors[:limit]:
        path, rule = _rule(err, _path(err["loc"]))
        parts.append(f"{path}: {rule}" if path else rule)
    more = len(errors) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def version_error(exc: ValidationError) -> EventDecodeError | None:
    """The error for a `schemaVersion` string of another major version, which this reader cannot read."""
    errors = exc.errors(include_url=False)
    version = next((e for e in errors if _path(e["loc"]) == "schemaVersion"
                    and e["type"] in ("string_pattern_mismatch", "string_too_long")), None)
    if version is None:
        return None
    reason = (f"schemaVersion: {shown(version['input'])} is not supported: this reader reads "
              f'{SCHEMA_MAJOR}.x ("{SCHEMA_MAJOR}.MINOR", e.g. "{SCHEMA_MAJOR}.0")')
    others = [e for e in errors if e is not version]  # described after the version
    if others:
        reason += "; " + describe_errors(others)
    return EventDecodeError(reason, kind="unsupported-version")


def json_error(raw: bytes, detail: str) -> EventDecodeError:
    """Bytes that pydantic-core's JSON parser refused, `detail` being its message."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return EventDecodeError(f"value is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                                kind="undecodable")
    if not raw.strip():
        return EventDecodeError("not valid JSON: the value is empty", kind="invalid-json")
    if raw.startswith(b"\xef\xbb\xbf"):
        return EventDecodeError("not valid JSON: the value starts with a byte order mark (U+FEFF), "
                                "which JSON text sent over a network must not have", kind="invalid-json")
    if "recursion limit" in detail:
        return EventDecodeError(f"not valid JSON here: nested deeper than {MAX_DEPTH} levels ({detail})",
                                kind="invalid-json")
    if "surrogate" in detail or "hex escape" in detail:
        detail += r" (a \uD800-\uDFFF escape must be one half of a surrogate pair)"
    return EventDecodeError(f"not valid JSON: {detail}", kind="invalid-json")


class _NotJson(ValueError):
    pass


def _refuse(constant: str) -> Any:
    raise _NotJson(constant)


def non_json_number(raw: bytes) -> EventDecodeError | None:
    """pydantic-core reads NaN, Infinity and -Infinity, which are not JSON (JSON.parse refuses them).

    Only a value that fails validation is checked (a known field never accepts them): looking for
    them in every valid value would cost more than a tenth of a parse, and an unknown field is
    the one place where the reader lets them through."""
    try:
        json.loads(raw, parse_constant=_refuse)
    except _NotJson as exc:
        return EventDecodeError(f"not valid JSON: {exc} is not a JSON number (nor are NaN, Infinity, -Infinity)",
                                kind="invalid-json")
    except ValueError:
        return None
    return None
