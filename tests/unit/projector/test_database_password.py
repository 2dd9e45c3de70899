"""DATABASE_PASSWORD_FILE (a Docker or Kubernetes secret): the password read from a file and merged
into DATABASE_URL percent-encoded, so that `@ : / # %` in it never break the URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from projector.settings import ProjectorSettings, with_password_file

PASSWORD = "p@ss:w/rd#50%?&= é"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "postgres-password"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("url", ["postgresql://enrichlog@db:5432/enrichlog", "postgres://enrichlog@db/enrichlog",
                                 "postgresql://enrichlog@[::1]:5432/enrichlog?sslmode=require"])
def test_the_password_is_merged_percent_encoded(tmp_path: Path, url: str) -> None:
    merged = with_password_file(url, _file(tmp_path, PASSWORD + "\n"), "DATABASE_URL")
    parts, given = urlsplit(merged), urlsplit(url)
    assert unquote(parts.password or "") == PASSWORD and parts.username == "enrichlog"
    assert (parts.hostname, parts.port, parts.path, parts.query) == (given.hostname, given.port, given.path,
                                                                     given.query)


def test_only_the_final_newline_is_dropped(tmp_path: Path) -> None:
    merged = with_password_file("postgresql://u@h/d", _file(tmp_path, " two words \r\n"), "DATABASE_URL")
    assert unquote(urlsplit(merged).password or "") == " two words "


def test_a_url_without_a_user_gets_the_password_alone(tmp_path: Path) -> None:
    merged = with_password_file("postgresql://h/d", _file(tmp_path, PASSWORD), "DATABASE_URL")
    assert urlsplit(merged).username == "" and unquote(urlsplit(merged).password or "") == PASSWORD


@pytest.mark.parametrize(("url", "text", "says"), [
    ("postgresql://u:other@h/d", PASSWORD, "DATABASE_URL holds a password and DATABASE_PASSWORD_FILE is set"),
    ("postgresql://u@h/d", "\n", "is empty"),
    ("postgresql://u@h/d", None, "cannot be read"),
])
def test_what_cannot_be_merged_is_named(tmp_path: Path, url: str, text: str | None, says: str) -> None:
    path = tmp_path / "missing" if text is None else _file(tmp_path, text)
    with pytest.raises(ValueError, match=says) as caught:
        with_password_file(url, path, "DATABASE_URL")
    assert "other" not in str(caught.value) and "p@ss" not in str(caught.value)
    if text is None:
        assert str(path) in str(caught.value)


def test_the_projector_settings_merge_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://enrichlog@db/enrichlog")
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(_file(tmp_path, PASSWORD)))
    settings = ProjectorSettings()  # type: ignore[call-arg]
    assert unquote(urlsplit(settings.database_url.get_secret_value()).password or "") == PASSWORD
    assert "p@ss" not in repr(settings) and "p%40ss" not in repr(settings)
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", "")  # unset, as compose's `${VAR:-}` leaves it
    assert ProjectorSettings().database_url.get_secret_value() == "postgresql://enrichlog@db/enrichlog"  # type: ignore[call-arg]
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(tmp_path / "nothing-here"))
    with pytest.raises(ValidationError, match="DATABASE_PASSWORD_FILE"):
        ProjectorSettings()  # type: ignore[call-arg]


def test_the_read_commands_merge_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import argparse

    from enrichlog.commands.migrate import resolve_database_url

    monkeypatch.setenv("DATABASE_URL", "postgresql://enrichlog@db/enrichlog")
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(_file(tmp_path, PASSWORD)))
    for given in (None, "postgresql://reader@db/enrichlog"):
        url = resolve_database_url(argparse.Namespace(database_url=given))
        assert unquote(urlsplit(url).password or "") == PASSWORD
