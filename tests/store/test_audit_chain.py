"""The audit trail is a SHA-256 chain that names the first record anyone tampered with."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iliad7.audit import trail
from iliad7.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    ChainHead,
    canonical_json,
    record_hash,
    verify_chain,
)
from iliad7.store.triggers import drop_statements

# --- the pure chain -------------------------------------------------------------


def _chain(n: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        row: dict[str, object] = {
            "id": i,
            "prev_hash": prev,
            "at": f"2026-01-0{i}T00:00:00.000000+00:00",
            "actor": "ann",
            "role": "coordinator",
            "channel": "cli",
            "action": "item.record",
            "object_type": "item_value",
            "object_id": f"MSKCC-S001/VS/D1/1/TEMP{i}",
            "old_value": "",
            "new_value": canonical_json({"value": str(36 + i / 10)}),
            "reason": "",
        }
        row["hash"] = record_hash(row)
        prev = str(row["hash"])
        rows.append(row)
    return rows


def _head(rows: list[dict[str, object]]) -> ChainHead:
    return ChainHead(int(rows[-1]["id"]), str(rows[-1]["hash"]))  # type: ignore[call-overload]


def test_intact_chain_verifies_and_counts_every_record() -> None:
    rows = _chain(5)
    report = verify_chain(rows, _head(rows))
    assert report.as_dict() == {"ok": True, "records": 5, "first_broken": None}


def test_empty_chain_is_intact() -> None:
    assert verify_chain([], ChainHead(0, GENESIS_HASH)).ok


def test_canonical_json_ignores_key_order_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": "µg"}) == canonical_json({"a": "µg", "b": 1})
    assert canonical_json({"a": "µg"}) == '{"a":"µg"}'


def test_hash_covers_every_field_and_the_previous_hash() -> None:
    row = _chain(1)[0]
    for name in HASHED_FIELDS:
        changed = dict(row)
        changed[name] = 99 if name == "id" else "x"
        assert record_hash(changed) != row["hash"], name


def test_hash_of_naive_time_is_refused() -> None:
    row = dict(_chain(1)[0])
    row["at"] = datetime(2026, 1, 1)  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        record_hash(row)
    row["at"] = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(record_hash(row)) == 64


def test_changed_value_names_that_record() -> None:
    rows = _chain(5)
    rows[2] = {**rows[2], "new_value": '{"value":"41.0"}'}
    report = verify_chain(rows, _head(rows))
    assert not report.ok
    assert report.first_broken is not None and report.first_broken.id == 3
    assert "altered" in report.first_broken.reason


def test_deleted_record_is_named_as_missing() -> None:
    rows = _chain(5)
    del rows[1]
    report = verify_chain(rows, ChainHead(5, str(rows[-1]["hash"])))
    assert report.first_broken is not None
    assert report.first_broken.id == 2
    assert "missing" in report.first_broken.reason
    assert report.records == 4


def test_deleted_last_record_is_caught_by_the_chain_head() -> None:
    rows = _chain(5)
    head = _head(rows)
    report = verify_chain(rows[:-1], head)
    assert report.first_broken is not None and report.first_broken.id == 5


def test_recomputed_forgery_at_the_end_is_caught_by_the_chain_head() -> None:
    rows = _chain(5)
    head = _head(rows)
    forged = _chain(6)[5]  # correctly hashed and linked, but never written by the trail
    report = verify_chain([*rows, forged], head)
    assert report.first_broken is not None and report.first_broken.id == 6
    assert "outside the audit trail" in report.first_broken.reason


def test_swapped_records_name_the_first_of_the_two() -> None:
    rows = _chain(5)
    a, b = rows[1], rows[3]
    rows[1] = {**b, "id": 2}
    rows[3] = {**a, "id": 4}
    report = verify_chain(rows, _head(_chain(5)))
    assert report.first_broken is not None and report.first_broken.id == 2


def test_relinked_but_unrehashed_record_is_a_broken_link() -> None:
    rows = _chain(3)
    rows[1] = {**rows[1], "prev_hash": "f" * 64}
    rows[1]["hash"] = record_hash(rows[1])
    report = verify_chain(rows, _head(rows))
    # Record 2 is self-consistent but no longer linked to record 1.
    assert report.first_broken is not None and report.first_broken.id == 2
    assert "link" in report.first_broken.reason


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=25),
    data=st.data(),
    field=st.sampled_from([f for f in HASHED_FIELDS if f != "id"]),
)
def test_any_single_field_change_anywhere_is_named_at_its_record(n: int, data: st.DataObject, field: str) -> None:
    rows = _chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    rows[index] = {**rows[index], field: str(rows[index][field]) + "x"}
    report = verify_chain(rows, _head(_chain(n)))
    assert report.first_broken is not None and report.first_broken.id == index + 1
    assert report.records == n


# --- the stored chain -------------------------------------------------------------


def _fill_trail(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            trail.append(
                actor="ann",
                role="coordinator",
                channel="cli",
                action="item.record",
                object_type="item_value",
                object_id=f"MSKCC-S001/VS/D1/1/ITEM{i}",
                new={"value": str(i)},
            )


def _sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _bypass_triggers() -> None:
    for statement in drop_statements(connection.vendor):
        _sql(statement)


def _verify_cli() -> tuple[int, dict[str, object]]:
    from iliad7.cli import app

    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    body = json.loads(result.stdout)
    # Added beside the interface's fields: the checkpoints (iliad7.audit.anchor) and the reconciliation.
    assert "checkpoints" in body and "reconciliation" in body
    return result.exit_code, {key: body[key] for key in ("ok", "records", "first_broken", "reconciliation")}


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        trail.append(actor="x", role="", channel="cli", action="test")


@pytest.mark.django_db(transaction=True)
def test_triggers_are_back_after_the_flush_of_a_transactional_test() -> None:
    # Runs after the transactional test above (pytest-django orders them last),
    # whose flush dropped and recreated the triggers (tests/conftest.py).
    _fill_trail(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql("DELETE FROM store_auditrecord")
    assert trail.verify().ok


@pytest.mark.django_db
def test_stored_chain_verifies_through_the_cli() -> None:
    _fill_trail(6)
    code, body = _verify_cli()
    # The interface's three keys keep their meaning; the reconciliation is added beside them.
    assert (code, {k: body[k] for k in ("ok", "records", "first_broken")}) == (
        0,
        {"ok": True, "records": 6, "first_broken": None},
    )
    assert body["reconciliation"]["ok"] is True  # type: ignore[index]


@pytest.mark.django_db
def test_audit_update_and_delete_are_rejected_by_the_database() -> None:
    _fill_trail(3)
    for statement in (
        "UPDATE store_auditrecord SET reason = 'edited' WHERE id = 2",
        "DELETE FROM store_auditrecord WHERE id = 2",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _sql(statement)
    from iliad7.store.models import AuditRecord

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditRecord.objects.filter(id=1).update(actor="mallory")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditRecord.objects.filter(id=1).delete()
    assert trail.verify().ok


@pytest.mark.django_db
def test_value_changed_in_the_database_is_reported_with_its_record() -> None:
    _fill_trail(6)
    _bypass_triggers()
    _sql("UPDATE store_auditrecord SET new_value = %s WHERE id = 4", ['{"value":"999"}'])
    code, body = _verify_cli()
    assert code == 1
    assert body["first_broken"]["id"] == 4  # type: ignore[index]
    assert body["ok"] is False and body["records"] == 6


@pytest.mark.django_db
def test_row_deleted_in_the_database_is_reported_as_missing() -> None:
    _fill_trail(6)
    _bypass_triggers()
    _sql("DELETE FROM store_auditrecord WHERE id = 3")
    code, body = _verify_cli()
    assert code == 1
    assert body["first_broken"] == {  # type: ignore[comparison-overlap]
        "id": 3,
        "reason": "record 3 is missing (the next stored record is 4)",
    }


@pytest.mark.django_db
def test_last_row_deleted_in_the_database_is_reported() -> None:
    _fill_trail(6)
    _bypass_triggers()
    _sql("DELETE FROM store_auditrecord WHERE id = 6")
    code, body = _verify_cli()
    assert code == 1 and body["first_broken"]["id"] == 6  # type: ignore[index]


@pytest.mark.django_db
def test_row_inserted_in_the_database_is_reported() -> None:
    _fill_trail(6)
    from iliad7.store.models import AuditRecord

    last = AuditRecord.objects.get(id=6)
    _sql(
        "INSERT INTO store_auditrecord (id, prev_hash, hash, at, actor, role, channel, action, "
        "object_type, object_id, old_value, new_value, reason) "
        "VALUES (7, %s, %s, %s, 'mallory', 'coordinator', 'cli', 'item.record', 'item_value', "
        "'MSKCC-S001/VS/D1/1/TEMP', '', '{\"value\":\"37\"}', '')",
        [last.hash, "a" * 64, last.at],
    )
    code, body = _verify_cli()
    assert code == 1 and body["first_broken"]["id"] == 7  # type: ignore[index]
    assert body["records"] == 7


@pytest.mark.django_db
def test_row_inserted_in_the_middle_is_reported_where_it_was_put() -> None:
    _fill_trail(6)
    _bypass_triggers()
    # Make room after record 3 and slip a forged record in as the new record 4.
    for i in range(6, 3, -1):
        _sql("UPDATE store_auditrecord SET id = %s WHERE id = %s", [i + 1, i])
    from iliad7.store.models import AuditRecord

    third = AuditRecord.objects.get(id=3)
    _sql(
        "INSERT INTO store_auditrecord (id, prev_hash, hash, at, actor, role, channel, action, "
        "object_type, object_id, old_value, new_value, reason) "
        "VALUES (4, %s, %s, %s, 'mallory', '', 'cli', 'item.record', '', '', '', '', '')",
        [third.hash, "b" * 64, third.at],
    )
    code, body = _verify_cli()
    assert code == 1 and body["first_broken"]["id"] == 4  # type: ignore[index]


@pytest.mark.django_db
def test_two_rows_swapped_in_the_database_are_reported() -> None:
    _fill_trail(6)
    _bypass_triggers()
    _sql("UPDATE store_auditrecord SET id = -1 WHERE id = 2")
    _sql("UPDATE store_auditrecord SET id = 2 WHERE id = 5")
    _sql("UPDATE store_auditrecord SET id = 5 WHERE id = -1")
    code, body = _verify_cli()
    assert code == 1 and body["first_broken"]["id"] == 2  # type: ignore[index]


@pytest.mark.django_db
def test_removed_chain_head_is_reported() -> None:
    _fill_trail(3)
    _sql("DELETE FROM store_auditchainhead")
    code, body = _verify_cli()
    assert code == 1
    assert body["first_broken"] == {"id": 3, "reason": "the chain head row is missing"}  # type: ignore[comparison-overlap]


@pytest.mark.django_db
def test_audit_times_survive_the_round_trip_through_the_database() -> None:
    # The hash covers the microsecond time; both backends must give it back unchanged.
    _fill_trail(3)
    assert trail.verify().as_dict() == {"ok": True, "records": 3, "first_broken": None}
