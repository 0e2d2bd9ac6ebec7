"""The eligibility criteria of ILIAD-7-US-O, one function per spec id (clinical-rules section 3).

Each criterion reads the screening record in three-valued logic: a criterion
that the inputs present already decide is decided, whatever else is missing.
An inclusion criterion passes when its condition holds; an exclusion criterion
fails when its condition applies. Every result carries a reason a coordinator
can read and, when unknown, the fields that are missing (as paths such as
``alc[0].value``). Results are built once per distinct outcome (``functools.cache`` on the
functions that word them) and shared: the batch contract judges 100,000
records in seconds, and most criteria have only a handful of distinct outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Literal

from iliad7.eligibility.calendar import (
    completed_years,
    months_before,
    within_before,
    within_past_days,
)
from iliad7.eligibility.record import LiverTest, Oncology, ScreeningRecord
from iliad7.scores.bmi import bmi_above
from iliad7.scores.logic import Truth, all_of, any_of, negate
from iliad7.scores.numbers import exact, grouped
from iliad7.scores.sofa import SofaInput, sofa_bounds
from iliad7.scores.units import Quantity, to_canonical

Status = Literal["pass", "fail", "unknown"]

# Thresholds of the computable rules, as the spec states them.
AGE_MIN, AGE_MAX = 25, 80
ALC_MAX_PER_MM3 = Decimal(1000)
ALC_LOOKBACK = timedelta(hours=72)
OXYGEN_FLOW_ABOVE_LPM = Decimal(4)
LIVER_ULN_MULTIPLE = Decimal(5)
TOXICITY_GRADE_EXCLUDES = 3
REFRACTORY_HYPOXIA_HOURS_ABOVE = Decimal(6)
PROLONGED_MV = timedelta(hours=168)
SOFA_EXCLUDES = 9
BMI_ABOVE = Decimal(40)
NEWS2_RISE_ABOVE = 6
NEWS2_LOOKBACK = timedelta(hours=72)
NEWS2_MAX = 20
FRAILTY_EXCLUDES = 6
ONCOLOGY_MONTHS = 6
TRANSPLANT_MONTHS = 12
CAR_T_RECENT_DAYS = 30

VENTILATED = frozenset({"mechanical_ventilation", "ecmo"})
HIGH_SUPPORT = frozenset({"high_flow", "niv", "mechanical_ventilation", "ecmo"})
LOW_FLOW = frozenset({"nasal_cannula", "mask"})


@dataclass(slots=True)
class CriterionResult:
    """One criterion's outcome; field order is the contract's (serialized as is).

    Not frozen: a frozen dataclass costs three times as much to build, and the
    batch contract builds 2.4 million of these per 100,000 records. Treat as read-only.
    """

    id: str
    status: Status
    reason: str
    missing: tuple[str, ...] = ()

    def as_contract(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "missing": list(self.missing),
        }


Criterion = Callable[[ScreeningRecord], CriterionResult]


def when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=1 << 12)
def unknown(cid: str, reason: str, *missing: str) -> CriterionResult:
    return CriterionResult(cid, "unknown", reason, missing)


def flag_criterion(cid: str, field: str, *, exclusion: bool, yes: str, no: str) -> Criterion:
    """A criterion that is one yes/no field of the record."""
    if_true = CriterionResult(cid, "fail" if exclusion else "pass", yes)
    if_false = CriterionResult(cid, "pass" if exclusion else "fail", no)
    if_missing = CriterionResult(cid, "unknown", f"{field.replace('_', ' ')} not recorded", (field,))

    def criterion(record: ScreeningRecord) -> CriterionResult:
        value = record.get(field)
        return if_missing if value is None else if_true if value else if_false

    criterion.__name__ = cid.lower().replace("-", "_")
    return criterion


def any_flag_criterion(cid: str, fields: dict[str, str], *, no: str, unknown_reason: str) -> Criterion:
    """An exclusion that applies when any of several yes/no fields is yes."""
    if_none = CriterionResult(cid, "pass", no)

    @cache
    def outcome(values: tuple[bool | None, ...]) -> CriterionResult:
        if True in values:
            found = ", ".join(text for (name, text), v in zip(fields.items(), values, strict=True) if v)
            return CriterionResult(cid, "fail", found)
        if None in values:
            gaps = tuple(name for name, v in zip(fields, values, strict=True) if v is None)
            return CriterionResult(cid, "unknown", unknown_reason, gaps)
        return if_none

    def criterion(record: ScreeningRecord) -> CriterionResult:
        return outcome(tuple([record.get(name) for name in fields]))

    criterion.__name__ = cid.lower().replace("-", "_")
    return criterion


# ---------------------------------------------------------------- inclusion

_NOT_HOSPITALIZED = {cid: CriterionResult(cid, "fail", "not hospitalized") for cid in ("INC-ALC", "INC-HYPOXEMIA")}


def inc_consent(record: ScreeningRecord) -> CriterionResult:
    cid = "INC-CONSENT"
    consent = record.get("consent")
    if consent is None:
        return unknown(cid, "consent not recorded", "consent")
    obtained = consent.get("obtained")
    kind, by = consent.get("type"), consent.get("by")
    reconsent = consent.get("reconsent_anticipated")
    if obtained is False:
        return CriterionResult(cid, "fail", "consent not obtained")
    if reconsent is False:
        return CriterionResult(cid, "fail", "re-consent is not anticipated")
    gaps = [
        f"consent.{name}"
        for name, value in (
            ("obtained", obtained),
            ("type", kind),
            ("by", by),
            ("reconsent_anticipated", reconsent),
        )
        if value is None
    ]
    if gaps:
        return CriterionResult(cid, "unknown", "consent not fully recorded", tuple(gaps))
    return _consent_given(kind, by)


@cache
def _consent_given(kind: str | None, by: str | None) -> CriterionResult:
    written = "written" if kind == "written" else "emergency oral"
    who = "the participant" if by == "participant" else "a legally authorized representative"
    return CriterionResult("INC-CONSENT", "pass", f"{written} consent by {who}, re-consent anticipated")


_ONCOLOGY_TEXT = (
    "chemotherapy or immunotherapy within 6 months",
    "HSCT for a diagnosis other than lymphoma within 1 year",
    "CAR-T within 1 year but not within the past 30 days",
    "on hormonal therapy for cancer",
    "cancer surgery or radiotherapy within 6 months",
    "newly diagnosed biopsy-proven malignancy not yet treated",
)


def _oncology_date(history: Oncology, name: str, missing: list[str]) -> tuple[Truth, date | None]:
    """(False, None) for "never" (present and null), (None, None) when not recorded."""
    if name not in history:
        missing.append(f"oncology.{name}")
        return None, None
    value: date | None = history[name]  # type: ignore[literal-required]
    return (False, None) if value is None else (True, value)


def _oncology_flag(history: Oncology, name: str, missing: list[str]) -> Truth:
    value: bool | None = history.get(name)  # type: ignore[assignment]
    if value is None:
        missing.append(f"oncology.{name}")
    return value


def inc_oncology(record: ScreeningRecord) -> CriterionResult:
    cid = "INC-ONCOLOGY"
    history = record.get("oncology")
    if history is None:
        return unknown(cid, "oncology history not recorded", "oncology")
    t0 = record.get("baseline_time")
    t0_date = None if t0 is None else t0.date()
    missing: list[str] = []
    if t0_date is None:
        missing.append("baseline_time")
    six_months = None if t0_date is None else months_before(t0_date, ONCOLOGY_MONTHS)
    one_year = None if t0_date is None else months_before(t0_date, TRANSPLANT_MONTHS)

    def within(name: str, since: date | None) -> Truth:
        known, day = _oncology_date(history, name, missing)
        if not known:
            return known
        if since is None or t0_date is None or day is None:
            return None
        return since <= day <= t0_date

    chemo = within("last_chemo_or_immunotherapy_date", six_months)
    hsct = within("hsct_date", one_year)
    if hsct:  # an HSCT for lymphoma never qualifies, whatever its date
        hsct = negate(_oncology_flag(history, "hsct_for_lymphoma", missing))
    car_t = within("car_t_date", one_year)
    if car_t:
        assert t0_date is not None
        car_t = not within_past_days(history["car_t_date"], t0_date, CAR_T_RECENT_DAYS)  # type: ignore[arg-type]
    truths = (
        chemo,
        hsct,
        car_t,
        _oncology_flag(history, "on_hormonal_therapy", missing),
        within("last_cancer_surgery_or_radiotherapy_date", six_months),
        _oncology_flag(history, "new_untreated_biopsy_proven_malignancy", missing),
    )
    holds = any_of(truths)
    if holds is not None:
        return _oncology_decided(truths)
    return unknown(cid, "none of a-f holds among those recorded; the others are not recorded", *dict.fromkeys(missing))


@cache
def _oncology_decided(truths: tuple[Truth, ...]) -> CriterionResult:
    if any(truths):
        reasons = [text for truth, text in zip(truths, _ONCOLOGY_TEXT, strict=True) if truth]
        return CriterionResult("INC-ONCOLOGY", "pass", "; ".join(reasons))
    return CriterionResult("INC-ONCOLOGY", "fail", "no qualifying cancer therapy or diagnosis (none of a-f holds)")


def inc_age(record: ScreeningRecord) -> CriterionResult:
    t0, birth = record.get("baseline_time"), record.get("birth_date")
    if t0 is None or birth is None:
        gaps = tuple(name for name, v in (("baseline_time", t0), ("birth_date", birth)) if v is None)
        return unknown("INC-AGE", "age at baseline cannot be computed", *gaps)
    return _age_result(completed_years(birth, t0.date()))


@cache
def _age_result(age: int) -> CriterionResult:
    if age < AGE_MIN:
        return CriterionResult("INC-AGE", "fail", f"age {age} at baseline is below 25")
    if age > AGE_MAX:
        return CriterionResult("INC-AGE", "fail", f"age {age} at baseline is above 80")
    return CriterionResult("INC-AGE", "pass", f"age {age} at baseline is within 25-80")


def inc_alc(record: ScreeningRecord) -> CriterionResult:
    cid = "INC-ALC"
    hospitalized = record.get("hospitalized")
    if hospitalized is False:
        return _NOT_HOSPITALIZED[cid]
    counts = record.get("alc")
    if counts is None:
        return unknown(cid, "no ALC recorded", *(["hospitalized"] if hospitalized is None else []), "alc")
    t0 = record.get("baseline_time")
    missing: list[str] = [] if hospitalized is not None else ["hospitalized"]
    if t0 is None:
        missing.append("baseline_time")
    qualifying: Truth = False
    found: tuple[Decimal, datetime] | None = None  # first ALC in the window at or below 1,000
    lowest: tuple[Decimal, datetime] | None = None  # lowest ALC known to be in the window
    for i, m in enumerate(counts):
        time = m.get("time")
        in_window: Truth = None
        if t0 is not None and time is not None:
            in_window = within_before(time, t0, ALC_LOOKBACK)
            if not in_window:
                continue
        elif time is None:
            missing.append(f"alc[{i}].time")
        value, unit = m.get("value"), m.get("unit")
        if value is None or unit is None:
            missing.extend(f"alc[{i}].{name}" for name, v in (("value", value), ("unit", unit)) if v is None)
            qualifying = any_of((qualifying, None))
            continue
        count = to_canonical(Quantity.CELL_COUNT, exact(value), unit)
        low = count <= ALC_MAX_PER_MM3
        if in_window and time is not None:
            if low and found is None:
                found = (count, time)
            if lowest is None or count < lowest[0]:
                lowest = (count, time)
        qualifying = any_of((qualifying, all_of((in_window, low))))
    holds = all_of((hospitalized, qualifying))
    if holds:
        assert found is not None
        return CriterionResult(
            cid,
            "pass",
            f"ALC {grouped(found[0])} cells/mm3 on {when(found[1])} is at or below 1,000",
        )
    if holds is False:
        if lowest is None:
            return CriterionResult(cid, "fail", "no ALC within the 72 h before baseline")
        return CriterionResult(cid, "fail", f"ALC {grouped(lowest[0])} cells/mm3 on {when(lowest[1])} is above 1,000")
    return CriterionResult(
        cid, "unknown",
        "no ALC known to be at or below 1,000 cells/mm3 within the 72 h before baseline, "
        "and the record is incomplete",
        tuple(dict.fromkeys(missing)),
    )  # fmt: skip


def inc_hypoxemia(record: ScreeningRecord) -> CriterionResult:
    cid = "INC-HYPOXEMIA"
    hospitalized = record.get("hospitalized")
    if hospitalized is False:
        return _NOT_HOSPITALIZED[cid]
    support = record.get("respiratory_support")
    device = None if support is None else support.get("device")
    missing = [] if hospitalized is not None else ["hospitalized"]
    if support is None:
        return unknown(cid, "respiratory support not recorded", *missing, "respiratory_support")
    if device is None:
        return unknown(cid, "respiratory support device not recorded", *missing, "respiratory_support.device")
    flow = support.get("oxygen_flow_lpm") if device in LOW_FLOW else None
    if device in LOW_FLOW and flow is None:
        label = device.replace("_", " ")
        return unknown(cid, f"{label} oxygen flow not recorded", *missing, "respiratory_support.oxygen_flow_lpm")
    return _hypoxemia_result(hospitalized, device, flow)


@cache
def _hypoxemia_result(hospitalized: bool | None, device: str, flow: float | None) -> CriterionResult:
    cid = "INC-HYPOXEMIA"
    label = device.replace("_", " ")
    if device in HIGH_SUPPORT:
        detail = label
    elif device in LOW_FLOW:
        assert flow is not None
        detail = f"{label} oxygen at {grouped(flow)} L/min"
        if not exact(flow) > OXYGEN_FLOW_ABOVE_LPM:
            return CriterionResult(cid, "fail", f"{detail} is not above 4 L/min")
    else:
        return CriterionResult(cid, "fail", "no supplemental oxygen")
    if hospitalized is None:
        return CriterionResult(cid, "unknown", f"on {detail}; hospitalization not recorded", ("hospitalized",))
    return CriterionResult(cid, "pass", f"hospitalized on {detail}")


inc_covid = flag_criterion(
    "INC-COVID", "covid_confirmed", exclusion=False,
    yes="SARS-CoV-2 infection confirmed", no="SARS-CoV-2 infection not confirmed",
)  # fmt: skip
inc_contraception = flag_criterion(
    "INC-CONTRACEPTION", "contraception_agreed", exclusion=False,
    yes="agrees to contraception for 5 months after the last dose",
    no="does not agree to contraception for 5 months after the last dose",
)  # fmt: skip

# ---------------------------------------------------------------- exclusion

exc_pregnancy = any_flag_criterion(
    "EXC-PREGNANCY", {"pregnant": "pregnant", "breastfeeding": "breastfeeding"},
    no="neither pregnant nor breastfeeding", unknown_reason="pregnancy or breastfeeding not recorded",
)  # fmt: skip


def _liver_applies(test: LiverTest | None, name: str, missing: list[str]) -> Truth:
    # A time after T0 is refused by the record's validation: the value is the latest at or before T0.
    if test is None:
        missing.append(name)
        return None
    value, uln = test.get("value"), test.get("uln")
    if value is None or uln is None:
        missing.extend(f"{name}.{key}" for key, v in (("value", value), ("uln", uln)) if v is None)
        return None
    return _above(value, LIVER_ULN_MULTIPLE, uln)


def _above(value: float, multiple: Decimal, base: float) -> bool:
    """exact(value) > multiple * exact(base), both non-negative: in floats when clearly apart (a
    float product is within 1e-15 of the exact one), exactly in decimals near the boundary."""
    product = float(multiple) * base
    if value > product * (1 + 1e-12):
        return True
    if value < product * (1 - 1e-12):
        return False
    return exact(value) > multiple * exact(base)


def _times_uln(label: str, test: LiverTest | None) -> str:
    value = None if test is None else test.get("value")
    uln = None if test is None else test.get("uln")
    if value is None or uln is None:
        return f"{label} not known"
    return f"{label} {grouped(value)} ({value / uln:.2f} x ULN {grouped(uln)})"  # display only


def exc_liver(record: ScreeningRecord) -> CriterionResult:
    alt, ast = record.get("alt"), record.get("ast")
    # The outcome depends on the values and ULNs alone: judged once per distinct pair of tests.
    return _liver_result(
        None if alt is None else (alt.get("value"), alt.get("uln")),
        None if ast is None else (ast.get("value"), ast.get("uln")),
    )


@lru_cache(maxsize=1 << 16)
def _liver_result(
    alt_pair: tuple[float | None, float | None] | None, ast_pair: tuple[float | None, float | None] | None
) -> CriterionResult:
    cid = "EXC-LIVER"
    missing: list[str] = []
    alt: LiverTest | None = None if alt_pair is None else {"value": alt_pair[0], "uln": alt_pair[1]}
    ast: LiverTest | None = None if ast_pair is None else {"value": ast_pair[0], "uln": ast_pair[1]}
    alt_high = _liver_applies(alt, "alt", missing)
    ast_high = _liver_applies(ast, "ast", missing)
    if alt_high:
        return CriterionResult(cid, "fail", f"{_times_uln('ALT', alt)} is above 5 x ULN")
    if ast_high:
        return CriterionResult(cid, "fail", f"{_times_uln('AST', ast)} is above 5 x ULN")
    if missing:
        return CriterionResult(cid, "unknown", "ALT or AST not fully recorded", tuple(missing))
    return CriterionResult(cid, "pass", f"{_times_uln('ALT', alt)} and {_times_uln('AST', ast)} are at most 5 x ULN")


exc_autoimmune = flag_criterion(
    "EXC-AUTOIMMUNE", "active_autoimmune_disease", exclusion=True,
    yes="known active autoimmune disease", no="no known active autoimmune disease",
)  # fmt: skip
exc_lymphoid_malignancy = flag_criterion(
    "EXC-LYMPHOID-MALIGNANCY", "lymphoid_malignancy_history", exclusion=True,
    yes="history of lymphoid malignancy", no="no history of lymphoid malignancy",
)  # fmt: skip
exc_life_expectancy = flag_criterion(
    "EXC-LIFE-EXPECTANCY", "malignancy_life_expectancy_under_6_months", exclusion=True,
    yes="expected survival under 6 months because of a present malignancy",
    no="no present malignancy limiting expected survival to under 6 months",
)  # fmt: skip


def exc_cart(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-CART"
    missing: list[str] = []
    history = record.get("oncology")
    t0 = record.get("baseline_time")
    recent: Truth
    car_t: date | None = None
    if history is None or "car_t_date" not in history:
        missing.append("oncology.car_t_date")
        recent = None
    else:
        car_t = history["car_t_date"]
        if car_t is None:
            recent = False
        elif t0 is None:
            missing.append("baseline_time")
            recent = None
        else:
            recent = within_past_days(car_t, t0.date(), CAR_T_RECENT_DAYS)
    crs, icans = record.get("unresolved_crs"), record.get("unresolved_icans")
    if recent:
        assert car_t is not None
        return CriterionResult(cid, "fail", f"CAR-T on {car_t.isoformat()}, within the past 30 days")
    if crs:
        return CriterionResult(cid, "fail", "unresolved cytokine release syndrome (CRS)")
    if icans:
        return CriterionResult(cid, "fail", "unresolved ICANS")
    missing.extend(name for name, v in (("unresolved_crs", crs), ("unresolved_icans", icans)) if v is None)
    if missing:
        return unknown(cid, "CAR-T date, CRS or ICANS not recorded", *missing)
    return CriterionResult(cid, "pass", "no CAR-T within the past 30 days, no unresolved CRS or ICANS")


def exc_toxicity(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-TOXICITY"
    grade = record.get("max_unresolved_prior_therapy_toxicity_grade")
    if grade is None:
        return unknown(cid, "unresolved prior-therapy toxicity grade not recorded",
                       "max_unresolved_prior_therapy_toxicity_grade")  # fmt: skip
    return _toxicity_result(grade)


@cache
def _toxicity_result(grade: int) -> CriterionResult:
    cid = "EXC-TOXICITY"
    if grade >= TOXICITY_GRADE_EXCLUDES:
        return CriterionResult(cid, "fail", f"unresolved grade {grade} toxicity from prior therapy (grade 3 or more)")
    return CriterionResult(cid, "pass", f"highest unresolved prior-therapy toxicity is grade {grade}")


exc_transplant = flag_criterion(
    "EXC-TRANSPLANT", "solid_organ_transplant_history", exclusion=True,
    yes="history of solid organ transplant", no="no history of solid organ transplant",
)  # fmt: skip
exc_infection = any_flag_criterion(
    "EXC-INFECTION",
    {
        "active_tuberculosis": "active tuberculosis",
        "uncontrolled_hbv": "uncontrolled active HBV",
        "uncontrolled_hcv": "uncontrolled active HCV",
        "hiv_viral_load_detectable": "HIV with a detectable viral load",
    },
    no="no active tuberculosis, uncontrolled HBV or HCV, or HIV with a detectable viral load",
    unknown_reason="infection history not fully recorded",
)


def exc_refractory_hypoxia(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-REFRACTORY-HYPOXIA"
    hours = record.get("hours_spo2_at_or_below_85_on_maximal_therapy")
    if hours is None:
        return unknown(cid, "hours of SpO2 <= 85% on maximal therapy not recorded",
                       "hours_spo2_at_or_below_85_on_maximal_therapy")  # fmt: skip
    return _hypoxia_result(hours)


@cache
def _hypoxia_result(hours: float) -> CriterionResult:
    cid = "EXC-REFRACTORY-HYPOXIA"
    shown = grouped(hours)
    if exact(hours) > REFRACTORY_HYPOXIA_HOURS_ABOVE:
        return CriterionResult(cid, "fail", f"{shown} h with SpO2 <= 85% on maximal therapy is more than 6 h")
    return CriterionResult(cid, "pass", f"{shown} h with SpO2 <= 85% on maximal therapy is not more than 6 h")


def exc_prolonged_mv(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-PROLONGED-MV"
    support = record.get("respiratory_support")
    device = None if support is None else support.get("device")
    if device is not None and device not in VENTILATED:
        return _not_ventilated(device)
    start = record.get("mechanical_ventilation_start")
    if start is None:
        if device is not None:
            return unknown(cid, "ventilated; start of ventilation not recorded", "mechanical_ventilation_start")
        if "mechanical_ventilation_start" in record:
            # A null start means "never ventilated" only beside a known device that is not a ventilator:
            # without the device this could be a patient ventilated for 10 days (section 3).
            return unknown(
                cid, "no ventilation start recorded; current device not recorded", "respiratory_support.device"
            )
        return unknown(
            cid,
            "ventilation not recorded",
            "respiratory_support.device",
            "mechanical_ventilation_start",
        )
    t0 = record.get("baseline_time")
    if t0 is None:
        return unknown(cid, "baseline time not recorded", "baseline_time")
    hours = f"{(t0 - start) / timedelta(hours=1):,.0f} h"
    if t0 - start < PROLONGED_MV:
        return CriterionResult(cid, "pass", f"ventilation started {hours} before baseline (under 168 h)")
    if device is None:
        return unknown(
            cid, f"ventilation started {hours} before baseline; current device not recorded",
            "respiratory_support.device",
        )  # fmt: skip
    return CriterionResult(cid, "fail", f"invasive ventilation started {hours} before baseline (168 h or more)")


@cache
def _not_ventilated(device: str) -> CriterionResult:
    return CriterionResult("EXC-PROLONGED-MV", "pass", f"not ventilated ({device.replace('_', ' ')})")


exc_dialysis = flag_criterion(
    "EXC-DIALYSIS", "chronic_dialysis", exclusion=True,
    yes="on chronic kidney dialysis", no="not on chronic kidney dialysis",
)  # fmt: skip


def exc_sofa(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-SOFA"
    value = record.get("sofa")
    if value is None:
        return unknown(cid, "baseline SOFA not recorded", "sofa")
    if isinstance(value, SofaInput):
        low, high = sofa_bounds(value)
        if low != high:
            if low >= SOFA_EXCLUDES:
                return CriterionResult(
                    cid,
                    "fail",
                    f"baseline SOFA is at least {low} with the systems recorded (9 or more)",
                )
            if high < SOFA_EXCLUDES:
                return CriterionResult(cid, "pass", f"baseline SOFA is at most {high} whatever is missing (below 9)")
            gaps = tuple(f"sofa.{name}" for name in value.missing_inputs())
            return CriterionResult(
                cid,
                "unknown",
                f"baseline SOFA is between {low} and {high} until every system is recorded",
                gaps,
            )
        value = low
    return _sofa_result(value)


@cache
def _sofa_result(value: int) -> CriterionResult:
    cid = "EXC-SOFA"
    if value >= SOFA_EXCLUDES:
        return CriterionResult(cid, "fail", f"baseline SOFA {value} is 9 or more")
    return CriterionResult(cid, "pass", f"baseline SOFA {value} is below 9")


def exc_bmi(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-BMI"
    weight, height = record.get("weight_kg"), record.get("height_cm")
    if weight is None or height is None:
        gaps = tuple(name for name, v in (("weight_kg", weight), ("height_cm", height)) if v is None)
        return unknown(cid, "BMI cannot be computed", *gaps)
    return _bmi_result(weight, height)


@lru_cache(maxsize=1 << 16)
def _bmi_result(weight: float, height: float) -> CriterionResult:
    cid = "EXC-BMI"
    shown = f"BMI {weight / (height / 100) ** 2:.1f} ({grouped(weight)} kg, {grouped(height)} cm)"
    # BMI > 40 is weight * 10,000 > 40 * height^2: in floats when clearly apart, exactly near the boundary.
    left, right = weight * 10_000, float(BMI_ABOVE) * height * height
    above = left > right if abs(left - right) > 1e-9 * right else bmi_above(exact(weight), exact(height), BMI_ABOVE)
    if above:
        return CriterionResult(cid, "fail", f"{shown} is above 40")
    return CriterionResult(cid, "pass", f"{shown} is not above 40")


def exc_news2_rise(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-NEWS2-RISE"
    observations = record.get("news2")
    if observations is None:
        return unknown(cid, "NEWS2 history not recorded", "news2")
    if not observations:
        return CriterionResult(cid, "pass", "no NEWS2 within the 72 h before baseline")
    t0 = record.get("baseline_time")
    if t0 is None:
        return unknown(cid, "baseline time not recorded", "baseline_time")
    start = t0 - NEWS2_LOOKBACK
    # each relevant observation as (earliest time, latest time, lowest score, highest score)
    spans: list[tuple[datetime, datetime, int, int]] = []
    missing: list[str] = []
    for i, obs in enumerate(observations):
        time, score = obs.get("time"), obs.get("score")
        if time is not None and not start <= time <= t0:
            continue
        if time is None:
            missing.append(f"news2[{i}].time")
        if score is None:
            missing.append(f"news2[{i}].score")
        spans.append(
            (
                time or start,
                time or t0,
                0 if score is None else score,
                NEWS2_MAX if score is None else score,
            )
        )
    known = [(first, low) for first, last, low, high in spans if first == last and low == high]
    rise, pair = largest_rise(known)
    if rise > NEWS2_RISE_ABOVE:
        assert pair is not None
        (t1, s1), (t2, s2) = pair
        return CriterionResult(
            cid,
            "fail",
            f"NEWS2 rose from {s1} on {when(t1)} to {s2} on {when(t2)} (+{rise}, more than 6)",
        )
    if missing and _rise_possible(spans):
        return CriterionResult(
            cid,
            "unknown",
            "NEWS2 scores incomplete; a rise of more than 6 cannot be ruled out",
            tuple(missing),
        )
    if pair is None:
        return CriterionResult(cid, "pass", "no two NEWS2 scores at different times within the 72 h before baseline")
    return _news2_rise_below(rise)


@cache
def _news2_rise_below(rise: int) -> CriterionResult:
    return CriterionResult(
        "EXC-NEWS2-RISE", "pass", f"largest NEWS2 rise within the 72 h before baseline is {rise:+d} (not more than 6)"
    )


def largest_rise(
    observations: list[tuple[datetime, int]],
) -> tuple[int, tuple[tuple[datetime, int], tuple[datetime, int]] | None]:
    """The largest later-minus-earlier difference; scores at the same instant form no pair."""
    ordered = sorted(observations)
    best: int | None = None
    pair = None
    lowest: tuple[datetime, int] | None = None  # lowest score strictly before the current instant
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            if lowest is not None and (best is None or ordered[j][1] - lowest[1] > best):
                best, pair = ordered[j][1] - lowest[1], (lowest, ordered[j])
            j += 1
        for k in range(i, j):
            if lowest is None or ordered[k][1] < lowest[1]:
                lowest = ordered[k]
        i = j
    return (0 if best is None else best), pair


def _rise_possible(spans: list[tuple[datetime, datetime, int, int]]) -> bool:
    """Could some completion of the missing times and scores give a rise of more than 6?"""
    for a, (a_first, _, a_low, _) in enumerate(spans):
        for b, (_, b_last, _, b_high) in enumerate(spans):
            if a != b and a_first < b_last and b_high - a_low > NEWS2_RISE_ABOVE:
                return True
    return False


def exc_frailty(record: ScreeningRecord) -> CriterionResult:
    cid = "EXC-FRAILTY"
    cfs = record.get("clinical_frailty_scale")
    if cfs is None:
        return unknown(cid, "Clinical Frailty Scale not recorded", "clinical_frailty_scale")
    return _frailty_result(cfs)


@cache
def _frailty_result(cfs: int) -> CriterionResult:
    cid = "EXC-FRAILTY"
    if cfs >= FRAILTY_EXCLUDES:
        return CriterionResult(cid, "fail", f"Clinical Frailty Scale {cfs} at admission is 6 or more")
    return CriterionResult(cid, "pass", f"Clinical Frailty Scale {cfs} at admission is below 6")


exc_guardianship = flag_criterion(
    "EXC-GUARDIANSHIP", "under_guardianship", exclusion=True,
    yes="under guardianship", no="not under guardianship",
)  # fmt: skip

# In protocol order, which is the order of `criteria`, `failed` and `unknown`.
CRITERIA: tuple[tuple[str, Criterion], ...] = (
    ("INC-CONSENT", inc_consent),
    ("INC-ONCOLOGY", inc_oncology),
    ("INC-AGE", inc_age),
    ("INC-ALC", inc_alc),
    ("INC-HYPOXEMIA", inc_hypoxemia),
    ("INC-COVID", inc_covid),
    ("INC-CONTRACEPTION", inc_contraception),
    ("EXC-PREGNANCY", exc_pregnancy),
    ("EXC-LIVER", exc_liver),
    ("EXC-AUTOIMMUNE", exc_autoimmune),
    ("EXC-LYMPHOID-MALIGNANCY", exc_lymphoid_malignancy),
    ("EXC-LIFE-EXPECTANCY", exc_life_expectancy),
    ("EXC-CART", exc_cart),
    ("EXC-TOXICITY", exc_toxicity),
    ("EXC-TRANSPLANT", exc_transplant),
    ("EXC-INFECTION", exc_infection),
    ("EXC-REFRACTORY-HYPOXIA", exc_refractory_hypoxia),
    ("EXC-PROLONGED-MV", exc_prolonged_mv),
    ("EXC-DIALYSIS", exc_dialysis),
    ("EXC-SOFA", exc_sofa),
    ("EXC-BMI", exc_bmi),
    ("EXC-NEWS2-RISE", exc_news2_rise),
    ("EXC-FRAILTY", exc_frailty),
    ("EXC-GUARDIANSHIP", exc_guardianship),
)
CRITERION_IDS = tuple(cid for cid, _ in CRITERIA)
