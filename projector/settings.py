"""The projector's configuration: read once from the environment at start, validated, passed down."""

from __future__ import annotations

import socket
import urllib.parse
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from schemas.kafka_connection import KafkaConnection
from schemas.topic_names import DEAD_LETTER_SUFFIX, MAX_LENGTH, topic_name_problem

DEFAULT_EVENTS_TOPIC = "enrichment.job-events"

_PERCENT_ENCODE = ("the password (or user) must be percent-encoded in {variable}: # as %23, @ as %40, / as %2F, "
                   "? as %3F, : as %3A, % as %25")


def _port_is_a_number(parts: urllib.parse.SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - raises ValueError when what follows the last ':' is no number
    except ValueError:
        return False
    return True


def database_url_problem(url: str, variable: str = "DATABASE_URL") -> str | None:
    """Why `url` would not be read as meant, or None. A user or password with an unencoded `#`, `@`,
    `/` or `?` ends the host part early (or moves its `@` past it): yoyo (`enrichlog migrate`) then
    fails on the port ("could not be cast to integer"), PostgreSQL's parser on the host. Never quotes
    the URL: it holds the secret."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unmatched '[', say: the driver's own message says what is wrong
        return None
    netloc = parts.netloc
    rest = parts.path + parts.query + parts.fragment
    if netloc.count("@") > 1:
        broken = "more than one '@' before its host"
    elif "#" in url:
        broken = "a '#' in it"
    elif "@" in rest and "@" not in netloc:
        broken = "an '@' after its host"
    elif "@" not in netloc and ":" in netloc and "," not in netloc and not _port_is_a_number(parts):
        # "user:pass" cut short at a '/', '?' or '#' reads as "host:port". With the '@' in place, a
        # bad port is the port's own mistake, which the driver names; several hosts have no one port.
        broken = "its port is not a number"
    else:
        return None
    return f"{variable} does not parse as meant ({broken}): " + _PERCENT_ENCODE.format(variable=variable)


def with_password_file(url: str, path: Path, variable: str = "DATABASE_URL") -> str:
    """`url` with the password read from `path` (a Docker or Kubernetes secret: DATABASE_PASSWORD_FILE)
    merged in, percent-encoded, so that any character in it is read as itself. The file's final
    newline is not part of the password. The URL must hold no password of its own. Messages never
    quote the URL or the password."""
    try:
        password = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"DATABASE_PASSWORD_FILE {path} cannot be read ({type(exc).__name__}: "
                         f"{getattr(exc, 'strerror', None) or exc})") from None
    if not password:
        raise ValueError(f"DATABASE_PASSWORD_FILE {path} is empty")
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if ":" in userinfo:
        raise ValueError(f"{variable} holds a password and DATABASE_PASSWORD_FILE is set: give it in one place")
    netloc = f"{userinfo}:{urllib.parse.quote(password, safe='')}@{host if at else parts.netloc}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class ProjectorSettings(KafkaConnection):
    """12-factor settings. Names are the environment variables (case-insensitive). The KAFKA_* ones
    (where the brokers are, TLS, SASL) are schemas.kafka_connection's, as the producers' are."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # Before database_url: its validator merges the file's password into the URL.
    database_password_file: Path | None = Field(
        None, validation_alias=AliasChoices("DATABASE_PASSWORD_FILE", "database_password_file"),
        description="a file holding the database password (a Docker or Kubernetes secret), merged into "
        "DATABASE_URL percent-encoded; or give it as PGPASSWORD, which libpq reads, and keep it out of the URL",
    )
    database_url: SecretStr = Field(validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    events_topic: str = Field(
        DEFAULT_EVENTS_TOPIC, validation_alias=AliasChoices("ENRICHLOG_EVENTS_TOPIC", "events_topic"),
    )
    dead_letter_topic: str | None = Field(
        None, validation_alias=AliasChoices("ENRICHLOG_DEAD_LETTER_TOPIC", "dead_letter_topic"),
    )
    topic_partitions: int = Field(
        6, ge=1, le=1000, validation_alias=AliasChoices("ENRICHLOG_TOPIC_PARTITIONS", "topic_partitions")
    )
    consumer_group: str = Field(
        "enrichment-log-projector",
        validation_alias=AliasChoices("ENRICHLOG_CONSUMER_GROUP", "consumer_group"),
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
    )
    batch_max: int = Field(2000, ge=1, le=100_000, validation_alias=AliasChoices("ENRICHLOG_BATCH_MAX", "batch_max"))
    batch_window_s: float = Field(
        0.0, ge=0, le=60, validation_alias=AliasChoices("ENRICHLOG_BATCH_WINDOW_S", "batch_window_s"),
        description="how long a batch waits for more events after its first one; 0: it takes what is "
        "waiting, and batches still grow under load, while the previous batch commits",
    )
    db_retry_timeout_s: float = Field(
        300.0, ge=0, validation_alias=AliasChoices("ENRICHLOG_DB_RETRY_TIMEOUT_S", "db_retry_timeout_s")
    )
    dead_letter_timeout_s: float = Field(
        30.0, ge=1, le=600,
        validation_alias=AliasChoices("ENRICHLOG_DEAD_LETTER_TIMEOUT_S", "dead_letter_timeout_s"),
        description="how long one try at writing a batch's dead letters waits for the broker before it "
        "is counted as failed and retried (the batch waits, without end, until they are written)",
    )
    connect_timeout_s: float = Field(
        30.0, ge=1, le=600, validation_alias=AliasChoices("ENRICHLOG_CONNECT_TIMEOUT_S", "connect_timeout_s"),
        description="how long the start waits for Kafka and for PostgreSQL to answer before it exits 1, "
        "saying which did not",
    )
    outage_reminder_s: float = Field(
        30.0, ge=1, le=3600, validation_alias=AliasChoices("ENRICHLOG_OUTAGE_REMINDER_S", "outage_reminder_s"),
        description="while Kafka or PostgreSQL stays away, how often the running projector says so again",
    )
    session_timeout_s: float = Field(
        10.0, ge=6, le=300, validation_alias=AliasChoices("ENRICHLOG_SESSION_TIMEOUT_S", "session_timeout_s"),
        description="how long the group waits for a crashed projector before giving its partitions away",
    )
    instance_id: str | None = Field(
        default_factory=socket.gethostname,
        validation_alias=AliasChoices("ENRICHLOG_INSTANCE_ID", "instance_id"),
        pattern=r"^[A-Za-z0-9._:-]{1,200}$",
        description="this process's static member name in the consumer group (Kafka's group.instance.id): "
        "a restarted process with the same name takes its partitions back at once instead of waiting for "
        "its dead predecessor's session to expire. One per process, stable across restarts: the hostname "
        "by default (a container's or pod's own); set it per process when several run on one host; "
        "empty: a dynamic member, which a restart waits for",
    )
    metrics_host: str = Field(
        "127.0.0.1", validation_alias=AliasChoices("ENRICHLOG_METRICS_HOST", "metrics_host"), min_length=1
    )
    metrics_port: int = Field(
        9464, ge=0, le=65535, validation_alias=AliasChoices("ENRICHLOG_METRICS_PORT", "metrics_port")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=AliasChoices("ENRICHLOG_LOG_LEVEL", "log_level")
    )
    log_format: Literal["json", "text"] = Field(
        "json", validation_alias=AliasChoices("ENRICHLOG_LOG_FORMAT", "log_format")
    )

    @field_validator("instance_id", mode="before")
    @classmethod
    def _empty_is_dynamic(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("database_password_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("events_topic", "dead_letter_topic")
    @classmethod
    def _kafka_topic_name(cls, v: str | None) -> str | None:
        problem = None if v is None else topic_name_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _dead_letter_topic_fits(self) -> Self:
        if self.dead_letter_topic is None and topic_name_problem(self.dlq_topic) is not None:
            raise ValueError(
                f"ENRICHLOG_EVENTS_TOPIC is {len(self.events_topic)} characters long: its default dead-letter "
                f"topic (the name + {DEAD_LETTER_SUFFIX!r}) would exceed Kafka's {MAX_LENGTH}-character limit; "
                f"use a name of at most {MAX_LENGTH - len(DEAD_LETTER_SUFFIX)} characters or set "
                "ENRICHLOG_DEAD_LETTER_TOPIC")
        return self

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: SecretStr, info: ValidationInfo) -> SecretStr:
        if not v.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        problem = database_url_problem(v.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        password_file = info.data.get("database_password_file")
        if password_file is not None:
            return SecretStr(with_password_file(v.get_secret_value(), password_file))
        return v

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.bootstrap_servers

    @property
    def dlq_topic(self) -> str:
        return self.dead_letter_topic or f"{self.events_topic}{DEAD_LETTER_SUFFIX}"
