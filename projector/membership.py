"""Static group membership: a restarted projector takes its partitions back at once.

A dynamic member that dies (SIGKILL, OOM, a crash) stays in its consumer group until its session
times out; its restarted successor joins as a new member and the group waits for the ghost first, so
nothing is folded in between. A static member (Kafka's `group.instance.id`, KIP-345) is known by a
name of its own: the successor joining under the same name replaces the dead member at once and is
handed its partitions without a rebalance.

The other side of KIP-345: a static member does not leave its group when it stops (aiokafka, like
Kafka's Java client, sends no LeaveGroup then), so a projector stopped with SIGTERM would hold its
partitions, unread, for a whole session timeout. `LeavingConsumerThread` leaves on a clean stop
anyway: with a LeaveGroup naming its member id (which the broker accepts from a static member as from
any other, and which removes its name from the group too), the partitions move to the others at once.

Two live processes must never share a name: the second one to join takes the name, fencing the first,
which finds itself unknown to the group at its next offset commit or heartbeat and joins again, fencing
the second, and so on, about every second. Both keep fetching the same partitions, so the table stays
right (the store refuses, and logs, every batch below the stored positions), but each folds much of the
stream twice and the group never settles. The default name, the hostname, is unique per container or
pod; processes sharing a host need ENRICHLOG_INSTANCE_ID each.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as aiokafka_driver


class LeavingConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose consumer leaves its group when it stops, static member or not."""

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        if consumer is not None and consumer._coordinator is not None:
            # aiokafka's close() leaves the group only when it has no instance id; it closes after the
            # coordination task ended, so nothing joins again under the name once it is dropped here.
            consumer._coordinator._group_instance_id = None
        await super().on_thread_stop()
