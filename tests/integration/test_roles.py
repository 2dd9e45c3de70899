"""The three database roles on the real PostgreSQL: what `enrichlog migrate` grants the projector and the
reader, what each is refused, and that the projector, the offsets code and the read commands work with
exactly those grants."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from psycopg import errors, sql

from projector.membership import claim_instance
from projector.offsets import reconcile
from projector.ports import Positioned
from projector.rows import COLUMNS, project_all
from projector.store import PostgresStore
from tests.harness import wait_for
from tests.integration.test_queries import shifted
from tests.roles import Deployment, as_role, deployment, drop_roles, enrichlog, lock_down, owned_database
from tests.scenarios import album_chain_with_failed_child

pytestmark = pytest.mark.postgres

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

# What each role may do, and nothing else; written out here rather than read from enrichlog.grants, so
# that a change of the grants shows in this test.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "projector": {
        "enrichment_logs": {"SELECT", "INSERT", "UPDATE"},
        "enrichment_log_positions": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "enrichment_log_topics": {"SELECT", "INSERT", "UPDATE"},
        "_yoyo_migration": {"SELECT"},
        "schema": {"USAGE"},
        "database": {"CONNECT", "TEMPORARY"},
    },
    "reader": {
        "enrichment_logs": {"SELECT"},
        "enrichment_log_positions": {"SELECT"},
        "enrichment_log_topics": {"SELECT"},
        "schema": {"USAGE"},
        # Without `lock_down`, TEMPORARY too, from PUBLIC: a session's own temporary tables, not the log.
        "database": {"CONNECT"},
    },
}


@pytest.fixture(scope="module")
def roles(postgres_url: str) -> Iterator[Deployment]:
    with deployment(postgres_url) as d:
        yield d


def privileges(conn: psycopg.Connection[Any], role: str) -> dict[str, set[str]]:
    """What `role` may do with every relation of the schema (column grants included), the schema and
    the database, as PostgreSQL answers it; relations it may do nothing with are left out."""
    out: dict[str, set[str]] = {}
    relations = conn.execute("SELECT c.oid, c.relname FROM pg_class c WHERE c.relnamespace = "
                             "current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')")
    for oid, name in relations.fetchall():
        have = {p for p in TABLE_PRIVILEGES if conn.execute(
            "SELECT has_table_privilege(%s, %s::oid, %s) OR (%s IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES') "
            "AND has_any_column_privilege(%s, %s::oid, %s))", (role, oid, p, p, role, oid, p)).fetchone()[0]}
        if have:
            out[name] = have
    out["schema"] = {p for p in ("USAGE", "CREATE") if conn.execute(
        "SELECT has_schema_privilege(%s, current_schema(), %s)", (role, p)).fetchone()[0]}
    out["database"] = {p for p in ("CONNECT", "CREATE", "TEMPORARY") if conn.execute(
        "SELECT has_database_privilege(%s, current_database(), %s)", (role, p)).fetchone()[0]}
    return out


def test_the_roles_have_exactly_their_privileges(roles: Deployment) -> None:
    with psycopg.connect(roles.owner_url) as conn:
        assert privileges(conn, roles.projector) == EXPECTED["projector"]
        assert privileges(conn, roles.reader) == EXPECTED["reader"]
        attributes = conn.execute("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls "
                                  "FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
                                  ([roles.projector, roles.reader],)).fetchall()
    assert attributes == [(roles.projector, False, False, False, True, False),
                          (roles.reader, False, False, False, True, False)]


@pytest.mark.parametrize(("statement", "refusal"), [
    ("CREATE TABLE intruder (x int)", "permission denied for schema public"),
    ("CREATE INDEX intruder_idx ON enrichment_logs (reason)", "must be owner of table enrichment_logs"),
    ("CREATE SCHEMA intruder", "permission denied for database"),
    ("ALTER TABLE enrichment_logs ADD COLUMN intruder int", "must be owner of table enrichment_logs"),
    ("ALTER TABLE enrichment_log_positions DROP CONSTRAINT enrichment_log_positions_pkey",
     "must be owner of table enrichment_log_positions"),
    ("DROP TABLE enrichment_log_topics", "must be owner of table enrichment_log_topics"),
    ("DROP INDEX enrichment_logs_roots_idx", "must be owner of index enrichment_logs_roots_idx"),
    ("TRUNCATE enrichment_logs", "permission denied for table enrichment_logs"),
    ("TRUNCATE enrichment_log_positions", "permission denied for table enrichment_log_positions"),
    ("DELETE FROM enrichment_logs", "permission denied for table enrichment_logs"),
    ("DELETE FROM enrichment_log_topics", "permission denied for table enrichment_log_topics"),
    ("INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) VALUES ('x', 'x', now())",
     "permission denied for table _yoyo_migration"),
])
def test_the_projector_cannot_change_the_schema_truncate_or_delete_rows(
        roles: Deployment, statement: str, refusal: str) -> None:
    with psycopg.connect(roles.projector_url) as conn, pytest.raises(errors.InsufficientPrivilege) as refused:
        conn.execute(statement)
    assert str(refused.value).startswith(refusal), refused.value


@pytest.mark.parametrize(("statement", "refusal"), [
    ("INSERT INTO enrichment_logs (entity_type, entity_id, operation, status) "
     "VALUES ('ALBUM', gen_random_uuid(), 'X', 'PENDING')", "permission denied for table enrichment_logs"),
    ("UPDATE enrichment_logs SET reason = 'x'", "permission denied for table enrichment_logs"),
    ("DELETE FROM enrichment_logs", "permission denied for table enrichment_logs"),
    ("INSERT INTO enrichment_log_positions (consumer, topic, partition, next_offset) VALUES ('c', 't', 0, 0)",
     "permission denied for table enrichment_log_positions"),
    ("UPDATE enrichment_log_positions SET next_offset = 0", "permission denied for table enrichment_log_positions"),
    ("DELETE FROM enrichment_log_topics", "permission denied for table enrichment_log_topics"),
    ("SELECT * FROM enrichment_log_positions FOR UPDATE", "permission denied for table enrichment_log_positions"),
    ("TRUNCATE enrichment_logs", "permission denied for table enrichment_logs"),
    ("CREATE TABLE intruder (x int)", "permission denied for schema public"),
    ("SELECT * FROM _yoyo_migration", "permission denied for table _yoyo_migration"),
])
def test_the_reader_cannot_write(roles: Deployment, statement: str, refusal: str) -> None:
    with psycopg.connect(roles.reader_url) as conn, pytest.raises(errors.InsufficientPrivilege) as refused:
        conn.execute(statement)
    assert str(refused.value).startswith(refusal), refused.value


def _apply(url: str, consumer: str, batches: list[list[Positioned]]) -> None:
    async def go() -> None:
        store = PostgresStore(url, consumer=consumer, application_name="enrichlog-projector roles-test")
        try:
            for batch in batches:
                await store.apply(batch)
        finally:
            await store.close()

    asyncio.run(go())


def test_the_projector_writes_batches_through_the_real_store_with_its_grants(roles: Deployment) -> None:
    chain, events = album_chain_with_failed_child()
    events = shifted(events, datetime.now(UTC) - timedelta(minutes=5))
    positioned = [Positioned("events", 0, i, e) for i, e in enumerate(events)]
    half = len(positioned) // 2
    consumer = f"roles-{uuid.uuid4().hex[:8]}"
    # Two batches: the second updates rows of the first (the staging table, the upsert, the roots'
    # recount); then the whole stream again, a replay that must change nothing.
    _apply(roles.projector_url, consumer, [positioned[:half], positioned[half:], positioned])
    with psycopg.connect(roles.reader_url) as conn:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        rows = {r[1]: r for r in conn.execute(sql.SQL("SELECT {} FROM enrichment_logs WHERE job_id LIKE %s")
                                              .format(cols), (f"{chain.root_id}%",)).fetchall()}
        position = conn.execute("SELECT partition, next_offset FROM enrichment_log_positions WHERE consumer = %s",
                                (consumer,)).fetchall()
    expected = project_all(events)
    assert sorted(rows) == sorted(expected)
    assert rows[chain.root_id][COLUMNS.index("status")] == "PARTIAL"
    assert rows[chain.root_id][COLUMNS.index("failed_children")] == 1
    assert position == [(0, len(events))]


def test_the_projector_holds_its_instance_id_with_its_grants(roles: Deployment) -> None:
    group, instance = f"group-{uuid.uuid4().hex[:8]}", f"instance-{uuid.uuid4().hex[:8]}"
    claim_instance(roles.projector_url, group, instance)
    with psycopg.connect(roles.server, dbname=roles.database) as conn:  # the lock, held by the projector's role
        held = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.usename = %s AND a.application_name = %s",
            (roles.projector, f"enrichlog-projector {instance}")).fetchone()
    assert held == (1,)


def test_the_offsets_code_drops_and_records_positions_with_the_projectors_grants(
        roles: Deployment, kafka_bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    group = f"group-{topic}"
    with psycopg.connect(roles.owner_url) as conn:  # positions past the (empty) topic's end: another topic's
        conn.execute("INSERT INTO enrichment_log_positions (consumer, topic, partition, next_offset) "
                     "VALUES (%s, %s, 0, 7), (%s, %s, 1, 9)", (group, topic, group, topic))
    wait_for(lambda: reconcile(kafka_bootstrap, roles.projector_url, topic, group) == [], timeout=30,
             what="reconcile as the projector's role")
    with psycopg.connect(roles.reader_url) as conn:
        assert conn.execute("SELECT count(*) FROM enrichment_log_positions WHERE consumer = %s",
                            (group,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM enrichment_log_topics WHERE consumer = %s",
                            (group,)).fetchone() == (1,)


def test_the_read_commands_work_as_the_reader(roles: Deployment) -> None:
    chain, events = album_chain_with_failed_child()
    _apply(roles.projector_url, f"roles-{uuid.uuid4().hex[:8]}",
           [[Positioned("events", 1, i, e) for i, e in enumerate(shifted(events, datetime.now(UTC)))]])
    env = {"DATABASE_URL": roles.reader_url}
    listed = enrichlog(env, "roots", "--json", "--status", "PARTIAL")
    assert listed.returncode == 0, listed.stderr
    assert chain.root_id in [r["jobId"] for r in json.loads(listed.stdout)["rows"]]
    shown = enrichlog(env, "timeline", chain.root_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert {j["jobId"] for j in json.loads(shown.stdout)["children"]} == {
        f"{chain.root_id}/enrich", f"{chain.root_id}/cover"}
    assert enrichlog(env, "roots").returncode == 0


def test_migrate_again_revokes_what_was_granted_by_hand_and_publics_create(roles: Deployment) -> None:
    with psycopg.connect(roles.owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT DELETE, TRUNCATE ON enrichment_logs TO {}").format(
            sql.Identifier(roles.projector)))
        conn.execute(sql.SQL("GRANT UPDATE (reason) ON enrichment_logs TO {}").format(sql.Identifier(roles.reader)))
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # as PostgreSQL before 15 had it
        assert privileges(conn, roles.projector)["schema"] == {"USAGE", "CREATE"}
    done = enrichlog({"DATABASE_URL": roles.owner_url, **roles.roles_env()}, "migrate")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(roles.owner_url) as conn:
        assert privileges(conn, roles.projector) == EXPECTED["projector"]
        assert privileges(conn, roles.reader) == EXPECTED["reader"]


def test_every_relation_the_migrations_make_has_its_grants_decided(roles: Deployment) -> None:
    """A migration that adds a table (or a sequence, a view) must say in enrichlog.grants who may use it."""
    from enrichlog.grants import RELATIONS

    with psycopg.connect(roles.owner_url) as conn:
        made = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind IN ('r', 'p', 'v', 'm', 'S', 'f')")}
    assert made == set(RELATIONS)


# Bad input and the print mode.

def test_a_role_name_that_is_not_an_identifier_is_refused_naming_the_variable(postgres_url: str) -> None:
    for bad in ("Projector", "enrichlog-projector", "x; DROP TABLE enrichment_logs", "pg_projector", "public",
                "a" * 64, "1projector"):
        done = enrichlog({"DATABASE_URL": postgres_url, "ENRICHLOG_DB_PROJECTOR_ROLE": bad}, "migrate")
        assert done.returncode == 1
        assert done.stderr.startswith("enrichlog migrate: error: ENRICHLOG_DB_PROJECTOR_ROLE: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    done = enrichlog({"DATABASE_URL": postgres_url}, "migrate", "--reader-role", "Reader")
    assert done.returncode == 1 and done.stderr.startswith("enrichlog migrate: error: --reader-role: "), done.stderr


def test_a_role_that_does_not_exist_is_refused_before_anything_is_migrated(postgres_url: str) -> None:
    with owned_database(postgres_url) as d:
        done = enrichlog({"DATABASE_URL": d.owner_url, **d.roles_env()}, "migrate")
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"enrichlog migrate: error: role {d.projector} (ENRICHLOG_DB_PROJECTOR_ROLE) does not exist: create it "
            "(`enrichlog migrate --print-grants --create-roles` prints the SQL) or pass --create-roles")
        with psycopg.connect(d.owner_url) as conn:
            assert conn.execute("SELECT to_regclass('enrichment_logs')").fetchone() == (None,)


def test_the_same_role_for_both_a_superuser_or_the_owner_is_refused(postgres_url: str) -> None:
    with owned_database(postgres_url) as d:
        env = {"DATABASE_URL": d.owner_url}
        same = enrichlog({**env, "ENRICHLOG_DB_PROJECTOR_ROLE": d.reader, "ENRICHLOG_DB_READER_ROLE": d.reader},
                         "migrate")
        assert same.returncode == 1 and "the projector and the reader need roles of their own" in same.stderr
        superuser = psycopg.connect(postgres_url).info.user
        mighty = enrichlog({**env, "ENRICHLOG_DB_READER_ROLE": superuser}, "migrate")
        assert mighty.returncode == 1
        assert f"role {superuser} (ENRICHLOG_DB_READER_ROLE) is a superuser" in mighty.stderr, mighty.stderr
        owner = enrichlog({**env, "ENRICHLOG_DB_PROJECTOR_ROLE": d.owner}, "migrate")
        assert owner.returncode == 1
        assert f"role {d.owner} (ENRICHLOG_DB_PROJECTOR_ROLE) is the migration owner" in owner.stderr, owner.stderr


def test_create_roles_without_createrole_says_what_to_do(postgres_url: str) -> None:
    with owned_database(postgres_url, createrole=False) as d:
        done = enrichlog({"DATABASE_URL": d.owner_url, **d.roles_env()}, "migrate", "--create-roles")
        assert done.returncode == 1
        assert f"cannot create role {d.projector}" in done.stderr and "CREATEROLE" in done.stderr, done.stderr


def test_created_roles_get_the_configured_password_which_is_never_shown(postgres_url: str) -> None:
    password = f"s3cr#t:{uuid.uuid4().hex}"
    with owned_database(postgres_url) as d:
        env = {"DATABASE_URL": d.owner_url, **d.roles_env(), "ENRICHLOG_DB_PROJECTOR_PASSWORD": password}
        done = enrichlog(env, "migrate", "--create-roles")
        assert done.returncode == 0, done.stderr
        printed = enrichlog(env, "migrate", "--print-grants", "--create-roles")
        assert printed.returncode == 0, printed.stderr
        for output in (done.stdout, done.stderr, printed.stdout, printed.stderr):
            assert password not in output
        with psycopg.connect(postgres_url) as conn:
            stored = dict(conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                                       ([d.projector, d.reader],)).fetchall())
        assert stored[d.projector].startswith("SCRAM-SHA-256$") and password not in stored[d.projector]
        assert stored[d.reader] is None  # no password configured: the operator sets one


def test_print_grants_needs_no_database_and_is_what_migrate_applies(postgres_url: str) -> None:
    unreachable = "postgresql://owner@127.0.0.1:1/enrichlog"
    printed = enrichlog({"DATABASE_URL": unreachable, "ENRICHLOG_DB_PROJECTOR_ROLE": "enrichlog_projector",
                         "ENRICHLOG_DB_READER_ROLE": "enrichlog_reader"}, "migrate", "--print-grants", "--create-roles")
    assert printed.returncode == 0, printed.stderr
    script = printed.stdout
    assert 'CREATE ROLE "enrichlog_projector" LOGIN' in script
    assert 'GRANT SELECT, INSERT, UPDATE ON TABLE "public"."enrichment_logs" TO "enrichlog_projector";' in script
    assert 'GRANT CONNECT, TEMPORARY ON DATABASE "enrichlog" TO "enrichlog_projector";' in script
    assert 'GRANT SELECT ON TABLE "public"."enrichment_logs" TO "enrichlog_reader";' in script
    # Run by hand as a DBA would (psql), the printed SQL gives the same privileges as migrate does.
    with owned_database(postgres_url) as d:
        done = enrichlog({"DATABASE_URL": d.owner_url}, "migrate")
        assert done.returncode == 0, done.stderr
        own = enrichlog({"DATABASE_URL": d.owner_url, **d.roles_env()}, "migrate", "--print-grants", "--create-roles")
        with psycopg.connect(d.owner_url, autocommit=True) as conn:
            conn.execute(own.stdout.encode())
            assert privileges(conn, d.projector) == EXPECTED["projector"]
            assert privileges(conn, d.reader) == EXPECTED["reader"]


def test_print_grants_without_roles_or_database_name_is_refused() -> None:
    no_roles = enrichlog({"DATABASE_URL": "postgresql://owner@127.0.0.1:1/enrichlog"}, "migrate", "--print-grants")
    assert no_roles.returncode == 1 and "no roles to grant" in no_roles.stderr, no_roles.stderr
    no_db = enrichlog({"ENRICHLOG_DB_READER_ROLE": "enrichlog_reader"}, "migrate", "--print-grants")
    assert no_db.returncode == 1 and "no database" in no_db.stderr, no_db.stderr


def test_roles_created_by_a_superuser_run(postgres_url: str, empty_db: str) -> None:
    """The plain case: the superuser migrates and creates the roles; the grants are the same."""
    suffix = uuid.uuid4().hex[:8]
    projector, reader = f"enrichlog_projector_{suffix}", f"enrichlog_reader_{suffix}"
    lock_down(postgres_url, urlsplit(empty_db).path.lstrip("/"))
    try:
        done = enrichlog({"DATABASE_URL": empty_db, "ENRICHLOG_DB_PROJECTOR_ROLE": projector},
                         "migrate", "--create-roles", "--reader-role", reader)
        assert done.returncode == 0, done.stderr
        assert f"projector role {projector}: created, granted" in done.stdout, done.stdout
        with psycopg.connect(empty_db) as conn:
            assert privileges(conn, projector) == EXPECTED["projector"]
            assert privileges(conn, reader) == EXPECTED["reader"]
        with psycopg.connect(as_role(empty_db, projector)) as conn:
            assert conn.execute("SELECT count(*) FROM enrichment_logs").fetchone() == (0,)
    finally:
        with psycopg.connect(empty_db, autocommit=True) as conn:  # the grants first, then the roles
            conn.execute(sql.SQL("DROP OWNED BY {}, {}").format(sql.Identifier(projector), sql.Identifier(reader)))
        drop_roles(postgres_url, projector, reader)


def test_a_privilege_the_reader_gets_through_another_role_stops_migrate_and_is_named(postgres_url: str) -> None:
    with deployment(postgres_url) as d:
        writers = f"enrichlog_writers_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(d.owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(writers)))
            conn.execute(sql.SQL("GRANT INSERT ON enrichment_logs TO {}").format(sql.Identifier(writers)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(writers), sql.Identifier(d.reader)))
        try:
            done = enrichlog({"DATABASE_URL": d.owner_url, **d.roles_env()}, "migrate")
            assert done.returncode == 1
            assert f"role {d.reader} (ENRICHLOG_DB_READER_ROLE) may also INSERT on enrichment_logs" in done.stderr, \
                done.stderr
            with psycopg.connect(d.owner_url) as conn:  # rolled back: the grants are as they were
                assert privileges(conn, d.projector) == EXPECTED["projector"]
        finally:
            with psycopg.connect(d.url(str(urlsplit(postgres_url).username)), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(writers)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(writers)))
