"""docker-compose.yml read as `docker compose up` would on a fresh volume (there is no Docker engine
here): each defect it once had is a property checked below, so bringing one back fails a test.

What these tests cannot show is the engine's own behaviour (the order it builds, pulls and starts
in); the commands the file runs (`enrichlog migrate --wait`, `enrichlog project --health`, the
password outside the URL) are run for real by tests/integration/test_compose_commands.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
# The engine's own ports of the services, inside the compose network.
PG_PORT, KAFKA_PORT, METRICS_PORT = "5432", "9092", "9464"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _seconds(duration: str) -> float:
    """A compose duration (`1m30s`, `10s`, `500ms`) in seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", str(duration))
    assert parts and any(parts.groups()), f"not a compose duration: {duration!r}"
    h, m, s, ms = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def _command(test: list[str] | str) -> list[str]:
    """A healthcheck's `test` as an argument list (CMD form) or one shell line (CMD-SHELL form)."""
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return list(test)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _host_ports(service: dict[str, Any]) -> list[str]:
    """The host side of each published port (`127.0.0.1:HOST:CONTAINER`), interpolations kept."""
    out = []
    for port in service.get("ports") or []:
        spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
        # An interpolation `${VAR:-default}` holds a ':' of its own: split around it.
        pieces = re.findall(r"\$\{[^}]*\}|[^:]+", spec)
        assert len(pieces) == 3, f"a port published on every interface, or unreadable: {spec!r}"
        out.append(pieces[1])
    return out


def _default(value: str) -> str:
    """What `${VAR:-default}` is when VAR is unset (a plain value is itself)."""
    found = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]*)\}", value)
    return found.group(1) if found else value


def test_postgres_healthcheck_asks_over_tcp_and_has_a_start_period(compose: dict[str, Any]) -> None:
    """The image's init-time server listens on the unix socket only; pg_isready without -h asks that
    socket and says ready while the init scripts still run, before the server that stays is up."""
    check = _services(compose)["postgres"]["healthcheck"]
    line = " ".join(_command(check["test"])[1:])
    assert "pg_isready" in line
    host = re.search(r"(?:-h|--host)[ =](\S+)", line)
    assert host and host.group(1) in ("127.0.0.1", "localhost", "postgres"), line
    assert _seconds(check["start_period"]) >= 30


def test_kafka_healthcheck_has_a_start_period(compose: dict[str, Any]) -> None:
    check = _services(compose)["kafka"]["healthcheck"]
    assert _seconds(check["start_period"]) >= 30
    assert "--bootstrap-server" in " ".join(_command(check["test"]))


def test_migrate_waits_for_the_database_and_is_retried(compose: dict[str, Any]) -> None:
    """A first try that fails (the server restarting after its init) must not end the start-up."""
    migrate = _services(compose)["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    command = migrate["command"]
    assert command[0] == "migrate" and "--wait" in command
    assert float(command[command.index("--wait") + 1]) >= 30
    assert migrate["restart"] == "on-failure" or str(migrate["restart"]).startswith("on-failure:")


def test_projector_has_a_healthcheck_that_asks_the_projector(compose: dict[str, Any]) -> None:
    projector = _services(compose)["projector"]
    check = projector["healthcheck"]
    assert _command(check["test"]) == ["CMD", "enrichlog", "project", "--health"]
    assert _seconds(check["start_period"]) >= 30
    assert _env(projector)["ENRICHLOG_METRICS_PORT"] == METRICS_PORT  # what --health asks


def test_the_image_is_built_once_and_reused(compose: dict[str, Any]) -> None:
    services = _services(compose)
    builders = [name for name, s in services.items() if "build" in s]
    assert builders == ["migrate"], builders
    image = services["migrate"]["image"]
    users = [name for name, s in services.items() if s.get("image") == image]
    assert sorted(users) == ["console", "migrate", "projector"]
    # Not pulled from a registry: the image exists only once migrate's build made it.
    assert services["projector"]["pull_policy"] == "never"
    assert services["console"]["pull_policy"] == "never"


def test_the_broker_never_creates_a_topic_by_itself(compose: dict[str, Any]) -> None:
    """Auto-creation would make a 1-partition topic of the first producer's or consumer's request."""
    kafka = _env(_services(compose)["kafka"])
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    partitions = _env(_services(compose)["projector"])["ENRICHLOG_TOPIC_PARTITIONS"]
    assert kafka["KAFKA_NUM_PARTITIONS"] == partitions  # a topic made by kafka-topics.sh without --partitions


def test_the_events_topic_is_created_with_the_projectors_partitions(compose: dict[str, Any]) -> None:
    services = _services(compose)
    topics = services["topics"]
    assert topics["image"] == services["kafka"]["image"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["entrypoint"] == ["/opt/kafka/bin/kafka-topics.sh"]
    args = topics["command"]
    assert {"--create", "--if-not-exists"} <= set(args)
    projector = _env(services["projector"])
    assert args[args.index("--partitions") + 1] == projector["ENRICHLOG_TOPIC_PARTITIONS"]
    assert args[args.index("--topic") + 1] == projector["ENRICHLOG_EVENTS_TOPIC"]
    assert args[args.index("--bootstrap-server") + 1] == projector["KAFKA_BOOTSTRAP_SERVERS"]
    assert services["projector"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_the_database_password_is_not_pasted_into_the_url(compose: dict[str, Any]) -> None:
    """`@ : / # %` in a password break a URL; libpq reads PGPASSWORD as it is, whatever it holds."""
    for name in ("migrate", "projector", "console"):
        env = _env(_services(compose)[name])
        assert "POSTGRES_PASSWORD" not in env["DATABASE_URL"], name
        assert not re.search(r"//[^/@]*:[^/@]*@", env["DATABASE_URL"]), name
        assert env["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?"), name
    postgres = _env(_services(compose)["postgres"])
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_projector_starts_after_migrate_and_topics_and_kafka(compose: dict[str, Any]) -> None:
    depends = _services(compose)["projector"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_host_ports_differ_from_the_local_services_and_can_be_moved(compose: dict[str, Any]) -> None:
    """`scripts/demo` leaves (or `enrichlog services up` runs) a local PostgreSQL on 55432 and Kafka on
    19092/19093: compose must not want those ports, and every host port is a setting."""
    from enrichlog.services.config import ServicesSettings

    local = ServicesSettings.model_fields
    taken = {str(local[f].default) for f in ("pg_port", "kafka_port", "kafka_controller_port")}
    for name, service in _services(compose).items():
        for host in _host_ports(service):
            assert host.startswith("${ENRICHLOG_COMPOSE_"), (name, host)
            default = _default(host)
            first, _, last = default.partition("-")
            wanted = set(range(int(first), int(last or first) + 1))
            assert not {int(p) for p in taken} & wanted, (name, host)


def test_kafka_advertises_the_host_port_it_is_published_on(compose: dict[str, Any]) -> None:
    kafka = _services(compose)["kafka"]
    [host] = _host_ports(kafka)
    assert f"HOST://localhost:{host}" in _env(kafka)["KAFKA_ADVERTISED_LISTENERS"]


def test_the_image_holds_every_package_and_runs_enrichlog() -> None:
    """compose's commands (`migrate --wait`, `project`, the healthcheck's `enrichlog project --health`)
    are the image's `enrichlog`: each package pyproject.toml installs must be copied in."""
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {p.rstrip("*") for p in packages["include"]} <= copied
    assert 'ENTRYPOINT ["enrichlog"]' in dockerfile and "pip install ." in dockerfile
    assert re.search(rf"^EXPOSE {METRICS_PORT}$", dockerfile, flags=re.MULTILINE)


def _compose_schema_validator() -> Any:
    """The compose-spec JSON Schema: compose/config/compose_spec.json of the docker-compose 1.29.2
    wheel on PyPI (Apache-2.0), kept unchanged beside this file, with the top-level `name` that the
    specification added after that release."""
    import json

    import jsonschema

    schema = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
    schema["properties"]["name"] = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"}
    return jsonschema.Draft201909Validator(schema)


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _compose_schema_validator().iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_setting(compose: dict[str, Any]) -> None:
    import copy

    broken = copy.deepcopy(compose)
    broken["services"]["postgres"]["healthcheck"]["start_periode"] = "60s"
    broken["services"]["migrate"]["restart"] = ["on-failure"]
    assert len(list(_compose_schema_validator().iter_errors(broken))) == 2


def test_the_console_listens_beyond_loopback_only_with_a_credential(compose: dict[str, Any]) -> None:
    """Inside its container the console must listen on every address (the published port reaches it
    there), which `enrichlog web` refuses without ENRICHLOG_WEB_TOKEN; the file must not default it."""
    console = _services(compose)["console"]
    command = console["command"]
    assert command[0] == "web"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert _env(console)["ENRICHLOG_WEB_TOKEN"].startswith("${ENRICHLOG_WEB_TOKEN:?")
    assert [_default(port) for port in _host_ports(console)] == ["8081"]
    assert console["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert _seconds(console["healthcheck"]["start_period"]) >= 10
