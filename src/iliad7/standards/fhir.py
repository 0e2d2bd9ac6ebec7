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
checks the LAB values with the form's edit checks and records each one
through `record_item_value`, its reason naming the source resource; the
screening values (birth date, sex, weight, height) become a new screening
version while the participant is still being screened.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from iliad7.errors import InputError

LOINC = "http://loinc.org"
# LOINC -> LAB form item (codes with verified check digits: shared/design/ecosystem-notes.md).
LAB_LOINC: dict[str, str] = {
    "731-0": "alc", "26474-7": "alc", "24467-3": "cd4", "14135-8": "cd8", "2276-4": "ferritin", "1988-5": "crp",
    "48065-7": "d_dimer", "1742-6": "alt", "1920-8": "ast", "1975-2": "bilirubin", "2160-0": "creatinine",
    "777-3": "platelets", "718-7": "hemoglobin", "6690-2": "wbc", "751-8": "neutrophils",
}  # fmt: skip
SCREENING_LOINC = {"29463-7": ("weight_kg", "kg"), "8302-2": ("height_cm", "cm")}
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
    screening: list[dict[str, Any]] = field(default_factory=list)  # {field, value, resource}
    unknown: list[dict[str, Any]] = field(default_factory=list)  # {resource, problem}
    not_mapped: list[str] = field(default_factory=list)  # "Encounter/e1", ...

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
            _observation(resource, ref, lab_form, proposal)
        elif kind in REPORTED_TYPES:
            proposal.not_mapped.append(ref)
        else:
            proposal.unknown.append({"resource": ref, "problem": f"resource type {kind} is not imported"})
    return proposal


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
    if code not in LAB_LOINC and code not in SCREENING_LOINC:
        proposal.unknown.append({"resource": ref, "problem": f"LOINC {code} is not a value this trial collects"})
        return
    if not quantity or quantity.get("value") is None:
        proposal.unknown.append({"resource": ref, "problem": f"LOINC {code} has no valueQuantity"})
        return
    ucum = quantity.get("code") or quantity.get("unit") or ""
    unit = UCUM.get(ucum)
    if code in SCREENING_LOINC:
        name, wanted = SCREENING_LOINC[code]
        if unit != wanted:
            proposal.unknown.append({"resource": ref, "problem": f"LOINC {code}: unit {ucum!r} is not {wanted}"})
            return
        proposal.screening.append({"field": name, "value": quantity["value"], "resource": ref})
        return
    item = lab_form.item(LAB_LOINC[code])
    accepted = item.units or ()
    if unit is None or unit not in accepted:
        proposal.unknown.append(
            {"resource": ref, "problem": f"LOINC {code}: unit {ucum!r} is not one the LAB form accepts for {item.id}"}
        )
        return
    proposal.lab.append({"item": item.id, "value": f"{quantity['value']}", "unit": unit, "loinc": code,
                         "resource": ref, "effective": effective})  # fmt: skip


def import_fhir(user: Any, source: Path, screening_number: str) -> dict[str, Any]:
    """Read, propose, and save the proposal for the coordinator (nothing is recorded in the trial database)."""
    from iliad7.accounts.roles import Capability
    from iliad7.store import access
    from iliad7.store.actions._common import now

    participant = access.access_participant(user, screening_number)
    access.require(user, Capability.RECORD_DATA, participant.site)
    proposal = propose_prefill(read_resources(source), participant=screening_number, source=str(source))
    folder = imports_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{screening_number}-{now():%Y%m%dT%H%M%S%f}.json"
    path.write_text(json.dumps(proposal.as_dict(), indent=1) + "\n", encoding="utf-8")
    return {**proposal.as_dict(), "prefilled": proposal.lab + proposal.screening, "proposal_file": str(path)}


def imports_folder() -> Path:
    from django.conf import settings

    return Path(getattr(settings, "ILIAD7_HOME", "var")) / "imports" / "fhir"


def confirm_prefill(user: Any, proposal: dict[str, Any], *, visit: str, channel: str = "cli") -> dict[str, Any]:
    """The coordinator's confirmation: record the proposal's LAB values (checked) and screening values."""
    from django.db import transaction

    from iliad7.capture.checks import validate_form
    from iliad7.capture.spec import form_spec, unit_key
    from iliad7.store import access
    from iliad7.store.actions import latest_screening, record_item_value, save_screening
    from iliad7.store.actions._common import current_protocol
    from iliad7.store.actions.capture import capture_context

    participant = access.access_participant(user, proposal["participant"])
    lab = proposal.get("lab", [])
    recorded: list[str] = []
    with transaction.atomic():
        if lab:
            values: dict[str, Any] = {}
            for entry in lab:
                values[entry["item"]] = entry["value"]
                values[unit_key(entry["item"])] = entry["unit"]
            effective = sorted(e["effective"] for e in lab if e.get("effective"))
            if effective:
                values["collected_at"] = effective[0]
            check = validate_form(form_spec(current_protocol(), "LAB"), values,
                                  context=capture_context(participant, visit=visit))  # fmt: skip
            if not check.ok:
                first = check.errors[0]
                raise InputError(first.field, f"the FHIR value does not pass the LAB form's checks: {first.message}")
            if effective:
                record_item_value(participant, form="LAB", item="collected_at", value=effective[0], visit=visit,
                                  acting_user=user, channel=channel,
                                  reason=f"from FHIR {lab[0]['resource']}, confirmed by {user.username}")  # fmt: skip
            for entry in lab:
                record_item_value(
                    participant, form="LAB", item=entry["item"], value=entry["value"], unit=entry["unit"], visit=visit,
                    acting_user=user, channel=channel,
                    reason=f"from FHIR {entry['resource']} (LOINC {entry['loinc']}), confirmed by {user.username}",
                )  # fmt: skip
                recorded.append(entry["item"])
        screening = proposal.get("screening", [])
        from iliad7.store.actions.screening import _OPEN_FOR_SCREENING

        if screening and participant.status not in _OPEN_FOR_SCREENING:
            skipped = [entry["field"] for entry in screening]
            screening = []
        else:
            skipped = []
        if screening:
            current = latest_screening(participant)
            data = dict(current.data) if current is not None else {}
            data.update({entry["field"]: entry["value"] for entry in screening})
            sources = ", ".join(sorted({entry["resource"] for entry in screening}))
            save_screening(participant, data, acting_user=user, channel=channel,
                           reason=f"from FHIR {sources}, confirmed by {user.username}")  # fmt: skip
            recorded += [entry["field"] for entry in screening]
    return {"participant": proposal["participant"], "visit": visit, "recorded": recorded,
            "not_recorded_screening_closed": skipped,
            "confirmed_at": datetime.now().isoformat(timespec="seconds")}  # fmt: skip
