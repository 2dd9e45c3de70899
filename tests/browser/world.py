"""The data a person sees in the console under test and in the README's screenshots: a simulated
workload (the demo's chains) around three roots the tests look for, all written by the real store.

`fold` writes events through the real store while a browser is open: Playwright's synchronous API
keeps an event loop running on this thread, so the store's asyncio runs on a thread of its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from producers.workload import WorkloadConfig, generate_events
from schemas import JobEvent
from tests.integration.test_queries import legacy, project, shifted, success_chain
from tests.scenarios import album_chain_with_failed_child


@dataclass(frozen=True)
class World:
    """A seeded database and the references a test looks for in it."""

    db: str
    partial: str   # job id of the newest root: PARTIAL, its cover-art child failed permanently
    failing: str   # job id of that child
    ok: str        # job id of a root that succeeded (older than the simulated ones)
    legacy: str    # row id of a FAILED legacy root (the oldest)


def fold(db: str, events: list[JobEvent]) -> None:
    """Write `events` into `db` through the real store, as the projector does."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(project, db, events).result()


def seed(db: str, now: datetime | None = None) -> World:
    """Fill a migrated, empty `db`: the PARTIAL root a few minutes before `now`, then the workload's
    roots over the hour before, a successful root, a legacy FAILED row."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    chain, events = album_chain_with_failed_child()
    # the demo's rates (enrichlog demo): some simulated roots retry, a few fail
    workload = WorkloadConfig(chains=9, seed=7, retry_rate=0.2, failure_rate=0.05,
                              start=now - timedelta(minutes=55), chain_interval_s=5 * 60)
    ok, ok_events = success_chain(now - timedelta(minutes=70))
    fold(db, [*shifted(events, now - timedelta(minutes=3)), *generate_events(workload), *ok_events])
    with psycopg.connect(db, autocommit=True) as conn:
        old = legacy(conn, now - timedelta(minutes=95), status="FAILED")
    return World(db=db, partial=chain.root_id, failing=f"{chain.root_id}/cover", ok=ok.root_id, legacy=str(old))
