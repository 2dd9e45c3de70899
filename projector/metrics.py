"""Prometheus metrics of the projector (served on ENRICHLOG_METRICS_PORT, /metrics)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from projector.errors import ProjectorError

# Set before the metrics are served (service.run): its presence says the server is this projector's.
STARTED_METRIC = "enrichlog_topic_partitions{"
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ProjectorUnhealthy(ProjectorError):
    """The projector's metrics endpoint did not answer as a started projector's does."""


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events_folded = Counter("enrichlog_events_folded", "Events folded into rows", registry=r)
        self.events_skipped = Counter(
            "enrichlog_events_skipped", "Replayed events already in the table (offset below the stored position)",
            registry=r,
        )
        self.rows_written = Counter("enrichlog_rows_written", "Rows inserted or updated", registry=r)
        self.batches = Counter("enrichlog_batches", "Batches committed", registry=r)
        self.batch_seconds = Histogram(
            "enrichlog_batch_seconds", "Time to fold and commit one batch", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.batch_size = Histogram(
            "enrichlog_batch_events", "Messages per batch", registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
        )
        self.dead_lettered = Counter(
            "enrichlog_dead_lettered", "Messages sent to the dead-letter topic", ["reason"], registry=r
        )
        self.dead_letters_reduced = Counter(
            "enrichlog_dead_letters_reduced", "Dead letters written in reduced form (too large to go whole)",
            registry=r,
        )
        self.dead_letter_errors = Counter(
            "enrichlog_dead_letter_errors",
            "Failed tries to write dead letters (unavailable: retried after a backoff; too-large: sent again reduced)",
            ["kind"], registry=r,
        )
        self.dead_letter_blocked = Gauge(
            "enrichlog_dead_letter_blocked", "1 while the projector waits for the dead-letter topic to be writable",
            registry=r,
        )
        self.batches_refused = Counter(
            "enrichlog_batches_refused",
            "Batches the store refused to write as folded, the table having moved since their read (positions "
            "moved: another member took the partitions; rows changed: another writer); each is folded again",
            ["reason"], registry=r,
        )
        self.db_errors = Counter("enrichlog_db_errors", "Failed database transactions", ["kind"], registry=r)
        self.topic_partitions = Gauge(
            "enrichlog_topic_partitions", "Partitions of the events topic, as found at start", ["topic"], registry=r
        )
        self.topic_partitions_configured = Gauge(
            "enrichlog_topic_partitions_configured",
            "ENRICHLOG_TOPIC_PARTITIONS: fewer found than this caps the projector processes that can share the topic",
            ["topic"], registry=r,
        )
        self.consumer_lag = Gauge(
            "enrichlog_consumer_lag", "Messages behind the partition's end", ["topic", "partition"], registry=r
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)


def probe(host: str, port: int, timeout_s: float = 3.0) -> str:
    """Ask the metrics endpoint of the projector configured to serve on host:port (the container
    healthcheck, `project --health`); its address on success, ProjectorUnhealthy saying why else.
    A projector serves its metrics only once its start-up (topics, offsets, membership) is done."""
    if not port:
        raise ProjectorUnhealthy("ENRICHLOG_METRICS_PORT is 0: the projector serves no metrics to ask")
    target = _ANY_ADDRESS.get(host, host)
    url = f"http://{f'[{target}]' if ':' in target else target}:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProjectorUnhealthy(f"no projector answers on {url} within {timeout_s:g}s ({reason})") from exc
    if STARTED_METRIC not in body:
        raise ProjectorUnhealthy(f"{url} answers, but not with a started projector's metrics")
    return url
