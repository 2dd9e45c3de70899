"""A dead letter's record: whole when its batch fits the dead-letter topic's limit, else reduced to fit."""

from __future__ import annotations

import hashlib

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import given
from hypothesis import strategies as st

from projector.deadletter import DeadLetter, RawMessage, batch_bytes, dead_letter_record
from projector.errors import DeadLetterError

# Lengths around the varints' byte boundaries (63/64, 8191/8192 in zigzag encoding) and beyond.
lengths = st.one_of(st.none(), st.integers(0, 200), st.integers(8000, 8400), st.integers(1_040_000, 1_050_000))


def _encoded(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    """Bytes of the batch aiokafka's own encoder builds for this one record."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=2**31 - 1)
    builder.append(0, timestamp=1_700_000_000_000, key=key, value=value, headers=headers)
    return len(builder.build())


@given(key=lengths, value=lengths, header_values=st.lists(lengths.filter(lambda n: n is not None), max_size=3))
def test_batch_bytes_is_what_the_encoder_writes(key: int | None, value: int | None, header_values: list[int]) -> None:
    headers = [(f"h{i}", b"v" * n) for i, n in enumerate(header_values)]
    k = None if key is None else b"k" * key
    v = None if value is None else b"x" * value
    assert batch_bytes(key, value, headers) == _encoded(k, v, headers)


def _letter(value: bytes | None, key: bytes | None = b"root-1",
            headers: tuple[tuple[str, bytes], ...] = ()) -> DeadLetter:
    return DeadLetter(RawMessage("events", 2, 1234, key, value, headers), "schema", "jobType: not one of the job types")


def test_a_dead_letter_that_fits_goes_whole_with_its_headers() -> None:
    letter = _letter(b"\xff" * 1000, headers=(("trace", b"1"),))
    record = dead_letter_record(letter, 1_048_588)
    names = [k for k, _ in record.headers]
    assert (record.key, record.value, record.reduced) == (b"root-1", b"\xff" * 1000, False)
    assert names == ["trace", "dlq.reason", "dlq.error", "dlq.topic", "dlq.partition", "dlq.offset", "dlq.at"]
    assert record.size == _encoded(record.key, record.value, record.headers)


@given(size=st.integers(20_000, 30_000))  # a value alone as large as the limit or larger
def test_a_dead_letter_over_the_limit_is_cut_to_exactly_what_fits(size: int) -> None:
    limit = 20_000
    value = bytes(range(256)) * (size // 256 + 1)
    value = value[:size]
    record = dead_letter_record(_letter(value, headers=(("trace", b"1"),)), limit)
    headers = dict(record.headers)
    assert record.reduced and headers["dlq.reduced"] == b"true"
    assert headers["dlq.original-size"] == str(size).encode() and headers["dlq.limit"] == b"20000"
    assert headers["dlq.original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["trace"] == b"1" and headers["dlq.reason"] == b"schema" and "dlq.dropped" not in headers
    assert record.value is not None and value.startswith(record.value) and record.key == b"root-1"
    assert record.size <= limit < batch_bytes(6, len(record.value) + 1, record.headers)  # no byte more fits
    assert record.size == _encoded(record.key, record.value, record.headers)


def test_headers_then_the_key_are_left_out_when_they_alone_do_not_fit() -> None:
    limit = 10_000
    record = dead_letter_record(_letter(b"x" * 20_000, headers=(("big", b"h" * 12_000),)), limit)
    assert dict(record.headers)["dlq.dropped"] == b"headers" and "big" not in dict(record.headers)
    assert record.key == b"root-1" and record.value and record.size <= limit
    record = dead_letter_record(_letter(b"x" * 20_000, key=b"k" * 12_000, headers=(("big", b"h" * 12_000),)), limit)
    assert dict(record.headers)["dlq.dropped"] == b"headers,key" and record.key is None
    assert record.value and record.size <= limit


def test_the_error_is_cut_when_nothing_else_is_left_to_cut() -> None:
    letter = DeadLetter(RawMessage("events", 0, 1, None, b"x" * 5000), "schema", "e" * 4000)
    record = dead_letter_record(letter, 1000)
    assert record.reduced and record.size <= 1000 and len(dict(record.headers)["dlq.error"]) < 1000


def test_a_limit_too_small_for_even_the_reduced_form_is_an_error_naming_the_message() -> None:
    with pytest.raises(DeadLetterError, match=r"raise its max.message.bytes.*events\[2\]@1234"):
        dead_letter_record(_letter(b"x" * 5000), 200)
