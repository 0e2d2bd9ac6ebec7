"""SOFA, the Sequential Organ Failure Assessment (Vincent et al., 1996).

Clinical-rules section 2.2. Each system's table is a list of (threshold, points),
read top down: the first row whose threshold the value reaches gives the points.
A system is scored only when all its inputs are present (urine output aside);
an unscored system makes the total null and its absent inputs are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from iliad7.scores.numbers import exact

# (reached when value >= threshold, points); the last row (None) catches the rest.
Ladder = tuple[tuple[Decimal | None, int], ...]


def _ladder(*rows: tuple[str | None, int]) -> Ladder:
    return tuple((None if t is None else Decimal(t), p) for t, p in rows)


# PaO2/FiO2: ">=400: 0 | <400: 1 | <300: 2 | <200 with support: 3 | <100 with support: 4"
RESPIRATION = _ladder(("400", 0), ("300", 1), ("200", 2), ("100", 3), (None, 4))
RESPIRATION_MAX_WITHOUT_SUPPORT = 2
# Platelets (10^3/uL): ">=150: 0 | <150: 1 | <100: 2 | <50: 3 | <20: 4"
COAGULATION = _ladder(("150", 0), ("100", 1), ("50", 2), ("20", 3), (None, 4))
# Bilirubin (mg/dL): "<1.2: 0 | 1.2-1.9: 1 | 2.0-5.9: 2 | 6.0-11.9: 3 | >=12.0: 4"
LIVER = _ladder(("12.0", 4), ("6.0", 3), ("2.0", 2), ("1.2", 1), (None, 0))
# GCS: "15: 0 | 13-14: 1 | 10-12: 2 | 6-9: 3 | <6: 4"
CNS = _ladder(("15", 0), ("13", 1), ("10", 2), ("6", 3), (None, 4))
# Creatinine (mg/dL): "<1.2: 0 | 1.2-1.9: 1 | 2.0-3.4: 2 | 3.5-4.9: 3 | >=5.0: 4"
RENAL_CREATININE = _ladder(("5.0", 4), ("3.5", 3), ("2.0", 2), ("1.2", 1), (None, 0))
# Urine output (mL/day): "<500: 3 | <200: 4"
RENAL_URINE = _ladder(("500", 0), ("200", 3), (None, 4))
# Cardiovascular: MAP below this scores 1 ("MAP >=70: 0 | MAP <70: 1").
MAP_THRESHOLD = Decimal(70)
# (drug, dose above which the row applies, dose up to which it applies (None: no cap), points):
# "dopamine <=5 or any dobutamine: 2 | dopamine >5, or epinephrine <=0.1, or
#  norepinephrine <=0.1: 3 | dopamine >15, or epinephrine >0.1, or norepinephrine >0.1: 4"
VASOPRESSORS: tuple[tuple[str, Decimal, Decimal | None, int], ...] = (
    ("dopamine", Decimal(0), Decimal(5), 2),
    ("dopamine", Decimal(5), Decimal(15), 3),
    ("dopamine", Decimal(15), None, 4),
    ("epinephrine", Decimal(0), Decimal("0.1"), 3),
    ("epinephrine", Decimal("0.1"), None, 4),
    ("norepinephrine", Decimal(0), Decimal("0.1"), 3),
    ("norepinephrine", Decimal("0.1"), None, 4),
)
DOBUTAMINE_POINTS = 2

SYSTEM_INPUTS: dict[str, tuple[str, ...]] = {
    "respiration": ("pao2_fio2", "respiratory_support"),
    "coagulation": ("platelets",),
    "liver": ("bilirubin",),
    "cardiovascular": ("map", "dopamine", "epinephrine", "norepinephrine", "dobutamine"),
    "cns": ("gcs",),
    "renal": ("creatinine",),
}
SYSTEMS = tuple(SYSTEM_INPUTS)
MAX_POINTS_PER_SYSTEM = 4


def climb(ladder: Ladder, value: Decimal) -> int:
    for threshold, points in ladder:
        if threshold is None or value >= threshold:
            return points
    raise AssertionError("a ladder ends with a catch-all row")


class SofaInput(BaseModel):
    """The measurements SOFA is scored from (worst values of the day)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    pao2_fio2: float | None = Field(default=None, ge=0, le=1000, description="mmHg")
    respiratory_support: bool | None = Field(default=None, description="invasive or non-invasive")
    platelets: float | None = Field(default=None, ge=0, le=10000, description="10^3/uL")
    bilirubin: float | None = Field(default=None, ge=0, le=100, description="mg/dL")
    map: float | None = Field(default=None, ge=0, le=300, description="mmHg")
    dopamine: float | None = Field(default=None, ge=0, le=200, description="ug/kg/min")
    epinephrine: float | None = Field(default=None, ge=0, le=20, description="ug/kg/min")
    norepinephrine: float | None = Field(default=None, ge=0, le=20, description="ug/kg/min")
    dobutamine: bool | None = Field(default=None, description="any dose")
    gcs: int | None = Field(default=None, ge=3, le=15)
    creatinine: float | None = Field(default=None, ge=0, le=100, description="mg/dL")
    urine_output: float | None = Field(default=None, ge=0, le=50000, description="mL/day")

    def missing_inputs(self) -> list[str]:
        """The absent inputs that leave a system unscored (urine output is optional)."""
        return [name for inputs in SYSTEM_INPUTS.values() for name in inputs if getattr(self, name) is None]


@dataclass(frozen=True)
class SofaResult:
    score: int | None
    partial_score: int
    components: dict[str, int]
    missing: list[str] = field(default_factory=list)

    def as_contract(self) -> dict[str, object]:
        return {
            "score": self.score,
            "partial_score": self.partial_score,
            "components": self.components,
            "missing": self.missing,
        }


def _cardiovascular(m: SofaInput) -> int:
    assert m.map is not None
    points = 1 if exact(m.map) < MAP_THRESHOLD else 0
    if m.dobutamine:
        points = max(points, DOBUTAMINE_POINTS)
    for drug, above, up_to, row_points in VASOPRESSORS:
        dose_value = getattr(m, drug)
        dose = exact(dose_value)
        if dose > above and (up_to is None or dose <= up_to):
            points = max(points, row_points)
    return points


def _system_points(system: str, m: SofaInput) -> int:
    if system == "respiration":
        assert m.pao2_fio2 is not None
        points = climb(RESPIRATION, exact(m.pao2_fio2))
        return points if m.respiratory_support else min(points, RESPIRATION_MAX_WITHOUT_SUPPORT)
    if system == "coagulation":
        assert m.platelets is not None
        return climb(COAGULATION, exact(m.platelets))
    if system == "liver":
        assert m.bilirubin is not None
        return climb(LIVER, exact(m.bilirubin))
    if system == "cardiovascular":
        return _cardiovascular(m)
    if system == "cns":
        assert m.gcs is not None
        return climb(CNS, Decimal(m.gcs))
    assert m.creatinine is not None
    points = climb(RENAL_CREATININE, exact(m.creatinine))
    if m.urine_output is not None:
        points = max(points, climb(RENAL_URINE, exact(m.urine_output)))
    return points


def sofa(m: SofaInput) -> SofaResult:
    """Score SOFA; systems with an absent input are left out and the total is null."""
    missing = m.missing_inputs()
    components = {
        system: _system_points(system, m)
        for system, inputs in SYSTEM_INPUTS.items()
        if not any(name in missing for name in inputs)
    }
    partial = sum(components.values())
    return SofaResult(
        score=None if missing else partial,
        partial_score=partial,
        components=components,
        missing=missing,
    )


# Values that make each input score as low / as high as it can, used to bound a
# SOFA whose inputs are incomplete (EXC-SOFA decides when the bound already does).
_BEST_CASE: dict[str, float | bool | int] = {
    "pao2_fio2": 1000.0, "respiratory_support": False, "platelets": 10000.0, "bilirubin": 0.0,
    "map": 300.0, "dopamine": 0.0, "epinephrine": 0.0, "norepinephrine": 0.0,
    "dobutamine": False, "gcs": 15, "creatinine": 0.0,
}  # fmt: skip
_WORST_CASE: dict[str, float | bool | int] = {
    "pao2_fio2": 0.0, "respiratory_support": True, "platelets": 0.0, "bilirubin": 100.0,
    "map": 0.0, "dopamine": 200.0, "epinephrine": 20.0, "norepinephrine": 20.0,
    "dobutamine": True, "gcs": 3, "creatinine": 100.0,
}  # fmt: skip


def sofa_bounds(m: SofaInput) -> tuple[int, int]:
    """The lowest and highest total SOFA that any completion of the missing inputs gives.

    Urine output is optional, so an absent one stays absent: the score is complete without it.
    """
    present = m.model_dump(exclude_none=True)
    low = sofa(m.model_copy(update={**_BEST_CASE, **present})).score
    high = sofa(m.model_copy(update={**_WORST_CASE, **present})).score
    assert low is not None and high is not None
    return low, high
