"""ProducerSettings: read from the environment; a bad value names its variable."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from enrichlog.services.tls import make_pki
from producers import ProducerSettings
from schemas import describe


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(("KAFKA_", "ENRICHLOG_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_reads_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:9092,b:9092")
    clean_env.setenv("ENRICHLOG_EVENTS_TOPIC", "jobs.v1")
    clean_env.setenv("ENRICHLOG_PRODUCER_LINGER_MS", "7")
    clean_env.setenv("ENRICHLOG_PRODUCER_COMPRESSION_TYPE", "none")
    settings = ProducerSettings()
    config = settings.kafka_config()
    assert settings.topic == "jobs.v1"
    assert config["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert (config["linger_ms"], config["compression_type"], config["acks"]) == (7, None, "all")
    assert config["enable_idempotence"] is True


def test_defaults() -> None:
    settings = ProducerSettings(bootstrap_servers="k:9092")
    assert settings.topic == "enrichment.job-events"
    assert settings.max_block_ms == 500


def test_missing_bootstrap_servers_names_the_variable() -> None:
    with pytest.raises(ValidationError) as exc:
        ProducerSettings()
    assert describe(exc.value) == "KAFKA_BOOTSTRAP_SERVERS: required field is missing"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ENRICHLOG_PRODUCER_LINGER_MS", "soon", 'must be an integer, got string "soon"'),
        ("ENRICHLOG_PRODUCER_LINGER_MS", "-1", "must be at least 0"),
        ("ENRICHLOG_PRODUCER_MAX_BLOCK_MS", "999999", "must be at most 60000"),
        ("ENRICHLOG_PRODUCER_COMPRESSION_TYPE", "brotli", 'must be one of "none", "gzip", "lz4"'),
        ("ENRICHLOG_EVENTS_TOPIC", "bad topic!", "has characters Kafka refuses (' !')"),
        ("ENRICHLOG_EVENTS_TOPIC", "..", "must not be '..'"),
        ("ENRICHLOG_EVENTS_TOPIC", "t" * 250, "is 250 characters long, Kafka's limit is 249"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS", 'must be one of "PLAINTEXT", "SSL"'),
        ("ENRICHLOG_PRODUCER_ENABLE_IDEMPOTENCE", "maybe", 'must be true or false, got string "maybe"'),
    ],
)
def test_bad_values_name_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as exc:
        ProducerSettings()
    text = describe(exc.value)
    assert text.startswith(f"{variable}: ")
    assert message in text


def test_sasl_needs_credentials_and_keeps_the_password_secret(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "tls")
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:9093")
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME"):
        ProducerSettings()
    clean_env.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("KAFKA_SASL_USERNAME", "svc")
    clean_env.setenv("KAFKA_SASL_PASSWORD", "hunter2")
    clean_env.setenv("KAFKA_SSL_CAFILE", str(pki.ca_file))
    settings = ProducerSettings()
    assert "hunter2" not in repr(settings)
    config = settings.kafka_config()
    assert config["sasl_plain_password"] == "hunter2"
    assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert isinstance(config["ssl_context"], ssl.SSLContext)
    assert config["ssl_context"].check_hostname


def test_sasl_mechanism_without_sasl_protocol_is_rejected() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_MECHANISM set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"):
        ProducerSettings(bootstrap_servers="k:9092", sasl_mechanism="PLAIN")


def test_delivery_timeout_must_cover_request_timeout_and_linger() -> None:
    with pytest.raises(ValidationError, match="DELIVERY_TIMEOUT_MS"):
        ProducerSettings(bootstrap_servers="k:9092", request_timeout_ms=5000,
                         delivery_timeout_ms=4000)
