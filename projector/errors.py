"""The projector's errors. Each says what failed and, where it applies, which message."""

from __future__ import annotations


class ProjectorError(RuntimeError):
    """Base of the projector's errors."""


class ConfigError(ProjectorError):
    """The configuration is invalid; the message names the variable."""


class StoreError(ProjectorError):
    """PostgreSQL rejected a batch (or another statement) for a reason that retrying will not fix.

    `poison` is true only when the rejection is about the data (SQLSTATE class 22, data exception,
    or 23, integrity violation): then one event is to blame and can be isolated. Anything else (a
    missing index, grant or column; a read-only database) is the deployment's fault: the projector
    stops rather than dead-letter every event. `sqlstate`: the server's code, when it gave one.
    """

    def __init__(self, message: str, *, poison: bool = False, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.poison, self.sqlstate = poison, sqlstate


class StoreUnavailable(StoreError):
    """PostgreSQL cannot be reached (or the transaction hit a transient error): retry later."""


class DeadLetterError(ProjectorError):
    """A bad message could not be written to the dead-letter topic: stop rather than lose it."""

    def __init__(self, message: str, *, topic: str, partition: int, offset: int) -> None:
        super().__init__(f"{message} (message {topic}[{partition}]@{offset})")
        self.topic, self.partition, self.offset = topic, partition, offset


class RebuildError(ProjectorError):
    """A rebuild or its check cannot run as asked (unknown topic, no positions ...); nothing changed."""
