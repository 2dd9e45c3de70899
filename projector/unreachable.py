"""A service that cannot be reached, said in one line: where, what was tried, what to do.

Every command (`produce`, `rebuild`, `project --check`, `demo`) and the projector's start reach Kafka
and PostgreSQL here first, within the timeout they were given, before any client library does:
kafka-python and aiokafka log each failed attempt, then end with an exception's class name
(`KafkaTimeoutError: Unable to bootstrap ...`) that says neither why nor what to do. `reach_kafka`
tries a TCP connection to each bootstrap server, again and again until the deadline (a broker still
starting is waited for), and names what the last attempt met: refused (nothing listens there), no
answer (a host down, or a firewall dropping packets), a name that does not resolve. `reach_postgres`
opens one PostgreSQL connection the same way and tells unreachable apart from a refused login.
A broker that accepts the connection and then says nothing is the client's to find:
`kafka_no_reply` words that case. `describe_unreachable` is the one format of these lines.
"""

from __future__ import annotations

import math
import re
import socket
import time

from projector.errors import ProjectorError

KAFKA_HINT = "check that the broker runs and KAFKA_BOOTSTRAP_SERVERS names it (locally: `enrichlog services up`)"
POSTGRES_HINT = "check that the server runs and DATABASE_URL names it (locally: `enrichlog services up`)"
_RETRY_S = 0.25  # between two rounds of attempts: a refused connection comes back at once


class ServiceUnreachable(ProjectorError):
    """Kafka or PostgreSQL could not be reached, or refused this client's login; the message is the one line."""

    def __init__(self, message: str, *, service: str, address: str) -> None:
        super().__init__(message)
        self.service, self.address = service, address


def describe_unreachable(service: str, address: str, cause: str, tried: str, hint: str) -> str:
    """`<service> at <address> unreachable: <cause>; tried <tried>; <hint>`: the one line said everywhere."""
    return f"{service} at {address} unreachable: {cause}; tried {tried}; {hint}"


def socket_cause(exc: OSError, host: str) -> str:
    """What a failed TCP connection met, in words."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return "no answer to a TCP connection (the host is down, or a firewall drops the packets)"
    if isinstance(exc, socket.gaierror):
        return f"host name {host!r} does not resolve ({exc.strerror})"
    return exc.strerror or str(exc) or type(exc).__name__


def split_servers(bootstrap: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (IPv6 hosts in brackets) as (host, port) pairs; 9092 when no port."""
    out = []
    for item in (s.strip() for s in bootstrap.split(",")):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
            host, port = item, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


def tcp_probe(servers: list[tuple[str, int]], timeout_s: float) -> str | None:
    """None when one of `servers` accepts a TCP connection within `timeout_s` (shared among them),
    else what the last one met."""
    deadline = time.monotonic() + timeout_s
    cause = "no server given"
    for host, port in servers:
        try:
            socket.create_connection((host, port), timeout=max(0.05, deadline - time.monotonic())).close()
            return None
        except OSError as exc:
            cause = socket_cause(exc, host)
    return cause


def _for(what: str) -> str:
    return f" to {what}" if what else ""


def _seconds(s: float) -> str:
    return f"{s:.1f}".removesuffix(".0") + "s"


def reach_kafka(bootstrap: str, timeout_s: float, what: str = "") -> None:
    """Return once a bootstrap server accepts a TCP connection; ServiceUnreachable after `timeout_s`."""
    servers, started, attempts = split_servers(bootstrap), time.monotonic(), 0
    while True:
        attempts += 1
        cause = tcp_probe(servers, max(0.1, started + timeout_s - time.monotonic()))
        if cause is None:
            return
        left = started + timeout_s - time.monotonic()
        if left <= 0:
            tried = f"{attempts} TCP connection{'s' if attempts != 1 else ''} in {_seconds(timeout_s)}{_for(what)}"
            raise ServiceUnreachable(describe_unreachable("Kafka", bootstrap, cause, tried, KAFKA_HINT),
                                     service="Kafka", address=bootstrap)
        time.sleep(min(_RETRY_S, left))


def kafka_no_reply(bootstrap: str, timeout_s: float, what: str) -> str:
    """The line for a broker that accepted the TCP connection and gave no Kafka answer in time."""
    return describe_unreachable(
        "Kafka", bootstrap, "the TCP connection is accepted but no Kafka reply came",
        f"for {_seconds(timeout_s)}{_for(what)}",
        "is that port a Kafka listener, with the security protocol KAFKA_SECURITY_PROTOCOL says, and is "
        "the broker not overloaded or still starting?")


def kafka_failed(bootstrap: str, timeout_s: float, what: str, exc: BaseException) -> str:
    """The line for a kafka-python call that failed after the broker was reached: no reply in time
    (`kafka_no_reply`), or the broker's own error, in its words."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    if isinstance(exc, (KafkaTimeoutError, KafkaConnectionError, TimeoutError)):
        return kafka_no_reply(bootstrap, timeout_s, what)
    said = " ".join(str(exc).split())
    return f"Kafka at {bootstrap} refused to {what}: {type(exc).__name__}{f': {said}' if said else ''}"


# libpq's words for a server that answered and refused this client, and for one that may answer soon
_LOGIN = re.compile(r"password authentication failed|no password supplied|role .* does not exist|"
                    r"database .* does not exist|no pg_hba.conf entry|permission denied")
_RETRYABLE = re.compile(r"Connection refused|starting up|shutting down|in recovery|timeout expired|"
                        r"Connection timed out|No route to host")


def postgres_cause(text: str) -> str:
    """libpq's reason in words (without psycopg's `connection failed: connection to server at ...`)."""
    from projector import db

    reason = db.first_line_of(text, "no reason given")
    reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    if reason == "Connection refused":
        return "connection refused (nothing listens on that port)"
    if "timeout expired" in reason:
        return "no answer (the host is down, a firewall drops the packets, or the server is stuck)"
    return reason


def reach_postgres(url: str, timeout_s: float, what: str = "") -> None:
    """Return once PostgreSQL at `url` accepts a connection and this login; ServiceUnreachable when
    it refuses the login (at once: retrying will not fix a password) or is not reached within `timeout_s`."""
    from projector import db

    where, started, attempts = db.redact(url), time.monotonic(), 0
    while True:
        attempts += 1
        left, attempt_started = started + timeout_s - time.monotonic(), time.monotonic()
        try:
            # psycopg's own bound: whole seconds, at least 2
            db.connect(url, timeout=max(2, math.ceil(left)), autocommit=True).close()
            return
        except (db.CannotConnect, db.InvalidURL) as exc:
            text = exc.text
            took = time.monotonic() - attempt_started
        cause = postgres_cause(text)
        if _LOGIN.search(text) and not _RETRYABLE.search(text):
            raise ServiceUnreachable(
                f"PostgreSQL at {where} refused the connection{_for(what)}: {cause}; check the user, password "
                "(percent-encoded) and database in DATABASE_URL, and the server's pg_hba.conf",
                service="PostgreSQL", address=where)
        left = started + timeout_s - time.monotonic()
        if left <= 0 or (left < 2 <= took):  # another attempt that waits its 2 s would overrun
            tried = f"{attempts} connection{'s' if attempts != 1 else ''} in {_seconds(timeout_s)}{_for(what)}"
            raise ServiceUnreachable(describe_unreachable("PostgreSQL", where, cause, tried, POSTGRES_HINT),
                                     service="PostgreSQL", address=where)
        time.sleep(min(_RETRY_S, left))
