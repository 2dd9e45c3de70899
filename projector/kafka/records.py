"""Raw record access: the edge's records as the pipeline's `RawMessage` (what is dead-lettered)."""

from __future__ import annotations

from typing import Any

from projector.deadletter import RawMessage


def raw_of_record(record: Any) -> RawMessage:
    """An aiokafka record (what the Faust agent is handed, in bulk) as a RawMessage: only a message
    that is dead-lettered is turned into one."""
    headers = tuple((k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in (record.headers or ()))
    return RawMessage(record.topic, record.partition, record.offset, record.key, record.value, headers,
                      record.timestamp)
