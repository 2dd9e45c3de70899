"""The JSON documents that `enrichlog ... --json` prints and the console's API answers: one writer
for both, so that they are the same document byte for byte.

orjson, indented by two spaces, non-ASCII as UTF-8. Values JSON has no type for go through `str`,
as `json.dumps(default=str)` did (datetimes included: the read models give them as ISO strings
already); an integer beyond 64 bits, which orjson refuses, falls back to `json` with the same layout.
"""

from __future__ import annotations

import json

import orjson

# Datetimes and dataclasses passed through to `default`, as `json` gave them to it.
OPTIONS = (orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
           | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)


def dumps(payload: object) -> bytes:
    """`payload` as an indented JSON document, UTF-8, ending with a newline."""
    try:
        return orjson.dumps(payload, default=str, option=OPTIONS) + b"\n"
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: json writes any integer
        return (json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n").encode()
