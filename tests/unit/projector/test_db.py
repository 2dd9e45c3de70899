"""projector.db: psycopg's errors as the projector's, in one line and without the URL's password.

psycopg's error classes carry their SQLSTATE and can be made without a server; a URL libpq cannot
parse, or a port nothing listens on, is refused before any server is involved."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from projector import db
from projector.errors import StoreError, StoreUnavailable

URL = "postgresql://enrichlog:s3cr%40t@127.0.0.1:1/enrichlog"


@pytest.mark.parametrize("exc", [
    psycopg.OperationalError("server closed the connection unexpectedly\n\tThis probably means ..."),
    psycopg.errors.SerializationFailure("could not serialize access due to concurrent update"),
    psycopg.errors.DeadlockDetected("deadlock detected\nDETAIL:  Process 1 waits for ShareLock"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
])
def test_transient_errors_are_unavailable_in_one_line(exc: psycopg.Error) -> None:
    error = db.translate(exc, "batch rejected by PostgreSQL")
    assert type(error) is StoreUnavailable and not error.poison
    assert str(error) == f"PostgreSQL unavailable: {str(exc).splitlines()[0]}"
    assert error.sqlstate == exc.sqlstate


@pytest.mark.parametrize(("exc", "poison"), [
    (psycopg.errors.UniqueViolation('duplicate key value violates unique constraint "k"\nDETAIL:  Key (k)=(1)'),
     True),
    (psycopg.errors.CheckViolation('new row violates check constraint "c"'), True),
    (psycopg.errors.InvalidTextRepresentation('invalid input syntax for type uuid: "x"'), True),
    (psycopg.errors.NumericValueOutOfRange("integer out of range"), True),
    (psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), False),
    (psycopg.errors.InsufficientPrivilege("permission denied for table enrichment_logs"), False),
])
def test_other_errors_keep_their_sqlstate_and_only_the_datas_faults_are_poison(exc: psycopg.Error,
                                                                               poison: bool) -> None:
    error = db.translate(exc, "batch rejected by PostgreSQL")
    assert type(error) is StoreError and error.poison is poison and error.sqlstate == exc.sqlstate
    assert str(error) == f"batch rejected by PostgreSQL ({exc.sqlstate}): {str(exc).splitlines()[0]}"


@pytest.mark.parametrize("exc", [psycopg.errors.UndefinedTable('relation "enrichment_logs" does not exist'),
                                 psycopg.errors.UndefinedColumn('column "fold_seq" does not exist')])
def test_a_schema_older_than_the_code_says_to_migrate(exc: psycopg.Error) -> None:
    error = db.translate(exc, "cannot read")
    assert str(error).endswith("; is the database migrated (enrichlog migrate)?") and not error.poison
    assert exc.sqlstate in db.NOT_MIGRATED


def test_a_callers_hints_replace_the_default_ones() -> None:
    denied = psycopg.errors.InsufficientPrivilege("permission denied to create temporary tables")
    hints = {**db.HINTS, db.INSUFFICIENT_PRIVILEGE: "; grant TEMPORARY"}
    assert str(db.translate(denied, "cannot stage", hints)) == (
        "cannot stage (42501): permission denied to create temporary tables; grant TEMPORARY")
    missing = psycopg.errors.UndefinedTable("no table")
    assert str(db.translate(missing, "cannot stage", {})) == "cannot stage (42P01): no table"


def test_an_error_without_sqlstate_says_none_and_an_empty_one_its_class() -> None:
    assert str(db.translate(psycopg.InterfaceError("the connection is closed"), "x")) == "x: the connection is closed"
    assert str(db.translate(psycopg.ProgrammingError(""), "x")) == "x: ProgrammingError"


def test_whole_keeps_the_detail_on_one_line() -> None:
    exc = psycopg.errors.UniqueViolation('could not create unique index "i"\nDETAIL:  Key (k)=(1) is duplicated.')
    error = db.translate(exc, "refused", whole=True)
    assert str(error) == 'refused (23505): could not create unique index "i" DETAIL: Key (k)=(1) is duplicated.'


def test_translated_translates_psycopg_errors_only() -> None:
    with pytest.raises(StoreError, match=r"^doing \(23505\): dup$") as caught, db.translated("doing"):
        raise psycopg.errors.UniqueViolation("dup")
    assert isinstance(caught.value.__cause__, psycopg.errors.UniqueViolation)
    with pytest.raises(ValueError, match="not the database's"), db.translated("doing"):
        raise ValueError("not the database's")
    own = StoreError("the projector's own", poison=True)
    with pytest.raises(StoreError) as passed, db.translated("doing"):
        raise own
    assert passed.value is own


def test_translated_around_awaits() -> None:
    async def go() -> None:
        with db.translated("doing"):
            await asyncio.sleep(0)
            raise psycopg.errors.DeadlockDetected("deadlock detected")

    with pytest.raises(StoreUnavailable, match=r"^PostgreSQL unavailable: deadlock detected$"):
        asyncio.run(go())


def test_first_line() -> None:
    assert db.first_line(ValueError("  one\ntwo\n")) == "one"
    assert db.first_line(ValueError("")) == "ValueError"


@pytest.mark.parametrize(("url", "redacted"), [
    (URL, "postgresql://enrichlog:***@127.0.0.1:1/enrichlog"),
    ("postgresql://enrichlog@db/enrichlog", "postgresql://enrichlog@db/enrichlog"),
    ("postgresql://u:p@ss@db/d", "postgresql://u:***@db/d"),
    ("postgresql://db/d", "postgresql://db/d"),
])
def test_redact(url: str, redacted: str) -> None:
    assert db.redact(url) == redacted


def test_scrub_removes_the_password_quoted_or_decoded() -> None:
    assert db.scrub(f'bad "{URL}", s3cr%40t, s3cr@t', URL) == (
        'bad "postgresql://enrichlog:***@127.0.0.1:1/enrichlog", ***, ***')


def test_the_application_name_is_cut_as_postgresql_would() -> None:
    assert db.application_name("x" * 80) == "x" * 63
    assert db.application_name("") is None and db.application_name(None) is None


@pytest.mark.parametrize("url", ["postgresql://enrichlog:s3cr%40t@127.0.0.1:1/enrichlog?bogus=1",
                                 "postgresql://enrichlog:s3cr%40t@[::1/enrichlog", "not a url"])
def test_a_url_libpq_cannot_parse_is_invalid_in_one_line(url: str) -> None:
    with pytest.raises(db.InvalidURL) as caught:
        db.connect(url)
    text = str(caught.value)
    assert text.startswith(f"invalid database URL {db.redact(url)!r}: ") and "\n" not in text
    assert "s3cr" not in text and not isinstance(caught.value, StoreUnavailable)


def test_nothing_listening_is_unavailable_naming_the_server_without_its_password() -> None:
    with pytest.raises(db.CannotConnect) as caught:
        db.connect(URL, timeout=2)
    error = caught.value
    assert isinstance(error, StoreUnavailable) and "Connection refused" in error.reason
    assert str(error) == f"cannot connect to postgresql://enrichlog:***@127.0.0.1:1/enrichlog: {error.reason}"
    assert "s3cr" not in str(error) and "\n" not in str(error)

    async def go() -> None:
        await db.connect_async(URL, timeout=2)

    with pytest.raises(db.CannotConnect, match="Connection refused"):
        asyncio.run(go())
