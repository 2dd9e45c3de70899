"""What the store tells listeners when a batch's rows commit: one NOTIFY on `CHANNEL` per batch.

The notification is sent in the transaction that writes the rows, so PostgreSQL delivers it on
commit only (a rolled-back batch says nothing). Its payload is a JSON object
`{"roots": [job ids], "more": bool}`: the roots whose timelines the batch may have changed (the root
of every touched job, and a former root a child moved away from), sorted, at most `MAX_ROOTS` of
them. With `more` true the list is cut short: a listener treats the batch as "anything may have
changed", as after a rebuild (projector.rebuild sends `ANYTHING` in its swap's transaction). The
payload stays under NOTIFY's limit (`MAX_PAYLOAD` bytes) whatever the ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from projector.state import JobState

CHANNEL = "enrichlog_rows"
MAX_ROOTS = 50
MAX_PAYLOAD = 7999  # PostgreSQL refuses a payload of 8000 bytes or more
ANYTHING = '{"roots":[],"more":true}'  # a rebuild's notification: any row may have changed

# Sent in the batch's transaction, pipelined with its other statements.
NOTIFY = "SELECT pg_notify(%s, %s)"


def touched_roots(states: Mapping[str, tuple[JobState, int]], before: Mapping[str, JobState]) -> set[str]:
    """The roots whose timelines a batch changes, from each touched job's new state (and row version)
    and its stored one, if any: a job's root is its parent or itself (flat linking), before and after."""
    roots = {st.identity.parent_job_id or job_id for job_id, (st, _) in states.items()}
    return roots | {before[j].identity.parent_job_id or j for j in states.keys() & before.keys()}


def payload(roots: Iterable[str]) -> str:
    """The notification of a batch that touched the timelines of `roots`."""
    ids = sorted(set(roots))
    kept = ids[:MAX_ROOTS]
    while True:
        text = json.dumps({"roots": kept, "more": len(kept) < len(ids)}, separators=(",", ":"))
        if len(text.encode()) <= MAX_PAYLOAD:
            return text
        kept = kept[: len(kept) // 2]  # ids far longer than a job id: fewer of them
