"""The site pharmacy: drug receipt, dose preparation, doses given, wastage, returns, accountability.

Drug is CYT107 in vials, received by lot with an expiry date; one vial is
drawn for each active syringe. The placebo syringe is normal saline from ward
stock in the same volume, so no vial is drawn for it; the worksheet still
names the lot checked, and the record has the same shape for both arms.

Blinding: the unblinded pharmacist prepares the syringe, reading the arm only
through `access_allocation`. What the bedside sees is the same for both arms:
the syringe label (kit code and dose number) and the volume. The audit
records of preparation and dosing carry only those blinded-safe fields; which
arm a syringe held, and the vials drawn, stay in the pharmacy tables that only
the pharmacist's actions read.

Dose timing follows `iliad7.dosing.check_dose` (clinical-rules section 4) in
the site's time zone (`SITE_TIME_ZONES`; the protocol records none), from the
participant's randomization on. A dose given also writes the STUDY-DRUG form
of its visit (see `record_dose_given`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Sum

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import InputError, PharmacyRefused
from iliad7.store import access
from iliad7.store.actions._common import check_channel, current_protocol, now, require_aware, require_text
from iliad7.store.models import (
    AllocationSlot,
    DoseAdministration,
    DrugLot,
    DrugMovement,
    Participant,
    Preparation,
    Site,
    User,
)

# The protocol names no zone per site; these are the hospitals' own (New York, Houston).
SITE_TIME_ZONES = {"MSKCC": "America/New_York", "MDACC": "America/Chicago"}
DEFAULT_TIME_ZONE = "America/New_York"
VIALS_PER_ACTIVE_DOSE = 1
_DOSING_STATUSES = (ParticipantStatus.RANDOMIZED.value, ParticipantStatus.ON_TREATMENT.value)


def site_zone(site: Site) -> ZoneInfo:
    return ZoneInfo(SITE_TIME_ZONES.get(site.code, DEFAULT_TIME_ZONE))


def _site(site_code: str) -> Site:
    site = Site.objects.filter(code=(site_code or "").strip().upper()).first()
    if site is None:
        raise InputError("site", f"unknown site {site_code!r}")
    return site


def _decimal(field: str, value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise InputError(field, f"give an exact decimal (Decimal, int or text), not {type(value).__name__}")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InputError(field, f"not a number: {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise InputError(field, f"must be a positive number, not {value!r}")
    return number


def _positive_vials(vials: int) -> int:
    if isinstance(vials, bool) or not isinstance(vials, int) or vials < 1:
        raise InputError("vials", f"a positive whole number of vials, not {vials!r}")
    return vials


def _on_hand(lot: DrugLot) -> int:
    totals = {row["kind"]: row["n"] for row in lot.movements.values("kind").annotate(n=Sum("vials"))}
    return totals.get("received", 0) - sum(totals.get(k, 0) for k in ("dispensed", "wasted", "returned"))


def record_drug_receipt(
    *, site_code: str, lot: str, expiry: date, vials: int, acting_user: User, channel: str
) -> DrugLot:
    """Vials of a lot received at the site pharmacy; audited as `drug.receive`."""
    check_channel(channel)
    site = _site(site_code)
    role = access.require(acting_user, Capability.DRUG_ACCOUNTABILITY, site)
    lot = require_text("lot", lot, "the lot number")
    if isinstance(expiry, datetime) or not isinstance(expiry, date):
        raise InputError("expiry", f"give the expiry date, not {expiry!r}")
    vials = _positive_vials(vials)
    with transaction.atomic():
        locked_site = Site.objects.select_for_update().get(pk=site.pk)
        drug_lot = DrugLot.objects.filter(site=locked_site, lot=lot).first()
        if drug_lot is None:
            drug_lot = DrugLot.objects.create(site=locked_site, lot=lot, expiry=expiry)
        elif drug_lot.expiry != expiry:
            raise InputError("expiry", f"lot {lot} was received with expiry {drug_lot.expiry.isoformat()}")
        DrugMovement.objects.create(
            lot=drug_lot, kind="received", vials=vials, at=now(), by=acting_user, channel=channel
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="drug.receive",
            object_type="drug_lot",
            object_id=f"{site.code}/{lot}",
            new={"lot": lot, "expiry": expiry.isoformat(), "vials": vials},
        )
    return drug_lot


def _movement_out(
    kind: str, *, site_code: str, lot: str, vials: int, reason: str, acting_user: User, channel: str
) -> DrugMovement:
    check_channel(channel)
    site = _site(site_code)
    role = access.require(acting_user, Capability.DRUG_ACCOUNTABILITY, site)
    vials = _positive_vials(vials)
    with transaction.atomic():
        drug_lot = DrugLot.objects.select_for_update().filter(site=site, lot=(lot or "").strip()).first()
        if drug_lot is None:
            raise InputError("lot", f"no lot {lot!r} at {site.code}")
        available = _on_hand(drug_lot)
        if vials > available:
            raise PharmacyRefused(f"lot {drug_lot.lot} has {available} vial(s) on hand, not {vials}")
        movement = DrugMovement.objects.create(
            lot=drug_lot, kind=kind, vials=vials, at=now(), by=acting_user, reason=reason, channel=channel
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action=f"drug.{kind}",
            object_type="drug_lot",
            object_id=f"{site.code}/{drug_lot.lot}",
            new={"lot": drug_lot.lot, "vials": vials},
            reason=reason,
        )
    return movement


def record_wastage(
    *, site_code: str, lot: str, vials: int, reason: str, acting_user: User, channel: str
) -> DrugMovement:
    """Vials destroyed or unusable (broken, temperature excursion, expired); needs a reason."""
    reason = require_text("reason", reason, "the reason for the wastage")
    return _movement_out(
        "wasted", site_code=site_code, lot=lot, vials=vials, reason=reason, acting_user=acting_user, channel=channel
    )


def record_return(
    *, site_code: str, lot: str, vials: int, acting_user: User, channel: str, reason: str = ""
) -> DrugMovement:
    """Vials returned to the sponsor or depot."""
    return _movement_out(
        "returned", site_code=site_code, lot=lot, vials=vials, reason=reason, acting_user=acting_user, channel=channel
    )


def syringe_label(kit_code: str, dose_number: int) -> str:
    """The label on the syringe: the kit code and the dose number, the same form for both arms."""
    return f"{kit_code}-D{dose_number}"


def prepare_dose(
    participant: Participant,
    dose_number: int,
    *,
    weight_kg: Decimal,
    concentration_ug_per_ml: Decimal,
    lot: str,
    acting_user: User,
    channel: str,
    prepared_at: datetime | None = None,
) -> Preparation:
    """Prepare one dose's syringe (unblinded pharmacist at the participant's site); audited as `dose.prepare`.

    Dose = weight x 10 ug/kg, volume = dose / concentration (`iliad7.dosing`);
    the placebo syringe holds saline in the same volume. An expired lot, or one
    with no vial left for an active syringe, is refused.
    """
    from iliad7.dosing import prepare_syringe

    check_channel(channel)
    role = access.require(acting_user, Capability.PREPARE_DOSE, participant.site)
    dosing = current_protocol().dosing
    if isinstance(dose_number, bool) or not isinstance(dose_number, int) or not 1 <= dose_number <= dosing.max_doses:
        raise InputError("dose_number", f"one of 1..{dosing.max_doses}, not {dose_number!r}")
    weight = _decimal("weight_kg", weight_kg)
    concentration = _decimal("concentration_ug_per_ml", concentration_ug_per_ml)
    when = now() if prepared_at is None else require_aware("prepared_at", prepared_at)
    lot = require_text("lot", lot, "the lot number")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        number = locked.screening_number
        if locked.status not in _DOSING_STATUSES:
            raise PharmacyRefused(f"participant {number} is {locked.status}: no syringe is prepared")
        if Preparation.objects.filter(participant=locked, dose_number=dose_number).exists():
            raise PharmacyRefused(f"dose {dose_number} of participant {number} is already prepared")
        drug_lot = DrugLot.objects.select_for_update().filter(site=locked.site, lot=lot).first()
        if drug_lot is None:
            raise InputError("lot", f"no lot {lot!r} received at {locked.site.code}")
        local_day = when.astimezone(site_zone(locked.site)).date()
        if drug_lot.expiry < local_day:
            raise PharmacyRefused(f"lot {lot} expired on {drug_lot.expiry.isoformat()}")
        arm = access.access_allocation(acting_user, locked)
        syringe = prepare_syringe(arm, weight, concentration, dosing)
        vials = VIALS_PER_ACTIVE_DOSE if arm == dosing.active_arm else 0
        if vials and _on_hand(drug_lot) < vials:
            raise PharmacyRefused(f"lot {lot} has no vial left at {locked.site.code}")
        kit_code = AllocationSlot.objects.filter(participant=locked).values_list("kit_code", flat=True).get()
        preparation = Preparation.objects.create(
            participant=locked,
            dose_number=dose_number,
            label=syringe_label(kit_code, dose_number),
            weight_kg=weight,
            concentration_ug_per_ml=concentration,
            dose_ug=syringe.dose_ug,
            volume_ml=syringe.volume_ml,
            lot=drug_lot,
            contents=syringe.contents,
            vials_dispensed=vials,
            prepared_by=acting_user,
            prepared_at=when,
            channel=channel,
        )
        if vials:
            DrugMovement.objects.create(
                lot=drug_lot,
                kind="dispensed",
                vials=vials,
                at=when,
                by=acting_user,
                preparation=preparation,
                channel=channel,
            )
        # Blinded-safe fields only: the same for a CYT107 and a saline syringe.
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="dose.prepare",
            object_type="participant",
            object_id=number,
            new={
                "dose_number": dose_number,
                "label": preparation.label,
                "volume_ml": str(syringe.volume_ml),
                "weight_kg": str(weight),
                "lot": lot,
                "prepared_at": format_time(when),
            },
        )
    return preparation


@dataclass(frozen=True)
class Worksheet:
    """The unblinded pharmacist's worksheet line for one prepared dose."""

    label: str
    dose_number: int
    weight_kg: Decimal
    dose_ug: int
    concentration_ug_per_ml: Decimal
    volume_ml: Decimal
    contents: str
    lot: str
    expiry: date
    prepared_by: str
    prepared_at: datetime


def pharmacy_worksheet(participant: Participant, *, acting_user: User) -> list[Worksheet]:
    """The participant's prepared doses with their contents (unblinded pharmacist at the site only)."""
    access.require(acting_user, Capability.PREPARE_DOSE, participant.site)
    return [
        Worksheet(
            label=p.label,
            dose_number=p.dose_number,
            weight_kg=p.weight_kg,
            dose_ug=p.dose_ug,
            concentration_ug_per_ml=p.concentration_ug_per_ml,
            volume_ml=p.volume_ml,
            contents=p.contents,
            lot=p.lot.lot,
            expiry=p.lot.expiry,
            prepared_by=p.prepared_by.username,
            prepared_at=p.prepared_at,
        )
        for p in Preparation.objects.filter(participant=participant).select_related("lot", "prepared_by")
    ]


def _choice(field: str, value: str, form: str = "STUDY-DRUG") -> str:
    """The choice code of the STUDY-DRUG item `field` given as its code or its label (any case)."""
    choices = current_protocol().form(form).item(field).choices
    text = (value or "").strip()
    for choice in choices:
        if text == choice.code or text.lower() == choice.label.lower():
            return choice.code
    listed = ", ".join(f"{c.code} ({c.label})" for c in choices)
    if not text:
        raise InputError(field, f"give one of: {listed}")
    raise InputError(field, f"{text!r} is not one of the choices: {listed}")


def _local_reaction(value: str | bool) -> str:
    if value is False:
        return "none"
    if value is True:
        raise InputError("local_reaction", "say which local reaction: erythema, swelling, pain, induration or other")
    return _choice("local_reaction", value)


def record_dose_given(
    participant: Participant,
    dose_number: int,
    *,
    given_at: datetime,
    injection_site: str,
    volume_ml: Decimal,
    local_reaction: str | bool,
    acting_user: User,
    channel: str,
    discharge_date: date | None = None,
) -> DoseAdministration:
    """Record a dose given at the bedside (site staff); audited as `dose.given`.

    Refused, with the reasons of `iliad7.dosing.check_dose`, before the
    participant's randomization, outside the dose's window, within 72 h of the
    previous dose, on or after discharge, beyond the seventh dose, or after
    withdrawal, death or the end of follow-up; and when no syringe was prepared
    for that dose. The first dose moves the participant to `on_treatment`.

    `injection_site` and `local_reaction` are choices of the STUDY-DRUG form
    (code or label: `left_deltoid` or "Left deltoid"; `local_reaction` False
    means `none`). The dose record is the source of the STUDY-DRUG form: in the
    same transaction this writes that form at the dose's visit (BASELINE for
    dose 1, DOSEn for dose n) through the form's edit checks, with given=true,
    given_at, syringe_label, volume_ml, injection_site and local_reaction. The
    form cannot be saved with given=true any other way (`save_form` refuses
    it), so the two never disagree. A form saved earlier at that visit as
    "not given" is corrected, with the reason saying so.
    """
    from iliad7.dosing import check_dose
    from iliad7.store.actions.capture import DOSE_FORM, dose_visit, write_form
    from iliad7.store.actions.randomization import randomized_at

    check_channel(channel)
    role = access.require(acting_user, Capability.RECORD_DOSE, participant.site)
    dosing = current_protocol().dosing
    at = require_aware("given_at", given_at)
    injection_site = _choice("injection_site", injection_site)
    volume = _decimal("volume_ml", volume_ml)
    reaction = _local_reaction(local_reaction)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        number = locked.screening_number
        if locked.status not in _DOSING_STATUSES:
            raise PharmacyRefused(f"dose {dose_number} refused: participant {number} is {locked.status}")
        given = dict(DoseAdministration.objects.filter(participant=locked).values_list("dose_number", "given_at"))
        decision = check_dose(
            dosing,
            dose=dose_number,
            at=at,
            given=given,
            tz=site_zone(locked.site),
            discharge_date=discharge_date,
            randomized_at=randomized_at(locked),
        )
        decision.raise_if_refused()
        preparation = Preparation.objects.filter(participant=locked, dose_number=dose_number).first()
        if preparation is None:
            raise PharmacyRefused(f"dose {dose_number} refused: no syringe has been prepared for it")
        if volume > preparation.volume_ml:
            raise PharmacyRefused(
                f"dose {dose_number} refused: {volume} mL is more than the syringe's {preparation.volume_ml} mL"
            )
        dose = DoseAdministration.objects.create(
            participant=locked,
            dose_number=dose_number,
            preparation=preparation,
            given_at=at,
            injection_site=injection_site,
            volume_ml=volume,
            local_reaction=reaction,
            recorded_by=acting_user,
            recorded_at=now(),
            channel=channel,
        )
        old = {"status": locked.status}
        new: dict[str, Any] = {
            "dose_number": dose_number,
            "label": preparation.label,
            "given_at": format_time(at),
            "injection_site": injection_site,
            "volume_ml": str(volume),
            "local_reaction": reaction,
            "study_day": decision.study_day,
        }
        if locked.status == ParticipantStatus.RANDOMIZED.value:
            locked.status = check_transition(locked.status, ParticipantStatus.ON_TREATMENT).value
            locked.save(update_fields=["status"])
        new["status"] = locked.status
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="dose.given",
            object_type="participant",
            object_id=number,
            old=old,
            new=new,
        )
        visit = dose_visit(dose_number)
        write_form(
            locked, DOSE_FORM, {
                "given": True, "given_at": at, "syringe_label": preparation.label, "volume_ml": volume,
                "volume_ml.unit": "mL", "injection_site": injection_site, "local_reaction": reaction,
            },
            visit=visit, acting_user=acting_user, role=role, channel=channel,
            reason=f"dose {dose_number} recorded as given",
        )  # fmt: skip
    return dose


def doses_given(participant: Participant) -> list[DoseAdministration]:
    """The doses given to the participant, by dose number (blinded-safe; the caller has checked access)."""
    return list(DoseAdministration.objects.filter(participant=participant).order_by("dose_number"))


def drug_accountability(*, site_code: str, acting_user: User) -> dict[str, Any]:
    """Per lot at the site: received, dispensed, wasted, returned and on hand, and whether they reconcile.

    Reconciles when received = dispensed + wasted + returned + on hand with
    nothing negative, and the vials dispensed equal the vials the lot's
    preparations record. Unblinded pharmacist at the site only (dispensing
    follows the arm).
    """
    site = _site(site_code)
    access.require(acting_user, Capability.DRUG_ACCOUNTABILITY, site)
    lots: list[dict[str, Any]] = []
    for drug_lot in DrugLot.objects.filter(site=site).order_by("lot"):
        totals = {row["kind"]: row["n"] for row in drug_lot.movements.values("kind").annotate(n=Sum("vials"))}
        row: dict[str, Any] = {"lot": drug_lot.lot, "expiry": drug_lot.expiry.isoformat()}
        for kind in DrugMovement.KINDS:
            row[kind] = int(totals.get(kind, 0))
        row["on_hand"] = row["received"] - row["dispensed"] - row["wasted"] - row["returned"]
        prepared = drug_lot.preparations.aggregate(n=Sum("vials_dispensed"))["n"] or 0
        row["prepared_vials"] = int(prepared)
        row["reconciles"] = (
            row["on_hand"] >= 0
            and row["received"] == row["dispensed"] + row["wasted"] + row["returned"] + row["on_hand"]
            and row["dispensed"] == row["prepared_vials"]
        )
        lots.append(row)
    return {"site": site.code, "lots": lots, "reconciles": all(r["reconciles"] for r in lots)}
