"""WHO Clinical Progression Scale (clinical-rules 2.3): each rule, first match wins, missing inputs."""

from __future__ import annotations

import pytest

from iliad7.scores import WhoInput, who_clinical_progression

ALIVE_WARD = {
    "dead": False, "hospitalized": True, "sars_cov_2_rna_detected": True, "symptomatic": True,
    "needs_assistance": True, "oxygen_support": "none", "vasopressors": False, "dialysis": False,
}  # fmt: skip


def score(**changes: object) -> int | None:
    return who_clinical_progression(WhoInput.model_validate({**ALIVE_WARD, **changes})).score


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dead": True, "oxygen_support": "ecmo"}, 10),
        ({"oxygen_support": "ecmo"}, 9),
        ({"oxygen_support": "mechanical_ventilation", "dialysis": True}, 9),
        ({"oxygen_support": "mechanical_ventilation", "vasopressors": True, "pf_ratio": 149}, 9),
        ({"oxygen_support": "mechanical_ventilation", "vasopressors": True, "pf_ratio": 150}, 8),
        ({"oxygen_support": "mechanical_ventilation", "pf_ratio": 120}, 8),
        ({"oxygen_support": "mechanical_ventilation", "vasopressors": True}, 8),
        ({"oxygen_support": "mechanical_ventilation", "sf_ratio": 199}, 8),
        ({"oxygen_support": "mechanical_ventilation", "sf_ratio": 200}, 7),
        ({"oxygen_support": "mechanical_ventilation", "pf_ratio": 150, "sf_ratio": 100}, 7),
        ({"oxygen_support": "mechanical_ventilation"}, 7),
        ({"oxygen_support": "niv_or_high_flow"}, 6),
        ({"oxygen_support": "mask_or_nasal_prongs"}, 5),
        ({"oxygen_support": "none"}, 4),
        ({"hospitalized": False, "oxygen_support": "mask_or_nasal_prongs"}, 3),
        ({"hospitalized": False, "needs_assistance": False}, 2),
        ({"hospitalized": False, "symptomatic": False}, 1),
        ({"hospitalized": False, "symptomatic": False, "sars_cov_2_rna_detected": False}, 0),
    ],
)
def test_first_matching_rule_gives_the_score(changes: dict[str, object], expected: int) -> None:
    assert score(**changes) == expected


def test_severe_hypoxemia_without_ratios_is_false() -> None:
    assert score(oxygen_support="mechanical_ventilation", vasopressors=False) == 7


def test_death_decides_whatever_is_missing() -> None:
    assert who_clinical_progression(WhoInput(dead=True)).score == 10


def test_missing_input_that_matters_gives_null() -> None:
    result = who_clinical_progression(WhoInput.model_validate({**ALIVE_WARD, "oxygen_support": None}))
    assert result.score is None
    assert "oxygen_support" in result.missing
    result = who_clinical_progression(
        WhoInput.model_validate({**ALIVE_WARD, "oxygen_support": "mechanical_ventilation", "dialysis": None})
    )
    assert result.score is None and result.missing == ["dialysis"]


def test_missing_input_that_cannot_matter_is_ignored() -> None:
    assert score(oxygen_support="niv_or_high_flow", vasopressors=None, dialysis=None) == 6


def test_contract_output_is_only_the_score() -> None:
    assert who_clinical_progression(WhoInput.model_validate(ALIVE_WARD)).as_contract() == {"score": 4}
