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
# The pre-screening worklist (issue 15; migration 0009): runs, their candidates and the screenings started.
PRESCREEN_APPEND_ONLY_TABLES = ("store_prescreenrun", "store_prescreencandidate", "store_prescreenstart")
# Signed corrections of doses given (issue 16; migration 0010).
INTEGRITY_APPEND_ONLY_TABLES = ("store_dosecorrection",)
# Data cuts of follow-up (issue 17; migration 0012).
DATA_CUT_APPEND_ONLY_TABLES = ("store_datacut",)
ALL_APPEND_ONLY_TABLES = (
    APPEND_ONLY_TABLES
    + IRT_APPEND_ONLY_TABLES
    + CAPTURE_APPEND_ONLY_TABLES
    + ADJUDICATION_APPEND_ONLY_TABLES
    + PRESCREEN_APPEND_ONLY_TABLES
    + INTEGRITY_APPEND_ONLY_TABLES
    + DATA_CUT_APPEND_ONLY_TABLES
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


# ---- Transition guards (issue 19; migration 0008) ----------------------------------------------------------------
# Three tables hold trial state that legitimately changes, so they cannot be append-only: the allocation
# lists (a list is replaced: `active` goes from true to false), the allocation slots (a slot is assigned
# a participant once) and the participants (the status follows the protocol's state machine; the USUBJID
# is set once, at randomization). Their triggers allow exactly those changes and refuse every other
# UPDATE, every DELETE, and an INSERT that does not start where the actions start. What a trigger cannot
# see (a legal-looking change made by hand, or any change once the triggers are dropped) `iliad7 audit
# verify` finds by reconciling these tables with the audit trail (iliad7.audit.reconcile).


def _transition_pairs() -> tuple[str, ...]:
    from iliad7.accounts.status import TRANSITIONS

    return tuple(f"{current.value}>{target.value}" for current, nexts in TRANSITIONS.items() for target in nexts)


def _guards() -> dict[str, dict[str, Any]]:
    pairs = ", ".join(f"'{pair}'" for pair in _transition_pairs())
    return {
        "store_allocationlist": {
            "immutable": (
                "id",
                "sealed_seed",
                "strata",
                "slots_per_stratum",
                "design",
                "protocol_version_id",
                "created_by_id",
                "created_at",
                "reason",
            ),
            "set_once": (),
            "update_rule": "(NEW.active AND NOT OLD.active)",
            "insert_rule": "",
            "what": "a list changes only from active to inactive",
        },
        "store_allocationslot": {
            "immutable": (
                "id",
                "allocation_list_id",
                "stratum",
                "block",
                "block_size",
                "sequence",
                "randomization_number",
                "arm",
                "kit_code",
            ),
            "set_once": ("participant_id", "assigned_at"),
            "update_rule": "",
            "insert_rule": "(NEW.participant_id IS NOT NULL OR NEW.assigned_at IS NOT NULL)",
            "what": "a slot is generated unassigned and assigned a participant once",
        },
        "store_participant": {
            "immutable": ("id", "screening_number", "site_id", "created_at"),
            "set_once": ("usubjid",),
            "update_rule": f"(NEW.status <> OLD.status AND (OLD.status || '>' || NEW.status) NOT IN ({pairs}))",
            "insert_rule": "(NEW.status <> 'screened' OR NEW.usubjid IS NOT NULL)",
            "what": "a participant is created screened and changes status only along the protocol state machine",
        },
    }


GUARDED_TABLES = ("store_allocationlist", "store_allocationslot", "store_participant")


def _update_refused(vendor: str, guard: dict[str, Any]) -> str:
    differs = "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"
    parts = [f"NEW.{column} {differs} OLD.{column}" for column in guard["immutable"]]
    parts += [f"(OLD.{column} IS NOT NULL AND NEW.{column} {differs} OLD.{column})" for column in guard["set_once"]]
    if guard["update_rule"]:
        parts.append(guard["update_rule"])
    return " OR ".join(parts)


def guard_create_statements(vendor: str, tables: tuple[str, ...] = GUARDED_TABLES) -> list[str]:
    """SQL creating the transition guards of `tables` on `vendor` ("sqlite" or "postgresql")."""
    guards = _guards()
    statements: list[str] = []
    if vendor == "sqlite":
        for table in tables:
            guard = guards[table]
            refuse = f"SELECT RAISE(ABORT, 'iliad7: {{op}} on {table} refused: {guard['what']}')"
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_guard_update BEFORE UPDATE ON {table} "
                f"WHEN {_update_refused(vendor, guard)} BEGIN {refuse.format(op='UPDATE')}; END"
            )
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_guard_delete BEFORE DELETE ON {table} "
                f"BEGIN {refuse.format(op='DELETE')}; END"
            )
            if guard["insert_rule"]:
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_guard_insert BEFORE INSERT ON {table} "
                    f"WHEN {guard['insert_rule']} BEGIN {refuse.format(op='INSERT')}; END"
                )
        return statements
    if vendor == "postgresql":
        statements.append(_PG_FUNCTION)
        for table in tables:
            guard = guards[table]
            insert_check = (
                f"IF TG_OP = 'INSERT' AND {guard['insert_rule']} THEN refused := true; END IF;"
                if guard["insert_rule"]
                else ""
            )
            statements += [
                f"""
CREATE OR REPLACE FUNCTION iliad7_guard_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE refused boolean := false;
BEGIN
  IF TG_OP = 'DELETE' THEN refused := true; END IF;
  {insert_check}
  IF TG_OP = 'UPDATE' AND ({_update_refused(vendor, guard)}) THEN refused := true; END IF;
  IF refused THEN
    RAISE EXCEPTION 'iliad7: % on % refused: {guard["what"]}', TG_OP, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$$""",
                f"DROP TRIGGER IF EXISTS {table}_guard ON {table}",
                f"CREATE TRIGGER {table}_guard BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION iliad7_guard_{table}()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION iliad7_refuse_change()",
            ]
        return statements
    raise NotImplementedError(f"no transition guards for database vendor {vendor!r}")


def guard_drop_statements(vendor: str, tables: tuple[str, ...] = GUARDED_TABLES) -> list[str]:
    """SQL removing the transition guards of `tables` (reverse migration; test-database flushes)."""
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_guard_{op}" for table in tables for op in ("update", "delete", "insert")
        ]
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_{kind} ON {table}" for table in tables for kind in ("guard", "no_truncate")
        ]
    raise NotImplementedError(f"no transition guards for database vendor {vendor!r}")


def all_create_statements(vendor: str) -> list[str]:
    """Every append-only trigger and transition guard (after a test flush)."""
    return create_statements(vendor) + guard_create_statements(vendor)


def all_drop_statements(vendor: str) -> list[str]:
    """Remove every append-only trigger and transition guard (around a test flush; an attacker's first step)."""
    return drop_statements(vendor) + guard_drop_statements(vendor)


def expected_trigger_names(vendor: str) -> set[str]:
    """The names of the triggers the migrations create, for `audit verify` to check that none was dropped."""
    if vendor == "sqlite":
        names = {f"{table}_no_{op}" for table in ALL_APPEND_ONLY_TABLES for op in ("update", "delete")}
        guards = _guards()
        for table in GUARDED_TABLES:
            names |= {f"{table}_guard_update", f"{table}_guard_delete"}
            if guards[table]["insert_rule"]:
                names.add(f"{table}_guard_insert")
        return names
    if vendor == "postgresql":
        names = {f"{table}_{kind}" for table in ALL_APPEND_ONLY_TABLES for kind in ("append_only", "no_truncate")}
        return names | {f"{table}_{kind}" for table in GUARDED_TABLES for kind in ("guard", "no_truncate")}
    raise NotImplementedError(f"no triggers for database vendor {vendor!r}")


def installed_trigger_names(connection: Any) -> set[str]:
    """The names of the triggers present on the iliad7 tables of `connection`'s database."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relname LIKE 'store\\_%%' AND pg_table_is_visible(c.oid)"
            )
        return {str(row[0]) for row in cursor.fetchall()}


def ensure_all(connection: Any) -> None:
    """Create every trigger that should exist and does not (idempotent), on the tables that exist.

    Run after each forward `migrate` (iliad7.store.apps): on SQLite a migration that alters a table
    rebuilds it, which silently drops the table's triggers; this puts them back.
    """
    tables = set(connection.introspection.table_names())
    append_only = tuple(t for t in ALL_APPEND_ONLY_TABLES if t in tables)
    guarded = tuple(t for t in GUARDED_TABLES if t in tables)
    if connection.vendor not in ("sqlite", "postgresql"):
        return
    missing = expected_trigger_names(connection.vendor) - installed_trigger_names(connection)
    if not missing:
        return
    with connection.cursor() as cursor:
        for sql in create_statements(connection.vendor, append_only) + guard_create_statements(
            connection.vendor, guarded
        ):
            cursor.execute(sql)
