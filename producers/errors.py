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
    """The bounded buffer stayed full for max_block_ms: the event was dropped (recorded, not raised)."""

    def __init__(self, *, buffer_bytes: int, max_block_ms: int) -> None:
        super().__init__(
            f"producer buffer full ({buffer_bytes} bytes pending) for {max_block_ms} ms: "
            "event dropped (is the broker reachable?)"
        )
        self.buffer_bytes = buffer_bytes
        self.max_block_ms = max_block_ms
