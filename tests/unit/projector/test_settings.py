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
