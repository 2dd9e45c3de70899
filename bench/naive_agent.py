"""The naive projector, for comparison only: one event at a time, one row statement, one commit each.

It folds with the same pure fold (so its rows are as correct as the real projector's on an ordered
stream) but reads and writes one row per event in its own transaction, with Faust acking as it goes.
Run: KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... ENRICHLOG_EVENTS_TOPIC=... python bench/naive_agent.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust
import psycopg

from projector import sql as q
from projector.fold import fold
from projector.pgcopy import db_values
from projector.rows import COLUMNS, state_of_row, to_row
from schemas import EventDecodeError, parse_event

UPSERT_ONE = (
    f"INSERT INTO enrichment_logs AS l ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    "ON CONFLICT (job_id) WHERE fold_state IS NOT NULL DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("id", "job_id"))
)


def main() -> None:
    topic_name = os.environ["ENRICHLOG_EVENTS_TOPIC"]
    app = faust.App(
        os.environ.get("ENRICHLOG_CONSUMER_GROUP", "naive-bench"),
        broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
        store="memory://", key_serializer="raw", value_serializer="raw", topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", web_enabled=False,
        datadir=os.path.join(tempfile.gettempdir(), "enrichlog-faust-{conf.name}"),
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state: dict[str, Any] = {}

    @app.agent(topic)
    async def naive(stream: Any) -> None:
        conn = state.get("conn") or await psycopg.AsyncConnection.connect(os.environ["DATABASE_URL"])
        state["conn"] = conn
        async for value in stream:
            try:
                event = parse_event(value)
            except EventDecodeError:
                continue
            async with conn.transaction():
                cur = await conn.execute(q.SELECT_STATES, {"job_ids": [event.job_id]})
                found = await cur.fetchone()
                current = state_of_row(found[1:-1]) if found else None  # without job_id and fold_seq
                new = fold(current, [event])
                assert new is not None
                await conn.execute(UPSERT_ONE, db_values(to_row(new)))

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
