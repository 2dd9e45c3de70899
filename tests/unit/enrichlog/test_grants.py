"""The roles' names and the printed grants, without a database."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from enrichlog.grants import GrantError, Role, RoleSettings, configured_roles, role_name_problem, script


@pytest.mark.parametrize("name", ["enrichlog_projector", "reader", "_r", "r$1", "a" * 63])
def test_lower_case_identifiers_are_role_names(name: str) -> None:
    assert role_name_problem(name, "X") is None


@pytest.mark.parametrize(("name", "says"), [
    ("", "is not a role name"), ("Reader", "is not a role name"), ("my-reader", "is not a role name"),
    ("1reader", "is not a role name"), ("a" * 64, "is not a role name"), ('r"; DROP ROLE x; --', "is not a role name"),
    ("réader", "is not a role name"), ("pg_reader", "is reserved"), ("public", "is reserved"),
    ("current_user", "is reserved"),
])
def test_other_names_are_refused_naming_where_they_came_from(name: str, says: str) -> None:
    problem = role_name_problem(name, "ENRICHLOG_DB_READER_ROLE")
    assert problem is not None and problem.startswith(f"ENRICHLOG_DB_READER_ROLE: {name!r} {says}")


def test_options_win_over_settings_and_empty_settings_are_unset() -> None:
    settings = RoleSettings(projector_role="p_env", reader_role="")
    assert configured_roles(settings) == [Role("projector", "p_env", "ENRICHLOG_DB_PROJECTOR_ROLE")]
    assert configured_roles(settings, projector="p_opt", reader="r_opt") == [
        Role("projector", "p_opt", "--projector-role"), Role("reader", "r_opt", "--reader-role")]
    with pytest.raises(GrantError, match="--reader-role: 'Bad' is not a role name"):
        configured_roles(settings, reader="Bad")
    with pytest.raises(GrantError, match="need roles of their own"):
        configured_roles(settings, reader="p_env")


def test_the_script_grants_each_role_its_set_and_never_holds_a_password() -> None:
    roles = [Role("projector", "p", "x", SecretStr("hunter2")), Role("reader", "r", "y", SecretStr("hunter3"))]
    text = script(roles, "logs", create=True)
    assert "hunter" not in text and "PASSWORD" not in text
    lines = text.splitlines()
    assert lines[1] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."enrichment_log_positions" TO "p";' in lines
    assert 'GRANT SELECT ON TABLE "public"."enrichment_log_positions" TO "r";' in lines
    assert 'GRANT CONNECT ON DATABASE "logs" TO "r";' in lines
    assert not [line for line in lines if line.startswith("GRANT") and '"r"' in line and "SELECT" not in line
                and "CONNECT" not in line and "USAGE" not in line]
    assert 'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;' in lines
