"""The checks every query and path parameter of the console passes before it reaches the read side:
a parameter is a short line of text. Anything else is refused with a message naming the parameter."""

from __future__ import annotations

MAX_LENGTH = 200  # longer than any id, cursor, datetime or operation the read side accepts


class BadParameter(ValueError):
    """A parameter's value cannot be one; the message starts with the parameter's name."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


def checked(name: str, value: str | None) -> str | None:
    """`value`, stripped; None for an absent or empty one (an empty form field means "any")."""
    if value is None:
        return None
    if len(value) > MAX_LENGTH:
        raise BadParameter(name, f"longer than {MAX_LENGTH} characters ({len(value)})")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadParameter(name, "contains a control character")
    return value.strip() or None
