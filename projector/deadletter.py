"""Dead letters: a message the projector cannot fold goes to the dead-letter topic, whole when it fits.

Headers say why (`dlq.reason`, `dlq.error`), where from (`dlq.topic`, `dlq.partition`,
`dlq.offset`) and when (`dlq.at`); the original headers are kept. A dead letter that does not fit
the dead-letter topic's limit (`max.message.bytes`: the largest record batch the topic takes,
compared by the producer before compression) goes in a reduced form instead, so that no single
message can stop the stream: see `reduced`. The source topic still holds the original.

Writing them (`projector.kafka.deadletter`) is acknowledged by all in-sync replicas before the
batch's positions are committed. A crash between the two re-sends the dead letters: the
dead-letter topic is at-least-once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from projector.errors import DeadLetterError

# A record batch's fixed header (format v2: base offset, length, leader epoch, magic, crc,
# attributes, last offset delta, first and max timestamps, producer id and epoch, base sequence,
# record count).
BATCH_HEADER_BYTES = 61
MAX_ERROR_BYTES = 4000

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message to dead-letter, and why (`reason` is the metric's label, `error` the details)."""

    message: RawMessage
    reason: str
    error: str


class DeadLetterSink(Protocol):
    async def send_all(self, letters: Sequence[DeadLetter]) -> None:
        """Write every letter (acknowledged) before returning; raise rather than lose one."""
        ...

    async def close(self) -> None: ...


def dead_letter_headers(letter: DeadLetter) -> Headers:
    """The `dlq.*` headers of a dead letter (the original headers not included). `dlq.at` always
    has microseconds, so that its length does not depend on the time."""
    message = letter.message
    return [
        ("dlq.reason", letter.reason.encode()),
        ("dlq.error", letter.error.encode()[:MAX_ERROR_BYTES]),
        ("dlq.topic", message.topic.encode()),
        ("dlq.partition", str(message.partition).encode()),
        ("dlq.offset", str(message.offset).encode()),
        ("dlq.at", datetime.now(UTC).isoformat(timespec="microseconds").encode()),
    ]


def _varint_bytes(n: int) -> int:
    """Bytes of Kafka's variable-length zigzag encoding of n."""
    z, size = (n << 1) ^ (n >> 63), 1
    while z >= 0x80:
        z >>= 7
        size += 1
    return size


def _field_bytes(length: int | None) -> int:
    """A length-prefixed field of a record: -1 (one byte) for null."""
    return 1 if length is None else _varint_bytes(length) + length


def batch_bytes(key: int | None, value: int | None, headers: Headers) -> int:
    """Bytes of an uncompressed record batch holding only a record with a key and a value of these
    lengths (None: null) and these headers: what the broker compares with `max.message.bytes`."""
    body = 3 + _field_bytes(key) + _field_bytes(value) + _varint_bytes(len(headers))  # attributes, deltas
    for name, header in headers:
        body += _field_bytes(len(name.encode())) + _field_bytes(len(header))
    return BATCH_HEADER_BYTES + _varint_bytes(body) + body


def _len(b: bytes | None) -> int | None:
    return None if b is None else len(b)


@dataclass(frozen=True, slots=True)
class Record:
    """What goes to the dead-letter topic for one dead letter."""

    key: bytes | None
    value: bytes | None
    headers: Headers
    reduced: bool = False

    @property
    def size(self) -> int:
        """Bytes of its record batch when it is sent alone."""
        return batch_bytes(_len(self.key), _len(self.value), self.headers)


def dead_letter_record(letter: DeadLetter, limit: int) -> Record:
    """The record of a dead letter: the message whole (key, value, original headers, `dlq.*`
    headers) when its record batch fits `limit` bytes, else its reduced form."""
    message = letter.message
    headers = dead_letter_headers(letter)
    whole = Record(message.key, message.value, [*message.headers, *headers])
    return whole if whole.size <= limit else reduced(letter, headers, limit)


def reduced(letter: DeadLetter, headers: Headers, limit: int) -> Record:
    """The dead letter cut to fit `limit` bytes, and saying so: `dlq.reduced: true`, the original
    value's size (`dlq.original-size`, bytes) and digest (`dlq.original-sha256`, hex), the limit it
    was cut to (`dlq.limit`), and the value's first bytes, as many as fit. The original headers and
    key are kept if they fit beside the `dlq.*` headers, else left out (`dlq.dropped`: `headers`,
    `headers,key`); `dlq.error` is cut too if even that does not fit."""
    message = letter.message
    value = message.value
    about: Headers = [
        ("dlq.reduced", b"true"),
        ("dlq.original-size", str(len(value or b"")).encode()),
        ("dlq.original-sha256", hashlib.sha256(value or b"").hexdigest().encode()),
        ("dlq.limit", str(limit).encode()),
    ]
    key, kept = message.key, [*message.headers, *headers, *about]
    if batch_bytes(_len(key), 0, kept) > limit:
        kept = [*headers, *about, ("dlq.dropped", b"headers")]
        if batch_bytes(_len(key), 0, kept) > limit:
            kept, key = [*headers, *about, ("dlq.dropped", b"headers,key")], None
    room = limit - batch_bytes(_len(key), 0, kept)
    if room < 0:
        kept = _cut_error(kept, -room)
        room = limit - batch_bytes(_len(key), 0, kept)
        if room < 0:
            raise DeadLetterError(
                f"the dead-letter topic's limit of {limit} bytes cannot hold even the reduced form "
                f"({limit - room} bytes): raise its max.message.bytes",
                topic=message.topic, partition=message.partition, offset=message.offset,
            )
    if value is None:
        return Record(key, None, kept, reduced=True)
    n = min(len(value), room)
    while n > 0 and batch_bytes(_len(key), n, kept) > limit:  # the value's length prefix grows with n
        n -= 1
    return Record(key, value[:n], kept, reduced=True)


def _cut_error(headers: Headers, excess: int) -> Headers:
    """`dlq.error` shorter by `excess` bytes (and a few more: its length prefix shrinks too)."""
    return [(k, v[: max(0, len(v) - excess - 4)] if k == "dlq.error" else v) for k, v in headers]


class ListDeadLetters:
    """Dead letters kept in a list, for unit tests of the pipeline."""

    def __init__(self) -> None:
        self.sent: list[tuple[RawMessage, str, str]] = []

    async def send_all(self, letters: Sequence[DeadLetter]) -> None:
        self.sent.extend((letter.message, letter.reason, letter.error) for letter in letters)

    async def close(self) -> None:
        return None
