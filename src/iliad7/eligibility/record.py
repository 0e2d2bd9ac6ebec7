"""The screening record: the input contract of clinical-rules section 3.

Records are typed dictionaries validated strictly from JSON
(:data:`SCREENING_RECORDS`, :func:`parse_record`): times and dates as ISO 8601,
no coercion, values out of physical range rejected with the field named.
A key that is absent or ``null`` is missing, with two exceptions the spec makes:
an oncology date that is present and ``null`` means "never" (absent means not
recorded), and a ``null`` ``mechanical_ventilation_start`` means "never ventilated"
only beside a known device that is not a ventilator (otherwise it is missing).
Dictionaries (not model objects) keep the distinction between absent and ``null``
visible and validate fast enough to judge 100,000 records in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    with_config,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypedDict

from iliad7.eligibility.calendar import completed_years
from iliad7.scores.sofa import SofaInput
from iliad7.scores.units import Quantity, to_canonical

MAX_AGE_YEARS = 130
_STRICT = ConfigDict(strict=True, extra="forbid")


class _IsoText:
    """ISO 8601 text, checked by pattern before pydantic parses it: its parser would read a string of
    digits ("2020", "0") as Unix seconds, a silent coercion the contract does not allow. Both steps run
    in pydantic's core (no Python call per value): 100,000 records validate in about a second."""

    def __init__(self, pattern: str, what: str, target: CoreSchema, json_format: str) -> None:
        self.pattern, self.what, self.target, self.json_format = pattern, what, target, json_format

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        text = core_schema.custom_error_schema(
            core_schema.str_schema(pattern=self.pattern, strict=True),
            custom_error_type="iso_8601",
            custom_error_message=f"expected an ISO 8601 {self.what}",
        )
        return core_schema.chain_schema([text, self.target])

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "format": self.json_format}


# The separators pydantic's parser takes between date and time; the value after the check is a str,
# which the (lax) second step parses.
IsoDatetime = Annotated[
    datetime,
    _IsoText(
        r"^\d{4}-\d{2}-\d{2}[Tt_ ]",
        "date and time with its UTC offset",
        core_schema.datetime_schema(tz_constraint="aware", strict=False),
        "date-time",
    ),
]
IsoDate = Annotated[
    date, _IsoText(r"^\d{4}-\d{2}-\d{2}$", "date (YYYY-MM-DD)", core_schema.date_schema(strict=False), "date")
]


@lru_cache(maxsize=256)
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


_SOFA_OBJECTS = (dict, SofaInput)  # a tuple: `dict | SofaInput` would build a union type on every call


def _sofa_kind(value: object) -> str:
    return "sofa-inputs" if isinstance(value, _SOFA_OBJECTS) else "sofa-score"


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


def _consistent_with_baseline(record: ScreeningRecord) -> ScreeningRecord:
    birth, t0 = record.get("birth_date"), record.get("baseline_time")
    if birth is not None and t0 is not None:
        if birth > t0.date():
            raise ValueError("birth_date: after the baseline date")
        if completed_years(birth, t0.date()) > MAX_AGE_YEARS:
            raise ValueError(f"birth_date: an age over {MAX_AGE_YEARS} years at baseline")
    if t0 is not None:
        for name, test in (("alt", record.get("alt")), ("ast", record.get("ast"))):
            time = None if test is None else test.get("time")
            # `alt` and `ast` are the latest values at or before T0: a later one is not that value
            # (judging it unknown instead would let a record without its time decide more).
            if time is not None and time > t0:
                raise ValueError(f"{name}.time: after the baseline time ({name} is the latest value at or before T0)")
    return record


CheckedRecord = Annotated[ScreeningRecord, AfterValidator(_consistent_with_baseline)]
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


@dataclass(frozen=True)
class Limits:
    """The numeric limits the record puts on one field (None: open)."""

    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None


@cache
def field_limits(path: str) -> Limits:
    """The limits of a numeric field, by its dotted path (`weight_kg`, `alc.value`, `alt.uln`), from the
    record's JSON schema: the one definition that validation and the simulator read."""
    schema = SCREENING_RECORD.json_schema()
    node: dict[str, Any] = schema
    for part in path.split("."):
        node = _object_of(schema, node)["properties"][part]
    number = next(o for o in node.get("anyOf", [node]) if o.get("type") in ("number", "integer"))
    return Limits(number.get("minimum"), number.get("exclusiveMinimum"), number.get("maximum"))


def _object_of(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The object schema a property holds (through null options, arrays and references)."""
    options: list[dict[str, Any]] = node.get("anyOf", [node])
    for option in options:
        if option.get("type") == "array":
            option = option["items"]
        if "$ref" in option:
            resolved: dict[str, Any] = schema["$defs"][option["$ref"].rsplit("/", 1)[1]]
            return resolved
        if "properties" in option:
            return option
    raise KeyError(f"no object schema in {node}")
