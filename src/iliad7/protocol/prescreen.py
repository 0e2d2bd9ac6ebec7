"""The `prescreen` block of a protocol file: which OMOP concepts feed which screening-record field.

Each mapping names its concepts by vocabulary and code (never by concept_id: vocabulary releases
and local vocabularies differ), the OMOP tables it reads, and, for measurements, the units it
accepts with the record's spelling of each. `iliad7.prescreen` reads them, and so can any other
source of EHR data (a FHIR Observation carries the same LOINC and UCUM codes).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from iliad7.protocol.base import Code, Frozen, Invalid, Sourced, Text, unique

OmopTable = Literal[
    "person", "visit_occurrence", "measurement", "condition_occurrence", "procedure_occurrence",
    "device_exposure", "drug_exposure", "observation",
]  # fmt: skip
Device = Literal["nasal_cannula", "mask", "high_flow", "niv", "mechanical_ventilation", "ecmo"]

# The mappings the pre-screening needs, by id, with the record field each must feed.
REQUIRED: dict[str, str] = {
    "SEX-FEMALE": "sex", "SEX-MALE": "sex", "INPATIENT-VISIT": "hospitalized", "ALC": "alc",
    "COVID-DIAGNOSIS": "covid_confirmed", "COVID-TEST": "covid_confirmed", "ALT": "alt", "AST": "ast",
    "WEIGHT": "weight_kg", "HEIGHT": "height_cm", "OXYGEN-FLOW": "respiratory_support.oxygen_flow_lpm",
    "DEVICE-NASAL-CANNULA": "respiratory_support.device", "DEVICE-MASK": "respiratory_support.device",
    "DEVICE-HIGH-FLOW": "respiratory_support.device", "DEVICE-NIV": "respiratory_support.device",
    "DEVICE-INVASIVE-VENTILATION": "respiratory_support.device", "DEVICE-ECMO": "respiratory_support.device",
    "LYMPHOID-MALIGNANCY": "lymphoid_malignancy_history", "SOLID-ORGAN-TRANSPLANT": "solid_organ_transplant_history",
    "CHRONIC-DIALYSIS": "chronic_dialysis", "CHEMO-IMMUNOTHERAPY": "oncology.last_chemo_or_immunotherapy_date",
    "HORMONAL-THERAPY": "oncology.on_hormonal_therapy",
}  # fmt: skip
DEVICE_VALUES = {
    "DEVICE-NASAL-CANNULA": "nasal_cannula", "DEVICE-MASK": "mask", "DEVICE-HIGH-FLOW": "high_flow",
    "DEVICE-NIV": "niv", "DEVICE-INVASIVE-VENTILATION": "mechanical_ventilation", "DEVICE-ECMO": "ecmo",
}  # fmt: skip


class ConceptCodes(Frozen):
    """Concepts of one vocabulary, by their codes (`vocabulary_id` and `concept_code` in OMOP)."""

    vocabulary: Text
    codes: Annotated[tuple[Text, ...], Field(min_length=1)]


class Mapping(Frozen):
    id: Code
    field: Text
    value: Text | None = None  # the record value a match gives (sex, device); None: the value is read
    tables: Annotated[tuple[OmopTable, ...], Field(min_length=1)]
    basis: Literal["prescreen-spec", "interpretation"]
    note: Text | None = None
    concepts: Annotated[tuple[ConceptCodes, ...], Field(min_length=1)]
    values: tuple[ConceptCodes, ...] = ()  # value_as_concept codes that count (a test result)
    units: dict[Text, Text] = Field(default_factory=dict)  # UCUM code -> the record's spelling

    @model_validator(mode="after")
    def _explained(self) -> Self:
        if self.basis == "interpretation" and self.note is None:
            raise Invalid(("note",), "basis is interpretation: say what was chosen and why")
        return self


class Prescreen(Sourced):
    mappings: tuple[Mapping, ...]

    def mapping(self, mapping_id: str) -> Mapping:
        for mapping in self.mappings:
            if mapping.id == mapping_id:
                return mapping
        raise KeyError(mapping_id)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        unique([m.id for m in self.mappings], "mapping id", ("mappings",), key="id")
        ids = [m.id for m in self.mappings]
        missing = [i for i in REQUIRED if i not in ids]
        if missing:
            raise Invalid(("mappings",), f"missing mapping(s): {', '.join(missing)}")
        for index, mapping in enumerate(self.mappings):
            wanted = REQUIRED.get(mapping.id)
            if wanted is not None and mapping.field != wanted:
                raise Invalid(("mappings", index, "field"), f"{mapping.id} feeds {wanted}, not {mapping.field}")
            device = DEVICE_VALUES.get(mapping.id)
            if device is not None and mapping.value != device:
                raise Invalid(("mappings", index, "value"), f"{mapping.id} gives the device {device!r}")
            if mapping.id in ("ALC", "WEIGHT", "HEIGHT", "OXYGEN-FLOW") and not mapping.units:
                raise Invalid(("mappings", index, "units"), f"{mapping.id} needs the units it accepts")
        return self
