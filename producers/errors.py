"""Named errors of the producer library, each carrying what it is about.

Two families: errors a *processor* raises to classify its own failure (`JobFailure`), and errors
of the publishing edge (`ProducerError` and below). A failed *delivery* is never raised into the
processor: it is counted in `KafkaPublisher.stats`, logged, and kept as `stats.last_error`.
"""

from __future__ import annotations

from schemas import ErrorKind


class JobFailure(Exception):
    """Raised by a processor to say why its attempt failed and whether the queue should retry.

    `code` is the processor's own short code (at most 50 characters on the wire), e.g.
    IMAGE_FETCH_FAILED; `retryable=False` makes the failure permanent whatever the attempt.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.UNKNOWN,
        code: str | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.retryable = retryable


class ProducerError(Exception):
    """Base of the publishing edge's errors."""


class LinkError(ProducerError, ValueError):
    """Linking fields are missing or inconsistent (e.g. a SPOTIFY_TRACK_FALLBACK without parent)."""


class PublisherClosed(ProducerError):
    """An event was published after `close()`: a programming error, so it is raised."""


class PublishTimeout(ProducerError):
    """Events were still undelivered when a bounded wait (flush, close, full buffer) ran out."""

    def __init__(self, what: str, *, pending: int, timeout_s: float) -> None:
        super().__init__(f"{what}: {pending} event(s) still undelivered after {timeout_s:.3g}s")
        self.pending = pending
        self.timeout_s = timeout_s


class DeliveryFailed(ProducerError):
    """The broker did not acknowledge an event (recorded in stats, never raised to a processor)."""

    def __init__(self, topic: str, cause: BaseException) -> None:
        super().__init__(f"delivery to topic {topic!r} failed: {type(cause).__name__}: {cause}")
        self.topic = topic
        self.cause = cause


class BufferFull(ProducerError):
    """The spool stayed full for max_block_ms: the event was dropped (recorded, not raised)."""

    def __init__(self, *, buffer_bytes: int, events: int, max_block_ms: int) -> None:
        super().__init__(
            f"producer spool full ({events} events, {buffer_bytes} bytes pending) for "
            f"{max_block_ms} ms: event dropped (is the broker reachable?)"
        )
        self.buffer_bytes = buffer_bytes
        self.events = events
        self.max_block_ms = max_block_ms


class TopicMissing(ProducerError):
    """The events topic does not exist: the library never has the broker auto-create it."""

    def __init__(self, topic: str, bootstrap_servers: str) -> None:
        super().__init__(
            f"topic {topic!r} does not exist on {bootstrap_servers}: create it with the partitions "
            "the projector needs (`enrichlog produce` and the projector create it with "
            "ENRICHLOG_TOPIC_PARTITIONS); events are kept in the spool meanwhile"
        )
        self.topic = topic


class RecordTooLarge(ProducerError, ValueError):
    """An event is larger than the topic accepts: refused before it is sent (raised to the caller).

    Sent anyway, the broker would refuse it, and kafka-python's idempotent producer treats that
    refusal as fatal. `limit` is the topic's max.message.bytes (or the client's max_request_size)
    less a record's framing.
    """

    def __init__(self, *, job_id: str | None, size: int, limit: int, topic: str) -> None:
        super().__init__(
            f"event of job {job_id!r} is {size} bytes, more than topic {topic!r} accepts ({limit} "
            "bytes): not sent"
        )
        self.job_id = job_id
        self.size = size
        self.limit = limit
