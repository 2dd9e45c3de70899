"""How every Kafka client of the project connects: one set of KAFKA_* settings, declared once here.

The producer library, the projector (its Faust app, dead-letter producer, offset reconciliation,
topic checks) and the CLI's `rebuild`, `demo` and `produce` all connect with a `KafkaConnection`.
It lives in `schemas/`, the bottom layer that both `producers/` and `projector/` import, beside
`topic_names`: neither package imports the other. `ProducerSettings` and `ProjectorSettings`
inherit its fields, so the variables and their rules are the same for every deployable:

    KAFKA_BOOTSTRAP_SERVERS   host:port[,host:port...]
    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM      PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with a SASL_* protocol only)
    KAFKA_SASL_USERNAME       with a SASL_* protocol
    KAFKA_SASL_PASSWORD       with a SASL_* protocol; a secret, never shown
    KAFKA_SSL_CAFILE          PEM file of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL;
                              default: the system's CAs)
    KAFKA_SSL_CERTFILE        PEM file of the client's certificate, for a listener that requires one (mTLS)
    KAFKA_SSL_KEYFILE         PEM file of its private key (default: in KAFKA_SSL_CERTFILE)
    KAFKA_SSL_KEY_PASSWORD    the private key's password, when it is encrypted; a secret

Each environment name is its field's validation alias, so an error names the variable and its rule
(`KAFKA_SASL_MECHANISM: Input should be 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'`). The TLS files
are read when the settings are (a missing or unreadable file fails then, naming its variable), and
the TLS context (hostname checked, as the broker's certificate says) is built from them on demand.
Secrets are revealed only in the keyword arguments handed to a client library.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _env(name: str, default: Any, **constraints: Any) -> Any:
    """The field read from the variable `name` (and, in code, passed by its field name)."""
    return Field(default, validation_alias=name, **constraints)


class KafkaLoginFailed(Exception):
    """The broker answered but refused this client: its login (SASL) or its TLS handshake."""


def login_failed_message(kafka: KafkaConnection, what: str, hint: str) -> str:
    """The one line said when a broker refuses us: where, how we connected, what it said, what to do.
    Never the password (`what` is the broker's or the TLS library's own text, which holds none)."""
    return f"Kafka at {kafka.describe()}: {what}; {hint}"


class KafkaConnection(BaseSettings):
    """Where the brokers are and how to reach them (read from the KAFKA_* variables)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # `kafka_bootstrap_servers`: the projector's name for it, in code (the same variable, case aside).
    bootstrap_servers: str = Field(
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"), min_length=1)
    security_protocol: SecurityProtocol = _env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    sasl_mechanism: SaslMechanism | None = _env("KAFKA_SASL_MECHANISM", None)
    sasl_username: str | None = _env("KAFKA_SASL_USERNAME", None, min_length=1)
    sasl_password: SecretStr | None = _env("KAFKA_SASL_PASSWORD", None)
    ssl_cafile: FilePath | None = _env("KAFKA_SSL_CAFILE", None)
    ssl_certfile: FilePath | None = _env("KAFKA_SSL_CERTFILE", None)
    ssl_keyfile: FilePath | None = _env("KAFKA_SSL_KEYFILE", None)
    ssl_key_password: SecretStr | None = _env("KAFKA_SSL_KEY_PASSWORD", None)

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("sasl_mechanism", "sasl_username", "ssl_cafile", "ssl_certfile", "ssl_keyfile", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v

    @model_validator(mode="after")
    def _secured_consistently(self) -> Self:
        problem = self._security_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    def _security_problem(self) -> str | None:
        protocol = f"KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
        sasl, tls = self.security_protocol.startswith("SASL_"), self.security_protocol.endswith("SSL")
        if sasl:
            missing = [name for name, value in (("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                                                ("KAFKA_SASL_USERNAME", self.sasl_username),
                                                ("KAFKA_SASL_PASSWORD", self.sasl_password)) if not value]
            if missing:
                return f"{protocol} needs {', '.join(missing)} (set all three: mechanism, user and password)"
        else:
            given = [name for name, value in (("KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                                              ("KAFKA_SASL_USERNAME", self.sasl_username),
                                              ("KAFKA_SASL_PASSWORD", self.sasl_password)) if value]
            if given:
                return f"{', '.join(given)} set but {protocol} logs in without SASL: use SASL_SSL or SASL_PLAINTEXT"
        if not tls:
            given = [name for name, value in (("KAFKA_SSL_CAFILE", self.ssl_cafile),
                                              ("KAFKA_SSL_CERTFILE", self.ssl_certfile),
                                              ("KAFKA_SSL_KEYFILE", self.ssl_keyfile),
                                              ("KAFKA_SSL_KEY_PASSWORD", self.ssl_key_password)) if value]
            if given:
                return f"{', '.join(given)} set but {protocol} does not use TLS: use SSL or SASL_SSL"
            return None
        if self.ssl_keyfile and not self.ssl_certfile:
            return "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE: the client certificate goes with its key"
        if self.ssl_key_password and not self.ssl_certfile:
            return "KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_CERTFILE"
        try:
            self.ssl_context()
        except _TlsFileError as exc:
            return str(exc)
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None without TLS): verifies the broker's certificate and its
        host name against KAFKA_SSL_CAFILE (else the system's CAs), presents the client's certificate
        when KAFKA_SSL_CERTFILE is set."""
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ssl_cafile is not None:
            try:
                context.load_verify_locations(cafile=str(self.ssl_cafile))
            except (ssl.SSLError, OSError) as exc:
                raise _TlsFileError(f"KAFKA_SSL_CAFILE ({self.ssl_cafile}) holds no PEM certificate that "
                                    f"TLS can read: {_reason(exc)}") from exc
        if self.ssl_certfile is not None:
            password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            try:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None,
                                        password=password or "")  # "": an encrypted key without one fails at once
            except (ssl.SSLError, OSError) as exc:
                raise _TlsFileError(
                    f"KAFKA_SSL_CERTFILE ({self.ssl_certfile}) and KAFKA_SSL_KEYFILE "
                    f"({self.ssl_keyfile or 'none: the key in the certificate file'}) are not a PEM certificate "
                    f"and its private key (or KAFKA_SSL_KEY_PASSWORD does not open the key): {_reason(exc)}") from exc
        return context

    def connection(self) -> KafkaConnection:
        """Only the connection settings (of a ProducerSettings or ProjectorSettings, which extend them)."""
        if type(self) is KafkaConnection:
            return self
        return KafkaConnection.model_construct(**{name: getattr(self, name) for name in KafkaConnection.model_fields})

    def describe(self) -> str:
        """Where and how, without the secret: `127.0.0.1:9094 (SASL_SSL, SCRAM-SHA-512, user 'svc')`."""
        how: str = self.security_protocol
        if self.sasl_mechanism:
            how = f"{how}, {self.sasl_mechanism}, user {self.sasl_username!r}"
        return f"{self.bootstrap_servers} ({how})"

    def _sasl(self) -> dict[str, Any]:
        if not self.sasl_mechanism:
            return {}
        return {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": Unshown(self.sasl_password.get_secret_value()) if self.sasl_password else None}

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments of kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        config: dict[str, Any] = {"bootstrap_servers": self.hosts(),
                                  "security_protocol": self.security_protocol, **self._sasl()}
        context = self.ssl_context()
        if context is not None:
            config["ssl_context"] = context
        return config

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of aiokafka's producer, consumer and admin client."""
        return {"bootstrap_servers": self.hosts(), "security_protocol": self.security_protocol,
                "ssl_context": self.ssl_context(), **self._sasl()}

    def hosts(self) -> list[str]:
        return [h.strip() for h in self.bootstrap_servers.split(",") if h.strip()]


def plaintext(bootstrap_servers: str) -> KafkaConnection:
    """A connection without TLS or SASL to `bootstrap_servers`, whatever the environment says."""
    return KafkaConnection.model_construct(bootstrap_servers=bootstrap_servers)


def as_connection(kafka: KafkaConnection | str) -> KafkaConnection:
    """`kafka` itself, or a plaintext connection to a bootstrap string (tests and tools pass one)."""
    return plaintext(kafka) if isinstance(kafka, str) else kafka.connection()


class Unshown(str):
    """A secret handed to a client library: its value as it is, its repr `'***'`. kafka-python's admin
    client logs its whole configuration at DEBUG (`Starting KafkaAdminClient with configuration: {...}`),
    which shows each value's repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class _TlsFileError(ValueError):
    """A TLS file that the TLS library cannot read as what its variable says."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__

