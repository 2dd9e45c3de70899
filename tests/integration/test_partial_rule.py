"""The PARTIAL rule is stated once in Python (projector.fold.display_status) and once in SQL
(projector.sql.display_status, which the upsert and the roots' recount use): both must agree."""

from __future__ import annotations

import psycopg
from psycopg import sql

from projector import sql as q
from projector.fold import display_status


def test_the_sql_rule_gives_the_python_rules_status_in_every_case(db: str) -> None:
    cases = "(SELECT %s::boolean, %s::int, %s::enrichment_status) AS x(root, failed, own)"
    query = sql.SQL("SELECT ({})::text FROM " + cases).format(q.display_status("x.root", "x.failed", "x.own"))
    with psycopg.connect(db) as conn:
        statuses = conn.execute("SELECT unnest(enum_range(NULL::enrichment_status))::text").fetchall()
        assert {"FAILED", "SUCCESS", "PARTIAL"} <= {s for (s,) in statuses}
        for (own,) in statuses:
            for root in (True, False):
                for failed in (0, 1, 5):
                    got = conn.execute(query, (root, failed, own)).fetchone()
                    assert got is not None and got[0] == display_status(own, root, failed), (own, root, failed)
