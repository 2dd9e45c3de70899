"""U+0000 cannot be stored by PostgreSQL: the contract refuses it in every string, naming the field."""

from __future__ import annotations

import pytest

from schemas import EventDecodeError, dump_event, parse_event
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
