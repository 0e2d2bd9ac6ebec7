"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

Clinical-rules section 2.1. Each parameter's bands are kept as a table that reads
like the RCP chart: (lowest value, highest value, points), inclusive, ``None``
meaning open-ended. Respiratory rate, SpO2, systolic pressure and pulse are whole
numbers on the chart; temperature is banded after rounding half up to 0.1 °C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iliad7.scores.numbers import exact, round_half_up

Band = tuple[Decimal | None, Decimal | None, int]


def _bands(*rows: tuple[str | None, str | None, int]) -> tuple[Band, ...]:
    return tuple(
        (None if lo is None else Decimal(lo), None if hi is None else Decimal(hi), points) for lo, hi, points in rows
    )


# "<=8: 3 | 9-11: 1 | 12-20: 0 | 21-24: 2 | >=25: 3"
RESPIRATORY_RATE = _bands((None, "8", 3), ("9", "11", 1), ("12", "20", 0), ("21", "24", 2), ("25", None, 3))
# Scale 1: "<=91: 3 | 92-93: 2 | 94-95: 1 | >=96: 0"
SPO2_SCALE_1 = _bands((None, "91", 3), ("92", "93", 2), ("94", "95", 1), ("96", None, 0))
# Scale 2 (hypercapnic respiratory failure): "<=83: 3 | 84-85: 2 | 86-87: 1 | 88-92, or >=93 on air: 0"
SPO2_SCALE_2_ANY = _bands((None, "83", 3), ("84", "85", 2), ("86", "87", 1), ("88", "92", 0))
SPO2_SCALE_2_ON_AIR = _bands(("93", None, 0))
# "93-94 on oxygen: 1 | 95-96 on oxygen: 2 | >=97 on oxygen: 3"
SPO2_SCALE_2_ON_OXYGEN = _bands(("93", "94", 1), ("95", "96", 2), ("97", None, 3))
# "air: 0 | oxygen: 2"
SUPPLEMENTAL_OXYGEN = {False: 0, True: 2}
# "<=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3"
SYSTOLIC_BP = _bands((None, "90", 3), ("91", "100", 2), ("101", "110", 1), ("111", "219", 0), ("220", None, 3))
# "<=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3"
PULSE = _bands(
    (None, "40", 3),
    ("41", "50", 1),
    ("51", "90", 0),
    ("91", "110", 1),
    ("111", "130", 2),
    ("131", None, 3),
)
# "A: 0 | C, V, P or U: 3" (C is new confusion)
CONSCIOUSNESS = {"A": 0, "C": 3, "V": 3, "P": 3, "U": 3}
# "<=35.0: 3 | 35.1-36.0: 1 | 36.1-38.0: 0 | 38.1-39.0: 1 | >=39.1: 2"
TEMPERATURE = _bands(
    (None, "35.0", 3),
    ("35.1", "36.0", 1),
    ("36.1", "38.0", 0),
    ("38.1", "39.0", 1),
    ("39.1", None, 2),
)

COMPONENTS = (
    "respiratory_rate",
    "spo2",
    "supplemental_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

Risk = Literal["low", "low-medium", "medium", "high"]


def band_points(bands: tuple[Band, ...], value: Decimal) -> int | None:
    """Points of the band holding ``value``, or None when no band holds it."""
    for low, high, points in bands:
        if (low is None or value >= low) and (high is None or value <= high):
            return points
    return None


def _whole(value: float | None, name: str) -> float | None:
    if value is not None and value != int(value):
        raise ValueError(f"{name} must be a whole number on the NEWS2 chart, got {value!r}")
    return value


class News2Input(BaseModel):
    """The observations NEWS2 is scored from; any may be missing."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    respiratory_rate: float | None = Field(default=None, ge=0, le=100, description="breaths/min")
    spo2: float | None = Field(default=None, ge=0, le=100, description="%")
    spo2_scale: Literal[1, 2] | None = Field(default=None, description="1 (default) or 2")
    on_supplemental_oxygen: bool | None = None
    systolic_bp: float | None = Field(default=None, ge=0, le=350, description="mmHg")
    pulse: float | None = Field(default=None, ge=0, le=350, description="beats/min")
    consciousness: Literal["A", "C", "V", "P", "U"] | None = None
    temperature: float | None = Field(default=None, ge=15, le=46, description="°C")

    @field_validator("respiratory_rate", "spo2", "systolic_bp", "pulse")
    @classmethod
    def _whole_numbers(cls, value: float | None) -> float | None:
        return _whole(value, "the value")


@dataclass(frozen=True)
class News2Result:
    score: int | None
    components: dict[str, int]
    risk: Risk | None
    missing: list[str] = field(default_factory=list)

    def as_contract(self) -> dict[str, object]:
        return {
            "score": self.score,
            "components": self.components,
            "risk": self.risk,
            "missing": self.missing,
        }


def news2_risk(total: int, components: dict[str, int]) -> Risk:
    """RCP clinical risk: 0-4 low (low-medium if one parameter scores 3), 5-6 medium, 7+ high."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if 3 in components.values():
        return "low-medium"
    return "low"


def _spo2_points(obs: News2Input) -> tuple[int | None, list[str]]:
    if obs.spo2 is None:
        return None, ["spo2"]
    spo2 = exact(obs.spo2)
    if (obs.spo2_scale or 1) == 1:
        return band_points(SPO2_SCALE_1, spo2), []
    points = band_points(SPO2_SCALE_2_ANY, spo2)
    if points is not None:
        return points, []
    if obs.on_supplemental_oxygen is None:
        return None, ["on_supplemental_oxygen"]
    table = SPO2_SCALE_2_ON_OXYGEN if obs.on_supplemental_oxygen else SPO2_SCALE_2_ON_AIR
    return band_points(table, spo2), []


def news2(obs: News2Input) -> News2Result:
    """Score NEWS2; a missing observation leaves its component out and the total null."""
    components: dict[str, int] = {}
    missing: list[str] = []

    def banded(name: str, value: float | None, bands: tuple[Band, ...]) -> None:
        if value is None:
            missing.append(name)
            return
        points = band_points(bands, exact(value))
        if points is not None:
            components[name] = points

    banded("respiratory_rate", obs.respiratory_rate, RESPIRATORY_RATE)
    spo2_points, spo2_missing = _spo2_points(obs)
    if spo2_points is not None:
        components["spo2"] = spo2_points
    missing.extend(spo2_missing)
    if obs.on_supplemental_oxygen is None:
        if "on_supplemental_oxygen" not in missing:
            missing.append("on_supplemental_oxygen")
    else:
        components["supplemental_oxygen"] = SUPPLEMENTAL_OXYGEN[obs.on_supplemental_oxygen]
    banded("systolic_bp", obs.systolic_bp, SYSTOLIC_BP)
    banded("pulse", obs.pulse, PULSE)
    if obs.consciousness is None:
        missing.append("consciousness")
    else:
        components["consciousness"] = CONSCIOUSNESS[obs.consciousness]
    if obs.temperature is None:
        missing.append("temperature")
    else:
        points = band_points(TEMPERATURE, round_half_up(exact(obs.temperature)))
        if points is not None:
            components["temperature"] = points

    ordered = {name: components[name] for name in COMPONENTS if name in components}
    if missing:
        return News2Result(score=None, components=ordered, risk=None, missing=missing)
    total = sum(ordered.values())
    return News2Result(score=total, components=ordered, risk=news2_risk(total, ordered), missing=[])
