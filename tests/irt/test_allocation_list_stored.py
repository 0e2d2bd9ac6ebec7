"""The stored allocation list: balanced, re-derivable from its seed, concealed from blinded roles."""

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


def test_same_seed_gives_the_same_stored_list_and_the_same_csv_bytes(staff: dict[str, Any]) -> None:
    from iliad7.store.actions import export_allocation_list, generate_allocation_list

    generate_allocation_list(seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=20)
    first = export_allocation_list(acting_user=staff["stat"], channel="cli").encode()
    generate_allocation_list(
        seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=20, reason="re-derivation check"
    )
    second = export_allocation_list(acting_user=staff["stat"], channel="cli").encode()
    assert first == second
    assert first.decode().splitlines()[0] == ",".join(CSV_HEADER)
    generate_allocation_list(
        seed=SEED + 1, acting_user=staff["stat"], channel="cli", slots_per_stratum=20, reason="other seed"
    )
    assert export_allocation_list(acting_user=staff["stat"], channel="cli").encode() != first


def test_stored_list_matches_the_pure_generator_for_its_seed(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.randomization import allocation_csv, generate_allocation_list, protocol_strata
    from iliad7.store.actions import export_allocation_list

    protocol = load_protocol()
    pure = generate_allocation_list(
        protocol.randomization, protocol_strata(protocol.sites), seed=SEED, slots_per_stratum=12
    )
    assert export_allocation_list(acting_user=staff["stat"], channel="cli") == allocation_csv(pure, {})


def test_verify_detects_a_tampered_slot(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import allocation_list_problems, verify_allocation_list
    from iliad7.store.models import AllocationSlot

    assert verify_allocation_list(acting_user=staff["stat"]) is True
    slot = AllocationSlot.objects.filter(allocation_list=allocation, stratum="MSKCC", sequence=1).get()
    flipped = "placebo" if slot.arm == "CYT107" else "CYT107"
    AllocationSlot.objects.filter(pk=slot.pk).update(arm=flipped)  # tampering outside the actions
    assert verify_allocation_list(acting_user=staff["stat"]) is False
    problems = allocation_list_problems(acting_user=staff["stat"])
    assert any(slot.randomization_number in p for p in problems)


def test_verify_detects_a_changed_kit_code(allocation: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import verify_allocation_list
    from iliad7.store.models import AllocationSlot

    AllocationSlot.objects.filter(allocation_list=allocation, stratum="MDACC", sequence=3).update(kit_code="ZZZZZZ")
    assert verify_allocation_list(acting_user=staff["stat"]) is False


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
