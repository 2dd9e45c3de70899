"""The port between the reporter and where events go, and the in-memory sink.

A sink takes validated events one at a time. `publish` must not raise because a *delivery*
failed (that is counted by the sink); it may raise for a programming error (publishing after
close). `KafkaPublisher` is the production sink; `ListSink` keeps events in memory for tests and
for the workload generator's "give me the events" mode.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas import JobEvent


@runtime_checkable
class EventSink(Protocol):
    """Where a Reporter sends its events."""

    def publish(self, event: JobEvent) -> bool:
        """Accept one event; False when it was dropped (delivery problems are counted, not raised)."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every accepted event is delivered (bounded by timeout)."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release resources."""
        ...


class ListSink:
    """Keeps published events in a list, in order."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def publish(self, event: JobEvent) -> bool:
        self.events.append(event)
        return True

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None

    def take(self) -> list[JobEvent]:
        """The events published so far, removing them from the sink."""
        events, self.events = self.events, []
        return events
