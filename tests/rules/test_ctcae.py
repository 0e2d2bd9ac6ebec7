"""CTCAE v5.0 laboratory grading (clinical-rules 2.4): both sides of every band, units, limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from iliad7.scores import CTCAE_TERMS, CtcaeInput, ctcae_grade


def grade(term: str, value: float, unit: str | None = "cells/mm3", **limits: float) -> int | None:
    return ctcae_grade(CtcaeInput.model_validate({"term": term, "value": value, "unit": unit, **limits})).grade


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000, 0), (999, 1), (800, 1), (799, 2), (500, 2), (499, 3), (200, 3), (199, 4), (0, 4)],
)
def test_lymphocyte_count_decreased(value: float, expected: int) -> None:
    assert grade("lymphocyte_count_decreased", value, lln=1000) == expected


def test_lymphocytes_600_are_grade_2_without_an_lln() -> None:
    assert grade("lymphocyte_count_decreased", 600) == 2


def test_lymphocytes_900_without_an_lln_cannot_be_graded() -> None:
    result = ctcae_grade(CtcaeInput(term="lymphocyte_count_decreased", value=900, unit="/uL"))
    assert (result.grade, result.missing) == (None, ["lln"])


@pytest.mark.parametrize(("value", "unit", "expected"), [(0.8, "10^9/L", 1), (0.79, "x10^9/L", 2), (0.5, "10^3/µL", 2)])
def test_lymphocytes_in_other_units(value: float, unit: str, expected: int) -> None:
    assert grade("lymphocyte_count_decreased", value, unit, lln=1.0) == expected


@pytest.mark.parametrize(("value", "expected"), [(4000, 0), (4001, 2), (20000, 2), (20001, 3)])
def test_lymphocyte_count_increased(value: float, expected: int) -> None:
    assert grade("lymphocyte_count_increased", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1800, 0), (1500, 1), (1499, 2), (1000, 2), (999, 3), (500, 3), (499, 4)],
)
def test_neutrophil_count_decreased(value: float, expected: int) -> None:
    assert grade("neutrophil_count_decreased", value, lln=1800) == expected


def test_spec_example_neutrophils_in_10_9_per_litre() -> None:
    result = ctcae_grade(CtcaeInput(term="neutrophil_count_decreased", value=0.8, unit="10^9/L", lln=1.8))
    assert result.as_contract() == {"term": "neutrophil_count_decreased", "grade": 3, "missing": []}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(4000, 0), (3999, 1), (3000, 1), (2999, 2), (2000, 2), (1999, 3), (1000, 3), (999, 4)],
)
def test_white_blood_cell_decreased(value: float, expected: int) -> None:
    assert grade("white_blood_cell_decreased", value, lln=4000) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (150000, "/mm3", 0), (75000, "/mm3", 1), (74999, "/mm3", 2), (50000, "/uL", 2), (49999, "/uL", 3),
        (25000, "/uL", 3), (24999, "/uL", 4), (75, "10^9/L", 1), (74, "10^9/L", 2), (24, "10^3/uL", 4),
    ],
)  # fmt: skip
def test_platelet_count_decreased(value: float, unit: str, expected: int) -> None:
    lln = 150 if unit in ("10^9/L", "10^3/uL") else 150000
    assert grade("platelet_count_decreased", value, unit, lln=lln) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [(12.0, "g/dL", 0), (10.0, "g/dL", 1), (9.9, "g/dL", 2), (8.0, "g/dL", 2), (7.9, "g/dL", 3), (4.0, "g/dL", 3),
     (100, "g/L", 1), (99, "g/L", 2), (79, "g/L", 3)],
)  # fmt: skip
def test_anemia_is_never_lab_graded_4(value: float, unit: str, expected: int) -> None:
    lln = 12.0 if unit == "g/dL" else 120
    assert grade("anemia", value, unit, lln=lln) == expected


@pytest.mark.parametrize("term", ["alt_increased", "ast_increased"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [(40, 0), (40.1, 1), (120, 1), (120.1, 2), (200, 2), (200.1, 3), (800, 3), (800.1, 4)],
)
def test_transaminases_with_normal_baseline(term: str, value: float, expected: int) -> None:
    assert grade(term, value, "U/L", uln=40, baseline=30) == expected
    assert grade(term, value, "U/L", uln=40) == expected  # an absent baseline counts as normal


def test_alt_exactly_5_times_uln_is_grade_2_not_3() -> None:
    assert grade("alt_increased", 166.5, "U/L", uln=33.3) == 2
    assert grade("alt_increased", 166.6, "U/L", uln=33.3) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [(89.9, 0), (90, 1), (180, 1), (180.1, 2), (300, 2), (300.1, 3), (1200, 3), (1200.1, 4)],
)
def test_transaminase_with_abnormal_baseline_uses_multiples_of_baseline(value: float, expected: int) -> None:
    assert grade("alt_increased", value, "U/L", uln=40, baseline=60) == expected


def test_spec_example_alt_150_uln_45() -> None:
    assert grade("alt_increased", 150, "U/L", uln=45, baseline=30) == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.2, 0), (1.21, 1), (1.8, 1), (1.81, 2), (3.6, 2), (3.61, 3), (12.0, 3), (12.01, 4)],
)
def test_bilirubin_with_normal_baseline(value: float, expected: int) -> None:
    assert grade("blood_bilirubin_increased", value, "mg/dL", uln=1.2) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2.0, 0), (2.01, 1), (3.0, 1), (3.01, 2), (6.0, 2), (6.01, 3), (20.0, 3), (20.01, 4)],
)
def test_bilirubin_with_abnormal_baseline(value: float, expected: int) -> None:
    assert grade("blood_bilirubin_increased", value, "umol/L", uln=1.2, baseline=2.0) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, 0), (1.01, 1), (1.5, 1), (1.51, 2), (3.0, 2), (3.01, 3), (6.0, 3), (6.01, 4)],
)
def test_creatinine_against_uln(value: float, expected: int) -> None:
    assert grade("creatinine_increased", value, "mg/dL", uln=1.0) == expected


@pytest.mark.parametrize(("value", "expected"), [(0.6, 0), (0.61, 2), (1.2, 2), (1.21, 3)])
def test_creatinine_takes_the_highest_criterion_including_baseline(value: float, expected: int) -> None:
    assert grade("creatinine_increased", value, "mg/dL", uln=1.3, baseline=0.4) == expected


@pytest.mark.parametrize(
    "term", ["alt_increased", "ast_increased", "blood_bilirubin_increased", "creatinine_increased"]
)
def test_uln_terms_need_the_uln_even_with_a_baseline(term: str) -> None:
    result = ctcae_grade(
        CtcaeInput.model_validate(
            {
                "term": term,
                "value": 500,
                "unit": "U/L" if term[0] == "a" else "mg/dL",
                "baseline": 20,
            }
        )
    )
    assert (result.grade, result.missing) == (None, ["uln"])


def test_count_without_unit_is_not_guessed() -> None:
    result = ctcae_grade(CtcaeInput(term="neutrophil_count_decreased", value=800, lln=1800))
    assert (result.grade, result.missing) == (None, ["unit"])


def test_missing_value_is_reported() -> None:
    result = ctcae_grade(CtcaeInput(term="anemia", unit="g/dL", lln=12))
    assert (result.grade, result.missing) == (None, ["value"])


def _just_inside(op: str, bound: Decimal) -> float:
    step = Decimal("0.001")
    return float(bound - step if op == "<" else bound + step if op == ">" else bound)


@pytest.mark.parametrize("term", sorted(CTCAE_TERMS))
def test_every_criterion_row_is_reached(term: str) -> None:
    # Dead rows (a band no value can fall into) are a known failure of hand-typed CTCAE tables:
    # for each row, a value just inside its bound must be graded by that very row.
    spec = CTCAE_TERMS[term]
    unit = {"cell count": "/mm3", "hemoglobin": "g/dL"}.get(spec.quantity.value if spec.quantity else "", "mg/dL")
    for rows, rows_baseline in (
        (spec.criteria, None),
        (spec.abnormal_baseline_criteria, Decimal(100)),
    ):
        for row in rows:
            grade_2 = [r.multiple for r in spec.criteria if r.grade == 2 and r.reference == "absolute"]
            limits = {
                "lln": 2 * max(grade_2, default=Decimal(1)),
                "uln": Decimal(40),
            }  # LLN above grade 2
            baseline = rows_baseline
            if row.reference == "baseline" and not spec.abnormal_baseline_criteria:
                limits["uln"], baseline = (
                    Decimal(1000),
                    Decimal(1),
                )  # only the baseline rows can hold
            reference = {**limits, "absolute": Decimal(1), "baseline": baseline}[row.reference]
            assert reference is not None
            value = _just_inside(row.op, row.multiple * reference)
            lab = {
                "term": term,
                "value": value,
                "unit": unit,
                **{k: float(v) for k, v in limits.items()},
            }
            if baseline is not None:
                lab["baseline"] = float(baseline)
            result = ctcae_grade(CtcaeInput.model_validate(lab))
            assert (result.grade, result.criterion) == (row.grade, row.text), (term, row)
