"""Kafka's rules for topic names, checked where a setting names a topic.

The broker refuses a name longer than 249 characters, with a character outside `[a-zA-Z0-9._-]`, or
equal to `.` or `..` (error code 17, InvalidTopicException, at the first request that names it):
checked when the settings are read, the mistake names its variable instead.
"""

from __future__ import annotations

import re

MAX_LENGTH = 249
DEAD_LETTER_SUFFIX = ".dlq"
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")


def topic_name_problem(name: str) -> str | None:
    """What Kafka would refuse in `name`, or None when it is a legal topic name."""
    if not name:
        return "must not be empty"
    if name in (".", ".."):
        return f"must not be {name!r} (Kafka refuses '.' and '..')"
    if len(name) > MAX_LENGTH:
        return f"is {len(name)} characters long, Kafka's limit is {MAX_LENGTH}"
    if not _LEGAL.fullmatch(name):
        bad = sorted({c for c in name if not _LEGAL.fullmatch(c)})
        return f"has characters Kafka refuses ({''.join(bad)!r}): only ASCII letters, digits, '.', '_' and '-'"
    return None


def check_topic_name(variable: str, name: str) -> str:
    """`name`, or ValueError naming `variable` and the rule it breaks."""
    problem = topic_name_problem(name)
    if problem is not None:
        raise ValueError(f"{variable} {problem}")
    return name
