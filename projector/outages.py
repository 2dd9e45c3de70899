"""A service gone while the projector runs, said as an operator can read it: gone, still gone, back.

Left alone, the client libraries log every failed attempt while the broker is away: aiokafka's
`Unable connect to node` and `NodeNotReadyError` from the fetcher and the group coordinator, and
after the broker is back `UnknownMemberIdError` and Faust's `Timer commit is overlapping`, dozens of
ERROR lines a second. Here:

1. `LibraryNoise`, a filter on the log handler, keeps those records (aiokafka, kafka-python, Faust,
   mode, and our copy of aiokafka's metadata request) out of the log and tells `Outages` that Kafka
   may be away; the store's retries tell it the same of PostgreSQL (`suspect`), and psycopg's
   records are kept out while PostgreSQL is away.
2. A thread probes each suspected service (Kafka: a TCP connection to a bootstrap server;
   PostgreSQL: a connection) once a second, so the verdict is the probe's, never a library's guess;
   the others every `idle_probe_s`, so that a service nobody uses at the moment is found gone too.
3. The first failed probe logs one ERROR (`outage: gone`, with the cause); while the service stays
   away, one reminder per `reminder_s` (`outage: still-gone`); the first probe that succeeds logs
   one WARNING (`outage: back`, `away_s`: since the first sign of the outage).
4. After the service is back the libraries' records of the outage's aftermath (a rejoin, a commit
   refused) are kept out for `settle_s` more, then the filter lets everything through again.

Records the filter keeps out while the service answered after all are counted, and said in one
WARNING per `reminder_s`, so a library that keeps failing against a reachable broker is not hidden.
At DEBUG nothing is filtered.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from projector.unreachable import split_servers, tcp_probe

log = logging.getLogger("projector.outages")

LIBRARIES = ("aiokafka", "kafka", "faust", "mode", "projector.kafka.consumer_client")  # Kafka's
DATABASE_LIBRARIES = ("psycopg",)  # kept out only while PostgreSQL is away (a broken pipeline's clean-up)
# What the libraries say of a broker away (or of the group's state after it was): kept out of the log.
_KAFKA_AWAY = re.compile(
    r"Unable connect to node|Unable to (update|request) metadata|NodeNotReadyError|KafkaConnectionError|"
    r"Connect call failed|Connection (at .* )?closed|ECONNREFUSED|Connection (failed|lost|refused|reset)|"
    r"Marking the coordinator dead|Coordinator .*(dead|not available|unknown)|GroupCoordinatorNotAvailable|"
    r"NotCoordinator|UnknownMemberId|RebalanceInProgress|RequestTimedOut|KafkaTimeoutError|"
    r"Heartbeat (failed|session expired)|OffsetCommit failed|is overlapping|Bootstrap|not ready",
    re.IGNORECASE)

Probe = Callable[[], "str | None"]  # None: the service answers; else what the attempt met


@dataclass
class _Service:
    name: str
    address: str
    probe: Probe
    waiting: str  # what the projector does meanwhile
    suspected_at: float | None = None  # the first sign of trouble not yet judged
    cause: str = ""
    gone_at: float | None = None  # since when it is away (the first sign)
    reminded_at: float = 0.0
    probed_at: float = 0.0
    settled_at: float = 0.0  # until when the aftermath of an outage is kept out of the log
    kept_out: int = 0  # records kept out while the service answered
    first_kept_out: str = ""
    said_kept_out_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Outages:
    """The state of each service the projector needs, judged by probes, logged on change."""

    def __init__(self, reminder_s: float = 30.0, *, settle_s: float = 60.0, interval_s: float = 1.0,
                 idle_probe_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.reminder_s, self.settle_s, self.interval_s, self.clock = reminder_s, settle_s, interval_s, clock
        self.idle_probe_s = idle_probe_s
        self.services: dict[str, _Service] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, name: str, address: str, probe: Probe,
              waiting: str = "the projector waits for it (nothing is acknowledged meanwhile)") -> None:
        self.services[name] = _Service(name, address, probe, waiting)

    def suspect(self, name: str, cause: str) -> None:
        """A sign that `name` may be away (any thread): the next probe judges."""
        service = self.services.get(name)
        if service is None:
            return
        with service.lock:
            if service.suspected_at is None and service.gone_at is None:
                service.suspected_at, service.cause = self.clock(), cause

    def troubled(self, name: str) -> bool:
        """Whether `name` is suspected, away, or back for less than `settle_s`."""
        service = self.services.get(name)
        return service is not None and (service.suspected_at is not None or service.gone_at is not None
                                        or self.clock() < service.settled_at)

    def kept_out(self, name: str, message: str) -> None:
        """A library's record about `name` was kept out of the log."""
        service = self.services.get(name)
        if service is None:
            return
        with service.lock:
            if not service.kept_out:
                service.first_kept_out = message
            service.kept_out += 1

    def check(self) -> None:
        """Probe what is suspected or away, and the rest every `idle_probe_s` (a service nobody uses
        at the moment, PostgreSQL while no batch comes, is found gone too); log what changed. The
        thread calls it every `interval_s`."""
        for service in self.services.values():
            now = self.clock()
            if service.suspected_at is not None or service.gone_at is not None:
                service.probed_at = now
                self._judge(service, service.probe())
            elif now - service.probed_at >= self.idle_probe_s:
                service.probed_at = now
                cause = service.probe()
                if cause is not None:
                    self.suspect(service.name, cause)
                    self._judge(service, cause)
            self._say_kept_out(service)

    def _judge(self, service: _Service, cause: str | None) -> None:
        now = self.clock()
        with service.lock:
            if cause is None:
                if service.gone_at is not None:
                    away = now - service.gone_at
                    log.warning(f"{service.name} at {service.address} is back after {away:.1f}s away",
                                extra={"outage": "back", "service": service.name, "address": service.address,
                                       "away_s": round(away, 1)})
                    service.settled_at = now + self.settle_s
                service.suspected_at = service.gone_at = None
                return
            if service.gone_at is None:
                service.gone_at = service.suspected_at or now
                service.suspected_at, service.cause, service.reminded_at = None, cause, now
                service.kept_out = 0  # what was kept out so far was this outage's
                log.error(f"{service.name} at {service.address} is gone: {cause}; {service.waiting}; said again "
                          f"every {self.reminder_s:g}s while it is",
                          extra={"outage": "gone", "service": service.name, "address": service.address,
                                 "cause": cause})
            elif now - service.reminded_at >= self.reminder_s:
                away = now - service.gone_at
                service.reminded_at, service.cause = now, cause
                log.error(f"{service.name} at {service.address} still gone after {away:.0f}s: {cause}",
                          extra={"outage": "still-gone", "service": service.name, "address": service.address,
                                 "cause": cause, "away_s": round(away, 1)})

    def _say_kept_out(self, service: _Service) -> None:
        now = self.clock()
        with service.lock:
            if service.gone_at is not None or now < service.settled_at:
                service.kept_out = 0  # the outage's own: said by its lines
                return
            if not service.kept_out or now - service.said_kept_out_at < self.reminder_s:
                return
            count, first = service.kept_out, service.first_kept_out
            service.kept_out, service.said_kept_out_at = 0, now
        log.warning(f"{count} warning(s) or error(s) of the Kafka clients kept out of the log while {service.name} "
                    f"at {service.address} answered (set ENRICHLOG_LOG_LEVEL=DEBUG to see them all); the first: "
                    f"{first}",
                    extra={"service": service.name, "address": service.address, "errors": count})

    def start(self) -> Outages:
        def run() -> None:
            while not self._stop.wait(self.interval_s):
                try:
                    self.check()
                except Exception:  # a probe's own failure must not end the watch
                    log.exception("outage check failed")

        self._thread = threading.Thread(target=run, name="outages", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def kafka_probe(bootstrap: str, timeout_s: float = 1.0) -> Probe:
    servers = split_servers(bootstrap)
    return lambda: tcp_probe(servers, timeout_s)


def postgres_probe(url: str, timeout_s: int = 2) -> Probe:
    def probe() -> str | None:
        from projector import db
        from projector.unreachable import postgres_cause

        try:
            db.connect(url, timeout=timeout_s, autocommit=True, name="enrichlog-projector probe").close()
        except (db.CannotConnect, db.InvalidURL) as exc:
            return postgres_cause(exc.text)
        return None

    return probe


class LibraryNoise(logging.Filter):
    """Keeps the client libraries' records of a service away out of the log, and tells `outages`."""

    def __init__(self, outages: Outages, service: str = "Kafka") -> None:
        super().__init__()
        self.outages, self.service = outages, service

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if record.name.startswith(DATABASE_LIBRARIES):
            return not self.outages.troubled("PostgreSQL")
        if not record.name.startswith(LIBRARIES):
            return True
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message} {type(record.exc_info[1]).__name__}"
        if not _KAFKA_AWAY.search(message) and not self.outages.troubled(self.service):
            return True
        self.outages.kept_out(self.service, message[:300])  # said, if no outage turns out to be the cause
        self.outages.suspect(self.service, message[:300])
        return False
