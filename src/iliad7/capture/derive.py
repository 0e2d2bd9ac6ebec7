"""Values derived on save: NEWS2, SOFA, the WHO scale and CTCAE grades, each with its inputs.

Each derivation calls the pure score of clinical-rules section 2 on the form's
parsed values and returns a `Derived`: the value stored beside the form (the
score, or blank when the score is incomplete), the rule it follows, the inputs
it read (in the unit the score takes) and the score's full result
(components, risk, what was missing). A serious adverse event's reporting
deadline is `sae_deadline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from iliad7.errors import InputError
from iliad7.scores import (
    CtcaeInput,
    News2Input,
    SofaInput,
    WhoInput,
    ctcae_grade,
    news2,
    sofa,
    to_canonical,
    who_clinical_progression,
)
from iliad7.scores.ctcae import TERMS as CTCAE_TERMS
from iliad7.scores.units import Quantity

#: A serious adverse event is reported within this time of the site's awareness.
SAE_REPORTING_WINDOW = timedelta(hours=24)
THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class Derived:
    """One derived value: `item` is where it is stored, `value` its text ("" when not computable)."""

    item: str
    value: str
    rule: str
    inputs: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)

    def derivation(self) -> dict[str, Any]:
        """What is stored with the value: the rule, the inputs it came from, the full result."""
        return {"rule": self.rule, "inputs": self.inputs, "result": self.result}


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InputError("value", f"not a number: {value!r}")
    return float(value)


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _converted(
    parsed: Mapping[str, object], item: str, quantity: Quantity, scale: Decimal = Decimal(1)
) -> float | None:
    value = parsed.get(item)
    if value is None:
        return None
    assert isinstance(value, int | Decimal)
    unit = str(parsed.get(f"{item}.unit", ""))
    canonical = to_canonical(quantity, Decimal(value), unit, field=f"{item}.unit") if unit else Decimal(value)
    return float(canonical / scale)


def _news2(parsed: Mapping[str, object]) -> Derived:
    scale = parsed.get("spo2_scale")
    consciousness = parsed.get("consciousness")
    observations = News2Input(
        respiratory_rate=_number(parsed.get("respiratory_rate")),
        spo2=_number(parsed.get("spo2")),
        spo2_scale=2 if scale == "2" else 1 if scale == "1" else None,
        on_supplemental_oxygen=_flag(parsed.get("on_supplemental_oxygen")),
        systolic_bp=_number(parsed.get("systolic_bp")),
        pulse=_number(parsed.get("pulse")),
        consciousness=consciousness if consciousness in ("A", "C", "V", "P", "U") else None,
        temperature=_number(parsed.get("temperature")),
    )
    result = news2(observations)
    return Derived(
        item="news2",
        value="" if result.score is None else str(result.score),
        rule="clinical-rules 2.1",
        inputs=observations.model_dump(exclude_none=True),
        result=result.as_contract(),
    )


def _sofa(parsed: Mapping[str, object]) -> Derived:
    gcs = parsed.get("gcs")
    inputs = SofaInput(
        pao2_fio2=_number(parsed.get("pao2_fio2")),
        respiratory_support=_flag(parsed.get("respiratory_support")),
        platelets=_converted(parsed, "platelets", Quantity.CELL_COUNT, THOUSAND),  # 10^3/uL
        bilirubin=_converted(parsed, "bilirubin", Quantity.BILIRUBIN),  # mg/dL
        map=_number(parsed.get("map")),
        dopamine=_number(parsed.get("dopamine")),
        epinephrine=_number(parsed.get("epinephrine")),
        norepinephrine=_number(parsed.get("norepinephrine")),
        dobutamine=_flag(parsed.get("dobutamine")),
        gcs=gcs if isinstance(gcs, int) and not isinstance(gcs, bool) else None,
        creatinine=_converted(parsed, "creatinine", Quantity.CREATININE),  # mg/dL
        urine_output=_number(parsed.get("urine_output")),
    )
    result = sofa(inputs)
    return Derived(
        item="sofa",
        value="" if result.score is None else str(result.score),
        rule="clinical-rules 2.2",
        inputs=inputs.model_dump(exclude_none=True),
        result=result.as_contract(),
    )


def _who(parsed: Mapping[str, object]) -> Derived:
    support = parsed.get("oxygen_support")
    status = WhoInput(
        dead=_flag(parsed.get("dead")),
        hospitalized=_flag(parsed.get("hospitalized")),
        sars_cov_2_rna_detected=_flag(parsed.get("sars_cov_2_rna_detected")),
        symptomatic=_flag(parsed.get("symptomatic")),
        needs_assistance=_flag(parsed.get("needs_assistance")),
        oxygen_support=support if isinstance(support, str) else None,  # type: ignore[arg-type]
        pf_ratio=_number(parsed.get("pf_ratio")),
        sf_ratio=_number(parsed.get("sf_ratio")),
        vasopressors=_flag(parsed.get("vasopressors")),
        dialysis=_flag(parsed.get("dialysis")),
    )
    result = who_clinical_progression(status)
    return Derived(
        item="who_scale",
        value="" if result.score is None else str(result.score),
        rule="clinical-rules 2.3",
        inputs=status.model_dump(exclude_none=True),
        result={"score": result.score, "missing": result.missing},
    )


#: The LAB form's graded analytes: item id -> CTCAE terms (clinical-rules 2.4). LLN and ULN are `ITEM_lln`, `ITEM_uln`.
LAB_TERMS: dict[str, tuple[str, ...]] = {
    "wbc": ("white_blood_cell_decreased",),
    "neutrophils": ("neutrophil_count_decreased",),
    "alc": ("lymphocyte_count_decreased", "lymphocyte_count_increased"),
    "platelets": ("platelet_count_decreased",),
    "hemoglobin": ("anemia",),
    "alt": ("alt_increased",),
    "ast": ("ast_increased",),
    "bilirubin": ("blood_bilirubin_increased",),
    "creatinine": ("creatinine_increased",),
}


def _grade(term: str, value: object, unit: str, lln: object, uln: object, baseline: object) -> tuple[CtcaeInput, Any]:
    quantity = CTCAE_TERMS[term].quantity
    if quantity is not None and unit:
        to_canonical(quantity, Decimal(0), unit)  # InputError naming `unit`, before the model wraps it
    lab = CtcaeInput(
        term=term,  # type: ignore[arg-type]
        value=_number(value),
        unit=unit or None,
        lln=_number(lln),
        uln=_number(uln),
        baseline=_number(baseline),
    )
    return lab, ctcae_grade(lab)


def _lab_grades(parsed: Mapping[str, object], baselines: Mapping[str, object]) -> dict[str, Derived]:
    derived: dict[str, Derived] = {}
    for analyte, terms in LAB_TERMS.items():
        if parsed.get(analyte) is None:
            continue
        unit = str(parsed.get(f"{analyte}.unit", ""))
        for term in terms:
            lab, result = _grade(
                term, parsed[analyte], unit, parsed.get(f"{analyte}_lln"), parsed.get(f"{analyte}_uln"),
                baselines.get(analyte),
            )  # fmt: skip
            name = f"ctcae_{term}"
            derived[name] = Derived(
                item=name,
                value="" if result.grade is None else str(result.grade),
                rule="clinical-rules 2.4",
                inputs=lab.model_dump(exclude_none=True),
                result={**result.as_contract(), "criterion": result.criterion},
            )
    return derived


def _ae_grade(parsed: Mapping[str, object]) -> dict[str, Derived]:
    term = parsed.get("lab_term")
    if not isinstance(term, str) or parsed.get("lab_value") is None:
        return {}
    lab, result = _grade(
        term, parsed["lab_value"], str(parsed.get("lab_unit", "")), parsed.get("lab_lln"), parsed.get("lab_uln"), None
    )
    return {
        "suggested_grade": Derived(
            item="suggested_grade",
            value="" if result.grade is None else str(result.grade),
            rule="clinical-rules 2.4",
            inputs=lab.model_dump(exclude_none=True),
            result={**result.as_contract(), "criterion": result.criterion},
        )
    }


def derive(
    form_id: str, parsed: Mapping[str, object], *, baselines: Mapping[str, object] | None = None
) -> dict[str, Derived]:
    """The values derived from a form's parsed values, by the item each is stored as.

    VITALS gives `news2`, SOFA `sofa`, CLINICAL-STATUS `who_scale`, LAB one
    `ctcae_TERM` per graded term of each analyte given (with `baselines`, in
    the analyte's unit, for the terms that read one), ADVERSE-EVENT a
    `suggested_grade` when a laboratory term and value are given. Other forms
    derive nothing. Raises InputError naming the field of a unit a score
    cannot read.
    """
    if form_id == "VITALS":
        found = _news2(parsed)
        return {found.item: found}
    if form_id == "SOFA":
        found = _sofa(parsed)
        return {found.item: found}
    if form_id == "CLINICAL-STATUS":
        found = _who(parsed)
        return {found.item: found}
    if form_id == "LAB":
        return _lab_grades(parsed, baselines or {})
    if form_id == "ADVERSE-EVENT":
        return _ae_grade(parsed)
    return {}


def sae_deadline(ae: Mapping[str, object]) -> datetime:
    """When a serious adverse event must be reported: 24 hours after the site's awareness.

    `ae` is the ADVERSE-EVENT form's parsed values. Raises InputError naming
    `serious` for a non-serious event and `awareness_at` when it is missing.
    """
    if ae.get("serious") is not True:
        raise InputError("serious", "only a serious adverse event has a reporting clock")
    aware = ae.get("awareness_at")
    if not isinstance(aware, datetime) or aware.tzinfo is None:
        raise InputError("awareness_at", "the reporting clock starts when the site becomes aware: give that time")
    return aware + SAE_REPORTING_WINDOW


__all__ = ["LAB_TERMS", "SAE_REPORTING_WINDOW", "Derived", "derive", "sae_deadline"]
