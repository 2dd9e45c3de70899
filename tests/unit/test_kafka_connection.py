"""The KAFKA_* connection settings (schemas.kafka_connection): each bad input names its variable and
the rule; every deployable's settings read them the same way; secrets stay out of reprs."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from enrichlog.services.tls import Pki, make_pki
from producers import ProducerSettings
from projector.kafka.app import broker_credentials
from projector.settings import ProjectorSettings
from schemas import describe
from schemas.kafka_connection import KafkaConnection, as_connection, login_failed_message

SECRET = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "ENRICHLOG_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9094,k2:9094")
    yield monkeypatch


def _sasl_ssl(env: pytest.MonkeyPatch, pki: Pki, mechanism: str = "SCRAM-SHA-512") -> None:
    env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("KAFKA_SASL_MECHANISM", mechanism)
    env.setenv("KAFKA_SASL_USERNAME", "svc")
    env.setenv("KAFKA_SASL_PASSWORD", SECRET)
    env.setenv("KAFKA_SSL_CAFILE", str(pki.ca_file))


def _error(env: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ValidationError) as exc:
        KafkaConnection()
    return describe(exc.value)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "scram-sha-512"])
def test_each_mechanism_gives_both_libraries_the_same_login(env: pytest.MonkeyPatch, pki: Pki,
                                                             mechanism: str) -> None:
    _sasl_ssl(env, pki, mechanism)
    kafka = KafkaConnection()
    for config in (kafka.kafka_python(), kafka.aiokafka()):
        assert config["bootstrap_servers"] == ["k1:9094", "k2:9094"]
        assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", mechanism.upper())
        assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("svc", SECRET)
        context = config["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", mechanism.upper())
    assert (credentials.username, credentials.password) == ("svc", SECRET)


def test_ssl_with_a_client_certificate_is_mtls_and_plaintext_has_nothing(env: pytest.MonkeyPatch, pki: Pki) -> None:
    env.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    env.setenv("KAFKA_SSL_CAFILE", str(pki.ca_file))
    env.setenv("KAFKA_SSL_CERTFILE", str(pki.client_cert_file))
    env.setenv("KAFKA_SSL_KEYFILE", str(pki.client_key_file))
    kafka = KafkaConnection()
    assert "sasl_mechanism" not in kafka.kafka_python()
    assert isinstance(broker_credentials(kafka), ssl.SSLContext)  # Faust: SSL credentials
    assert kafka.describe() == "k1:9094,k2:9094 (SSL)"
    plain = as_connection("h:1")
    assert plain.kafka_python() == {"bootstrap_servers": ["h:1"], "security_protocol": "PLAINTEXT"}
    assert broker_credentials(plain) is None


def test_sasl_without_tls() -> None:
    sasl_plaintext = KafkaConnection(bootstrap_servers="h:1", security_protocol="SASL_PLAINTEXT",
                                     sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p")
    credentials = broker_credentials(sasl_plaintext)
    assert (credentials.protocol.value, credentials.ssl_context) == ("SASL_PLAINTEXT", None)
    assert sasl_plaintext.aiokafka()["ssl_context"] is None and "ssl_context" not in sasl_plaintext.kafka_python()


def test_every_deployable_reads_the_same_variables(env: pytest.MonkeyPatch, pki: Pki) -> None:
    _sasl_ssl(env, pki)
    env.setenv("DATABASE_URL", "postgresql://u@h/db")
    expected = KafkaConnection()
    for settings in (ProducerSettings(), ProjectorSettings()):
        assert settings.connection() == expected
        assert type(settings.connection()) is KafkaConnection
    assert ProjectorSettings().kafka_bootstrap_servers == "k1:9094,k2:9094"


def test_secrets_are_not_in_reprs_descriptions_or_messages(env: pytest.MonkeyPatch, pki: Pki) -> None:
    _sasl_ssl(env, pki)
    env.setenv("DATABASE_URL", "postgresql://u@h/db")
    kafka = KafkaConnection()
    shown = [repr(kafka), str(kafka), kafka.describe(), repr(ProducerSettings()), repr(ProjectorSettings()),
             repr(broker_credentials(kafka)), login_failed_message(kafka, "login refused", "check it")]
    assert not [s for s in shown if SECRET in s]
    # handed to the libraries as it is, but not in a logged configuration (kafka-python's admin client)
    for config in (kafka.kafka_python(), kafka.aiokafka()):
        assert config["sasl_plain_password"] == SECRET and config["sasl_plain_password"].encode() == SECRET.encode()
        assert SECRET not in repr(config) and SECRET not in str(config)
    assert login_failed_message(kafka, "login refused", "check it") == (
        "Kafka at k1:9094,k2:9094 (SASL_SSL, SCRAM-SHA-512, user 'svc'): login refused; check it")


@pytest.mark.parametrize(("variables", "expected"), [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"},
     'KAFKA_SECURITY_PROTOCOL: must be one of "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"'),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
     'KAFKA_SASL_MECHANISM: must be one of "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"'),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_PASSWORD": "x"},
     "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
     "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
     "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT logs in without SASL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CAFILE: Path does not point to a file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/nonexistent/client.pem"},
     "KAFKA_SSL_CERTFILE: Path does not point to a file"),
])
def test_bad_settings_name_the_variable_and_the_rule(env: pytest.MonkeyPatch, variables: dict[str, str],
                                                     expected: str) -> None:
    assert expected in _error(env, **variables)


def test_tls_files_in_the_wrong_places(env: pytest.MonkeyPatch, pki: Pki, tmp_path: Path) -> None:
    assert "KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS" in _error(
        env, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="PLAIN", KAFKA_SASL_USERNAME="u",
        KAFKA_SASL_PASSWORD="p", KAFKA_SSL_CAFILE=str(pki.ca_file))
    env.delenv("KAFKA_SASL_MECHANISM")
    env.delenv("KAFKA_SASL_USERNAME")
    env.delenv("KAFKA_SASL_PASSWORD")
    env.delenv("KAFKA_SSL_CAFILE")
    assert "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE" in _error(
        env, KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_KEYFILE=str(pki.client_key_file))
    env.delenv("KAFKA_SSL_KEYFILE")
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("not a certificate\n")
    assert f"KAFKA_SSL_CAFILE ({not_pem}) holds no PEM certificate that TLS can read" in _error(
        env, KAFKA_SSL_CAFILE=str(not_pem))
    env.delenv("KAFKA_SSL_CAFILE")
    # the client's certificate with the CA's key: not a pair
    assert "KAFKA_SSL_CERTFILE" in _error(env, KAFKA_SSL_CERTFILE=str(pki.client_cert_file),
                                          KAFKA_SSL_KEYFILE=str(pki.directory / "ca-key.pem"))


def test_an_encrypted_key_needs_its_password(env: pytest.MonkeyPatch, pki: Pki, tmp_path: Path) -> None:
    import subprocess

    encrypted = tmp_path / "client-key.enc.pem"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(pki.client_key_file), "-out", str(encrypted),
                    "-passout", f"pass:{SECRET}"], check=True, capture_output=True)
    env.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    env.setenv("KAFKA_SSL_CERTFILE", str(pki.client_cert_file))
    env.setenv("KAFKA_SSL_KEYFILE", str(encrypted))
    message = _error(env)  # no password: refused at once, never a prompt on the terminal
    assert "KAFKA_SSL_KEY_PASSWORD does not open the key" in message
    assert "KAFKA_SSL_KEY_PASSWORD" in _error(env, KAFKA_SSL_KEY_PASSWORD="wrong")
    env.setenv("KAFKA_SSL_KEY_PASSWORD", SECRET)
    assert KafkaConnection().ssl_context() is not None


def test_a_plaintext_bootstrap_string_ignores_the_environment(env: pytest.MonkeyPatch, pki: Pki) -> None:
    _sasl_ssl(env, pki)
    assert as_connection("h:9092").security_protocol == "PLAINTEXT"

