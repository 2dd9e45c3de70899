"""The producer library: what a processor uses to emit its job events, and the Kafka edge.

    settings = ProducerSettings()                 # KAFKA_BOOTSTRAP_SERVERS, ENRICHLOG_EVENTS_TOPIC ...
    with KafkaPublisher(settings) as publisher:
        reporter = Reporter(publisher)
        with reporter.job(job_id, JobType.ENRICH_ALBUM, entity=album, link=link) as job:
            ...
"""

from producers.clock import SYSTEM_CLOCK, Clock, SimulatedClock, SystemClock
from producers.errors import (
    BufferFull,
    DeliveryFailed,
    JobFailure,
    LinkError,
    ProducerError,
    PublisherClosed,
    PublishTimeout,
    RecordTooLarge,
    TopicMissing,
)
from producers.kafka_sink import KafkaPublisher, PublishStats
from producers.linking import JobContext, Link, link_child
from producers.reporter import JobRun, Reporter, error_of
from producers.settings import ProducerSettings
from producers.sinks import EventSink, ListSink

__all__ = [
    "SYSTEM_CLOCK", "BufferFull", "Clock", "DeliveryFailed", "EventSink", "JobContext", "JobFailure",
    "JobRun", "KafkaPublisher", "Link", "LinkError", "ListSink", "ProducerError", "ProducerSettings",
    "PublishStats", "PublishTimeout", "PublisherClosed", "RecordTooLarge", "Reporter", "SimulatedClock", "SystemClock",
    "TopicMissing", "error_of", "link_child",
]
