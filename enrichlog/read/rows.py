"""Row factories of the read side: each row straight into its class, by position.

psycopg's class_row builds a dict of keyword arguments per row; on a timeline of hundreds of jobs
that costs more than decoding the row. The read side's statements select their columns in the order
of their class's fields, so a row is the class's arguments as they come: `positional` checks that
order once per statement (by the columns' names) and then passes each row's values positionally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from psycopg.rows import BaseRowFactory, RowMaker

T = TypeVar("T")


def field_names(kind: type) -> tuple[str, ...]:
    """A dataclass' or a NamedTuple's field names, in order."""
    if is_dataclass(kind):
        return tuple(f.name for f in fields(kind))
    return tuple(kind._fields)  # type: ignore[attr-defined]


def positional(kind: Callable[..., T]) -> BaseRowFactory[T]:
    """A row factory making `kind(*values)`; ValueError when the statement's columns are not `kind`'s
    fields in their order (a statement and its class out of step)."""
    expected = field_names(kind)  # type: ignore[arg-type]

    def factory(cursor: Any) -> RowMaker[T]:
        columns = tuple(c.name for c in cursor.description or ())
        if columns and columns != expected:
            raise ValueError(f"columns {columns} are not the fields of {kind.__name__} {expected}")

        def make(values: Sequence[Any]) -> T:
            return kind(*values)
        return make
    return factory
