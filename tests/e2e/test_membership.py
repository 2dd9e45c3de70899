"""Group membership: a restarted projector takes its partitions back at once, a stopped one hands them
over at once. Both without waiting for a session timeout, which the tests set long (a minute) so that
waiting for it cannot pass for either: membership, not speed, is what they check."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient

from tests.harness import (
    ProjectorProcess,
    assert_table_is_the_fold,
    caught_up,
    positions,
    stream,
    wait_for,
    workload,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

SESSION_S = 60.0
# Well before the session would expire: a member that waited for it would take longer than this.
WITHOUT_WAITING_S = SESSION_S / 2
RESTARTS = 2


def _assignment(bootstrap: str, group: str) -> dict[str, set[int]]:
    """The group's members by instance id, each with its assigned partitions."""
    logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)  # it cannot read Faust's member metadata
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    out: dict[str, set[int]] = {}
    for member in described["members"]:
        assigned = member["member_assignment"] or {}
        parts = {p for tps in assigned.get("assigned_partitions", []) for p in tps["partitions"]}
        out[member["group_instance_id"] or member["member_id"]] = parts
    return out


def _other_backends(db: str) -> int:
    """Connections to the test's database other than this one: the projectors'."""
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.usefixtures("projector_topics")
def test_a_sigkilled_projector_restarted_folds_again_without_waiting_for_its_session(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """SIGKILLed and restarted at once (a supervisor), the projector is handed its partitions under its
    instance id at once, instead of after its dead predecessor's session expired."""
    env = {**projector_env, "ENRICHLOG_SESSION_TIMEOUT_S": str(SESSION_S)}
    proc = ProjectorProcess(env, tmp_path / "projector.log").start()
    events = workload(6000, seed=21)
    hurry = threading.Event()  # the stream lasts as long as the restarts may take, unless they are quicker
    streaming = stream(kafka_bootstrap, topic, events, seconds=RESTARTS * WITHOUT_WAITING_S + 15, hurry=hurry)
    recoveries: list[float] = []
    try:
        wait_for(lambda: sum(positions(db, topic).values()) > 0, timeout=120, what="the first committed batch")
        for _ in range(RESTARTS):
            proc.kill()
            # Its transactions are over once its connections are gone: the positions stand still now.
            wait_for(lambda: _other_backends(db) == 0, timeout=30, what="the killed projector's connections to close")
            before = sum(positions(db, topic).values())
            proc.start()
            restarted = time.monotonic()
            wait_for(lambda before=before: sum(positions(db, topic).values()) > before, timeout=WITHOUT_WAITING_S,
                     what="the restarted projector to fold an event before its predecessor's session expired")
            recoveries.append(time.monotonic() - restarted)
        hurry.set()
        streaming.join(timeout=300)
        wait_for(lambda: caught_up(db, kafka_bootstrap, topic), timeout=300, what="the projector to catch up")
        assert proc.stop() == 0, proc.log()
    finally:
        proc.kill()
    print(f"\nrestart to first event folded: {', '.join(f'{s:.1f}s' for s in recoveries)} "
          f"(session timeout {SESSION_S:.0f}s)")
    assert_table_is_the_fold(db, kafka_bootstrap, topic, events, f"{RESTARTS} SIGKILLs, each restarted at once")


@pytest.mark.usefixtures("projector_topics")
def test_a_projector_stopped_with_sigterm_hands_its_partitions_over_at_once(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """A static member does not leave its group by default when it stops; the projector does, so the
    other member is assigned its partitions and folds them at once, not after a session timeout."""
    env = {**projector_env, "ENRICHLOG_SESSION_TIMEOUT_S": str(SESSION_S)}
    group = env["ENRICHLOG_CONSUMER_GROUP"]
    leaving, staying = (ProjectorProcess(env, tmp_path / f"projector-{i}.log").start() for i in range(2))
    events = workload(4000, seed=22)
    hurry = threading.Event()
    streaming = stream(kafka_bootstrap, topic, events, seconds=WITHOUT_WAITING_S + 20, hurry=hurry)
    try:
        shared = wait_for(lambda: (a := _assignment(kafka_bootstrap, group)).get(leaving.instance_id)
                          and a.get(staying.instance_id) and a, timeout=120, what="both members to hold partitions")
        handed = shared[leaving.instance_id]
        wait_for(lambda: all(positions(db, topic).get(p, 0) > 0 for p in handed), timeout=60,
                 what="the leaving member to fold its partitions")
        assert leaving.stop() == 0, leaving.log()
        stopped = time.monotonic()
        at_stop = positions(db, topic)
        wait_for(lambda: _assignment(kafka_bootstrap, group) == {staying.instance_id: {0, 1, 2}},
                 timeout=WITHOUT_WAITING_S, what="the staying member to be assigned every partition")
        assigned_after = time.monotonic() - stopped
        wait_for(lambda: all(positions(db, topic).get(p, 0) > at_stop.get(p, 0) for p in handed),
                 timeout=WITHOUT_WAITING_S, what="the staying member to fold the partitions handed over")
        folded_after = time.monotonic() - stopped
        hurry.set()
        streaming.join(timeout=300)
        wait_for(lambda: caught_up(db, kafka_bootstrap, topic), timeout=300, what="the projector to catch up")
        assert staying.stop() == 0, staying.log()
    finally:
        leaving.kill()
        staying.kill()
    print(f"\nSIGTERM: partitions {sorted(handed)} assigned to the other member {assigned_after:.1f}s after the "
          f"exit, folded by it after {folded_after:.1f}s (session timeout {SESSION_S:.0f}s)")
    assert_table_is_the_fold(db, kafka_bootstrap, topic, events, "a member stopped with SIGTERM mid-stream")


@pytest.mark.usefixtures("projector_topics")
def test_a_second_live_process_with_the_same_instance_id_stops_at_start_and_says_why(
    projector_env: dict[str, str], kafka_bootstrap: str, topic: str, db: str, tmp_path: Path
) -> None:
    """Two live members under one name would fence each other in the group again and again: the
    second one stops before it joins, naming the id, and the first carries on alone."""
    env = {**projector_env, "ENRICHLOG_INSTANCE_ID": "replica-1"}
    first = ProjectorProcess(env, tmp_path / "first.log").start()
    second = ProjectorProcess(env, tmp_path / "second.log")
    events = workload(2000, seed=23)
    try:
        stream(kafka_bootstrap, topic, events[:1000], seconds=0).join()
        wait_for(lambda: sum(positions(db, topic).values()) > 0, timeout=120, what="the first member to fold")
        second.start()
        assert second.proc is not None
        assert second.proc.wait(90) == 1
        assert "instance id 'replica-1' of consumer group" in second.log(tail=None), second.log()
        assert "held by another live projector" in second.log(tail=None)
        stream(kafka_bootstrap, topic, events[1000:], seconds=0).join()
        wait_for(lambda: caught_up(db, kafka_bootstrap, topic), timeout=120, what="the first member to catch up")
        assert first.running() and "Joined group" in first.log(tail=None)
        assert first.log(tail=None).count("Joined group") == 1, "the first member was fenced"
        assert first.stop() == 0, first.log()
    finally:
        first.kill()
        second.kill()
    assert_table_is_the_fold(db, kafka_bootstrap, topic, events, "a second process with the same instance id")
