"""U+0000 cannot be stored by PostgreSQL: the contract refuses it in every string, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas import EventDecodeError, dump_event, events, parse_event
from tests.contract.conformance import load_vectors, raw_of
from tests.scenarios import Chain


@pytest.mark.parametrize("field", ["jobId", "rootJobId", "reason", "triggeredBy"])
def test_nul_in_a_string_is_rejected_with_the_field_named(field: str) -> None:
    c = Chain()
    raw = dump_event(c.started(c.root_id)).decode()
    if field in ("jobId", "rootJobId"):
        raw = raw.replace(f'"{c.root_id}"', f'"{c.root_id}\\u0000"')
    else:
        raw = raw.replace('{"eventId"', f'{{"{field}":"a\\u0000b","eventId"', 1)
    with pytest.raises(EventDecodeError, match="NUL") as err:
        parse_event(raw.encode())
    assert field in str(err.value) and err.value.kind == "schema"


def test_nul_in_an_error_message_is_rejected() -> None:
    c = Chain()
    raw = dump_event(c.retrying(c.root_id, 1)).decode().replace("429 Too Many", "429\\u0000Too Many")
    with pytest.raises(EventDecodeError, match=r"error\.message.*NUL"):
        parse_event(raw.encode())


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    c = Chain()
    raw = dump_event(c.started(c.root_id)).decode().replace('{"eventId"', '{"reason":"C:\\\\u0000","eventId"', 1)
    assert parse_event(raw.encode()).reason == "C:\\u0000"


def _outcome(validate: Any, raw: bytes) -> Any:
    try:
        return validate(raw, by_name=False)
    except ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"], repr(e["input"])) for e in exc.errors(include_url=False)]


def test_the_validator_without_the_nul_rule_agrees_wherever_no_nul_escape_is() -> None:
    """parse_event skips the NUL rule for a value without the escape \\u0000: on every contract
    vector (NUL ones included) the two validators give the same event or the same errors, unless
    the value has that escape."""
    differ = set()
    for vector in load_vectors()["vectors"]:
        raw = raw_of(vector)
        if _outcome(events._VALIDATE_JSON, raw) != _outcome(events._VALIDATE_JSON_NO_NUL, raw):
            differ.add(vector["name"])
            assert b"\\u0000" in raw, vector["name"]
    assert differ  # the NUL vectors
