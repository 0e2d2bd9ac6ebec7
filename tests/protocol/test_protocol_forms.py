"""The protocol's `forms:` section: every eCRF is checked where it is written, with its YAML path and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iliad7.protocol import ProtocolError, load_protocol

Broken = Callable[[str, str], Any]
FORM_IDS = [
    "VITALS", "CLINICAL-STATUS", "SOFA", "LAB", "VIRAL-LOAD", "STUDY-DRUG", "HOSPITAL-STAY",
    "ORGAN-SUPPORT", "SECONDARY-INFECTION", "ADVERSE-EVENT", "DEATH", "END-OF-STUDY", "DEMOGRAPHICS",
]  # fmt: skip


def load_error(path: Path) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return caught.value


def test_the_protocol_defines_every_form_issue_5_asks_for() -> None:
    assert [f.id for f in load_protocol().forms] == FORM_IDS


def test_every_form_says_where_it_comes_from() -> None:
    for form in load_protocol().forms:
        assert form.source in ("clinical-rules", "interpretation")
        assert form.source != "interpretation" or form.interpretation


def test_lab_form_gives_alc_cd4_cd8_and_chemistry_with_units_and_reference_limits() -> None:
    lab = load_protocol().form("LAB")
    ids = {i.id for i in lab.items}
    assert {"alc", "cd4", "cd8", "ferritin", "crp", "d_dimer", "alt", "ast", "bilirubin", "creatinine"} <= ids
    assert {"platelets", "hemoglobin", "alc_lln", "alt_uln", "creatinine_uln"} <= ids
    assert lab.item("alc").units[0] == "cells/mm3" and "10^9/L" in lab.item("alc").units
    assert lab.item("alc_lln").unit_of == "alc"
    assert lab.item("hemoglobin").units == ("g/dL", "g/L")


def test_vitals_items_are_the_news2_inputs() -> None:
    vitals = load_protocol().form("VITALS")
    assert {"respiratory_rate", "spo2", "spo2_scale", "on_supplemental_oxygen", "systolic_bp", "pulse",
            "consciousness", "temperature"} <= {i.id for i in vitals.items}  # fmt: skip
    assert vitals.derive == ("news2",)


def test_form_naming_an_unknown_assessment_points_at_it(broken: Broken) -> None:
    case = broken(
        "    assessments: [VIRAL-LOAD]\n    repeat: visit", "    assessments: [VIRAL-LOADS]\n    repeat: visit"
    )
    error = load_error(case.path)
    assert error.yaml_path == "forms[4].assessments[0]"
    assert error.line == case.line
    assert "no assessment 'VIRAL-LOADS'" in error.message


def test_duplicate_item_id_is_refused(broken: Broken) -> None:
    case = broken("      - {id: cd8, label: CD8+ T cells,", "      - {id: cd4, label: CD8+ T cells,")
    error = load_error(case.path)
    assert error.yaml_path.startswith("forms[3].items[") and error.yaml_path.endswith("].id")
    assert "duplicate item id 'cd4'" in error.message


def test_a_unit_clinical_rules_do_not_accept_is_refused(broken: Broken) -> None:
    case = broken("quantity: hemoglobin, units: [g/dL, g/L]", "quantity: hemoglobin, units: [g/dL, mmol/L]")
    error = load_error(case.path)
    assert error.yaml_path.endswith(".units[1]")
    assert "mmol/L" in error.message and "clinical-rules section 1" in error.message


def test_several_units_without_a_conversion_are_refused(broken: Broken) -> None:
    case = broken("units: [mg/L], physical: {min: 0, max: 1000}", "units: [mg/L, mg/dL], physical: {min: 0, max: 1000}")
    error = load_error(case.path)
    assert error.yaml_path.endswith(".units")
    assert "quantity" in error.message


def test_a_check_naming_a_missing_item_points_at_it(broken: Broken) -> None:
    case = broken("kind: after, item: stopped_at, other: started_at", "kind: after, item: stopped_at, other: begun_at")
    error = load_error(case.path)
    assert error.yaml_path == "forms[7].checks[0].other"
    assert "no item 'begun_at'" in error.message


def test_a_choice_item_without_choices_is_refused(broken: Broken) -> None:
    case = broken(
        "{id: primary_cause, label: Primary cause, type: choice,",
        "{id: primary_cause, label: Primary cause, type: text,",
    )
    error = load_error(case.path)
    assert error.yaml_path.endswith(".choices")


def test_an_expected_range_below_its_minimum_is_refused(broken: Broken) -> None:
    case = broken("expected: {min: 6, max: 45}", "expected: {min: 45, max: 6}")
    error = load_error(case.path)
    assert error.yaml_path.endswith("expected.max")


def test_an_interpretation_form_must_say_why(broken: Broken) -> None:
    case = broken(
        "    interpretation: Mortality through day 45 is a record outcome; the items are this project's.\n", ""
    )
    error = load_error(case.path)
    assert error.yaml_path.endswith("forms[10].interpretation")


def test_a_visit_window_check_on_an_event_form_is_refused(broken: Broken) -> None:
    case = broken(
        "{id: OS-ORDER, kind: after, item: stopped_at,",
        "{id: OS-WIN, kind: within-visit-window, item: started_at, message: x}\n      - {id: OS-ORDER, kind: after, item: stopped_at,",
    )
    error = load_error(case.path)
    assert error.yaml_path == "forms[7].checks[0].kind"


def test_the_viral_load_result_check_applies_only_when_rna_is_detected() -> None:
    check = next(c for c in load_protocol().form("VIRAL-LOAD").checks if c.id == "VL-RESULT")
    assert check.when is not None and check.when.item == "detected" and check.when.values == (True,)


@pytest.mark.parametrize(
    ("condition", "where", "message"),
    [
        ("when: {item: detcted, values: [true]}", "when.item", "no item 'detcted'"),
        ("when: {item: detected, values: [maybe]}", "when.values", "is yes/no"),
        ("when: {item: ct_value, values: [true]}", "when.item", "not a decimal item"),
        ("when: {item: specimen, values: [saliva]}", "when.values", "'saliva' is not a choice of 'specimen'"),
        ("when: {item: detected, values: []}", "when.values", "at least 1 item"),
    ],
)
def test_a_check_condition_names_an_item_of_the_form_and_values_it_can_hold(
    broken: Broken, condition: str, where: str, message: str
) -> None:
    case = broken("when: {item: detected, values: [true]}", condition)
    error = load_error(case.path)
    assert error.yaml_path.startswith("forms[4].checks[1].") and error.yaml_path.endswith(where), error.yaml_path
    assert error.line == case.line
    assert message in error.message, error.message
