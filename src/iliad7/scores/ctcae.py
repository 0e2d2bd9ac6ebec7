"""CTCAE v5.0 grading of the laboratory terms this trial uses.

Clinical-rules section 2.4. Each term's criteria are data, one row per criterion
as CTCAE prints it: (grade, comparison, reference, multiple). A row holds when
``value <op> multiple x reference`` (an absolute threshold has no reference).
The grade is the highest row that holds; a row needing an absent LLN or ULN
that could give a higher grade makes the grade null, naming the limit.
Comparisons are exact (cross-multiplied decimals, clinical-rules section 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iliad7.scores.numbers import exact
from iliad7.scores.units import Quantity, to_canonical

Term = Literal[
    "lymphocyte_count_decreased",
    "lymphocyte_count_increased",
    "neutrophil_count_decreased",
    "white_blood_cell_decreased",
    "platelet_count_decreased",
    "anemia",
    "alt_increased",
    "ast_increased",
    "blood_bilirubin_increased",
    "creatinine_increased",
]
Op = Literal["<", ">", ">="]
Reference = Literal["absolute", "lln", "uln", "baseline"]


@dataclass(frozen=True)
class Criterion:
    grade: int
    op: Op
    reference: Reference
    multiple: Decimal
    text: str


def _c(grade: int, op: Op, reference: Reference, multiple: str, text: str) -> Criterion:
    return Criterion(grade, op, reference, Decimal(multiple), text)


@dataclass(frozen=True)
class TermSpec:
    quantity: Quantity | None  # None: any unit shared with the ULN (graded as multiples only)
    criteria: tuple[Criterion, ...]
    # For terms whose criteria switch on an abnormal baseline (ALT, AST, bilirubin):
    # the rows used when the baseline is above the ULN.
    abnormal_baseline_criteria: tuple[Criterion, ...] = ()
    needs_uln: bool = False


def _decreased(quantity: Quantity, g2: str, g3: str, g4: str | None, texts: tuple[str, ...]) -> TermSpec:
    rows = [
        _c(1, "<", "lln", "1", texts[0]),
        _c(2, "<", "absolute", g2, texts[1]),
        _c(3, "<", "absolute", g3, texts[2]),
    ]
    if g4 is not None:
        rows.append(_c(4, "<", "absolute", g4, texts[3]))
    return TermSpec(quantity=quantity, criteria=tuple(rows))


def _uln_multiples(g1: str, g2: str, g3: str, g4: str, g1_op: Op = ">") -> tuple[Criterion, ...]:
    return (
        _c(1, g1_op, "uln", g1, f">ULN - {g2} x ULN"),
        _c(2, ">", "uln", g2, f">{g2} - {g3} x ULN"),
        _c(3, ">", "uln", g3, f">{g3} - {g4} x ULN"),
        _c(4, ">", "uln", g4, f">{g4} x ULN"),
    )


def _baseline_multiples(g1: str, g2: str, g3: str, g4: str, g1_op: Op) -> tuple[Criterion, ...]:
    first = f"{g1} - {g2} x baseline" if g1_op == ">=" else f">{g1} - {g2} x baseline"
    return (
        _c(1, g1_op, "baseline", g1, first),
        _c(2, ">", "baseline", g2, f">{g2} - {g3} x baseline"),
        _c(3, ">", "baseline", g3, f">{g3} - {g4} x baseline"),
        _c(4, ">", "baseline", g4, f">{g4} x baseline"),
    )


_TRANSAMINASE = TermSpec(
    quantity=None,
    criteria=_uln_multiples("1", "3.0", "5.0", "20.0"),
    abnormal_baseline_criteria=_baseline_multiples("1.5", "3.0", "5.0", "20.0", g1_op=">="),
    needs_uln=True,
)

TERMS: dict[str, TermSpec] = {
    "lymphocyte_count_decreased": _decreased(
        Quantity.CELL_COUNT, "800", "500", "200",
        ("<LLN - 800/mm3", "<800 - 500/mm3", "<500 - 200/mm3", "<200/mm3"),
    ),
    "lymphocyte_count_increased": TermSpec(
        quantity=Quantity.CELL_COUNT,
        criteria=(
            _c(2, ">", "absolute", "4000", ">4000/mm3 - 20,000/mm3"),
            _c(3, ">", "absolute", "20000", ">20,000/mm3"),
        ),
    ),
    "neutrophil_count_decreased": _decreased(
        Quantity.CELL_COUNT, "1500", "1000", "500",
        ("<LLN - 1500/mm3", "<1500 - 1000/mm3", "<1000 - 500/mm3", "<500/mm3"),
    ),
    "white_blood_cell_decreased": _decreased(
        Quantity.CELL_COUNT, "3000", "2000", "1000",
        ("<LLN - 3000/mm3", "<3000 - 2000/mm3", "<2000 - 1000/mm3", "<1000/mm3"),
    ),
    "platelet_count_decreased": _decreased(
        Quantity.CELL_COUNT, "75000", "50000", "25000",
        ("<LLN - 75,000/mm3", "<75,000 - 50,000/mm3", "<50,000 - 25,000/mm3", "<25,000/mm3"),
    ),
    # Grade 4 anemia (life-threatening) is a clinical judgement, not lab-gradable.
    "anemia": _decreased(
        Quantity.HEMOGLOBIN, "10.0", "8.0", None,
        ("<LLN - 10.0 g/dL", "<10.0 - 8.0 g/dL", "<8.0 g/dL"),
    ),
    "alt_increased": _TRANSAMINASE,
    "ast_increased": _TRANSAMINASE,
    "blood_bilirubin_increased": TermSpec(
        quantity=Quantity.BILIRUBIN,
        criteria=_uln_multiples("1", "1.5", "3.0", "10.0"),
        abnormal_baseline_criteria=_baseline_multiples("1.0", "1.5", "3.0", "10.0", g1_op=">"),
        needs_uln=True,
    ),
    # Highest grade any criterion reaches; the baseline rows apply only when a baseline is given.
    "creatinine_increased": TermSpec(
        quantity=Quantity.CREATININE,
        criteria=(
            _c(1, ">", "uln", "1", ">ULN - 1.5 x ULN"),
            _c(2, ">", "baseline", "1.5", ">1.5 - 3.0 x baseline"),
            _c(2, ">", "uln", "1.5", ">1.5 - 3.0 x ULN"),
            _c(3, ">", "baseline", "3.0", ">3.0 x baseline"),
            _c(3, ">", "uln", "3.0", ">3.0 - 6.0 x ULN"),
            _c(4, ">", "uln", "6.0", ">6.0 x ULN"),
        ),
        needs_uln=True,
    ),
}  # fmt: skip


class CtcaeInput(BaseModel):
    """A laboratory value with its unit, normal range and (optional) baseline."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    term: Term
    value: float | None = Field(default=None, ge=0)
    unit: str | None = Field(default=None, min_length=1, max_length=40)
    lln: float | None = Field(default=None, ge=0, description="same unit as value")
    uln: float | None = Field(default=None, gt=0, description="same unit as value")
    baseline: float | None = Field(default=None, ge=0, description="same unit as value")

    @model_validator(mode="after")
    def _known_unit(self) -> CtcaeInput:
        check_ctcae_unit(self)
        return self


@dataclass(frozen=True)
class CtcaeResult:
    term: str
    grade: int | None
    missing: list[str] = field(default_factory=list)
    criterion: str | None = None  # the CTCAE text of the row that gave the grade

    def as_contract(self) -> dict[str, object]:
        return {"term": self.term, "grade": self.grade, "missing": self.missing}


def check_ctcae_unit(lab: CtcaeInput) -> None:
    """Raise naming ``unit`` when it is not one the term's quantity accepts."""
    spec = TERMS[lab.term]
    if spec.quantity is not None and lab.unit is not None:
        to_canonical(spec.quantity, Decimal(0), lab.unit)


def _holds(op: Op, value: Decimal, bound: Decimal) -> bool:
    if op == "<":
        return value < bound
    if op == ">":
        return value > bound
    return value >= bound


def ctcae_grade(lab: CtcaeInput) -> CtcaeResult:
    """Grade ``lab`` by CTCAE v5.0; null with the missing names when the inputs cannot decide."""
    spec = TERMS[lab.term]
    missing: list[str] = []
    if lab.value is None:
        missing.append("value")
    if spec.quantity is not None and not spec.needs_uln and lab.unit is None:
        missing.append("unit")  # absolute thresholds need it; ULN multiples do not
    if spec.needs_uln and lab.uln is None:
        missing.append("uln")
    if missing:
        return CtcaeResult(term=lab.term, grade=None, missing=missing)

    def canonical(x: float | None) -> Decimal | None:
        if x is None:
            return None
        number = exact(x)
        if spec.needs_uln or spec.quantity is None or lab.unit is None:
            # Multiples of the ULN or baseline are unit-free; converting by 17.1 or 88.4
            # would put rounding error into an exact comparison.
            return number
        return to_canonical(spec.quantity, number, lab.unit)

    assert lab.value is not None
    value = canonical(lab.value)
    assert value is not None
    limits: dict[str, Decimal | None] = {
        "absolute": Decimal(1),
        "lln": canonical(lab.lln),
        "uln": canonical(lab.uln),
        "baseline": canonical(lab.baseline),
    }
    criteria = spec.criteria
    uln, baseline = limits["uln"], limits["baseline"]
    if spec.abnormal_baseline_criteria and baseline is not None and uln is not None and baseline > uln:
        criteria = spec.abnormal_baseline_criteria

    grade, source = 0, None
    undecided: dict[str, int] = {}  # absent limit -> highest grade it could have given
    for row in criteria:
        reference = limits[row.reference]
        if reference is None:
            if row.reference != "baseline":  # baseline is optional: its rows simply do not apply
                undecided[row.reference] = max(undecided.get(row.reference, 0), row.grade)
            continue
        if _holds(row.op, value, row.multiple * reference) and row.grade > grade:
            grade, source = row.grade, row.text
    blocking = [name for name, could in undecided.items() if could > grade]
    if blocking:
        return CtcaeResult(term=lab.term, grade=None, missing=blocking)
    return CtcaeResult(term=lab.term, grade=grade, criterion=source)
