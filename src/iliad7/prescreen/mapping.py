"""One definition of how an EHR value becomes a screening-record field (pure: no engine, no Django).

The codes are the protocol file's `prescreen` block (`protocols/iliad-7-us-o.yaml`, read through
`iliad7.protocol`); the limits are the screening record's own (its JSON schema), so a value the
contract would refuse is refused here, naming the field. An OMOP measurement row and a FHIR
Observation are the same thing to this module: a code in a code system, a value, a unit and a time
(:func:`observation_fields`). The pre-screening (`iliad7.prescreen.records`) calls
:func:`measurement_value` for every value it copies into a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from iliad7.protocol import load_protocol
from iliad7.protocol.prescreen import Mapping, Prescreen

# FHIR code systems and the OMOP vocabulary_id of each.
SYSTEM_VOCABULARY = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED",
    "http://unitsofmeasure.org": "UCUM",
    "http://www.whocc.no/atc": "ATC",
}
# Measurements copied as a value (the others give a fixed value or a flag).
MEASURED = ("ALC", "ALT", "AST", "WEIGHT", "HEIGHT", "OXYGEN-FLOW")
# Respiratory support, lowest to highest: the device at T0 is the highest under way.
DEVICE_RANK = (
    "DEVICE-NASAL-CANNULA",
    "DEVICE-MASK",
    "DEVICE-HIGH-FLOW",
    "DEVICE-NIV",
    "DEVICE-INVASIVE-VENTILATION",
    "DEVICE-ECMO",
)
HISTORY = ("LYMPHOID-MALIGNANCY", "SOLID-ORGAN-TRANSPLANT", "CHRONIC-DIALYSIS")


class BadValue(ValueError):
    """A value the screening record would refuse: unknown unit, out of range. `field` is the record's."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Limits:
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None

    def check(self, field: str, value: float) -> None:
        if self.minimum is not None and value < self.minimum:
            raise BadValue(field, f"{value:g} is below {self.minimum:g}")
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            raise BadValue(field, f"{value:g} is not above {self.exclusive_minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise BadValue(field, f"{value:g} is above {self.maximum:g}")


def _limits_of(node: dict[str, Any]) -> Limits:
    number = next(o for o in node.get("anyOf", [node]) if o.get("type") in ("number", "integer"))
    return Limits(number.get("minimum"), number.get("exclusiveMinimum"), number.get("maximum"))


@cache
def record_limits() -> dict[str, Limits]:
    """The record's limits on the values this module copies, from its JSON schema (one definition)."""
    from iliad7.eligibility.record import SCREENING_RECORD

    schema = SCREENING_RECORD.json_schema()
    props, defs = schema["properties"], schema["$defs"]
    return {
        "alc.value": _limits_of(defs["AlcMeasurement"]["properties"]["value"]),
        "alt.value": _limits_of(defs["LiverTest"]["properties"]["value"]),
        "alt.uln": _limits_of(defs["LiverTest"]["properties"]["uln"]),
        "weight_kg": _limits_of(props["weight_kg"]),
        "height_cm": _limits_of(props["height_cm"]),
        "respiratory_support.oxygen_flow_lpm": _limits_of(defs["RespiratorySupport"]["properties"]["oxygen_flow_lpm"]),
    }


_LIMITS: dict[str, Limits] = {}


def _load_limits() -> dict[str, Limits]:
    _LIMITS.update(record_limits())
    return _LIMITS


@cache
def prescreen_mappings(protocol_path: str | None = None) -> Prescreen:
    """The protocol's `prescreen` block (the default protocol file unless a path is given)."""
    protocol = load_protocol(protocol_path)
    if protocol.prescreen is None:
        raise LookupError(f"protocol {protocol.id} has no prescreen block (docs/prescreen.md)")
    return protocol.prescreen


def utc(value: datetime | None) -> datetime | None:
    """An OMOP datetime (no offset: UTC) as an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def measurement_value(
    mapping: Mapping,
    value: float | None,
    unit: str | None,
    time: datetime | None,
    *,
    uln: float | None = None,
) -> tuple[str, Any]:
    """The record field and value one measured value gives (`unit` is its UCUM code; None: not recorded).

    ALC entries and ALT/AST objects leave out what is not recorded (a missing key is missing);
    a unit the mapping does not accept, or a value the record refuses, raises BadValue.
    """
    field = mapping.field
    limits = _LIMITS or _load_limits()
    if mapping.id == "ALC":
        entry: dict[str, Any] = {}
        if time is not None:
            entry["time"] = utc(time)
        if value is not None:
            limits["alc.value"].check("alc.value", value)
            entry["value"] = value
        if unit is not None:
            entry["unit"] = _spelled(mapping, "alc.unit", unit)
        return field, entry
    if mapping.id in ("ALT", "AST"):
        test: dict[str, Any] = {}
        if value is not None:
            limits["alt.value"].check(f"{field}.value", value)
            test["value"] = value
        if uln is not None:
            limits["alt.uln"].check(f"{field}.uln", uln)
            test["uln"] = uln
        if unit is not None:
            test["unit"] = mapping.units.get(unit, unit)  # ALT and AST compare with their ULN: any unit
        if time is not None:
            test["time"] = utc(time)
        return field, test
    if mapping.id in ("WEIGHT", "HEIGHT", "OXYGEN-FLOW"):
        if value is None:
            raise BadValue(field, "no value")
        if unit is None:
            raise BadValue(field, f"no unit (expected {', '.join(mapping.units)})")
        _spelled(mapping, field, unit)
        limits[field].check(field, value)
        return field, value
    raise KeyError(f"{mapping.id} is not a measured value")


def _spelled(mapping: Mapping, field: str, unit: str) -> str:
    spelled = mapping.units.get(unit)
    if spelled is None:
        raise BadValue(field, f"unknown unit {unit!r} for {mapping.id} (accepted: {', '.join(mapping.units)})")
    return spelled


def observation_fields(
    system: str,
    code: str,
    value: float | None,
    unit: str | None,
    time: datetime | None,
    *,
    uln: float | None = None,
    prescreen: Prescreen | None = None,
) -> tuple[str, Any] | None:
    """The record field and value of a coded observation (a FHIR Observation: LOINC code, UCUM unit),
    or None when the code feeds no field. The same mapping as the OMOP pre-screening, exact codes only
    (a FHIR server gives no concept_ancestor)."""
    vocabulary = SYSTEM_VOCABULARY.get(system, system)
    for mapping in (prescreen or prescreen_mappings()).mappings:
        if mapping.id in MEASURED and any(c.vocabulary == vocabulary and code in c.codes for c in mapping.concepts):
            return measurement_value(mapping, value, unit, time, uln=uln)
    return None
