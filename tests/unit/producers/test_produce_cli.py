"""`enrichlog produce`: bad arguments give one clear line and a non-zero exit."""

from __future__ import annotations

import pytest

from enrichlog.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--retry-rate", "1.5"], "argument --retry-rate: must be between 0 and 1, got 1.5"),
        (["--failure-rate", "-0.1"], "argument --failure-rate: must be between 0 and 1, got -0.1"),
        (["--slow-rate", "often"], "argument --slow-rate: expected a number between 0 and 1"),
        (["--rate", "-5"], "argument --rate: must be > 0, got -5"),
        (["--chains", "-3"], "argument --chains: must be >= 0, got -3"),
        (["--topic", ".."], "argument --topic: must not be '..'"),
        (["--topic", "jobs/v1"], "argument --topic: has characters Kafka refuses ('/')"),
    ],
)
def test_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["produce", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("enrichlog produce: error: ") and message in err


def test_missing_bootstrap_servers_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["produce", "--chains", "1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "enrichlog produce: error: invalid configuration: KAFKA_BOOTSTRAP_SERVERS: required field is missing\n"
    )


@pytest.mark.parametrize("topic", [".", "t" * 250, "bad topic"])
def test_rebuild_refuses_a_topic_name_kafka_refuses(topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["rebuild", "--check", "--topic", topic])
    assert exc.value.code == 2
    assert "argument --topic: " in capsys.readouterr().err
