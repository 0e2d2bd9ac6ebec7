"""Pharmacy: the worksheet's dose and volume, identical syringes, expired lots, accountability, dose timing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from iliad7.dosing import DoseRefused
from iliad7.errors import AccessDenied, PharmacyRefused

from .conftest import ARMS

pytestmark = pytest.mark.django_db

CONCENTRATION = Decimal("200")
DAY0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture
def randomized(allocation: Any, staff: dict[str, Any], enrol: Any) -> dict[str, Any]:
    """One randomized MSKCC participant per arm, and a lot of 10 vials in the MSKCC pharmacy."""
    from iliad7.store.actions import randomize_participant, record_drug_receipt
    from iliad7.store.models import AllocationSlot

    record_drug_receipt(
        site_code="MSKCC", lot="L1", expiry=date(2027, 6, 30), vials=10, acting_user=staff["rx"], channel="web"
    )
    by_arm: dict[str, Any] = {}
    while len(by_arm) < 2:
        p = enrol()
        randomize_participant(p, acting_user=staff["inv"], confirmation=True, channel="web")
        by_arm.setdefault(AllocationSlot.objects.get(participant=p).arm, p)
    for p in by_arm.values():
        p.refresh_from_db()
    return by_arm


def _prepare(participant: Any, staff: dict[str, Any], dose: int = 1, lot: str = "L1", **kw: Any) -> Any:
    from iliad7.store.actions import prepare_dose

    return prepare_dose(
        participant,
        dose,
        weight_kg=kw.pop("weight_kg", Decimal("70.05")),
        concentration_ug_per_ml=CONCENTRATION,
        lot=lot,
        acting_user=staff["rx"],
        channel="web",
        prepared_at=kw.pop("prepared_at", DAY0 - timedelta(hours=1)),
    )


def test_worksheet_dose_and_volume_follow_weight_and_concentration(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    active = _prepare(randomized["CYT107"], staff)
    assert active.dose_ug == 701  # 70.05 kg x 10 ug/kg, half up
    assert active.volume_ml == Decimal("3.51")  # 701 / 200 = 3.505, half up
    assert "CYT107 701 ug in 3.51 mL" in active.contents


def test_placebo_syringe_has_the_same_volume_and_label_form(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.models import AllocationSlot

    active = _prepare(randomized["CYT107"], staff)
    saline = _prepare(randomized["placebo"], staff)
    assert saline.volume_ml == active.volume_ml
    assert "saline" in saline.contents
    for prep, p in ((active, randomized["CYT107"]), (saline, randomized["placebo"])):
        assert prep.label == f"{AllocationSlot.objects.get(participant=p).kit_code}-D1"
        assert not any(arm.lower() in prep.label.lower() for arm in ARMS)


def test_preparation_audit_is_identical_in_shape_for_both_arms_and_names_no_arm(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    import json

    from iliad7.store.models import AuditRecord

    _prepare(randomized["CYT107"], staff)
    _prepare(randomized["placebo"], staff)
    records = list(AuditRecord.objects.filter(action="dose.prepare").order_by("id"))
    assert len(records) == 2
    shapes = [sorted(json.loads(r.new_value)) for r in records]
    assert shapes[0] == shapes[1]
    values = [json.loads(r.new_value) for r in records]
    assert values[0]["volume_ml"] == values[1]["volume_ml"]
    assert not any(arm in r.new_value for r in records for arm in ARMS)


def test_expired_lot_is_refused(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions import record_drug_receipt
    from iliad7.store.models import Preparation

    record_drug_receipt(
        site_code="MSKCC", lot="OLD", expiry=date(2026, 11, 1), vials=5, acting_user=staff["rx"], channel="web"
    )
    with pytest.raises(PharmacyRefused, match="expired on 2026-11-01"):
        _prepare(randomized["CYT107"], staff, lot="OLD")
    with pytest.raises(PharmacyRefused, match="expired"):
        _prepare(randomized["placebo"], staff, lot="OLD")
    assert Preparation.objects.count() == 0


@pytest.mark.parametrize("who", ["coord", "inv", "stat", "rx_mdacc", "dsmb"])
def test_only_the_site_unblinded_pharmacist_prepares(
    who: str, randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import prepare_dose

    with pytest.raises(AccessDenied):
        prepare_dose(
            randomized["CYT107"],
            1,
            weight_kg=Decimal(70),
            concentration_ug_per_ml=CONCENTRATION,
            lot="L1",
            acting_user=staff[who],
            channel="web",
        )


def test_accountability_reconciles_received_dispensed_wasted_returned_on_hand(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import drug_accountability, record_return, record_wastage

    _prepare(randomized["CYT107"], staff)
    _prepare(randomized["placebo"], staff)  # saline: no vial drawn
    record_wastage(site_code="MSKCC", lot="L1", vials=2, reason="vial dropped", acting_user=staff["rx"], channel="web")
    record_return(site_code="MSKCC", lot="L1", vials=3, acting_user=staff["rx"], channel="web")
    report = drug_accountability(site_code="MSKCC", acting_user=staff["rx"])
    (lot,) = report["lots"]
    assert (lot["received"], lot["dispensed"], lot["wasted"], lot["returned"], lot["on_hand"]) == (10, 1, 2, 3, 4)
    assert lot["received"] == lot["dispensed"] + lot["wasted"] + lot["returned"] + lot["on_hand"]
    assert lot["reconciles"] and report["reconciles"]
    with pytest.raises(PharmacyRefused, match="4 vial"):
        record_return(site_code="MSKCC", lot="L1", vials=5, acting_user=staff["rx"], channel="web")
    with pytest.raises(AccessDenied):
        drug_accountability(site_code="MSKCC", acting_user=staff["coord"])


def _give(participant: Any, staff: dict[str, Any], dose: int, at: datetime, **kw: Any) -> Any:
    from iliad7.store.actions import record_dose_given

    return record_dose_given(
        participant,
        dose,
        given_at=at,
        injection_site="left deltoid",
        volume_ml=kw.pop("volume_ml", Decimal("3.51")),
        local_reaction="none",
        acting_user=kw.pop("user", staff["coord"]),
        channel="web",
        **kw,
    )


def test_doses_given_follow_the_window_and_72_hour_rules(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.models import AuditRecord, DoseAdministration

    p = randomized["placebo"]
    for dose in (1, 2, 3):
        _prepare(p, staff, dose=dose)
    _give(p, staff, 1, DAY0)
    p.refresh_from_db()
    assert p.status == "on_treatment"
    with pytest.raises(DoseRefused, match="72"):
        _give(p, staff, 2, DAY0 + timedelta(hours=60))
    with pytest.raises(DoseRefused, match="outside dose 2's window"):
        _give(p, staff, 2, DAY0 + timedelta(days=6))
    _give(p, staff, 2, DAY0 + timedelta(hours=73))
    with pytest.raises(DoseRefused, match="discharge"):
        _give(p, staff, 3, DAY0 + timedelta(days=7), discharge_date=date(2026, 11, 29))
    with pytest.raises(DoseRefused, match="at most 7"):
        _give(p, staff, 8, DAY0 + timedelta(days=25))
    assert DoseAdministration.objects.filter(participant=p).count() == 2
    assert not any(arm in r.new_value for r in AuditRecord.objects.filter(action="dose.given") for arm in ARMS)


def test_dose_without_a_prepared_syringe_is_refused(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    with pytest.raises(PharmacyRefused, match="no syringe"):
        _give(randomized["CYT107"], staff, 1, DAY0)


def test_no_dose_after_withdrawal(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions import transition_participant

    p = randomized["CYT107"]
    _prepare(p, staff)
    transition_participant(p, "withdrawn", acting_user=staff["inv"], channel="web", reason="consent withdrawn")
    with pytest.raises(PharmacyRefused, match="withdrawn"):
        _give(p, staff, 1, DAY0)


def test_pharmacist_cannot_record_a_dose_given(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    _prepare(randomized["CYT107"], staff)
    with pytest.raises(AccessDenied):
        _give(randomized["CYT107"], staff, 1, DAY0, user=staff["rx"])
