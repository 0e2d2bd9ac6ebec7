"""SOFA (clinical-rules 2.2): every band edge, support caps, vasopressor rows and incompleteness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iliad7.scores import SofaInput, sofa, sofa_bounds

NORMAL = {
    "pao2_fio2": 450, "respiratory_support": False, "platelets": 250, "bilirubin": 0.5, "map": 85,
    "dopamine": 0, "epinephrine": 0, "norepinephrine": 0, "dobutamine": False, "gcs": 15, "creatinine": 0.8,
}  # fmt: skip


def component(system: str, **changes: object) -> int:
    return sofa(SofaInput.model_validate({**NORMAL, **changes})).components[system]


@pytest.mark.parametrize(
    ("ratio", "support", "expected"),
    [
        (400, True, 0), (399.9, True, 1), (300, True, 1), (299, True, 2), (200, True, 2),
        (199, True, 3), (100, True, 3), (99, True, 4), (50, True, 4),
        (199, False, 2), (99, False, 2), (299, False, 2), (300, False, 1),
    ],
)  # fmt: skip
def test_respiration_is_capped_at_2_without_support(ratio: float, support: bool, expected: int) -> None:
    assert component("respiration", pao2_fio2=ratio, respiratory_support=support) == expected


@pytest.mark.parametrize(
    ("platelets", "expected"),
    [(150, 0), (149, 1), (100, 1), (99, 2), (50, 2), (49, 3), (20, 3), (19, 4)],
)
def test_coagulation_band_edges(platelets: float, expected: int) -> None:
    assert component("coagulation", platelets=platelets) == expected


@pytest.mark.parametrize(
    ("bilirubin", "expected"),
    [
        (1.1, 0),
        (1.19, 0),
        (1.2, 1),
        (1.9, 1),
        (1.95, 1),
        (2.0, 2),
        (5.9, 2),
        (6.0, 3),
        (11.9, 3),
        (12.0, 4),
    ],
)
def test_liver_band_edges(bilirubin: float, expected: int) -> None:
    assert component("liver", bilirubin=bilirubin) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"map": 70}, 0), ({"map": 69.9}, 1),
        ({"dopamine": 0.5}, 2), ({"dopamine": 5}, 2), ({"dopamine": 5.1}, 3), ({"dopamine": 15}, 3),
        ({"dopamine": 15.1}, 4), ({"dobutamine": True}, 2), ({"dobutamine": True, "map": 60}, 2),
        ({"epinephrine": 0.05}, 3), ({"epinephrine": 0.1}, 3), ({"epinephrine": 0.11}, 4),
        ({"norepinephrine": 0.01}, 3), ({"norepinephrine": 0.1}, 3), ({"norepinephrine": 0.11}, 4),
        ({"dopamine": 3, "norepinephrine": 0.2}, 4),
    ],
)  # fmt: skip
def test_cardiovascular_takes_the_highest_row(changes: dict[str, object], expected: int) -> None:
    assert component("cardiovascular", **changes) == expected


@pytest.mark.parametrize(
    ("gcs", "expected"),
    [(15, 0), (14, 1), (13, 1), (12, 2), (10, 2), (9, 3), (6, 3), (5, 4), (3, 4)],
)
def test_cns_band_edges(gcs: int, expected: int) -> None:
    assert component("cns", gcs=gcs) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"creatinine": 1.19}, 0), ({"creatinine": 1.2}, 1), ({"creatinine": 1.9}, 1), ({"creatinine": 2.0}, 2),
        ({"creatinine": 3.4}, 2), ({"creatinine": 3.5}, 3), ({"creatinine": 4.9}, 3), ({"creatinine": 5.0}, 4),
        ({"urine_output": 500}, 0), ({"urine_output": 499}, 3), ({"urine_output": 200}, 3),
        ({"urine_output": 199}, 4), ({"creatinine": 5.0, "urine_output": 450}, 4),
        ({"creatinine": 2.5, "urine_output": 450}, 3),
    ],
)  # fmt: skip
def test_renal_is_the_worse_of_creatinine_and_urine(changes: dict[str, object], expected: int) -> None:
    assert component("renal", **changes) == expected


def test_spec_example_scores_6() -> None:
    result = sofa(SofaInput.model_validate({
        **NORMAL, "pao2_fio2": 170, "respiratory_support": True, "platelets": 85, "bilirubin": 0.7,
        "map": 78, "gcs": 14,
    }))  # fmt: skip
    assert result.as_contract() == {
        "score": 6, "partial_score": 6, "missing": [],
        "components": {"respiration": 3, "coagulation": 2, "liver": 0, "cardiovascular": 0, "cns": 1, "renal": 0},
    }  # fmt: skip


def test_missing_system_gives_partial_score_and_names_inputs() -> None:
    result = sofa(SofaInput.model_validate({**NORMAL, "platelets": None, "epinephrine": None, "gcs": 9}))
    assert result.score is None
    assert result.partial_score == 3
    assert set(result.components) == {"respiration", "liver", "cns", "renal"}
    assert result.missing == ["platelets", "epinephrine"]


def test_urine_output_is_optional() -> None:
    assert sofa(SofaInput.model_validate(NORMAL)).score == 0


def test_respiration_needs_its_support_flag() -> None:
    result = sofa(SofaInput.model_validate({**NORMAL, "respiratory_support": None}))
    assert result.score is None and result.missing == ["respiratory_support"]


def test_bounds_of_an_incomplete_sofa() -> None:
    low, high = sofa_bounds(SofaInput.model_validate({**NORMAL, "gcs": None}))
    assert (low, high) == (0, 4)
    low, high = sofa_bounds(SofaInput.model_validate({**NORMAL, "pao2_fio2": 150, "respiratory_support": None}))
    assert (low, high) == (2, 3)


inputs = st.fixed_dictionaries(
    {
        "pao2_fio2": st.floats(0, 1000), "respiratory_support": st.booleans(), "platelets": st.floats(0, 10000),
        "bilirubin": st.floats(0, 100), "map": st.floats(0, 300), "dopamine": st.floats(0, 200),
        "epinephrine": st.floats(0, 20), "norepinephrine": st.floats(0, 20), "dobutamine": st.booleans(),
        "gcs": st.integers(3, 15), "creatinine": st.floats(0, 100),
        "urine_output": st.one_of(st.none(), st.floats(0, 50000)),
    }
)  # fmt: skip


@given(values=inputs, drop=st.sets(st.sampled_from(sorted(NORMAL))))
def test_partial_is_the_sum_and_bounds_hold_every_completion(values: dict[str, object], drop: set[str]) -> None:
    full = sofa(SofaInput.model_validate(values))
    assert full.score == sum(full.components.values())
    assert 0 <= full.score <= 24
    partial_input = SofaInput.model_validate({k: (None if k in drop else v) for k, v in values.items()})
    partial = sofa(partial_input)
    assert partial.partial_score == sum(partial.components.values())
    assert (partial.score is None) == bool(drop)
    low, high = sofa_bounds(partial_input)
    assert low <= full.score <= high  # the full record is one completion of the partial one
