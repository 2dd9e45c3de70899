"""The Faust and aiokafka versions the edge was written and tested against, and the guard.

The bulk delivery (projector.kafka.bulk) forks Faust's private drain and acks through its
consumer's private bookkeeping; the consumer client (projector.kafka.consumer_client) copies one of
aiokafka's private methods; membership sets a private attribute of aiokafka's coordinator. Another
version may rename or rework any of them and misbehave without an error (a rebalance that does not
wait for an ack, an offset committed past an unacked batch). So the projector refuses to start on
any version not named here; pyproject.toml pins the same ones. To upgrade: read the marked private
accesses (`noqa: SLF001` in projector/kafka/) against the new version, run the tests, add it here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata

from projector.errors import ProjectorError

TESTED: Mapping[str, tuple[str, ...]] = {
    "faust-streaming": ("0.15.3",),
    "aiokafka": ("0.14.0",),
}


class UntestedVersion(ProjectorError):
    """An installed Kafka library's version is not one the edge was tested with."""


def untested(installed: Mapping[str, str | None], tested: Mapping[str, tuple[str, ...]] = TESTED) -> str | None:
    """Why the installed versions (distribution -> version, None: not installed) cannot be run, in
    one line, or None when every tested distribution is installed at a tested version."""
    wrong = [(name, installed.get(name), versions) for name, versions in tested.items()
             if installed.get(name) not in versions]
    if not wrong:
        return None
    said = "; ".join(f"{name} {f'{found} is installed' if found else 'is not installed'}, "
                     f"tested: {', '.join(versions)}" for name, found, versions in wrong)
    return (f"untested Kafka client library: {said}; install the tested version "
            "(pip install -e .) or test this one and add it to projector/kafka/versions.py")


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_versions(version_of: Callable[[str], str | None] = installed_version) -> None:
    """Raise UntestedVersion (one line: installed and tested versions) unless the installed Faust
    and aiokafka are versions the edge was tested with."""
    problem = untested({name: version_of(name) for name in TESTED})
    if problem is not None:
        raise UntestedVersion(problem)
