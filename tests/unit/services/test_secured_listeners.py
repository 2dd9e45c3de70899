"""The local broker's secured listeners are optional: without their ports its configuration is the
plaintext one it always was; with them, SASL_SSL and mTLS listeners beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from enrichlog.services import LocalKafka, ServicesSettings


@pytest.fixture(autouse=True)
def _no_service_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("ENRICHLOG_")]:
        monkeypatch.delenv(name)


def _properties(tmp_path: Path, **settings: object) -> dict[str, str]:
    kafka = LocalKafka(ServicesSettings(state_dir=tmp_path, **settings))  # type: ignore[arg-type]
    kafka.home.mkdir(parents=True)
    kafka._write_config()  # what `start` writes, without starting
    lines = kafka.properties.read_text().replace("\\\n", "").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_the_default_broker_has_only_its_plaintext_listener(tmp_path: Path) -> None:
    props = _properties(tmp_path)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert not [k for k in props if k.startswith(("ssl.", "sasl.", "listener.name."))]
    assert not (tmp_path / "kafka" / "tls").exists()


def test_secured_listeners_beside_the_plaintext_one(tmp_path: Path) -> None:
    props = _properties(tmp_path, kafka_sasl_ssl_port=29094, kafka_mtls_port=29095,
                        kafka_sasl_password="pw-for-the-test")
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093,"
                                  "SASL_SSL://127.0.0.1:29094,SSL://127.0.0.1:29095")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert Path(props["ssl.keystore.location"]).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "kafka" / "server.properties").stat().st_mode & 0o077 == 0  # holds the PLAIN password


@pytest.mark.parametrize("password", ["short", "has,comma-in-it", "has]bracket-in-it", "has=equals-in-it"])
def test_a_password_the_storage_tool_would_misread_is_refused(password: str) -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_password"):
        ServicesSettings(kafka_sasl_password=password)  # type: ignore[arg-type]
