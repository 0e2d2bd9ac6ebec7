"""NEWS2 (clinical-rules 2.1): both sides of every band edge, risk bands and missing inputs."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iliad7.scores import News2Input, news2

news2_module = importlib.import_module("iliad7.scores.news2")  # the package exports a function of that name

NORMAL = {
    "respiratory_rate": 16,
    "spo2": 97,
    "spo2_scale": 1,
    "on_supplemental_oxygen": False,
    "systolic_bp": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
}


def points(component: str, **changes: object) -> int:
    result = news2(News2Input.model_validate({**NORMAL, **changes}))
    return result.components[component]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiratory_rate_band_edges(rate: int, expected: int) -> None:
    assert points("respiratory_rate", respiratory_rate=rate) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"), [(80, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_band_edges(spo2: int, expected: int) -> None:
    assert points("spo2", spo2=spo2) == expected


@pytest.mark.parametrize(
    ("spo2", "oxygen", "expected"),
    [
        (83, True, 3), (84, True, 2), (85, False, 2), (86, True, 1), (87, False, 1),
        (88, True, 0), (92, True, 0), (93, False, 0), (100, False, 0),
        (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3), (100, True, 3),
    ],
)  # fmt: skip
def test_spo2_scale_2_scores_high_saturation_on_oxygen(spo2: int, oxygen: bool, expected: int) -> None:
    assert points("spo2", spo2=spo2, spo2_scale=2, on_supplemental_oxygen=oxygen) == expected


def test_spo2_scale_defaults_to_1() -> None:
    assert points("spo2", spo2=93, spo2_scale=None) == 2


def test_scale_2_high_saturation_needs_oxygen_status() -> None:
    result = news2(News2Input.model_validate({**NORMAL, "spo2": 95, "spo2_scale": 2, "on_supplemental_oxygen": None}))
    assert result.score is None
    assert "spo2" not in result.components
    assert result.missing == ["on_supplemental_oxygen"]


@pytest.mark.parametrize(("oxygen", "expected"), [(False, 0), (True, 2)])
def test_supplemental_oxygen_scores_2(oxygen: bool, expected: int) -> None:
    assert points("supplemental_oxygen", on_supplemental_oxygen=oxygen) == expected


@pytest.mark.parametrize(
    ("sbp", "expected"),
    [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bp_band_edges(sbp: int, expected: int) -> None:
    assert points("systolic_bp", systolic_bp=sbp) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [
        (30, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
    ],
)
def test_pulse_band_edges(pulse: int, expected: int) -> None:
    assert points("pulse", pulse=pulse) == expected


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_any_level_below_alert_scores_3(level: str, expected: int) -> None:
    assert points("consciousness", consciousness=level) == expected


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        (34.0, 3), (35.0, 3), (35.04, 3), (35.05, 1), (35.1, 1), (36.0, 1), (36.04, 1), (36.05, 0),
        (36.1, 0), (38.0, 0), (38.04, 0), (38.05, 1), (38.1, 1), (39.0, 1), (39.05, 2), (39.1, 2), (41.0, 2),
    ],
)  # fmt: skip
def test_temperature_is_rounded_half_up_then_banded(temperature: float, expected: int) -> None:
    assert points("temperature", temperature=temperature) == expected


def test_spec_example_scores_5_medium() -> None:
    result = news2(
        News2Input.model_validate(
            {
                **NORMAL,
                "respiratory_rate": 22,
                "spo2": 95,
                "systolic_bp": 128,
                "pulse": 104,
                "temperature": 38.4,
            }
        )
    )
    assert result.as_contract() == {
        "score": 5,
        "components": {
            "respiratory_rate": 2, "spo2": 1, "supplemental_oxygen": 0, "systolic_bp": 0,
            "pulse": 1, "consciousness": 0, "temperature": 1,
        },
        "risk": "medium",
        "missing": [],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({}, 0, "low"),
        ({"respiratory_rate": 21, "pulse": 111}, 4, "low"),
        ({"consciousness": "C"}, 3, "low-medium"),
        ({"consciousness": "C", "pulse": 91}, 4, "low-medium"),
        ({"respiratory_rate": 21, "pulse": 111, "spo2": 95}, 5, "medium"),
        ({"consciousness": "V", "pulse": 111}, 5, "medium"),
        ({"respiratory_rate": 25, "pulse": 111, "spo2": 95}, 6, "medium"),
        ({"respiratory_rate": 25, "pulse": 111, "spo2": 94}, 6, "medium"),
        ({"respiratory_rate": 25, "pulse": 111, "spo2": 93}, 7, "high"),
    ],
)
def test_risk_bands(changes: dict[str, object], total: int, risk: str) -> None:
    result = news2(News2Input.model_validate({**NORMAL, **changes}))
    assert (result.score, result.risk) == (total, risk)


def test_missing_observation_never_counts_as_normal() -> None:
    result = news2(News2Input.model_validate({**NORMAL, "pulse": None, "temperature": None}))
    assert result.score is None
    assert result.risk is None
    assert result.missing == ["pulse", "temperature"]
    assert "pulse" not in result.components and "temperature" not in result.components
    assert result.components["respiratory_rate"] == 0


def test_every_band_of_every_table_is_reachable() -> None:
    # Guards against a dead row: each band's own bounds score that band's points.
    for table in (
        news2_module.RESPIRATORY_RATE, news2_module.SPO2_SCALE_1, news2_module.SPO2_SCALE_2_ANY,
        news2_module.SYSTOLIC_BP, news2_module.PULSE, news2_module.TEMPERATURE,
    ):  # fmt: skip
        for low, high, pts in table:
            for edge in (low, high):
                if edge is not None:
                    assert news2_module.band_points(table, edge) == pts


@given(
    rate=st.integers(0, 100), spo2=st.integers(0, 100), scale=st.sampled_from([1, 2]), oxygen=st.booleans(),
    sbp=st.integers(0, 350), pulse=st.integers(0, 350), level=st.sampled_from("ACVPU"),
    temperature=st.decimals("15", "46", places=2).map(float),
)  # fmt: skip
def test_total_is_the_sum_of_seven_components(
    rate: int,
    spo2: int,
    scale: int,
    oxygen: bool,
    sbp: int,
    pulse: int,
    level: str,
    temperature: float,
) -> None:
    result = news2(
        News2Input(
            respiratory_rate=rate, spo2=spo2, spo2_scale=scale, on_supplemental_oxygen=oxygen,  # type: ignore[arg-type]
            systolic_bp=sbp, pulse=pulse, consciousness=level, temperature=temperature,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    assert len(result.components) == 7
    assert result.score == sum(result.components.values())
    assert 0 <= result.score <= 20
    assert result.risk is not None
