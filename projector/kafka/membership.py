"""The Faust side of static group membership (projector.membership says why the projector is a
static member): a prompt start, and a clean stop that leaves the group.

A static member does not leave its group when it stops (aiokafka, like Kafka's Java client, sends no
LeaveGroup then), so a projector stopped with SIGTERM would hold its partitions, unread, for a whole
session timeout. `LeavingConsumerThread` leaves on a clean stop anyway: with a LeaveGroup naming its
member id (which the broker accepts from a static member as from any other, and which removes its
name from the group too), the partitions move to the others at once.
"""

from __future__ import annotations

from faust.tables import TableManager
from faust.transport.drivers import aiokafka as aiokafka_driver


class PromptTableManager(TableManager):
    """Faust's table manager without the second it sleeps at start, which holds back the consumer's
    joining its group (the app subscribes once the tables are registered): every restart waited for
    it. The projector has no tables; what the sleep would wait for is registered by then."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()  # Faust's own on_start, less its sleep (a private method of it)
            await self.recovery.start()


class LeavingConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose consumer leaves its group when it stops, static member or not."""

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        # aiokafka's close() leaves the group only when it has no instance id; it closes after the
        # coordination task ended, so nothing joins again under the name once it is dropped here.
        coordinator = consumer._coordinator if consumer is not None else None  # noqa: SLF001 - no public handle
        if coordinator is not None:
            coordinator._group_instance_id = None  # noqa: SLF001 - aiokafka has no setting to leave as static
        await super().on_thread_stop()
