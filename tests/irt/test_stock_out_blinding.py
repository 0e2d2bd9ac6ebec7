"""A stock-out must not reveal the arm (issue 22): what blinded roles see is the same for both arms.

The attack: with no CYT107 vial left, preparing for a CYT107 participant was refused while a
placebo participant's saline syringe was prepared; the ward then saw "no syringe" for CYT107
participants only, and the `dose.prepare` audit records that monitors read existed for placebo
participants only. Each test plays it and checks that every blinded view is alike for both arms.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from iliad7.errors import PharmacyRefused

pytestmark = pytest.mark.django_db

DAY0 = datetime.combine(date.today() - timedelta(days=10), time(15, 0), tzinfo=UTC)
T0 = DAY0 - timedelta(hours=2)


@pytest.fixture
def arms(allocation: Any, staff: dict[str, Any], enrol: Any) -> dict[str, Any]:
    """One MSKCC participant per arm, randomized; a lot L1 of 2 vials in the MSKCC pharmacy."""
    from iliad7.store.actions import randomize_participant, record_drug_receipt
    from iliad7.store.models import AllocationSlot

    record_drug_receipt(
        site_code="MSKCC", lot="L1", expiry=date.today() + timedelta(days=300), vials=2, acting_user=staff["rx"],
        channel="web",
    )  # fmt: skip
    by_arm: dict[str, Any] = {}
    while len(by_arm) < 2:
        p = enrol()
        randomize_participant(p, acting_user=staff["inv"], confirmation=True, channel="web", randomized_at=T0)
        by_arm.setdefault(AllocationSlot.objects.get(participant=p).arm, p)
    for p in by_arm.values():
        p.refresh_from_db()
    return by_arm


def _prepare(participant: Any, staff: dict[str, Any], dose: int = 1) -> Any:
    from iliad7.store.actions import prepare_dose

    return prepare_dose(
        participant, dose, weight_kg=Decimal("70"), concentration_ug_per_ml=Decimal("200"), lot="L1",
        acting_user=staff["rx"], channel="web", prepared_at=DAY0 - timedelta(hours=1),
    )  # fmt: skip


def _waste_all(staff: dict[str, Any]) -> None:
    from iliad7.store.actions import drug_accountability, record_wastage

    left = drug_accountability(site_code="MSKCC", acting_user=staff["rx"])["usable_on_hand"]
    record_wastage(site_code="MSKCC", lot="L1", vials=left, reason="temperature excursion", acting_user=staff["rx"],
                   channel="web")  # fmt: skip


def _ward_view(client: Client, participant: Any) -> str:
    """The syringe list of the participant's page, with the participant's own identifiers blanked."""
    from iliad7.store.models import AllocationSlot

    page = client.get(f"/participants/{participant.screening_number}/doses/").content.decode()
    section = re.search(r'<ul id="syringes">.*?</ul>', page, re.S)
    assert section is not None, page[-2000:]
    kit = AllocationSlot.objects.get(participant=participant).kit_code
    return section.group(0).replace(kit, "KIT")


def test_a_stock_out_refuses_both_arms_alike_before_the_arm_is_read(
    arms: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.models import AuditRecord, Preparation

    _waste_all(staff)
    refusals = {}
    for arm, participant in arms.items():
        with pytest.raises(PharmacyRefused) as refused:
            _prepare(participant, staff)
        refusals[arm] = str(refused.value)
    assert refusals["CYT107"] == refusals["placebo"]  # the same words: the refusal says nothing of the arm
    assert "no vial left" in refusals["placebo"]
    assert not Preparation.objects.exists()
    assert not AuditRecord.objects.filter(action="dose.prepare").exists()  # for neither arm


def test_the_last_vial_then_a_stock_out_leaves_the_ward_and_the_monitor_seeing_both_arms_alike(
    arms: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.models import AuditRecord
    from iliad7.web.reads import audit_records

    coordinator, monitor = Client(), Client()
    coordinator.force_login(staff["coord"])
    monitor.force_login(staff["monitor"])
    # Both doses 1 are prepared while there is stock (the CYT107 syringe draws one vial, the saline none).
    for participant in arms.values():
        _prepare(participant, staff, dose=1)
    assert _ward_view(coordinator, arms["CYT107"]) == _ward_view(coordinator, arms["placebo"])
    _waste_all(staff)
    # Stock-out: dose 2 is pending pharmacy for both, and the ward sees the same for both.
    for participant in arms.values():
        with pytest.raises(PharmacyRefused):
            _prepare(participant, staff, dose=2)
    views = {arm: _ward_view(coordinator, p) for arm, p in arms.items()}
    assert views["CYT107"] == views["placebo"]
    assert "Dose 2: pending pharmacy" in views["placebo"]
    # The monitor's audit trail: one dose.prepare record per participant, with the same fields.
    readable = [r for r in audit_records(staff["monitor"]) if r.action == "dose.prepare"]
    by_participant = {r.object_id: set(json.loads(r.new_value)) for r in readable}
    assert set(by_participant) == {p.screening_number for p in arms.values()}
    assert by_participant[arms["CYT107"].screening_number] == by_participant[arms["placebo"].screening_number]
    # The stock's own records (received, wasted) follow the arm: no blinded reader gets them.
    for reader in ("monitor", "dm"):
        actions = {r.action for r in audit_records(staff[reader])}
        assert not actions & {"drug.receive", "drug.wasted", "drug.returned"}, reader
    assert AuditRecord.objects.filter(action="drug.wasted").exists()  # they are in the trail all the same
    assert monitor.get("/audit/").status_code == 200
    assert "drug.wasted" not in monitor.get("/audit/").content.decode()


def test_the_resupply_alert_goes_to_the_unblinded_pharmacist_only(arms: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions import drug_accountability, record_drug_receipt

    _waste_all(staff)
    report = drug_accountability(site_code="MSKCC", acting_user=staff["rx"])
    assert report["resupply_needed"] and report["usable_on_hand"] == 0
    for who in ("coord", "inv", "monitor", "dm", "sponsor", "bstat"):
        client = Client()
        client.force_login(staff[who])
        home = client.get("/").content.decode()
        assert "Re-supply" not in home and "re-supply" not in home, who
        for participant in arms.values():
            for section in ("", "doses/"):
                page = client.get(f"/participants/{participant.screening_number}/{section}").content.decode()
                assert "supply" not in page and "vial" not in page, (who, section)
    record_drug_receipt(
        site_code="MSKCC", lot="L2", expiry=date.today() + timedelta(days=300), vials=20, acting_user=staff["rx"],
        channel="web",
    )  # fmt: skip
    assert not drug_accountability(site_code="MSKCC", acting_user=staff["rx"])["resupply_needed"]
