"""Projector configuration: validated at start, errors name the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from projector.settings import ProjectorSettings

GOOD = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATABASE_URL": "postgresql://u:pw@h/db"}


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ProjectorSettings:
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ProjectorSettings()  # type: ignore[call-arg]


def test_defaults_and_secret_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch, GOOD)
    assert s.events_topic == "enrichment.job-events" and s.dlq_topic == "enrichment.job-events.dlq"
    assert "pw" not in repr(s)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "x:1"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({**GOOD, "ENRICHLOG_TOPIC_PARTITIONS": "0"}, "ENRICHLOG_TOPIC_PARTITIONS"),
        ({**GOOD, "ENRICHLOG_BATCH_MAX": "lots"}, "ENRICHLOG_BATCH_MAX"),
        ({**GOOD, "ENRICHLOG_BATCH_WINDOW_S": "-0.1"}, "ENRICHLOG_BATCH_WINDOW_S"),
        ({**GOOD, "ENRICHLOG_EVENTS_TOPIC": "bad topic!"}, "ENRICHLOG_EVENTS_TOPIC"),
        ({**GOOD, "ENRICHLOG_LOG_FORMAT": "xml"}, "ENRICHLOG_LOG_FORMAT"),
    ],
)
def test_bad_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: str) -> None:
    with pytest.raises(ValidationError) as err:
        _settings(monkeypatch, env)
    assert names in str(err.value)


def test_the_instance_id_is_the_hostname_unless_set_and_empty_means_a_dynamic_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    assert _settings(monkeypatch, GOOD).instance_id == socket.gethostname()
    assert _settings(monkeypatch, {**GOOD, "ENRICHLOG_INSTANCE_ID": "projector-2"}).instance_id == "projector-2"
    assert _settings(monkeypatch, {**GOOD, "ENRICHLOG_INSTANCE_ID": ""}).instance_id is None
    with pytest.raises(ValidationError, match="ENRICHLOG_INSTANCE_ID"):
        _settings(monkeypatch, {**GOOD, "ENRICHLOG_INSTANCE_ID": "two words"})


@pytest.mark.parametrize(
    ("env", "names", "rule"),
    [
        ({"ENRICHLOG_EVENTS_TOPIC": "."}, "ENRICHLOG_EVENTS_TOPIC", "must not be '.'"),
        ({"ENRICHLOG_EVENTS_TOPIC": ".."}, "ENRICHLOG_EVENTS_TOPIC", "must not be '..'"),
        ({"ENRICHLOG_EVENTS_TOPIC": "jobs/v1"}, "ENRICHLOG_EVENTS_TOPIC", "characters Kafka refuses ('/')"),
        ({"ENRICHLOG_EVENTS_TOPIC": "jöbs"}, "ENRICHLOG_EVENTS_TOPIC", "characters Kafka refuses ('ö')"),
        ({"ENRICHLOG_EVENTS_TOPIC": "t" * 250}, "ENRICHLOG_EVENTS_TOPIC", "Kafka's limit is 249"),
        ({"ENRICHLOG_EVENTS_TOPIC": "t" * 246}, "ENRICHLOG_DEAD_LETTER_TOPIC", "at most 245 characters"),
        ({"ENRICHLOG_EVENTS_TOPIC": "t" * 249}, "ENRICHLOG_DEAD_LETTER_TOPIC", "default dead-letter topic"),
        ({"ENRICHLOG_DEAD_LETTER_TOPIC": ".."}, "ENRICHLOG_DEAD_LETTER_TOPIC", "must not be '..'"),
        ({"ENRICHLOG_DEAD_LETTER_TOPIC": "d" * 250}, "ENRICHLOG_DEAD_LETTER_TOPIC", "Kafka's limit is 249"),
    ],
)
def test_topic_names_kafka_refuses_are_refused_naming_the_variable_and_the_rule(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _settings(monkeypatch, {**GOOD, **env})
    assert names in str(err.value) and rule in str(err.value)


def test_topic_names_at_kafkas_limits_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, {**GOOD, "ENRICHLOG_EVENTS_TOPIC": "t" * 245}).dlq_topic == "t" * 245 + ".dlq"
    s = _settings(monkeypatch, {**GOOD, "ENRICHLOG_EVENTS_TOPIC": "t" * 249, "ENRICHLOG_DEAD_LETTER_TOPIC": "d.dlq"})
    assert (len(s.events_topic), s.dlq_topic) == (249, "d.dlq")
    assert _settings(monkeypatch, {**GOOD, "ENRICHLOG_EVENTS_TOPIC": "...a_b-C9"}).events_topic == "...a_b-C9"


_ENCODE = "the password (or user) must be percent-encoded in DATABASE_URL"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://enrichlog:Zq#ss@db.internal:5432/enrichlog",  # '#' starts a fragment
        "postgresql://enrichlog:12#Zq@db.internal:5432/enrichlog",  # ... even when what precedes it is a port
        "postgresql://enrichlog:Zq@ss@db.internal:5432/enrichlog",  # PostgreSQL's parser stops at the first '@'
        "postgresql://enrichlog:Zq/ss@db.internal:5432/enrichlog",  # '/' starts the path
        "postgresql://enrichlog:Zq?ss@db.internal/enrichlog",  # '?' starts the query
        "postgresql://enri@chlog:Zqsecret@db.internal/enrichlog",  # in the user
    ],
)
def test_a_database_url_with_an_unencoded_password_says_to_percent_encode_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _settings(monkeypatch, {**GOOD, "DATABASE_URL": url})
    text = str(err.value)
    assert "DATABASE_URL" in text and _ENCODE in text and "# as %23, @ as %40" in text
    assert "Zq" not in text  # nor any part of the secret


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://enrichlog:Zq%23s%40s%2F%3F@db.internal:5432/enrichlog?sslmode=require",
        "postgresql://enrichlog@127.0.0.1:55432/enrichlog",
        "postgresql:///enrichlog?host=/var/run/postgresql",
        "postgres://u@[::1]:5432/db",
        "postgresql://u:secret@h1:5432,h2:5433/db?target_session_attrs=read-write",
    ],
)
def test_a_well_formed_database_url_is_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    assert _settings(monkeypatch, {**GOOD, "DATABASE_URL": url}).database_url.get_secret_value() == url


def test_migrate_says_so_too_without_printing_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from enrichlog.cli import main

    monkeypatch.setenv("DATABASE_URL", "postgresql://enrichlog:s3cr#t@127.0.0.1:1/enrichlog")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert _ENCODE in err and "s3cr" not in err and err.count("\n") == 1
