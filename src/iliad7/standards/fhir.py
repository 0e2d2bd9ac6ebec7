"""FHIR R4 import: pre-fill a participant's screening record and LAB form from a Bundle or a Bulk Data folder.

`read_resources` accepts a Bundle (JSON file) or a Bulk Data export folder
(`*.ndjson`, one resource per line) and validates each resource's structure
with `fhir.resources.R4B`. `propose_prefill` turns them into a *proposal*:
each value names its source resource (`Observation/abc`) and LOINC code;
nothing is recorded. LOINC codes and UCUM units this trial does not know are
reported, never guessed, and so are the resource types it does not map
(Encounter, Condition, MedicationAdministration, Procedure are listed with
their ids for the coordinator to read). The proposal is written under
`ILIAD7_HOME/imports/fhir/`; `confirm_prefill`, called by the coordinator,
records the LAB values through the LAB form's own action and edit checks
(`save_form`: the whole form as stored with these values, CTCAE grades
derived), each value's reason naming its source resource; the
screening values (birth date, sex, weight, height, and the ALC, ALT and AST
results that INC-ALC and EXC-LIVER read) become a new screening version while
the participant is still being screened.

Which laboratory results reach the screening record, and in which unit, is the
OMOP pre-screening's own definition (`iliad7.prescreen.mapping.observation_fields`,
the protocol's `prescreen` block: docs/prescreen.md), never a second copy. Only
results with status final, amended or corrected are used; the others
(preliminary, registered, entered-in-error, cancelled, ...) are listed in the
proposal as not used. Each timed result keeps its own time: several ALCs are
several entries of the record's `alc` list, and the LAB form (one collection
time per visit) gets only the results of the latest collection, the others
being listed. A value with a comparator (`<0.2 10*3/uL`) is never entered as
if it were exact: the LAB form does not take it, and the screening record, which
has no way to hold a bound, gets the bound as its value only where the bound
decides the criterion (an ALC below 200 cells/uL is at most 1,000 for INC-ALC
whatever it is); otherwise the result is listed as undecided, with the reason.
A proposal is confirmed once: a second confirmation is refused and writes
nothing (the first leaves a `fhir.confirm` audit record naming the proposal).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from iliad7.errors import ActionRefused, InputError

LOINC = "http://loinc.org"
# LOINC -> LAB form item (codes with verified check digits: shared/design/ecosystem-notes.md).
LAB_LOINC: dict[str, str] = {
    "731-0": "alc", "26474-7": "alc", "24467-3": "cd4", "14135-8": "cd8", "2276-4": "ferritin", "1988-5": "crp",
    "48065-7": "d_dimer", "1742-6": "alt", "1920-8": "ast", "1975-2": "bilirubin", "2160-0": "creatinine",
    "777-3": "platelets", "718-7": "hemoglobin", "6690-2": "wbc", "751-8": "neutrophils",
}  # fmt: skip
# The screening-record fields a laboratory or body measurement fills (through the pre-screening's mapping).
SCREENING_FIELDS = ("alc", "alt", "ast", "weight_kg", "height_cm")
# Observation statuses whose value is a result (FHIR R4 ObservationStatus); the others are not used.
RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
COMPARATORS = frozenset({"<", "<=", ">", ">="})
# Recognised vital signs that the VITALS form needs more to hold (scale, consciousness): reported, not pre-filled.
VITAL_LOINC = {"8867-4", "9279-1", "8480-6", "8310-5", "59408-5", "2708-6", "9269-2", "3150-0", "2703-7"}
# UCUM code (or unit text) -> the protocol's spelling; the form item must also accept it.
UCUM: dict[str, str] = {
    "10*3/uL": "10^3/uL", "10*9/L": "10^9/L", "/uL": "/uL", "/mm3": "/mm3", "{cells}/uL": "cells/uL",
    "g/dL": "g/dL", "g/L": "g/L", "U/L": "U/L", "mg/dL": "mg/dL", "umol/L": "umol/L", "ng/mL": "ng/mL",
    "mg/L": "mg/L", "ug/L{FEU}": "ug/L FEU", "kg": "kg", "cm": "cm",
}  # fmt: skip
MAPPED_TYPES = {"Patient", "Observation"}
REPORTED_TYPES = {"Encounter", "Condition", "MedicationAdministration", "Procedure"}


@dataclass
class Proposal:
    participant: str
    source: str
    lab: list[dict[str, Any]] = field(default_factory=list)  # {item, value, unit, loinc, resource, effective}
    screening: list[dict[str, Any]] = field(default_factory=list)  # {field, value, resource[, loinc, note]}
    unknown: list[dict[str, Any]] = field(default_factory=list)  # {resource, problem}
    not_mapped: list[str] = field(default_factory=list)  # "Encounter/e1", ...
    not_used: list[dict[str, Any]] = field(default_factory=list)  # {resource, status}: not a result
    # The identity `confirm_prefill` refuses a second confirmation by.
    proposal_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validate(resource: dict[str, Any]) -> dict[str, Any]:
    from fhir.resources.R4B import get_fhir_model_class

    kind = resource.get("resourceType", "")
    try:
        model = get_fhir_model_class(kind)
    except KeyError as exc:
        raise InputError("SOURCE", f"unknown FHIR resource type {kind!r}") from exc
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic ValidationError: name the resource
        raise InputError("SOURCE", f"{kind}/{resource.get('id', '?')} is not valid FHIR R4: {exc}") from exc
    return resource


def read_resources(source: Path) -> list[dict[str, Any]]:
    """The resources of a Bundle file or of a Bulk Data NDJSON folder, each validated as FHIR R4."""
    if source.is_dir():
        resources = []
        for path in sorted(source.glob("*.ndjson")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        resources.append(_validate(json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise InputError("SOURCE", f"{path.name} line {number}: not JSON ({exc})") from exc
        return resources
    try:
        bundle = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError("SOURCE", f"{source} is not JSON: {exc}") from exc
    if bundle.get("resourceType") != "Bundle":
        raise InputError("SOURCE", f"{source} is not a FHIR Bundle")
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except Exception as exc:
        raise InputError("SOURCE", f"{source} is not a valid FHIR R4 Bundle: {exc}") from exc
    return [entry["resource"] for entry in bundle.get("entry", []) if "resource" in entry]


def _reference(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def propose_prefill(resources: list[dict[str, Any]], *, participant: str, source: str) -> Proposal:
    """What the resources would pre-fill, value by value with its source; unknowns reported (pure)."""
    from iliad7.protocol import load_protocol

    lab_form = load_protocol().form("LAB")
    proposal = Proposal(participant=participant, source=source)
    for resource in resources:
        kind, ref = resource.get("resourceType"), _reference(resource)
        if kind == "Patient":
            if resource.get("birthDate"):
                proposal.screening.append({"field": "birth_date", "value": resource["birthDate"], "resource": ref})
            if resource.get("gender") in ("male", "female"):
                proposal.screening.append({"field": "sex", "value": resource["gender"], "resource": ref})
            elif resource.get("gender"):
                proposal.unknown.append({"resource": ref, "problem": f"gender {resource['gender']!r} not mapped"})
        elif kind == "Observation":
            status = resource.get("status")
            if status not in RESULT_STATUSES:
                proposal.not_used.append({"resource": ref, "status": status,
                                          "problem": f"status {status!r}: only final, amended or corrected "
                                          "results are used"})  # fmt: skip
                continue
            _observation(resource, ref, lab_form, proposal)
        elif kind in REPORTED_TYPES:
            proposal.not_mapped.append(ref)
        else:
            proposal.unknown.append({"resource": ref, "problem": f"resource type {kind} is not imported"})
    _latest_collection_only(proposal)
    _latest_liver_tests_only(proposal)
    return proposal


def _latest_collection_only(proposal: Proposal) -> None:
    """Keep on the LAB form only the results of the latest collection: the form has one collection time
    per visit, and a value is never recorded with another observation's time. The others are listed."""
    times = {entry["effective"] for entry in proposal.lab}
    if len(times) <= 1:
        return
    latest = max(times, key=_instant)
    for entry in [e for e in proposal.lab if e["effective"] != latest]:
        proposal.lab.remove(entry)
        also = " (its screening-record entry keeps its own time)" if entry["item"] in ("alc", "alt", "ast") else ""
        proposal.unknown.append({"resource": entry["resource"], "problem": (
            f"LOINC {entry['loinc']}: collected at {entry['effective']}, not the latest collection {latest}; "
            f"the LAB form of a visit holds one collection, enter it on its own visit's form{also}")})  # fmt: skip


def _latest_liver_tests_only(proposal: Proposal) -> None:
    """The screening record holds one ALT and one AST (the latest before T0): keep the latest result of each."""
    for name in ("alt", "ast"):
        tests = [e for e in proposal.screening if e["field"] == name]
        if len(tests) <= 1:
            continue
        keep = max(tests, key=lambda e: _instant(e["value"].get("time") or ""))
        for entry in tests:
            if entry is not keep:
                proposal.screening.remove(entry)
                proposal.unknown.append({"resource": entry["resource"], "problem": (
                    f"{name.upper()}: the record holds one result, the latest: {keep['resource']}")})  # fmt: skip


def _instant(text: str) -> datetime:
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _observation(resource: dict[str, Any], ref: str, lab_form: Any, proposal: Proposal) -> None:
    codes = [c.get("code", "") for c in resource.get("code", {}).get("coding", []) if c.get("system") == LOINC]
    if not codes:
        proposal.unknown.append({"resource": ref, "problem": "no LOINC code"})
        return
    code = codes[0]
    quantity = resource.get("valueQuantity")
    effective = resource.get("effectiveDateTime", "")
    if code in VITAL_LOINC:
        proposal.unknown.append({"resource": ref, "problem": f"LOINC {code}: a vital sign the VITALS form records "
                                 "with items FHIR does not carry; enter it on the form"})  # fmt: skip
        return
    if not quantity or quantity.get("value") is None:
        if code in LAB_LOINC or _screening_field(code) is not None:
            proposal.unknown.append({"resource": ref, "problem": f"LOINC {code} has no valueQuantity"})
        else:
            proposal.unknown.append({"resource": ref, "problem": f"LOINC {code} is not a value this trial collects"})
        return
    ucum = quantity.get("code") or quantity.get("unit") or ""
    comparator = quantity.get("comparator")
    if comparator is not None and comparator not in COMPARATORS:
        proposal.unknown.append({"resource": ref, "problem": f"LOINC {code}: comparator {comparator!r} not understood"})
        return
    mapped = _screening_field(code)
    if mapped is not None:
        _screening_value(resource, ref, code, quantity, ucum, comparator, proposal)
    if code not in LAB_LOINC:
        if mapped is None:
            proposal.unknown.append({"resource": ref, "problem": f"LOINC {code} is not a value this trial collects"})
        return
    item = lab_form.item(LAB_LOINC[code])
    if comparator is not None:
        proposal.unknown.append({"resource": ref, "problem": (
            f"LOINC {code}: {comparator}{quantity['value']} {ucum} is a bound, not a value: the LAB form "
            f"takes exact values, enter it on the form as the laboratory reported it")})  # fmt: skip
        return
    unit = UCUM.get(ucum)
    accepted = item.units or ()
    if unit is None or unit not in accepted:
        proposal.unknown.append(
            {"resource": ref, "problem": f"LOINC {code}: unit {ucum!r} is not one the LAB form accepts for {item.id}"}
        )
        return
    proposal.lab.append({"item": item.id, "value": f"{quantity['value']}", "unit": unit, "loinc": code,
                         "resource": ref, "effective": effective})  # fmt: skip


def _screening_field(code: str) -> str | None:
    """The screening-record field the pre-screening's mapping gives a LOINC code, if it is one pre-filled here."""
    from iliad7.prescreen.mapping import MEASURED, SYSTEM_VOCABULARY, prescreen_mappings

    for mapping in prescreen_mappings().mappings:
        if (
            mapping.id in MEASURED
            and mapping.field in SCREENING_FIELDS
            and any(c.vocabulary == SYSTEM_VOCABULARY[LOINC] and code in c.codes for c in mapping.concepts)
        ):
            return mapping.field
    return None


def _screening_value(
    resource: dict[str, Any], ref: str, code: str, quantity: dict[str, Any], ucum: str, comparator: str | None,
    proposal: Proposal,
) -> None:  # fmt: skip
    """The screening-record value of a result, by the pre-screening's mapping (`observation_fields`)."""
    from iliad7.prescreen.mapping import BadValue, observation_fields

    value = float(quantity["value"])
    time = _instant(resource["effectiveDateTime"]) if resource.get("effectiveDateTime") else None
    uln = _uln(resource, ucum)
    note = None
    if comparator is not None:
        decides, note = _bound_decides(code, comparator, value, ucum, uln)
        if not decides:
            proposal.unknown.append({"resource": ref, "problem": f"LOINC {code}: {comparator}{value:g} {ucum}: {note}"})
            return
    try:
        found = observation_fields(LOINC, code, value, ucum or None, time, uln=uln)
    except BadValue as exc:
        proposal.unknown.append({"resource": ref, "problem": f"LOINC {code}: {exc}"})
        return
    if found is None:  # pragma: no cover - _screening_field said the mapping has it
        return
    name, mapped = found
    if isinstance(mapped, dict):
        mapped = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in mapped.items()}
    entry: dict[str, Any] = {"field": name, "value": mapped, "resource": ref, "loinc": code}
    if note is not None:
        entry["note"] = note
    proposal.screening.append(entry)


def _uln(resource: dict[str, Any], ucum: str) -> float | None:
    """The upper limit of normal of an ALT or AST: its reference range's high, in the result's own unit."""
    for reference in resource.get("referenceRange", []):
        high = reference.get("high") or {}
        if high.get("value") is not None and (high.get("code") or high.get("unit") or ucum) == ucum:
            return float(high["value"])
    return None


def _bound_decides(code: str, comparator: str, bound: float, ucum: str, uln: float | None) -> tuple[bool, str]:
    """Whether a bound decides its criterion so that the bound itself, recorded as the value, is judged as every
    value it allows would be, with the note or the reason it does not.

    INC-ALC takes an ALC at most 1,000 cells/mm3, EXC-LIVER excludes an ALT or AST above 5 x ULN: both are
    "qualifies iff value <= T". `<b`/`<=b` with b <= T, and `>=b`/`>b` with b > T, decide it and b is judged
    alike; a `>T` exactly decides it too, but no number the record could hold says so.
    """
    from iliad7.eligibility.criteria import ALC_MAX_PER_MM3, LIVER_ULN_MULTIPLE
    from iliad7.prescreen.mapping import prescreen_mappings
    from iliad7.scores.units import Quantity, to_canonical

    field = _screening_field(code)
    if field == "alc":
        mapping = next(m for m in prescreen_mappings().mappings if m.id == "ALC")
        unit = mapping.units.get(ucum)
        if unit is None:
            return False, f"undecided: unit {ucum!r} is not one the pre-screening maps for the ALC"
        try:
            value = to_canonical(Quantity.CELL_COUNT, Decimal(str(bound)), unit)
        except (InvalidOperation, InputError) as exc:  # pragma: no cover - the mapping's units all convert
            return False, f"undecided: {exc}"
        threshold, criterion, what = ALC_MAX_PER_MM3, "INC-ALC", f"{value.normalize():f} cells/mm3"
    elif field in ("alt", "ast"):
        if uln is None:
            return (
                False,
                "undecided: no upper limit of normal (referenceRange.high) in its unit to compare with",
            )
        value = Decimal(str(bound))
        threshold, criterion, what = LIVER_ULN_MULTIPLE * Decimal(str(uln)), "EXC-LIVER", f"{bound:g} {ucum}"
    else:
        return False, f"undecided: the screening record holds exact {field} values, not bounds"
    below = comparator in ("<", "<=")
    if (below and value <= threshold) or (not below and value > threshold):
        side = "at most" if below else "above"
        return True, (
            f"{comparator}{bound:g} {ucum} recorded as its bound: every value it allows is {side} "
            f"{threshold.normalize():f} for {criterion} (bound {what})"
        )
    return False, (
        f"undecided: a bound {comparator}{what} does not decide {criterion} (threshold "
        f"{threshold.normalize():f}); enter the value when it is known"
    )


def import_fhir(user: Any, source: Path, screening_number: str) -> dict[str, Any]:
    """Read, propose, and save the proposal for the coordinator (nothing is recorded in the trial database)."""
    from iliad7.accounts.roles import Capability
    from iliad7.store import access
    from iliad7.store.actions._common import now

    participant = access.access_participant(user, screening_number)
    access.require(user, Capability.RECORD_DATA, participant.site)
    proposal = propose_prefill(read_resources(source), participant=participant.screening_number, source=str(source))
    folder = imports_folder()
    folder.mkdir(parents=True, exist_ok=True)
    # Named by the participant's row id and the time, never by typed or stored text: no screening number,
    # however odd, can put the file anywhere else (the participant's number is inside the file).
    path = folder / f"participant-{int(participant.pk)}-{now():%Y%m%dT%H%M%S%f}.json"
    if path.resolve().parent != folder.resolve():  # pragma: no cover - the name above has no separator
        raise InputError("participant", "the proposal file would be written outside imports/fhir")
    path.write_text(json.dumps(proposal.as_dict(), indent=1) + "\n", encoding="utf-8")
    return {**proposal.as_dict(), "prefilled": proposal.lab + proposal.screening, "proposal_file": str(path)}


def imports_folder() -> Path:
    from django.conf import settings

    return Path(getattr(settings, "ILIAD7_HOME", "var")) / "imports" / "fhir"


def confirm_prefill(user: Any, proposal: dict[str, Any], *, visit: str, channel: str = "cli") -> dict[str, Any]:
    """The coordinator's confirmation: record the proposal's LAB values (checked) and screening values, once.

    All or nothing, in one transaction under the participant's lock: a proposal already confirmed (into any
    visit) is refused with nothing written, and so is one without the identity `import_fhir` gave it.
    """
    from django.db import transaction

    from iliad7.accounts.roles import Capability
    from iliad7.audit import trail
    from iliad7.store import access
    from iliad7.store.models import AuditRecord, Participant

    participant = access.access_participant(user, proposal["participant"])
    role = access.require(user, Capability.RECORD_DATA, participant.site)
    proposal_id = proposal.get("proposal_id")
    if not isinstance(proposal_id, str) or len(proposal_id) != 32 or not proposal_id.isalnum():
        raise InputError("proposal", "this proposal has no proposal_id: confirm a file `iliad7 import fhir` wrote")
    object_id = f"{participant.screening_number}/fhir/{proposal_id}"
    with transaction.atomic():
        Participant.objects.select_for_update().get(pk=participant.pk)  # one confirmation at a time
        earlier = AuditRecord.objects.filter(action="fhir.confirm", object_id=object_id).first()
        if earlier is not None:
            raise ActionRefused(
                f"FHIR proposal {proposal_id} was already confirmed by {earlier.actor} at "
                f"{earlier.at.isoformat(timespec='seconds')}: nothing written (import the source again for a new one)"
            )
        recorded = _confirm_lab(user, participant, proposal, visit, channel)
        screened, skipped = _confirm_screening(user, participant, proposal, channel)
        recorded += screened
        trail.append(
            actor=user.username, role=role, channel=channel, action="fhir.confirm", object_type="fhir_proposal",
            object_id=object_id, old=None,
            new={"visit": visit, "recorded": recorded, "not_recorded_screening_closed": skipped,
                 "source": proposal.get("source", "")},
            reason=f"FHIR pre-fill confirmed by {user.username}",
        )  # fmt: skip
    return {"participant": proposal["participant"], "visit": visit, "recorded": recorded,
            "not_recorded_screening_closed": skipped, "proposal_id": proposal_id,
            "confirmed_at": datetime.now().isoformat(timespec="seconds")}  # fmt: skip


def _confirm_lab(user: Any, participant: Any, proposal: dict[str, Any], visit: str, channel: str) -> list[str]:
    from iliad7.capture.spec import unit_key
    from iliad7.store.actions.capture import FormRejected, save_form

    lab = proposal.get("lab", [])
    if not lab:
        return []
    times = {e.get("effective") or "" for e in lab}
    if len(times) > 1:  # the proposal keeps one collection; an edited file must not mix times
        raise InputError("proposal", "the LAB values of a proposal must share one collection time")
    values: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for entry in lab:
        values[entry["item"]] = entry["value"]
        values[unit_key(entry["item"])] = entry["unit"]
        reasons[entry["item"]] = f"from FHIR {entry['resource']} (LOINC {entry['loinc']}), confirmed by {user.username}"
    (effective,) = times
    if effective:
        values["collected_at"] = effective
        sources = ", ".join(sorted(e["resource"] for e in lab))
        reasons["collected_at"] = f"from FHIR {sources}, confirmed by {user.username}"
    # The LAB form's own action and checks: the whole form as stored with these values, grades derived.
    try:
        save_form(
            participant, "LAB", values, visit=visit, acting_user=user, channel=channel,
            reason=f"from FHIR, confirmed by {user.username}", only=set(reasons), item_reasons=reasons,
        )  # fmt: skip
    except FormRejected as exc:
        first = exc.messages[0]
        raise InputError(first.field, f"the FHIR value does not pass the LAB form's checks: {first.message}") from None
    return [entry["item"] for entry in lab]


def _confirm_screening(
    user: Any, participant: Any, proposal: dict[str, Any], channel: str
) -> tuple[list[str], list[str]]:  # fmt: skip
    """A new screening version with the proposal's values: each ALC an entry of its own (its own time), not one
    already there; ALT, AST and the body measurements replace the record's. Skipped once screening is closed."""
    from iliad7.store.actions import latest_screening, save_screening
    from iliad7.store.actions.screening import _OPEN_FOR_SCREENING

    screening = proposal.get("screening", [])
    if not screening:
        return [], []
    if participant.status not in _OPEN_FOR_SCREENING:
        return [], [entry["field"] for entry in screening]
    current = latest_screening(participant)
    data = dict(current.data) if current is not None else {}
    before = json.dumps(data, sort_keys=True, default=str)
    for entry in screening:
        name, value = entry["field"], entry["value"]
        if name == "alc":
            counts = list(data.get("alc") or [])
            if value not in counts:
                counts.append(value)
            data["alc"] = counts
        else:
            data[name] = value
    sources = ", ".join(sorted({entry["resource"] for entry in screening}))
    notes = "; ".join(entry["note"] for entry in screening if entry.get("note"))
    if json.dumps(data, sort_keys=True, default=str) != before:  # values the record already holds are not saved again
        reason = f"from FHIR {sources}, confirmed by {user.username}" + (f" ({notes})" if notes else "")
        save_screening(participant, data, acting_user=user, channel=channel, reason=reason)
    return [entry["field"] for entry in screening], []
