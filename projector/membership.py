"""Static group membership: a restarted projector takes its partitions back at once.

A dynamic member that dies (SIGKILL, OOM, a crash) stays in its consumer group until its session
times out; its restarted successor joins as a new member and the group waits for the ghost first, so
nothing is folded in between. A static member (Kafka's `group.instance.id`, KIP-345) is known by a
name of its own: the successor joining under the same name replaces the dead member at once and is
handed its partitions without a rebalance.

The other side of KIP-345: a static member does not leave its group when it stops (aiokafka, like
Kafka's Java client, sends no LeaveGroup then), so a projector stopped with SIGTERM would hold its
partitions, unread, for a whole session timeout. Its consumer (projector.kafka.membership
`LeavingConsumerThread`) leaves on a clean stop anyway, and the partitions move to the others at once.

Two live processes must never share a name: the second one to join takes the name, fencing the first,
which finds itself unknown to the group at its next offset commit or heartbeat and joins again, fencing
the second, and so on, about every second. Both keep fetching the same partitions, so the table stays
right (the store refuses, and logs, every batch below the stored positions), but each folds much of the
stream twice and the group never settles. The default name, the hostname, is unique per container or
pod; processes sharing a host need ENRICHLOG_INSTANCE_ID each. So that a mistake says so instead,
`claim_instance` holds the name in PostgreSQL for the process's lifetime before it joins the group: a
second live process with the same name stops at start (exit 1) and says who holds it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from projector import db
from projector.errors import ProjectorError


class InstanceTaken(ProjectorError):
    """Another live projector holds this process's instance id in its consumer group."""


# A session-level advisory lock per (group, instance id), held by a connection the process keeps open
# for its lifetime: PostgreSQL releases it the moment that connection ends (a SIGKILLed process's
# socket closes with it), so only a live process can hold it.
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0))"
# Who holds it: the other process's connections, named as the store names them.
_HOLDERS = """
SELECT pid, client_addr, backend_start FROM pg_stat_activity
 WHERE application_name = %(name)s AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1
"""
_held: list[psycopg.Connection[Any]] = []  # the lock's connection, kept open until the process exits


def claim_instance(database_url: str, group: str, instance_id: str | None, *, wait_s: float = 10.0) -> None:
    """Hold this process's instance id in `group` for as long as it lives, or raise InstanceTaken when
    another live process holds it (after `wait_s`: a predecessor's connection may take a moment to end).
    Nothing to hold for a dynamic member (no instance id).

    Not re-taken if the connection breaks (PostgreSQL restarted): a second process with the same id
    could then start, and the two would fence each other in the group as described above."""
    if instance_id is None:
        return
    key, name = f"enrichlog-projector/{group}/{instance_id}", f"enrichlog-projector {instance_id}"[:63]
    conn = db.connect(database_url, autocommit=True, timeout=10, name=name)  # the name: how _HOLDERS finds a holder
    deadline = time.monotonic() + wait_s
    while True:
        row = conn.execute(_TRY_LOCK, {"key": key}).fetchone()
        if row and row[0]:
            _held.append(conn)
            return
        if time.monotonic() > deadline:
            holder = conn.execute(_HOLDERS, {"name": name}).fetchone()
            conn.close()
            who = f" (PostgreSQL backend {holder[0]}, client {holder[1]}, since {holder[2]:%Y-%m-%d %H:%M:%S})" \
                if holder else ""
            raise InstanceTaken(
                f"instance id {instance_id!r} of consumer group {group!r} is held by another live projector{who}: "
                "two processes with one id would fence each other in the group again and again; give each "
                "process its own ENRICHLOG_INSTANCE_ID")
        time.sleep(0.2)
