"""Trial tables outside the audit chain (issue 19): guarded by triggers, reconciled by `audit verify`.

The attacker here has the database file or owner rights: first they try plain SQL (the triggers
refuse what the actions never do), then they drop the triggers and change the rows. Either way
`iliad7 audit verify` must name the row the audit trail does not account for, and exit 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

pytestmark = pytest.mark.django_db


def _sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _refused(statement: str, params: list[Any] | None = None) -> None:
    with pytest.raises(DatabaseError, match="refused"), transaction.atomic():
        _sql(statement, params)


def _verify_cli() -> tuple[int, dict[str, Any]]:
    from typer.testing import CliRunner

    from iliad7.cli import app

    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.stdout)


def _problems(table: str) -> list[Any]:
    from iliad7.audit.reconcile import reconcile

    return [p for p in reconcile().problems if p.table == table]


@pytest.fixture
def randomized(allocation: Any, staff: dict[str, Any], enrol: Any) -> Any:
    """A randomized MSKCC participant with dose 1 prepared and given."""
    from iliad7.store.actions import prepare_dose, randomize_participant, record_dose_given, record_drug_receipt

    participant = enrol()
    randomize_participant(
        participant, acting_user=staff["inv"], confirmation=True, channel="web",
        randomized_at=datetime.now(UTC) - timedelta(hours=3),
    )  # fmt: skip
    record_drug_receipt(
        site_code="MSKCC", lot="LOT-9", expiry=(datetime.now(UTC) + timedelta(days=300)).date(), vials=20,
        acting_user=staff["rx"], channel="cli",
    )  # fmt: skip
    prepared = prepare_dose(
        participant, 1, weight_kg=Decimal("70"), concentration_ug_per_ml=Decimal("200"), lot="LOT-9",
        acting_user=staff["rx"], channel="cli",
    )  # fmt: skip
    record_dose_given(
        participant, 1, given_at=datetime.now(UTC) - timedelta(hours=1), injection_site="left_deltoid",
        volume_ml=prepared.volume_ml, local_reaction="none", acting_user=staff["coord"], channel="web",
    )  # fmt: skip
    participant.refresh_from_db()
    return participant


def test_a_clean_trial_reconciles_and_verify_keeps_its_interface_keys(randomized: Any) -> None:
    code, body = _verify_cli()
    assert code == 0
    assert (body["ok"], body["first_broken"]) == (True, None) and body["records"] > 10
    reconciliation = body["reconciliation"]
    assert reconciliation["ok"] is True and reconciliation["problems"] == []
    checked = reconciliation["checked"]
    assert checked["participants"] == 1 and checked["allocation_slots_assigned"] == 1
    assert checked["item_values"] > 0 and checked["consents"] == 1 and checked["doseadministration"] == 1


# ---- the guards: what plain SQL may no longer do -----------------------------------------------


def test_participant_guard_allows_only_the_state_machine(randomized: Any, enrol: Any) -> None:
    pk = randomized.pk
    _refused("UPDATE store_participant SET status = 'consented' WHERE id = %s", [pk])  # backwards
    _refused("UPDATE store_participant SET status = 'screened' WHERE id = %s", [pk])
    _refused("UPDATE store_participant SET usubjid = 'ILIAD-7-US-O-MSKCC-999' WHERE id = %s", [pk])  # set once
    _refused("UPDATE store_participant SET usubjid = NULL WHERE id = %s", [pk])
    _refused("UPDATE store_participant SET screening_number = 'MSKCC-S999' WHERE id = %s", [pk])
    _refused("DELETE FROM store_participant WHERE id = %s", [pk])
    waiting = enrol(consent=False)
    _refused("UPDATE store_participant SET status = 'randomized' WHERE id = %s", [waiting.pk])  # skips consent
    _refused(
        "INSERT INTO store_participant (screening_number, usubjid, site_id, status, created_at) "
        "VALUES ('MSKCC-S900', NULL, %s, 'randomized', %s)",
        [randomized.site_id, datetime.now(UTC)],
    )
    # A legal-looking step made by hand passes the guard, and is what the reconciliation is for.
    _sql("UPDATE store_participant SET status = 'withdrawn' WHERE id = %s", [pk])
    found = _problems("store_participant")
    assert [p.row for p in found] == [f"{randomized.screening_number} (id {pk})"]
    assert "'withdrawn'" in found[0].problem and "'on_treatment'" in found[0].problem


def test_slot_and_list_guards_keep_the_allocation_as_generated(randomized: Any, allocation: Any, enrol: Any) -> None:
    from iliad7.store.models import AllocationSlot

    slot = AllocationSlot.objects.get(participant=randomized)
    other = enrol()
    for statement, params in (
        (
            "UPDATE store_allocationslot SET arm = CASE WHEN arm = 'CYT107' THEN 'placebo' ELSE 'CYT107' END "
            "WHERE id = %s",
            [slot.pk],
        ),
        ("UPDATE store_allocationslot SET kit_code = 'ZZZZZZ' WHERE id = %s", [slot.pk]),
        ("UPDATE store_allocationslot SET randomization_number = 'MSKCC-900' WHERE id = %s", [slot.pk]),
        ("UPDATE store_allocationslot SET participant_id = %s WHERE id = %s", [other.pk, slot.pk]),
        ("UPDATE store_allocationslot SET participant_id = NULL WHERE id = %s", [slot.pk]),
        ("UPDATE store_allocationslot SET assigned_at = %s WHERE id = %s", [datetime.now(UTC), slot.pk]),
        ("DELETE FROM store_allocationslot WHERE id = %s", [slot.pk]),
        ("UPDATE store_allocationlist SET sealed_seed = 'x' WHERE id = %s", [allocation.pk]),
        ("UPDATE store_allocationlist SET slots_per_stratum = 99 WHERE id = %s", [allocation.pk]),
        ("DELETE FROM store_allocationlist WHERE id = %s", [allocation.pk]),
    ):
        _refused(statement, params)
    free = AllocationSlot.objects.filter(participant__isnull=True).order_by("id").first()
    assert free is not None
    # Taking a free slot by hand passes the set-once guard; the trail has no randomization for it.
    _sql("UPDATE store_allocationslot SET participant_id = %s WHERE id = %s", [other.pk, free.pk])
    found = _problems("store_allocationslot")
    assert [p.row for p in found] == [f"{free.randomization_number} (id {free.pk})"]
    assert "without a randomization record" in found[0].problem


def test_a_replaced_list_cannot_be_made_active_again(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import generate_allocation_list

    generate_allocation_list(acting_user=staff["stat"], channel="cli", slots_per_stratum=4, reason="replaced")
    _refused("UPDATE store_allocationlist SET active = %s WHERE id = %s", [True, allocation.pk])


# ---- with the guards dropped: the reconciliation names the row --------------------------------------


def test_status_changed_with_triggers_dropped_is_named(randomized: Any, drop_triggers: Any) -> None:
    drop_triggers()
    _sql("UPDATE store_participant SET status = 'completed' WHERE id = %s", [randomized.pk])
    code, body = _verify_cli()
    assert code == 1 and body["ok"] is False and body["first_broken"] is None  # the chain itself is intact
    rows = {(p["table"], p["row"]) for p in body["reconciliation"]["problems"]}
    assert ("store_participant", f"{randomized.screening_number} (id {randomized.pk})") in rows
    # The dropped triggers are named too.
    assert any(table == "triggers" for table, _ in rows)


def test_an_item_value_version_inserted_by_hand_is_named(randomized: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.models import ItemValue

    latest = ItemValue.objects.filter(participant=randomized).order_by("-id").first()
    assert latest is not None
    forged = ItemValue.objects.create(
        participant=randomized, form=latest.form, visit=latest.visit, instance=latest.instance, item=latest.item,
        version=latest.version + 1, value="999", unit=latest.unit, recorded_by=staff["coord"],
        recorded_at=datetime.now(UTC), reason="typo", channel="web",
    )  # fmt: skip
    code, body = _verify_cli()
    assert code == 1 and body["ok"] is False
    problems = [p for p in body["reconciliation"]["problems"] if p["table"] == "store_itemvalue"]
    assert len(problems) == 1 and problems[0]["row"].startswith(f"id {forged.pk} (")
    assert "no item.record or item.correct audit record" in problems[0]["problem"]


def test_an_item_value_changed_or_removed_with_triggers_dropped_is_named(randomized: Any, drop_triggers: Any) -> None:
    from iliad7.store.models import ItemValue

    first, second = ItemValue.objects.filter(participant=randomized).order_by("id")[:2]
    drop_triggers()
    _sql("UPDATE store_itemvalue SET value = %s WHERE id = %s", [first.value + "1", first.pk])
    _sql("DELETE FROM store_itemvalue WHERE id = %s", [second.pk])
    found = {p.problem.split(" ")[0]: p for p in _problems("store_itemvalue")}
    assert found["differs"].row.startswith(f"id {first.pk} (")
    assert found["written"].row.endswith(f"/{second.item} version {second.version}")


def test_doses_consents_and_screenings_removed_or_forged_are_named(
    randomized: Any, staff: dict[str, Any], drop_triggers: Any
) -> None:
    from iliad7.store.models import Consent, DoseAdministration, ScreeningVersion

    drop_triggers()
    dose = DoseAdministration.objects.get(participant=randomized)
    _sql("DELETE FROM store_doseadministration WHERE id = %s", [dose.pk])
    consent = Consent.objects.get(participant=randomized)
    _sql(
        "UPDATE store_consent SET obtained_at = %s WHERE id = %s", [consent.obtained_at - timedelta(days=1), consent.pk]
    )
    screening = ScreeningVersion.objects.filter(participant=randomized).order_by("-version").first()
    _sql("UPDATE store_screeningversion SET verdict = 'ineligible' WHERE id = %s", [screening.pk])
    assert [p.row for p in _problems("store_doseadministration")] == [f"{randomized.screening_number} dose 1"]
    assert [p.row for p in _problems("store_consent")] == [f"id {consent.pk} ({randomized.screening_number})"]
    assert [p.row for p in _problems("store_screeningversion")] == [
        f"id {screening.pk} ({randomized.screening_number} version {screening.version})"
    ]


def test_a_role_granted_by_hand_is_named(staff: dict[str, Any], sites: Any) -> None:
    # The attacker's shortcut to the arm: give a coordinator the unblinded pharmacist role in the table.
    from iliad7.store.access import roles_of
    from iliad7.store.models import User

    _sql(
        "INSERT INTO store_rolegrant (user_id, role, granted_at) VALUES (%s, 'unblinded-pharmacist', %s)",
        [staff["coord"].pk, datetime.now(UTC)],
    )
    found = _problems("store_rolegrant")
    assert [p.row for p in found] == ["coord"] and "unblinded-pharmacist" in found[0].problem
    # And the account, now breaking separation of duties, acts as none.
    assert roles_of(User.objects.get(pk=staff["coord"].pk)) == frozenset()


def test_verify_puts_back_nothing_it_reads(randomized: Any) -> None:
    from iliad7.audit.reconcile import reconcile
    from iliad7.store.models import AuditRecord

    before = AuditRecord.objects.count()
    assert reconcile().ok
    assert AuditRecord.objects.count() == before


def test_every_trigger_exists_after_the_migrations() -> None:
    from iliad7.store.triggers import expected_trigger_names, installed_trigger_names

    assert expected_trigger_names(connection.vendor) <= installed_trigger_names(connection)


def test_a_migrate_puts_back_a_trigger_a_table_rebuild_dropped() -> None:
    # On SQLite, a later migration that alters a table rebuilds it and drops its triggers; the
    # post-migrate hook puts them back.
    from iliad7.store.triggers import ensure_all, expected_trigger_names, installed_trigger_names

    name = "store_participant_guard_update" if connection.vendor == "sqlite" else "store_participant_guard"
    _sql(f"DROP TRIGGER {name}" + ("" if connection.vendor == "sqlite" else " ON store_participant"))
    assert name not in installed_trigger_names(connection)
    ensure_all(connection)
    assert expected_trigger_names(connection.vendor) <= installed_trigger_names(connection)
