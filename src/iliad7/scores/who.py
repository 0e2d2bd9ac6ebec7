"""The WHO Clinical Progression Scale, 0-10 (WHO 2020; Marshall et al., Lancet Infect Dis 2020).

Clinical-rules section 2.3; the protocol calls it the "11-point WHO score". The
rules are a table read top down, first match wins. Each rule is evaluated in
three-valued logic, so a missing input only matters when the score depends on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from iliad7.scores.logic import Truth, all_of, any_of, negate
from iliad7.scores.numbers import exact

OxygenSupport = Literal["none", "mask_or_nasal_prongs", "niv_or_high_flow", "mechanical_ventilation", "ecmo"]

# Severe hypoxemia: "pf_ratio < 150 when pf_ratio is given, else sf_ratio < 200 when that is given".
SEVERE_PF_BELOW = Decimal(150)
SEVERE_SF_BELOW = Decimal(200)


class WhoInput(BaseModel):
    """Clinical status on one day."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    dead: bool | None = None
    hospitalized: bool | None = None
    sars_cov_2_rna_detected: bool | None = None
    symptomatic: bool | None = None
    needs_assistance: bool | None = None
    oxygen_support: OxygenSupport | None = None
    pf_ratio: float | None = Field(default=None, ge=0, le=1000, description="PaO2/FiO2, mmHg")
    sf_ratio: float | None = Field(default=None, ge=0, le=1000, description="SpO2/FiO2")
    vasopressors: bool | None = None
    dialysis: bool | None = None


@dataclass(frozen=True)
class WhoResult:
    score: int | None
    missing: list[str] = field(default_factory=list)

    def as_contract(self) -> dict[str, object]:
        return {"score": self.score}


def severe_hypoxemia(s: WhoInput) -> bool:
    if s.pf_ratio is not None:
        return exact(s.pf_ratio) < SEVERE_PF_BELOW
    if s.sf_ratio is not None:
        return exact(s.sf_ratio) < SEVERE_SF_BELOW
    return False


def _is(value: object, expected: object) -> Truth:
    return None if value is None else value == expected


def _support(s: WhoInput, level: str) -> Truth:
    return _is(s.oxygen_support, level)


def _mv(s: WhoInput) -> Truth:
    return _support(s, "mechanical_ventilation")


Rule = tuple[int, str, Callable[[WhoInput], Truth], tuple[str, ...]]

# (score, the rule as the spec writes it, the rule, the inputs it reads)
RULES: tuple[Rule, ...] = (
    (10, "dead", lambda s: s.dead, ("dead",)),
    (
        9,
        "ECMO; or mechanical ventilation with dialysis; or mechanical ventilation with "
        "vasopressors and severe hypoxemia",
        lambda s: any_of(
            (
                _support(s, "ecmo"),
                all_of((_mv(s), s.dialysis)),
                all_of((_mv(s), s.vasopressors, severe_hypoxemia(s))),
            )
        ),
        ("oxygen_support", "dialysis", "vasopressors"),
    ),
    (
        8,
        "mechanical ventilation with severe hypoxemia or vasopressors",
        lambda s: all_of((_mv(s), any_of((severe_hypoxemia(s), s.vasopressors)))),
        ("oxygen_support", "vasopressors"),
    ),
    (7, "mechanical ventilation", _mv, ("oxygen_support",)),
    (
        6,
        "hospitalized, NIV or high-flow oxygen",
        lambda s: all_of((s.hospitalized, _support(s, "niv_or_high_flow"))),
        ("hospitalized", "oxygen_support"),
    ),
    (
        5,
        "hospitalized, oxygen by mask or nasal prongs",
        lambda s: all_of((s.hospitalized, _support(s, "mask_or_nasal_prongs"))),
        ("hospitalized", "oxygen_support"),
    ),
    (
        4,
        "hospitalized, no oxygen",
        lambda s: all_of((s.hospitalized, _support(s, "none"))),
        ("hospitalized", "oxygen_support"),
    ),
    (
        3,
        "symptomatic, needs assistance",
        lambda s: all_of((s.symptomatic, s.needs_assistance)),
        ("symptomatic", "needs_assistance"),
    ),
    (
        2,
        "symptomatic, independent",
        lambda s: all_of((s.symptomatic, negate(s.needs_assistance))),
        ("symptomatic", "needs_assistance"),
    ),
    (
        1,
        "asymptomatic, viral RNA detected",
        lambda s: all_of((negate(s.symptomatic), s.sars_cov_2_rna_detected)),
        ("symptomatic", "sars_cov_2_rna_detected"),
    ),
    (
        0,
        "uninfected, no viral RNA detected",
        lambda s: all_of((negate(s.symptomatic), negate(s.sars_cov_2_rna_detected))),
        ("symptomatic", "sars_cov_2_rna_detected"),
    ),
)


def who_clinical_progression(s: WhoInput) -> WhoResult:
    """The first rule that holds gives the score; a rule that cannot be told before it makes it null."""
    for score, _text, rule, inputs in RULES:
        holds = rule(s)
        if holds is True:
            return WhoResult(score=score)
        if holds is None:
            missing = [name for name in inputs if getattr(s, name) is None]
            return WhoResult(score=None, missing=missing)
    raise AssertionError("the last two rules cover every known combination")
