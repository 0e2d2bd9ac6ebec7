"""Database triggers that make the append-only tables refuse UPDATE and DELETE.

The actions never change or remove audit records, item value versions,
signatures, or the IRT's screening versions, consents, unblinding events,
drug movements, preparations and doses given; these triggers make the database itself refuse it too, so a bug
or a hand-typed SQL statement cannot do it either. Someone with owner rights
can still drop a trigger: the audit hash chain is what detects that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

APPEND_ONLY_TABLES = ("store_auditrecord", "store_itemvalue", "store_signature")  # migration 0002
# The IRT's records of what happened (issue 4; migration 0004): screening versions,
# consents, unblindings, drug movements, preparations and doses given are never changed.
IRT_APPEND_ONLY_TABLES = (
    "store_screeningversion",
    "store_consent",
    "store_unblindingevent",
    "store_drugmovement",
    "store_preparation",
    "store_doseadministration",
)
# Data capture (issue 5; migration 0006): the steps of queries and the SDV and lock events.
CAPTURE_APPEND_ONLY_TABLES = ("store_queryevent", "store_reviewevent")
# The Secondary Infections Committee's decisions (issue 5; migration 0007).
ADJUDICATION_APPEND_ONLY_TABLES = ("store_infectionadjudication",)
ALL_APPEND_ONLY_TABLES = (
    APPEND_ONLY_TABLES + IRT_APPEND_ONLY_TABLES + CAPTURE_APPEND_ONLY_TABLES + ADJUDICATION_APPEND_ONLY_TABLES
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION iliad7_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'iliad7: % on % refused: rows of this table are append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def create_statements(vendor: str, tables: tuple[str, ...] = ALL_APPEND_ONLY_TABLES) -> list[str]:
    """SQL creating the append-only triggers of `tables` on `vendor` ("sqlite" or "postgresql")."""
    if vendor == "sqlite":
        statements = []
        for table in tables:
            for op in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'iliad7: {op} on {table} refused: "
                    f"rows of this table are append-only'); END"
                )
        return statements
    if vendor == "postgresql":
        statements = [_PG_FUNCTION]
        for table in tables:
            statements += [
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION iliad7_refuse_change()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION iliad7_refuse_change()",
            ]
        return statements
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")


def drop_statements(vendor: str, tables: tuple[str, ...] = ALL_APPEND_ONLY_TABLES) -> list[str]:
    """SQL removing the triggers of `tables` (reverse migration; test-database flushes)."""
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in tables for op in ("update", "delete")]
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}"
            for table in tables
            for kind in ("append_only", "no_truncate")
        ]
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")


def migration_operation(tables: tuple[str, ...]) -> Any:
    """The migration step that creates (and, reversed, drops) the append-only triggers of `tables`."""
    from django.db import migrations

    def run(statements_for: Callable[[str], list[str]]) -> Callable[[Any, Any], None]:
        def apply(apps: Any, schema_editor: Any) -> None:
            for sql in statements_for(schema_editor.connection.vendor):
                schema_editor.execute(sql, params=None)

        return apply

    return migrations.RunPython(
        run(lambda vendor: create_statements(vendor, tables)),
        run(lambda vendor: drop_statements(vendor, tables)),
        elidable=False,
    )
