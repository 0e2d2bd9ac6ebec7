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

Every refusal of a preparation comes before the arm is read, so it is the same
for both arms: a lot with no vial left (a stock-out) blocks the saline syringe
too, and the ward sees "pending pharmacy" for every participant alike, never
for the CYT107 ones only. Stock counts, receipts, wastage and returns follow
the arm (only active syringes draw vials), so their audit records
(`PHARMACY_ONLY_AUDIT_ACTIONS`) are read by the unblinded pharmacist alone, and
so is the re-supply alert (`drug_accountability`).

Dose timing follows `iliad7.dosing.check_dose` (clinical-rules section 4) in
the site's time zone (`SITE_TIME_ZONES`; the protocol records none), from the
participant's randomization on. A dose given also writes the STUDY-DRUG form
of its visit (see `record_dose_given`).

A dose given is never changed: `correct_dose` adds a signed correction (a new
version with every field as corrected, the reason, and the investigator's
electronic signature), checked like a new dose, and the STUDY-DRUG form
follows it. `doses_given` answers each dose as its latest version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Sum

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import InputError, PharmacyRefused
from iliad7.inputs import DB_INT_MAX, bounded_decimal, bounded_int, clean_text, identifier
from iliad7.store import access
from iliad7.store.actions._common import check_channel, current_protocol, now, require_aware, require_text
from iliad7.store.models import (
    AllocationSlot,
    DoseAdministration,
    DoseCorrection,
    DrugLot,
    DrugMovement,
    Participant,
    Preparation,
    Site,
    User,
)

if TYPE_CHECKING:
    from django.http import HttpRequest

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


# What a number may be before it reaches the arithmetic and the columns (store/models.py Preparation):
WEIGHT_KG_MAX = Decimal(700)  # the screening record's limit (eligibility.record weight_kg)
CONCENTRATION_MAX = Decimal("9999999.999")  # the column: 10 digits, 3 decimals
VOLUME_ML_MAX = Decimal("9999.99")  # the columns: 6 digits, 2 decimals
VIALS_MAX = DB_INT_MAX
_LIMITS: dict[str, tuple[Decimal, int, str]] = {
    "weight_kg": (WEIGHT_KG_MAX, 2, "kg"),
    "concentration_ug_per_ml": (CONCENTRATION_MAX, 3, "ug/mL"),
    "volume_ml": (VOLUME_ML_MAX, 2, "mL"),
}
# Audit records of the drug stock: how many vials came, went to waste or back follows the arm
# (only active syringes draw vials), so only the unblinded pharmacist reads them (web.reads.audit_records).
PHARMACY_ONLY_AUDIT_ACTIONS = ("drug.receive", "drug.wasted", "drug.returned")


def _decimal(field: str, value: Any) -> Decimal:
    high, places, unit = _LIMITS[field]
    return bounded_decimal(field, value, low=0, high=high, places=places, unit=unit)


def _positive_vials(vials: int) -> int:
    return bounded_int("vials", vials, 1, VIALS_MAX, what="a whole number of vials")


def _lot_name(lot: str) -> str:
    """A lot number as typed, fit for a lookup (a lot received before the identifier rule keeps its name)."""
    text = clean_text("lot", lot, max_length=64, single_line=True)
    if not text:
        raise InputError("lot", "the lot number is required")
    return text


def _on_hand(lot: DrugLot) -> int:
    totals = {row["kind"]: row["n"] for row in lot.movements.values("kind").annotate(n=Sum("vials"))}
    return totals.get("received", 0) - sum(totals.get(k, 0) for k in ("dispensed", "wasted", "returned"))


def record_drug_receipt(
    *,
    site_code: str,
    lot: str,
    expiry: date,
    vials: int,
    acting_user: User,
    channel: str,
    received_at: datetime | None = None,
) -> DrugLot:
    """Vials of a lot received at the site pharmacy; audited as `drug.receive`.

    `received_at` (default now) dates the receipt when it is entered afterwards, as the simulated
    cohort's history is: its lot arrived before the first syringe was prepared from it."""
    check_channel(channel)
    when = now() if received_at is None else require_aware("received_at", received_at)
    site = _site(site_code)
    role = access.require(acting_user, Capability.DRUG_ACCOUNTABILITY, site)
    lot = _lot_name(lot)
    if not DrugLot.objects.filter(site=site, lot=lot).exists():
        lot = identifier("lot", lot)  # a new lot: letters, digits, '-', '_', '.'
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
            lot=drug_lot, kind="received", vials=vials, at=when, by=acting_user, channel=channel
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
        drug_lot = DrugLot.objects.select_for_update().filter(site=site, lot=_lot_name(lot)).first()
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
    from iliad7.dosing import dose_micrograms, injection_volume_ml, prepare_syringe

    check_channel(channel)
    role = access.require(acting_user, Capability.PREPARE_DOSE, participant.site)
    dosing = current_protocol().dosing
    if isinstance(dose_number, bool) or not isinstance(dose_number, int) or not 1 <= dose_number <= dosing.max_doses:
        raise InputError("dose_number", f"one of 1..{dosing.max_doses}, not {dose_number!r}")
    weight = _decimal("weight_kg", weight_kg)
    concentration = _decimal("concentration_ug_per_ml", concentration_ug_per_ml)
    when = now() if prepared_at is None else require_aware("prepared_at", prepared_at)
    lot = _lot_name(lot)
    # Dose and volume do not depend on the arm (the saline syringe has the active syringe's volume).
    volume = injection_volume_ml(dose_micrograms(weight, dosing), concentration, dosing)
    if volume > VOLUME_ML_MAX:
        raise InputError(
            "concentration_ug_per_ml", f"{concentration} ug/mL gives {volume} mL: more than a syringe record holds"
        )
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
            raise PharmacyRefused(
                f"lot {lot} expired on {drug_lot.expiry.isoformat()} (it is {local_day.isoformat()} at "
                f"{locked.site.code}): no syringe is prepared from an expired lot; choose an unexpired lot, or "
                "receive one"
            )
        # Before the arm is read: a lot with no vial left refuses the saline syringe as well, so that a
        # stock-out holds up both arms alike (the ward sees "pending pharmacy" for everyone).
        if _on_hand(drug_lot) < VIALS_PER_ACTIVE_DOSE:
            raise PharmacyRefused(
                f"lot {lot} has no vial left at {locked.site.code}: no syringe is prepared from it until "
                "it is re-supplied"
            )
        arm = access.access_allocation(acting_user, locked)
        syringe = prepare_syringe(arm, weight, concentration, dosing)
        vials = VIALS_PER_ACTIVE_DOSE if arm == dosing.active_arm else 0
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


def pharmacy_worksheet(participant: Participant, *, acting_user: User, channel: str) -> list[Worksheet]:
    """The participant's prepared doses with their contents (unblinded pharmacist at the site only).

    Audited as the read `read.pharmacy_worksheet` (who opened whose worksheet; never what it holds)."""
    from iliad7.store.actions.reads import audit_read

    role = access.require(acting_user, Capability.PREPARE_DOSE, participant.site)
    audit_read(acting_user, "pharmacy_worksheet", participant.screening_number, channel=channel, role=role)
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
    # Only the type and size here; which dose numbers exist is check_dose's to say.
    dose_number = bounded_int("dose_number", dose_number, -DB_INT_MAX, DB_INT_MAX, what="a dose number")
    injection_site = _choice("injection_site", injection_site)
    volume = _decimal("volume_ml", volume_ml)
    reaction = _local_reaction(local_reaction)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        number = locked.screening_number
        if locked.status not in _DOSING_STATUSES:
            raise PharmacyRefused(f"dose {dose_number} refused: participant {number} is {locked.status}")
        given = {d.dose_number: d.given_at for d in doses_given(locked)}
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
            raise PharmacyRefused(
                f"dose {dose_number} refused: no syringe has been prepared for it yet (pending pharmacy)"
            )
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


def doses_given(participant: Participant, *, dose_number: int | None = None) -> list[DoseAdministration]:
    """The doses given to the participant, by dose number, each as its latest version (blinded-safe; the caller
    has checked access). A corrected dose carries its correction's values, `version` (1 when never corrected)
    and `corrected_by`; the rows themselves are never changed."""
    rows = DoseAdministration.objects.filter(participant=participant)
    corrections = DoseCorrection.objects.filter(dose__participant=participant)
    if dose_number is not None:
        rows = rows.filter(dose_number=dose_number)
        corrections = corrections.filter(dose__dose_number=dose_number)
    doses = list(rows.select_related("recorded_by").order_by("dose_number"))
    if not doses:
        return doses
    latest: dict[int, DoseCorrection] = {}
    for correction in corrections.select_related("recorded_by"):
        if correction.dose_id not in latest or correction.version > latest[correction.dose_id].version:
            latest[correction.dose_id] = correction
    for dose in doses:
        correction = latest.get(dose.pk)
        dose.version = 1 if correction is None else correction.version  # type: ignore[attr-defined]
        dose.corrected_by = None if correction is None else correction.recorded_by  # type: ignore[attr-defined]
        if correction is not None:
            # In memory only, for reading: the dose row stays as recorded (append-only in the database too).
            dose.given_at = correction.given_at
            dose.injection_site = correction.injection_site
            dose.volume_ml = correction.volume_ml
            dose.local_reaction = correction.local_reaction
    return doses


def dose_given(participant: Participant, dose_number: int) -> DoseAdministration | None:
    """One dose given, as its latest version (see `doses_given`), or None when it was not given."""
    return next((d for d in doses_given(participant, dose_number=dose_number)), None)


DOSE_CORRECTION_MEANING = "I correct this dose record"


def _dose_fields(dose: DoseAdministration) -> dict[str, Any]:
    """The blinded-safe fields of a dose, as the audit trail shows them."""
    return {
        "given_at": format_time(dose.given_at),
        "injection_site": dose.injection_site,
        "volume_ml": str(dose.volume_ml),
        "local_reaction": dose.local_reaction,
        "version": getattr(dose, "version", 1),
    }


def correct_dose(
    participant: Participant,
    dose_number: int,
    *,
    reason: str,
    password: str,
    otp_token: str,
    acting_user: User,
    channel: str,
    given_at: datetime | None = None,
    injection_site: str | None = None,
    volume_ml: Decimal | None = None,
    local_reaction: str | bool | None = None,
    discharge_date: date | None = None,
    source: HttpRequest | None = None,
) -> DoseCorrection:
    """Correct a dose given (the site's investigator, with a reason and an electronic signature).

    A new version of the dose with every field as corrected (None keeps a field
    as it is), never an update of the recorded one. Checked like a new dose: the
    corrected time against the whole course (window, 72 h from the dose before
    and to the dose after, randomization, discharge), the volume against the
    syringe, the choices of the STUDY-DRUG form. The investigator signs it
    ("I correct this dose record": password and second factor again; a refusal
    stays in the audit trail). Audited as `dose.correct` with the old and new
    fields (blinded-safe, as `dose.given`); the STUDY-DRUG form of the dose's
    visit is corrected in the same transaction, with the same reason.
    """
    from iliad7.dosing import check_dose
    from iliad7.store.actions.capture import DOSE_FORM, dose_visit, write_form
    from iliad7.store.actions.randomization import randomized_at
    from iliad7.store.actions.signatures import apply_signature, verify_signer

    check_channel(channel)
    role = access.require(acting_user, Capability.RECORD_DOSE, participant.site)
    sign_role = access.require(acting_user, Capability.SIGN_CASEBOOK, participant.site)
    reason = require_text("reason", reason, "the reason for the correction")
    dosing = current_protocol().dosing
    if isinstance(dose_number, bool) or not isinstance(dose_number, int) or not 1 <= dose_number <= dosing.max_doses:
        raise InputError("dose_number", f"one of 1..{dosing.max_doses}, not {dose_number!r}")
    at = None if given_at is None else require_aware("given_at", given_at)
    site = None if injection_site is None else _choice("injection_site", injection_site)
    volume = None if volume_ml is None else _decimal("volume_ml", volume_ml)
    reaction = None if local_reaction is None else _local_reaction(local_reaction)
    number = participant.screening_number
    changes = {"given_at": at, "injection_site": site, "volume_ml": volume, "local_reaction": reaction}

    def planned(subject: Participant) -> tuple[DoseAdministration, dict[str, Any]]:
        doses = {d.dose_number: d for d in doses_given(subject)}
        if dose_number not in doses:
            raise PharmacyRefused(f"dose {dose_number} of participant {number} was not recorded as given")
        current = doses[dose_number]
        new = {name: getattr(current, name) if value is None else value for name, value in changes.items()}
        if all(getattr(current, name) == value for name, value in new.items()):
            raise InputError("correction", "nothing changes: give at least one corrected value")
        course = {n: d.given_at for n, d in doses.items()}
        course[dose_number] = new["given_at"]
        start = randomized_at(subject)
        for n in sorted(course):
            decision = check_dose(
                dosing, dose=n, at=course[n], given={k: t for k, t in course.items() if k < n},
                tz=site_zone(subject.site), discharge_date=discharge_date, randomized_at=start,
            )  # fmt: skip
            if not decision.allowed:
                raise PharmacyRefused(f"correction refused: dose {n}: {'; '.join(decision.reasons)}")
        syringe = current.preparation.volume_ml
        if new["volume_ml"] > syringe:
            raise PharmacyRefused(f"correction refused: {new['volume_ml']} mL is more than the syringe's {syringe} mL")
        return current, new

    planned(participant)  # every check before the signature is asked for
    # Before the transaction: a refused signature is committed to the trail on its own.
    verify_signer(
        acting_user, password, otp_token, role=sign_role, target_type="dose", target_id=f"{number}/{dose_number}",
        channel=channel, source=source,
    )  # fmt: skip
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        current, new = planned(locked)  # again under the participant's lock
        old = _dose_fields(current)
        correction = DoseCorrection.objects.create(
            dose=current, version=getattr(current, "version", 1) + 1, reason=reason, recorded_by=acting_user,
            recorded_at=now(), channel=channel, **new,
        )  # fmt: skip
        signature = apply_signature(acting_user, correction, DOSE_CORRECTION_MEANING, role=sign_role, channel=channel)
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="dose.correct",
            object_type="participant",
            object_id=number,
            old={"dose_number": dose_number, **old},
            new={
                "dose_number": dose_number,
                "given_at": format_time(new["given_at"]),
                "injection_site": new["injection_site"],
                "volume_ml": str(new["volume_ml"]),
                "local_reaction": new["local_reaction"],
                "version": correction.version,
                "signature": signature.pk,
            },
            reason=reason,
        )
        write_form(
            locked, DOSE_FORM, {
                "given": True, "given_at": new["given_at"], "syringe_label": current.preparation.label,
                "volume_ml": new["volume_ml"], "volume_ml.unit": "mL", "injection_site": new["injection_site"],
                "local_reaction": new["local_reaction"],
            },
            visit=dose_visit(dose_number), acting_user=acting_user, role=role, channel=channel,
            reason=f"dose {dose_number} corrected: {reason}",
        )  # fmt: skip
    return correction


def resupply_level() -> int:
    """The usable vials on hand below which a site is told to re-supply: one participant's full course.

    `ILIAD7_RESUPPLY_AT_VIALS` sets another level; by default it is the protocol's number of doses
    (7), so that a participant who starts a course can finish it.
    """
    from django.conf import settings

    configured = str(getattr(settings, "ILIAD7_RESUPPLY_AT_VIALS", "") or "").strip()
    if configured:
        return bounded_int("ILIAD7_RESUPPLY_AT_VIALS", configured, 0, VIALS_MAX)
    return int(current_protocol().dosing.max_doses)


def drug_accountability(*, site_code: str, acting_user: User) -> dict[str, Any]:
    """Per lot at the site: received, dispensed, wasted, returned and on hand, and whether they reconcile.

    Reconciles when received = dispensed + wasted + returned + on hand with
    nothing negative, and the vials dispensed equal the vials the lot's
    preparations record. Unblinded pharmacist at the site only (dispensing
    follows the arm), and so is the re-supply alert: `usable_on_hand` counts
    the vials of lots not expired on the site's date, and `resupply_needed`
    says when they are fewer than `resupply_level` (a site with no usable vial
    cannot prepare any syringe, of either arm). Each lot says whether it is
    `expired` and `usable` (not expired, a vial left: a syringe can be prepared
    from it today); `can_prepare` is whether any lot is.
    """
    site = _site(site_code)
    access.require(acting_user, Capability.DRUG_ACCOUNTABILITY, site)
    today = now().astimezone(site_zone(site)).date()
    lots: list[dict[str, Any]] = []
    for drug_lot in DrugLot.objects.filter(site=site).order_by("lot"):
        totals = {row["kind"]: row["n"] for row in drug_lot.movements.values("kind").annotate(n=Sum("vials"))}
        row: dict[str, Any] = {"lot": drug_lot.lot, "expiry": drug_lot.expiry.isoformat()}
        for kind in DrugMovement.KINDS:
            row[kind] = int(totals.get(kind, 0))
        row["on_hand"] = row["received"] - row["dispensed"] - row["wasted"] - row["returned"]
        row["expired"] = drug_lot.expiry < today
        # A syringe (of either arm) can be prepared from it today: not expired, a vial left.
        row["usable"] = not row["expired"] and row["on_hand"] >= VIALS_PER_ACTIVE_DOSE
        prepared = drug_lot.preparations.aggregate(n=Sum("vials_dispensed"))["n"] or 0
        row["prepared_vials"] = int(prepared)
        row["reconciles"] = (
            row["on_hand"] >= 0
            and row["received"] == row["dispensed"] + row["wasted"] + row["returned"] + row["on_hand"]
            and row["dispensed"] == row["prepared_vials"]
        )
        lots.append(row)
    usable = sum(max(r["on_hand"], 0) for r in lots if not r["expired"])
    level = resupply_level()
    return {
        "site": site.code,
        "today": today.isoformat(),
        "lots": lots,
        "reconciles": all(r["reconciles"] for r in lots),
        "can_prepare": any(r["usable"] for r in lots),
        "usable_on_hand": usable,
        "resupply_level": level,
        "resupply_needed": usable < level,
    }
