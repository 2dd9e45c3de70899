"""The version guard's decision (projector.kafka.versions), from version strings alone."""

from __future__ import annotations

import pytest

from projector.kafka.versions import TESTED, UntestedVersion, check_versions, untested

TESTED_NOW = {name: versions[0] for name, versions in TESTED.items()}


def test_the_tested_versions_pass() -> None:
    assert untested(TESTED_NOW) is None


def test_the_installed_versions_are_the_tested_ones() -> None:
    check_versions()  # what this environment runs is what the guard lets start


@pytest.mark.parametrize(("name", "version"), [("faust-streaming", "0.11.0"), ("faust-streaming", "0.16.0"),
                                                ("aiokafka", "0.13.0"), ("aiokafka", "0.14.1")])
def test_another_version_is_refused_in_one_line_naming_both(name: str, version: str) -> None:
    said = untested({**TESTED_NOW, name: version})
    assert said is not None and "\n" not in said
    assert f"{name} {version} is installed, tested: {TESTED_NOW[name]}" in said
    other = next(n for n in TESTED if n != name)
    assert other not in said  # only what is wrong is named


def test_a_missing_library_is_refused() -> None:
    said = untested({"faust-streaming": TESTED_NOW["faust-streaming"], "aiokafka": None})
    assert said is not None and f"aiokafka is not installed, tested: {TESTED_NOW['aiokafka']}" in said


def test_check_versions_raises_the_line_as_a_projector_error() -> None:
    versions = {**TESTED_NOW, "aiokafka": "0.12.0"}
    with pytest.raises(UntestedVersion) as raised:
        check_versions(versions.get)
    assert str(raised.value) == untested(versions)
