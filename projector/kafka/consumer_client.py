"""The projector's Kafka consumer never makes the broker create its events topic.

A broker with `auto.create.topics.enable=true` (Kafka's default) creates a topic that a client's
metadata request names and that does not exist, with the broker's default partition count
(`num.partitions`, 1 unless configured). aiokafka asks for the subscribed topics' metadata with
auto-creation allowed and has no setting to turn it off (its consumer takes no
`allow_auto_create_topics`). So an events topic deleted under a running projector, or missing when
its consumer joins, came back at once with 1 partition: created by the projector's own consumer,
before the topic watch (projector.topic_watch) could stop it and the start-up (projector.service
`ensure_topics`) create it with ENRICHLOG_TOPIC_PARTITIONS. `NoAutoCreateClient` sends the same
metadata requests with auto-creation refused: the broker answers that the topic is unknown.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from faust.transport.drivers import aiokafka as aiokafka_driver

from projector.kafka.membership import LeavingConsumerThread

log = logging.getLogger("projector.kafka.consumer_client")


class NoAutoCreateClient(AIOKafkaClient):
    """aiokafka's client whose metadata requests never ask the broker to create a topic."""

    async def _metadata_update(self, cluster_metadata: ClusterMetadata, topics: Any) -> bool:
        # AIOKafkaClient._metadata_update (a private method: projector.kafka.versions names the
        # aiokafka versions it was copied from), with allow_auto_topic_creation=False. What it uses of
        # the client (`_conns`, `_get_conn`) is the client's own private state.
        metadata_request = MetadataRequest(list(topics) if topics else None, allow_auto_topic_creation=False)
        nodeids: list[Any] = [b.nodeId for b in self.cluster.brokers()]
        bootstrap_id = ("bootstrap", ConnectionGroup.DEFAULT)
        if bootstrap_id in self._conns:
            nodeids.append("bootstrap")
        random.shuffle(nodeids)
        for node_id in nodeids:
            conn = await self._get_conn(node_id)
            if conn is None:
                continue
            try:
                metadata = await conn.send(metadata_request)
            except (KafkaError, TimeoutError) as err:
                log.warning("Unable to request metadata from node with id %s: %r", node_id, err)
                continue
            if not metadata.brokers:
                return False
            cluster_metadata.update_metadata(metadata)
            if bootstrap_id in self._conns and len(self.cluster.brokers()):
                self._conns.pop(bootstrap_id).close()
            break
        else:
            log.error("Unable to update metadata from %s", nodeids)
            cluster_metadata.failed_update(None)
            return False
        return True


class ConsumerThread(LeavingConsumerThread):
    """Faust's consumer thread (leaving its group on a clean stop), whose aiokafka consumer uses
    `NoAutoCreateClient`."""

    def _create_worker_consumer(self, transport: aiokafka_driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # The client is built in AIOKafkaConsumer.__init__ and first used in start(): same state,
        # only the metadata request differs.
        consumer._client.__class__ = NoAutoCreateClient  # noqa: SLF001 - aiokafka takes no client class
        return consumer
