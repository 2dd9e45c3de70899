"""The database roles of a deployment and what each may do.

- The migration owner: the role of `enrichlog migrate`'s DATABASE_URL. It owns the schema's tables
  (it created them), so it alone may change, drop or truncate them. `enrichlog rebuild` runs as the
  owner too: it deletes a topic's rows and inserts them again, which the projector never does.
- The projector (`enrichlog project`, `project --check`): reads and writes the log and its positions
  (SELECT, INSERT, UPDATE), deletes positions (only the start-up's `projector.offsets` does, for
  a topic created again), and creates its staging table (TEMPORARY on the database). Its advisory lock
  (`projector.membership`) and pg_stat_activity need no grant.
- The reader (`enrichlog roots`, `timeline`, `rebuild --check`, a UI, analysts): SELECT on the log
  and the positions, nothing else.

`RELATIONS` says, for every relation the migrations and yoyo create, which of the two may do what
with it; a relation it leaves out gets nothing. `apply` makes each role's privileges on these
relations exactly that (REVOKE ALL, then GRANT, in one transaction), then checks what PostgreSQL
says each role may do against it. `enrichlog migrate` applies it after every run, for the roles that
configuration names, so a table added by a later migration gets the grants its entry in `RELATIONS`
gives it. ALTER DEFAULT PRIVILEGES is not used: it would give every future table one fixed set of
privileges (the projector's INSERT and UPDATE on a table it should only read), it applies only to
tables created by the role that set it, and it leaves existing tables alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projector import db
from projector.errors import StoreError

Kind = Literal["projector", "reader"]
KINDS: tuple[Kind, ...] = ("projector", "reader")

_ROW = ("SELECT", "INSERT", "UPDATE")
# Relation -> role kind -> table privileges. Every relation of the schema is named here (a test checks
# it), those a role may not touch with nothing.
RELATIONS: dict[str, dict[Kind, tuple[str, ...]]] = {
    "enrichment_logs": {"projector": _ROW, "reader": ("SELECT",)},
    # DELETE: projector.offsets drops the positions of a topic deleted and created again.
    "enrichment_log_positions": {"projector": (*_ROW, "DELETE"), "reader": ("SELECT",)},
    "enrichment_log_topics": {"projector": _ROW, "reader": ("SELECT",)},
    # `project --check` reads which migrations are recorded.
    "_yoyo_migration": {"projector": ("SELECT",)},
    "_yoyo_log": {},
    "_yoyo_version": {},
    "yoyo_lock": {},
}
# The database: TEMPORARY for the projector's staging table. The reader's CONNECT is granted too;
# PostgreSQL gives TEMPORARY to PUBLIC by default (a session's own temporary tables, not the log).
DATABASE: dict[Kind, tuple[str, ...]] = {"projector": ("CONNECT", "TEMPORARY"), "reader": ("CONNECT",)}
_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")

_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_MAX_NAME = 63  # NAMEDATALEN - 1: PostgreSQL would cut a longer name short
_RESERVED = frozenset({"public", "none", "current_user", "session_user", "current_role", "user", "all"})
_VARIABLES: dict[Kind, str] = {"projector": "ENRICHLOG_DB_PROJECTOR_ROLE", "reader": "ENRICHLOG_DB_READER_ROLE"}


class GrantError(RuntimeError):
    """The roles could not be created or granted as asked; the message says why and what to do."""


class RoleSettings(BaseSettings):
    """The roles named by configuration; a password is only ever sent to PostgreSQL, hashed."""

    model_config = SettingsConfigDict(env_prefix="ENRICHLOG_DB_", extra="ignore", frozen=True)

    projector_role: str | None = None
    reader_role: str | None = None
    projector_password: SecretStr | None = Field(None, repr=False)
    reader_password: SecretStr | None = Field(None, repr=False)

    @field_validator("projector_role", "reader_role", "projector_password", "reader_password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


@dataclass(frozen=True)
class Role:
    kind: Kind
    name: str
    source: str  # where the name came from (the variable or option), for messages
    password: SecretStr | None = None

    def __repr__(self) -> str:
        return f"Role({self.kind}, {self.name!r})"


def role_name_problem(name: str, source: str) -> str | None:
    """Why `name` is not a role name this tool manages, or None. Lower-case identifiers only: such a
    name reads the same quoted or not, in SQL and in a DATABASE_URL."""
    if len(name.encode()) > _MAX_NAME or not _NAME.fullmatch(name):
        return (f"{source}: {name!r} is not a role name this tool manages: 1-{_MAX_NAME} characters of a-z, 0-9, "
                "_ and $, starting with a letter or _ (lower case, so that it reads the same quoted or not)")
    if name.startswith("pg_") or name in _RESERVED:
        return f"{source}: {name!r} is reserved by PostgreSQL, choose another role name"
    return None


def configured_roles(settings: RoleSettings, projector: str | None = None, reader: str | None = None) -> list[Role]:
    """The roles to grant: the options given, else the settings'; each name checked (GrantError)."""
    chosen: list[Role] = []
    given: tuple[tuple[Kind, str | None, str | None, SecretStr | None], ...] = (
        ("projector", projector, settings.projector_role, settings.projector_password),
        ("reader", reader, settings.reader_role, settings.reader_password))
    for kind, option, configured, password in given:
        name = option if option is not None else configured
        if name is None:
            continue
        source = f"--{kind}-role" if option is not None else _VARIABLES[kind]
        problem = role_name_problem(name, source)
        if problem is not None:
            raise GrantError(problem)
        chosen.append(Role(kind, name, source, password))
    if len(chosen) == 2 and chosen[0].name == chosen[1].name:
        raise GrantError(f"{chosen[0].source} and {chosen[1].source} both name {chosen[0].name!r}: the projector "
                         "and the reader need roles of their own (the reader may not write)")
    return chosen


def create_statement(role: Role) -> sql.Composed:
    """A login role with no attribute beyond LOGIN; its password is set apart (`_set_password`)."""
    return sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(
        sql.Identifier(role.name))


def grant_statements(role: Role, database: str, schema: str, relations: list[str] | None = None) -> list[sql.Composed]:
    """The role's privileges made exactly its set: on the database, the schema and each relation (all
    of RELATIONS, or those given: the ones that exist), everything revoked, then its own granted."""
    who = sql.Identifier(role.name)
    db, ns = sql.Identifier(database), sql.Identifier(schema)
    out = [
        sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, who),
        sql.SQL("GRANT {} ON DATABASE {} TO {}").format(_privileges(DATABASE[role.kind]), db, who),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(ns, who),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ns, who),
    ]
    for name in RELATIONS if relations is None else relations:
        table = sql.Identifier(schema, name)
        out.append(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(table, who))
        granted = RELATIONS[name].get(role.kind, ())
        if granted:
            out.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(_privileges(granted), table, who))
    return out


def revoke_public_create(schema: str) -> sql.Composed:
    """PostgreSQL 15's default (and its documented secure pattern for older ones): only the schema's
    owner creates objects in it, so neither the projector nor the reader can through PUBLIC."""
    return sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(schema))


def _privileges(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(p) for p in names)


def script(roles: list[Role], database: str, schema: str = "public", *, create: bool = False) -> str:
    """The SQL `apply` runs, for a DBA to review and run after `enrichlog migrate` (psql, as the tables'
    owner or a superuser). Passwords are never in it."""
    lines = [f"-- enrichment-log roles on database {database}, schema {schema} (enrichlog.grants); "
             "run after `enrichlog migrate`, as the tables' owner", "BEGIN;"]
    for role in roles:
        lines.append(f"-- the {role.kind} ({role.source})")
        if create:
            lines.append(f"{create_statement(role).as_string(None)};")
            lines.append(f"-- then set its password: \\password {role.name}")
        lines += [f"{s.as_string(None)};" for s in grant_statements(role, database, schema)]
    lines += [f"{revoke_public_create(schema).as_string(None)};", "COMMIT;"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Granted:
    role: Role
    created: bool
    privileges: dict[str, tuple[str, ...]]  # relation (or "database", "schema") -> privileges

    def summary(self) -> str:
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.privileges.items())
        done = ("created, " if self.created else "") + ("password set, " if self.role.password is not None else "")
        return f"{self.role.kind} role {self.role.name}: {done}granted {what}"


_LOCK_KEY = 0x656E7269  # the migration runners' lock (enrichlog.migrate): grants wait for a running migration


def check_roles(conn: psycopg.Connection[Any], roles: list[Role], *, create: bool) -> list[Role]:
    """Refuse roles that grants cannot restrict (a superuser, the owner or a member of it), or that do
    not exist when they are not to be created; the roles to create."""
    owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
    missing = []
    for role in roles:
        row = conn.execute("SELECT rolsuper, rolbypassrls, pg_has_role(oid, current_user, 'USAGE') "
                           "FROM pg_roles WHERE rolname = %s", (role.name,)).fetchone()
        if row is None:
            if not create:
                raise GrantError(
                    f"role {role.name} ({role.source}) does not exist: create it (`enrichlog migrate --print-grants "
                    "--create-roles` prints the SQL) or pass --create-roles")
            missing.append(role)
            continue
        superuser, bypassrls, has_owners = row
        if superuser:
            raise GrantError(f"role {role.name} ({role.source}) is a superuser: no grant can restrict it; "
                             f"give the {role.kind} a role of its own")
        if role.name == owner or has_owners:
            raise GrantError(f"role {role.name} ({role.source}) is the migration owner or has its privileges "
                             f"(the owner of DATABASE_URL, {owner}, runs migrate): give the {role.kind} a role "
                             "of its own")
        if bypassrls:
            raise GrantError(f"role {role.name} ({role.source}) has BYPASSRLS: ALTER ROLE {role.name} NOBYPASSRLS")
    return missing


def apply(conn: psycopg.Connection[Any], roles: list[Role], *, create: bool = False) -> list[Granted]:
    """Create (when asked) and grant the roles, in one transaction on an autocommit connection, then
    check the outcome (`verify`); GrantError says what failed. Run as the tables' owner."""
    done = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        to_create = {r.name for r in check_roles(conn, roles, create=create)}
        database, schema = conn.execute("SELECT current_database(), current_schema()").fetchone()  # type: ignore[misc]
        present = [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname = ANY(%s) "
            "ORDER BY relname", (list(RELATIONS),))]
        for role in roles:
            if role.name in to_create:
                _create(conn, role)
            if role.password is not None:
                _set_password(conn, role)
            for statement in grant_statements(role, database, schema, present):
                conn.execute(statement)
        conn.execute(revoke_public_create(schema))
        for role in roles:
            problems = verify(conn, role)
            if problems:
                raise GrantError(f"after granting, role {role.name} ({role.source}) {'; '.join(problems)}: nothing "
                                 "was changed; run migrate as the tables' owner, and revoke what the role gets "
                                 "otherwise (from PUBLIC, or a role it is a member of)")
            done.append(Granted(role, role.name in to_create, _expected(role, present)))
    return done


_CREATEROLE_HINT = ("; --create-roles needs a role with CREATEROLE (or a superuser): create the roles as one "
                    "(`enrichlog migrate --print-grants --create-roles` prints the SQL), then run migrate without "
                    "--create-roles")


def _create(conn: psycopg.Connection[Any], role: Role) -> None:
    try:
        with db.translated(f"cannot create role {role.name} ({role.source})",
                           {db.INSUFFICIENT_PRIVILEGE: _CREATEROLE_HINT}), conn.transaction():
            conn.execute(create_statement(role))
    except StoreError as exc:
        raise GrantError(str(exc)) from exc


def _set_password(conn: psycopg.Connection[Any], role: Role) -> None:
    """The password goes to the server hashed by libpq (SCRAM, or what password_encryption says), so
    the server's statement log never holds it either."""
    assert role.password is not None
    hashed = conn.pgconn.encrypt_password(role.password.get_secret_value().encode(), role.name.encode())
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role.name), sql.Literal(hashed.decode())))


def _expected(role: Role, present: list[str]) -> dict[str, tuple[str, ...]]:
    out = {name: RELATIONS[name][role.kind] for name in present if RELATIONS[name].get(role.kind)}
    return {**out, "schema": ("USAGE",), "database": DATABASE[role.kind]}


def privileges(conn: psycopg.Connection[Any], role: str, relations: list[str]) -> dict[str, set[str]]:
    """What PostgreSQL says `role` may do, directly, through PUBLIC or a role it belongs to: with each
    of `relations` that exists (a grant on one of its columns counts), the current schema and database."""
    out: dict[str, set[str]] = {}
    for name, oid in conn.execute(
            "SELECT relname, oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relname = ANY(%s)", (relations,)).fetchall():
        have = set()
        for p in _TABLE_PRIVILEGES:
            query = "SELECT has_table_privilege(%(r)s, %(o)s::oid, %(p)s)"
            if p in _COLUMN_PRIVILEGES:
                query += " OR has_any_column_privilege(%(r)s, %(o)s::oid, %(p)s)"
            if conn.execute(query, {"r": role, "o": oid, "p": p}).fetchone()[0]:  # type: ignore[index]
                have.add(p)
        out[name] = have
    out["schema"] = {p for p in ("USAGE", "CREATE") if conn.execute(
        "SELECT has_schema_privilege(%s, current_schema(), %s)", (role, p)).fetchone()[0]}  # type: ignore[index]
    out["database"] = {p for p in ("CONNECT", "CREATE", "TEMPORARY") if conn.execute(
        "SELECT has_database_privilege(%s, current_database(), %s)", (role, p)).fetchone()[0]}  # type: ignore[index]
    return out


def verify(conn: psycopg.Connection[Any], role: Role) -> list[str]:
    """What differs between the role's privileges and its set: missing ones, and ones beyond it (the
    reader's TEMPORARY on the database, PUBLIC's by default, is allowed)."""
    have = privileges(conn, role.name, list(RELATIONS))
    want = {k: set(v) for k, v in _expected(role, [k for k in have if k in RELATIONS]).items()}
    allowed = {"database": {"TEMPORARY"}} if role.kind == "reader" else {}
    problems = []
    for what in sorted(set(have) | set(want)):
        lacking = want.get(what, set()) - have.get(what, set())
        beyond = have.get(what, set()) - want.get(what, set()) - allowed.get(what, set())
        if lacking:
            problems.append(f"lacks {', '.join(sorted(lacking))} on {what}")
        if beyond:
            problems.append(f"may also {', '.join(sorted(beyond))} on {what}")
    return problems
