"""The screening record: the input contract of clinical-rules section 3.

Records are typed dictionaries validated strictly from JSON
(:data:`SCREENING_RECORDS`, :func:`parse_record`): times and dates as ISO 8601,
no coercion, values out of physical range rejected with the field named.
A key that is absent or ``null`` is missing, with two exceptions the spec makes:
an oncology date that is present and ``null`` means "never" (absent means not
recorded), and ``mechanical_ventilation_start`` is missing when ``null`` only if
the patient is ventilated. Dictionaries (not model objects) keep the distinction
between absent and ``null`` visible and validate fast enough to judge 100,000
records in seconds.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    TypeAdapter,
    with_config,
)
from typing_extensions import TypedDict

from iliad7.eligibility.calendar import completed_years
from iliad7.scores.sofa import SofaInput
from iliad7.scores.units import Quantity, to_canonical

MAX_AGE_YEARS = 130
_STRICT = ConfigDict(strict=True, extra="forbid")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt_ ]")  # the separators pydantic's JSON parser takes


def _iso(pattern: re.Pattern[str], what: str) -> Any:
    # Only ISO 8601 text reaches pydantic's parser: it would read a string of digits ("2020", "0") as
    # Unix seconds, a silent coercion the contract (ISO 8601 times and dates) does not allow.
    def check(value: object) -> object:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"expected an ISO 8601 {what}")
        return value

    return BeforeValidator(check)


# Lax inside: after the check above the input is a Python str, which strict mode would refuse.
IsoDatetime = Annotated[AwareDatetime, Strict(False), _iso(_ISO_DATETIME, "date and time with its UTC offset")]
IsoDate = Annotated[date, Strict(False), _iso(_ISO_DATE, "date (YYYY-MM-DD)")]


def _count_unit(unit: str) -> str:
    to_canonical(Quantity.CELL_COUNT, Decimal(0), unit)  # raises naming the unit
    return unit


@with_config(_STRICT)
class Consent(TypedDict, total=False):
    obtained: bool | None
    type: Literal["written", "emergency_oral"] | None
    by: Literal["participant", "legally_authorized_representative"] | None
    reconsent_anticipated: bool | None


@with_config(_STRICT)
class Oncology(TypedDict, total=False):
    """Cancer history; a date present and null means never, an absent date is not recorded."""

    last_chemo_or_immunotherapy_date: IsoDate | None
    hsct_date: IsoDate | None
    hsct_for_lymphoma: bool | None
    car_t_date: IsoDate | None
    on_hormonal_therapy: bool | None
    last_cancer_surgery_or_radiotherapy_date: IsoDate | None
    new_untreated_biopsy_proven_malignancy: bool | None


@with_config(_STRICT)
class AlcMeasurement(TypedDict, total=False):
    time: IsoDatetime | None
    value: Annotated[float, Field(ge=0)] | None
    unit: Annotated[str, AfterValidator(_count_unit)] | None


Device = Literal["none", "nasal_cannula", "mask", "high_flow", "niv", "mechanical_ventilation", "ecmo"]


@with_config(_STRICT)
class RespiratorySupport(TypedDict, total=False):
    device: Device | None
    oxygen_flow_lpm: Annotated[float, Field(ge=0, le=100)] | None


@with_config(_STRICT)
class LiverTest(TypedDict, total=False):
    """The latest ALT or AST before T0, with its upper limit of normal in the same unit."""

    value: Annotated[float, Field(ge=0)] | None
    uln: Annotated[float, Field(gt=0)] | None
    unit: Annotated[str, Field(min_length=1, max_length=40)] | None
    time: IsoDatetime | None


@with_config(_STRICT)
class News2Observation(TypedDict, total=False):
    time: IsoDatetime | None
    score: Annotated[int, Field(ge=0, le=20)] | None


def _sofa_kind(value: object) -> str:
    return "sofa-inputs" if isinstance(value, dict | SofaInput) else "sofa-score"


SofaEntry = Annotated[
    Annotated[Annotated[int, Field(ge=0, le=24)], Tag("sofa-score")] | Annotated[SofaInput, Tag("sofa-inputs")],
    Discriminator(_sofa_kind),
]
UNION_TAGS = frozenset({"sofa-score", "sofa-inputs"})


@with_config(_STRICT)
class ScreeningRecord(TypedDict, total=False):
    baseline_time: IsoDatetime | None
    birth_date: IsoDate | None
    sex: Literal["male", "female", "other", "unknown"] | None
    consent: Consent | None
    oncology: Oncology | None
    hospitalized: bool | None
    alc: list[AlcMeasurement] | None
    respiratory_support: RespiratorySupport | None
    covid_confirmed: bool | None
    contraception_agreed: bool | None
    pregnant: bool | None
    breastfeeding: bool | None
    alt: LiverTest | None
    ast: LiverTest | None
    active_autoimmune_disease: bool | None
    lymphoid_malignancy_history: bool | None
    malignancy_life_expectancy_under_6_months: bool | None
    unresolved_crs: bool | None
    unresolved_icans: bool | None
    max_unresolved_prior_therapy_toxicity_grade: Annotated[int, Field(ge=0, le=4)] | None
    solid_organ_transplant_history: bool | None
    active_tuberculosis: bool | None
    uncontrolled_hbv: bool | None
    uncontrolled_hcv: bool | None
    hiv_viral_load_detectable: bool | None
    hours_spo2_at_or_below_85_on_maximal_therapy: Annotated[float, Field(ge=0, le=8760)] | None
    mechanical_ventilation_start: IsoDatetime | None
    chronic_dialysis: bool | None
    sofa: SofaEntry | None
    weight_kg: Annotated[float, Field(gt=0, le=700)] | None
    height_cm: Annotated[float, Field(gt=0, le=300)] | None
    news2: list[News2Observation] | None
    clinical_frailty_scale: Annotated[int, Field(ge=1, le=9)] | None
    under_guardianship: bool | None


def _possible_age(record: ScreeningRecord) -> ScreeningRecord:
    birth, t0 = record.get("birth_date"), record.get("baseline_time")
    if birth is not None and t0 is not None:
        if birth > t0.date():
            raise ValueError("birth_date: after the baseline date")
        if completed_years(birth, t0.date()) > MAX_AGE_YEARS:
            raise ValueError(f"birth_date: an age over {MAX_AGE_YEARS} years at baseline")
    return record


CheckedRecord = Annotated[ScreeningRecord, AfterValidator(_possible_age)]
SCREENING_RECORD: TypeAdapter[ScreeningRecord] = TypeAdapter(CheckedRecord)
SCREENING_RECORDS: TypeAdapter[list[ScreeningRecord]] = TypeAdapter(list[CheckedRecord])


def _json_default(value: object) -> Any:
    if isinstance(value, SofaInput):
        return value.model_dump(exclude_unset=True)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def parse_record(data: bytes | str | dict[str, Any]) -> ScreeningRecord:
    """Validate one screening record from JSON text or from a dict of JSON-compatible values."""
    if isinstance(data, dict):
        data = orjson.dumps(data, default=_json_default)
    return SCREENING_RECORD.validate_json(data)
