"""The stored allocation list: balanced, its arms re-derivable from its sealed seed, concealed from blinded roles."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from iliad7.errors import AccessDenied, ActionRefused
from iliad7.randomization import CSV_HEADER, Slot, verify_balance

from .conftest import ARMS, SEED

pytestmark = pytest.mark.django_db

BLINDED = ("coord", "inv", "monitor", "bstat", "dsmb", "sponsor", "dm", "adjudicator", "admin")


def _slots(csv_text: str) -> list[Slot]:
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    return [
        Slot(
            stratum=r["stratum"],
            block=int(r["block"]),
            block_size=int(r["block_size"]),
            sequence=int(r["sequence"]),
            randomization_number=r["randomization_number"],
            arm=r["arm"],
            kit_code=r["kit_code"],
        )
        for r in rows
    ]


def test_stored_list_is_balanced_within_each_stratum_at_every_block_end(staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list, generate_allocation_list

    generate_allocation_list(seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=40)
    slots = _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    assert verify_balance(slots, {"CYT107": 1, "placebo": 1}) == []
    for stratum in ("MSKCC", "MDACC"):
        rows = [s for s in slots if s.stratum == stratum]
        assert len(rows) >= 40
        running = 0
        for i, slot in enumerate(rows):
            running += 1 if slot.arm == "CYT107" else -1
            block_ends = i + 1 == len(rows) or rows[i + 1].block != slot.block
            if block_ends:
                assert running == 0, f"{stratum} unbalanced after slot {slot.sequence}"
        assert {s.block_size for s in rows} <= {2, 4}


def _without_kits(slots: list[Slot]) -> list[tuple[Any, ...]]:
    return [(s.stratum, s.block, s.block_size, s.sequence, s.randomization_number, s.arm) for s in slots]


def test_same_seed_gives_the_same_arms_but_fresh_kit_codes(staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list, generate_allocation_list

    generate_allocation_list(seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=20)
    first_text = export_allocation_list(acting_user=staff["stat"], channel="cli")
    generate_allocation_list(
        seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=20, reason="re-derivation check"
    )
    first, second = _slots(first_text), _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    assert first_text.splitlines()[0] == ",".join(CSV_HEADER)
    assert _without_kits(first) == _without_kits(second)
    # Kit codes come from the OS generator, not the seed: the same seed shares none of them.
    assert not {s.kit_code for s in first} & {s.kit_code for s in second}
    generate_allocation_list(
        seed=SEED + 1, acting_user=staff["stat"], channel="cli", slots_per_stratum=20, reason="other seed"
    )
    third = _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    assert [s.arm for s in third] != [s.arm for s in first]


def test_without_a_seed_each_list_gets_a_fresh_secret_one(staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list, generate_allocation_list

    generate_allocation_list(acting_user=staff["stat"], channel="cli", slots_per_stratum=40)
    first = _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    generate_allocation_list(acting_user=staff["stat"], channel="cli", slots_per_stratum=40, reason="again")
    second = _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    assert [s.arm for s in first] != [s.arm for s in second]  # equal by chance about once in 2**40


def test_stored_list_has_the_arms_the_pure_generator_gives_for_its_seed(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.randomization import generate_allocation_list, protocol_strata
    from iliad7.store.actions import export_allocation_list

    protocol = load_protocol()
    pure = generate_allocation_list(
        protocol.randomization, protocol_strata(protocol.sites), seed=SEED, slots_per_stratum=12
    )
    stored = _slots(export_allocation_list(acting_user=staff["stat"], channel="cli"))
    assert _without_kits(stored) == _without_kits(pure)


def test_the_seed_is_stored_only_sealed(allocation: Any, staff: dict[str, Any]) -> None:
    from django.db import connection

    from iliad7.store.blinding_key import open_seed
    from iliad7.store.models import AllocationList

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM store_allocationlist")
        columns = [c[0] for c in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    assert "seed" not in columns
    assert all(str(SEED) not in str(value) for value in row.values())
    assert open_seed(AllocationList.objects.get().sealed_seed) == SEED  # the server's key opens it


def test_the_sealed_seed_does_not_open_under_another_key(
    allocation: Any, staff: dict[str, Any], monkeypatch: Any
) -> None:
    from iliad7.store.actions import allocation_list_problems

    monkeypatch.setenv("ILIAD7_BLINDING_KEY", "ab" * 32)
    problems = allocation_list_problems(acting_user=staff["stat"])
    assert any("cannot be opened" in p for p in problems)


def test_verify_detects_a_tampered_slot(allocation: Any, staff: dict[str, Any], drop_triggers: Any) -> None:
    from django.db import DatabaseError, transaction

    from iliad7.audit.reconcile import reconcile
    from iliad7.store.actions import allocation_list_problems, verify_allocation_list
    from iliad7.store.models import AllocationSlot

    assert verify_allocation_list(acting_user=staff["stat"]) is True
    assert reconcile().ok
    slot = AllocationSlot.objects.filter(allocation_list=allocation, stratum="MSKCC", sequence=1).get()
    flipped = "placebo" if slot.arm == "CYT107" else "CYT107"
    with pytest.raises(DatabaseError, match="refused"), transaction.atomic():
        AllocationSlot.objects.filter(pk=slot.pk).update(arm=flipped)  # the guard refuses it
    drop_triggers()
    AllocationSlot.objects.filter(pk=slot.pk).update(arm=flipped)  # tampering with the guards dropped
    assert verify_allocation_list(acting_user=staff["stat"]) is False
    problems = allocation_list_problems(acting_user=staff["stat"])
    assert any(slot.randomization_number in p for p in problems)
    found = [p for p in reconcile().problems if p.table == "store_allocationslot"]
    assert [p.row for p in found] == [f"{slot.randomization_number} (id {slot.pk})"]
    assert "differs from its list's generation record" in found[0].problem


def test_verify_detects_a_changed_kit_code(allocation: Any, staff: dict[str, Any], drop_triggers: Any) -> None:
    from iliad7.audit.reconcile import reconcile
    from iliad7.store.actions import verify_allocation_list
    from iliad7.store.models import AllocationSlot

    drop_triggers()
    AllocationSlot.objects.filter(allocation_list=allocation, stratum="MDACC", sequence=3).update(kit_code="ZZZZZZ")
    assert verify_allocation_list(acting_user=staff["stat"]) is True  # the arms still re-derive...
    assert any("MDACC-003" in p.row for p in reconcile().problems)  # ...but the slot is not what was generated


@pytest.mark.parametrize("who", [*BLINDED, "rx"])
def test_only_the_unblinded_statistician_generates_and_verifies_the_list(who: str, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import generate_allocation_list, verify_allocation_list
    from iliad7.store.models import AllocationList, AuditRecord

    before = AuditRecord.objects.count()
    with pytest.raises(AccessDenied):
        generate_allocation_list(seed=SEED, acting_user=staff[who], channel="cli", slots_per_stratum=4)
    with pytest.raises(AccessDenied):
        verify_allocation_list(acting_user=staff[who])
    assert AllocationList.objects.count() == 0
    assert AuditRecord.objects.count() == before


def test_generating_again_is_refused_without_a_reason_and_keeps_the_old_list(
    allocation: Any, staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import generate_allocation_list
    from iliad7.store.models import AllocationList, AllocationSlot

    with pytest.raises(ActionRefused, match="give a reason"):
        generate_allocation_list(seed=1, acting_user=staff["stat"], channel="cli", slots_per_stratum=4)
    replacement = generate_allocation_list(
        seed=(1 << 62) + 7, acting_user=staff["stat"], channel="cli", slots_per_stratum=4, reason="seed disclosed"
    )
    assert AllocationList.objects.get(pk=allocation.pk).active is False
    assert AllocationSlot.objects.filter(allocation_list=allocation).count() >= 24  # never deleted
    assert list(AllocationList.objects.filter(active=True)) == [replacement]


def test_a_list_in_use_cannot_be_replaced(allocation: Any, staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store.actions import generate_allocation_list, randomize_participant

    randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="web")
    with pytest.raises(ActionRefused, match="in use"):
        generate_allocation_list(seed=5, acting_user=staff["stat"], channel="cli", slots_per_stratum=4, reason="x")


@pytest.mark.parametrize("who", BLINDED)
def test_blinded_roles_cannot_export_the_list(who: str, allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list
    from iliad7.store.models import AuditRecord

    before = AuditRecord.objects.count()
    with pytest.raises(AccessDenied):
        export_allocation_list(acting_user=staff[who], channel="cli")
    assert AuditRecord.objects.count() == before


def test_export_is_audited_as_a_security_event_without_arms(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list
    from iliad7.store.models import AuditRecord

    text = export_allocation_list(acting_user=staff["stat"], channel="cli")
    event = AuditRecord.objects.get(action="export")
    assert (event.actor, event.role, event.object_type) == ("stat", "unblinded-statistician", "allocation_list")
    assert json.loads(event.new_value)["rows"] == text.count("\n") - 1
    assert not any(arm in event.new_value for arm in ARMS)


def test_pharmacist_exports_only_the_strata_of_their_site(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list

    rows = list(csv.DictReader(io.StringIO(export_allocation_list(acting_user=staff["rx"], channel="cli"))))
    assert rows and {r["stratum"] for r in rows} == {"MSKCC"}


def test_generation_audit_names_neither_seed_nor_arm(allocation: Any) -> None:
    from iliad7.store.models import AuditRecord

    record = AuditRecord.objects.get(action="allocation.generate")
    assert str(SEED) not in record.new_value
    assert not any(arm in record.new_value for arm in ARMS)
