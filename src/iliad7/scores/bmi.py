"""Body-mass index and the Clinical Frailty Scale (clinical-rules section 2.5)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

CM_PER_M = Decimal(100)


class BmiInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    weight_kg: float | None = Field(default=None, gt=0, le=700)
    height_cm: float | None = Field(default=None, gt=0, le=300)


@dataclass(frozen=True)
class BmiResult:
    bmi: float | None
    missing: list[str]

    def as_contract(self) -> dict[str, object]:
        return {"bmi": self.bmi}


def bmi_value(weight_kg: float, height_cm: float) -> float:
    """weight / (height in m)^2, unrounded, as reported (a float, like the chart's calculator).

    Decisions at a boundary never use this value; they use :func:`bmi_above`.
    """
    return weight_kg / (height_cm / 100) ** 2


def bmi_above(weight_kg: Decimal, height_cm: Decimal, limit: Decimal) -> bool:
    """BMI > limit, decided exactly by cross-multiplying (115.6 kg at 170 cm is exactly 40)."""
    return weight_kg * CM_PER_M * CM_PER_M > limit * height_cm * height_cm


def bmi(body: BmiInput) -> BmiResult:
    missing = [name for name in ("weight_kg", "height_cm") if getattr(body, name) is None]
    if missing:
        return BmiResult(bmi=None, missing=missing)
    assert body.weight_kg is not None and body.height_cm is not None
    return BmiResult(bmi=bmi_value(body.weight_kg, body.height_cm), missing=[])
