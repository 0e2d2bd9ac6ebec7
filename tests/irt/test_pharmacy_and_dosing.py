"""Pharmacy: the worksheet's dose and volume, identical syringes, expired lots, accountability, dose timing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from iliad7.dosing import DoseRefused
from iliad7.errors import AccessDenied, InputError, PharmacyRefused

from .conftest import ARMS

pytestmark = pytest.mark.django_db

CONCENTRATION = Decimal("200")
# Ten days ago at 15:00 UTC (10:00 or 11:00 in New York): the course's doses are in the past, as the
# STUDY-DRUG form's "not later than now" check wants.
DAY0 = datetime.combine(date.today() - timedelta(days=10), time(15, 0), tzinfo=UTC)
T0 = DAY0 - timedelta(hours=2)  # randomization, two hours before dose 1
EXPIRY = date.today() + timedelta(days=365)


@pytest.fixture
def randomized(allocation: Any, staff: dict[str, Any], enrol: Any) -> dict[str, Any]:
    """One MSKCC participant per arm randomized at T0, and a lot of 10 vials in the MSKCC pharmacy."""
    from iliad7.store.actions import randomize_participant, record_drug_receipt
    from iliad7.store.models import AllocationSlot

    record_drug_receipt(site_code="MSKCC", lot="L1", expiry=EXPIRY, vials=10, acting_user=staff["rx"], channel="web")
    by_arm: dict[str, Any] = {}
    while len(by_arm) < 2:
        p = enrol()
        randomize_participant(p, acting_user=staff["inv"], confirmation=True, channel="web", randomized_at=T0)
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
        site_code="MSKCC",
        lot="OLD",
        expiry=DAY0.date() - timedelta(days=1),
        vials=5,
        acting_user=staff["rx"],
        channel="web",
    )
    with pytest.raises(PharmacyRefused, match=f"expired on {(DAY0.date() - timedelta(days=1)).isoformat()}"):
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
        injection_site=kw.pop("injection_site", "left_deltoid"),
        volume_ml=kw.pop("volume_ml", Decimal("3.51")),
        local_reaction=kw.pop("local_reaction", "none"),
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
        _give(p, staff, 3, DAY0 + timedelta(days=7), discharge_date=DAY0.date() + timedelta(days=6))
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


# --- randomization comes first; the dose record fills the STUDY-DRUG form ------------------------


def test_a_dose_dated_before_randomization_is_refused_and_nothing_is_stored(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.models import DoseAdministration, ItemValue

    p = randomized["CYT107"]
    _prepare(p, staff, prepared_at=T0 - timedelta(hours=1))
    with pytest.raises(DoseRefused, match="before the participant's randomization"):
        _give(p, staff, 1, T0 - timedelta(minutes=1))
    assert not DoseAdministration.objects.filter(participant=p).exists()
    assert not ItemValue.objects.filter(participant=p, form="STUDY-DRUG").exists()
    p.refresh_from_db()
    assert p.status == "randomized"
    _give(p, staff, 1, T0)  # at the moment of randomization: allowed
    assert DoseAdministration.objects.filter(participant=p).count() == 1


def _study_drug(participant: Any, visit: str) -> dict[str, tuple[str, str]]:
    from iliad7.store.actions.capture import _current

    return {item: (row.value, row.unit) for (_, item), row in _current(participant, "STUDY-DRUG", visit, 1).items()}


def test_a_dose_given_writes_the_study_drug_form_of_its_visit(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.models import AuditRecord

    p = randomized["placebo"]
    for dose in (1, 2):
        _prepare(p, staff, dose=dose)
    first = _give(p, staff, 1, DAY0, injection_site="Right thigh", local_reaction=False)
    second = _give(p, staff, 2, DAY0 + timedelta(hours=73), local_reaction="erythema")
    assert (first.injection_site, first.local_reaction) == ("right_thigh", "none")
    baseline = _study_drug(p, "BASELINE")
    assert baseline == {
        "given": ("true", ""),
        "given_at": (DAY0.isoformat(), ""),
        "syringe_label": (first.preparation.label, ""),
        "volume_ml": ("3.51", "mL"),
        "injection_site": ("right_thigh", ""),
        "local_reaction": ("none", ""),
    }
    dose2 = _study_drug(p, "DOSE2")
    assert dose2["given_at"] == ((DAY0 + timedelta(hours=73)).isoformat(), "")
    assert dose2["local_reaction"] == ("erythema", "") and dose2["syringe_label"][0] == second.preparation.label
    saves = AuditRecord.objects.filter(action="form.save", object_id__contains="/STUDY-DRUG/")
    assert sorted(r.object_id.split("/")[2] for r in saves) == ["BASELINE", "DOSE2"]


def test_a_dose_the_form_refuses_is_not_recorded_either(randomized: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions.capture import FormRejected
    from iliad7.store.models import DoseAdministration, ItemValue

    p = randomized["CYT107"]
    _prepare(p, staff)
    later = datetime.now(UTC) + timedelta(hours=1)  # check_dose allows it; the form's "not later than now" does not
    with pytest.raises(FormRejected, match="given_at"):
        _give(p, staff, 1, later)
    assert not DoseAdministration.objects.filter(participant=p).exists()
    assert not ItemValue.objects.filter(participant=p).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("injection_site", "deltoid"),
        ("injection_site", ""),
        ("local_reaction", "rash"),
        ("local_reaction", True),  # which reaction? a bare yes is refused
    ],
)
def test_injection_site_and_local_reaction_are_study_drug_choices(
    field: str, value: object, randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.models import DoseAdministration

    p = randomized["CYT107"]
    _prepare(p, staff)
    with pytest.raises(InputError) as refused:
        _give(p, staff, 1, DAY0, **{field: value})
    assert refused.value.field == field
    assert not DoseAdministration.objects.filter(participant=p).exists()


def test_the_study_drug_form_is_not_saved_as_given_outside_the_dose_record(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import save_form
    from iliad7.store.models import ItemValue

    p = randomized["CYT107"]
    given = {
        "given": "true", "given_at": DAY0.isoformat(), "volume_ml": "3.51", "volume_ml.unit": "mL",
        "injection_site": "left_deltoid", "local_reaction": "none",
    }  # fmt: skip
    with pytest.raises(InputError, match="participant's page") as refused:
        save_form(p, "STUDY-DRUG", given, visit="BASELINE", acting_user=staff["coord"], channel="web")
    assert refused.value.field == "given"
    assert not ItemValue.objects.filter(participant=p, form="STUDY-DRUG").exists()
    # A dose not given is recorded on the form, with its reason ...
    not_given = {"given": "false", "not_given_reason": "refused by the participant"}
    save_form(p, "STUDY-DRUG", not_given, visit="DOSE2", acting_user=staff["coord"], channel="web")
    assert _study_drug(p, "DOSE2")["given"] == ("false", "")
    # ... but not at a visit whose dose was recorded as given.
    _prepare(p, staff)
    _give(p, staff, 1, DAY0)
    with pytest.raises(InputError, match="dose 1 was recorded as given") as contradicting:
        save_form(p, "STUDY-DRUG", not_given, visit="BASELINE", acting_user=staff["coord"], channel="web", reason="x")
    assert contradicting.value.field == "given"
    assert _study_drug(p, "BASELINE")["given"] == ("true", "")


def test_a_dose_given_after_a_not_given_form_corrects_the_form_with_a_reason(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import save_form
    from iliad7.store.models import ItemValue

    p = randomized["placebo"]
    save_form(
        p, "STUDY-DRUG", {"given": "false", "not_given_reason": "syringe not ready"}, visit="BASELINE",
        acting_user=staff["coord"], channel="web",
    )  # fmt: skip
    _prepare(p, staff)
    _give(p, staff, 1, DAY0 + timedelta(hours=2))
    form = _study_drug(p, "BASELINE")
    assert form["given"] == ("true", "") and form["not_given_reason"] == ("", "")
    correction = ItemValue.objects.get(participant=p, form="STUDY-DRUG", item="given", version=2)
    assert correction.reason == "dose 1 recorded as given"


# --- a dose given is corrected by a signed correction, never updated (issue 16) -------------------


def _correct(participant: Any, staff: dict[str, Any], dose: int, **kw: Any) -> Any:
    from iliad7.store.actions import correct_dose

    from .conftest import totp_token

    user = kw.pop("user", staff["inv"])
    return correct_dose(
        participant, dose, reason=kw.pop("reason", "time copied from the wrong line of the MAR"),
        password=kw.pop("password", "correct-horse-battery-staple"), otp_token=kw.pop("otp_token", None)
        or totp_token(user), acting_user=user, channel="web", **kw,
    )  # fmt: skip


def test_a_dose_is_corrected_as_a_signed_new_version_and_the_study_drug_form_follows(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import doses_given, verify_signature
    from iliad7.store.models import AuditRecord, DoseAdministration, Signature

    p = randomized["placebo"]
    for dose in (1, 2):
        _prepare(p, staff, dose=dose)
    _give(p, staff, 1, DAY0)
    _give(p, staff, 2, DAY0 + timedelta(hours=80))
    correction = _correct(p, staff, 2, given_at=DAY0 + timedelta(hours=76), local_reaction="erythema")
    assert correction.version == 2
    recorded = DoseAdministration.objects.get(participant=p, dose_number=2)
    assert recorded.given_at == DAY0 + timedelta(hours=80)  # the dose given stays as it was recorded
    current = {d.dose_number: d for d in doses_given(p)}[2]
    assert (current.given_at, current.local_reaction, current.version) == (DAY0 + timedelta(hours=76), "erythema", 2)
    form = _study_drug(p, "DOSE2")
    assert form["given_at"][0] == (DAY0 + timedelta(hours=76)).isoformat() and form["local_reaction"][0] == "erythema"
    signature = Signature.objects.get(target_type="dose_correction", target_id=str(correction.pk))
    assert signature.meaning == "I correct this dose record" and verify_signature(signature).ok
    audit = AuditRecord.objects.get(action="dose.correct")
    assert audit.reason == "time copied from the wrong line of the MAR" and audit.actor == "inv"
    assert not any(arm in audit.new_value + audit.old_value for arm in ARMS)
    with pytest.raises(Exception, match="append-only"):  # the database refuses an update of the dose given
        DoseAdministration.objects.filter(pk=recorded.pk).update(volume_ml=Decimal("1"))


def test_a_dose_correction_is_checked_like_a_new_dose_and_needs_reason_and_signature(
    randomized: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.errors import ReauthenticationFailed
    from iliad7.store.models import AuditRecord, DoseCorrection

    p = randomized["CYT107"]
    for dose in (1, 2):
        _prepare(p, staff, dose=dose)
    _give(p, staff, 1, DAY0)
    _give(p, staff, 2, DAY0 + timedelta(hours=80))
    with pytest.raises(PharmacyRefused, match="72"):  # dose 2 would come too soon after dose 1
        _correct(p, staff, 1, given_at=DAY0 + timedelta(hours=12))
    with pytest.raises(PharmacyRefused, match="syringe"):
        _correct(p, staff, 1, volume_ml=Decimal("9.99"))
    with pytest.raises(InputError) as no_reason:
        _correct(p, staff, 1, reason=" ", local_reaction="pain")
    assert no_reason.value.field == "reason"
    with pytest.raises(InputError) as nothing:
        _correct(p, staff, 1, injection_site="left_deltoid")
    assert nothing.value.field == "correction"
    with pytest.raises(ReauthenticationFailed):
        _correct(p, staff, 1, local_reaction="pain", password="wrong")
    with pytest.raises(AccessDenied):  # the coordinator records doses but does not sign corrections
        _correct(p, staff, 1, local_reaction="pain", user=staff["coord"], otp_token="000000")
    with pytest.raises(PharmacyRefused, match="not recorded"):
        _correct(p, staff, 3, local_reaction="pain")
    assert not DoseCorrection.objects.exists()
    assert AuditRecord.objects.filter(action="signature.refused").count() == 1  # the refused signature stays
