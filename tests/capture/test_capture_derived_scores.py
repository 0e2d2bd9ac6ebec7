"""Values derived on save equal the pure scores of clinical-rules section 2, with the inputs they came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from iliad7.capture import CaptureContext, derive, form_spec, sae_deadline, validate_form
from iliad7.errors import InputError
from iliad7.protocol import load_protocol
from iliad7.scores import (
    CtcaeInput,
    News2Input,
    SofaInput,
    WhoInput,
    ctcae_grade,
    news2,
    sofa,
    who_clinical_progression,
)

PROTOCOL = load_protocol()
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def parsed(form: str, values: dict[str, Any], visit: str = "") -> dict[str, Any]:
    result = validate_form(form_spec(PROTOCOL, form), values, context=CaptureContext(now=NOW, visit=visit))
    assert result.ok, result.errors
    return result.parsed


def test_news2_on_save_equals_the_pure_score_with_its_components() -> None:
    values = {
        "assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "22", "spo2": "93", "spo2_scale": "1",
        "on_supplemental_oxygen": "yes", "oxygen_flow_lpm": "4", "systolic_bp": "105", "pulse": "112",
        "consciousness": "A", "temperature": "38.4",
    }  # fmt: skip
    derived = derive("VITALS", parsed("VITALS", values))["news2"]
    expected = news2(
        News2Input(
            respiratory_rate=22, spo2=93, spo2_scale=1, on_supplemental_oxygen=True, systolic_bp=105, pulse=112,
            consciousness="A", temperature=38.4,
        )
    )  # fmt: skip
    assert derived.value == str(expected.score) == "10"
    assert derived.result["components"] == expected.components
    assert derived.result["risk"] == "high"
    assert derived.inputs["temperature"] == 38.4 and derived.inputs["on_supplemental_oxygen"] is True
    assert derived.rule == "clinical-rules 2.1"


def test_news2_temperature_is_banded_after_rounding_half_up() -> None:
    values = {
        "assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "16", "spo2": "97", "spo2_scale": "1",
        "on_supplemental_oxygen": "no", "systolic_bp": "120", "pulse": "80", "consciousness": "A",
        "temperature": "38.05",
    }  # fmt: skip
    assert derive("VITALS", parsed("VITALS", values))["news2"].result["components"]["temperature"] == 1


def test_sofa_on_save_converts_units_and_equals_the_pure_score() -> None:
    values = {
        "assessed_on": "2026-11-20", "pao2_fio2": "180", "respiratory_support": "true", "platelets": "90000",
        "platelets.unit": "/mm3", "bilirubin": "34.2", "bilirubin.unit": "umol/L", "map": "65", "dopamine": "0",
        "epinephrine": "0", "norepinephrine": "0.05", "dobutamine": "false", "gcs": "14", "creatinine": "442",
        "creatinine.unit": "umol/L",
    }  # fmt: skip
    derived = derive("SOFA", parsed("SOFA", values, "BASELINE"))["sofa"]
    expected = sofa(
        SofaInput(
            pao2_fio2=180, respiratory_support=True, platelets=90, bilirubin=2.0, map=65, dopamine=0, epinephrine=0,
            norepinephrine=0.05, dobutamine=False, gcs=14, creatinine=5.0,
        )
    )  # fmt: skip
    assert derived.value == str(expected.score)
    assert derived.result["components"] == expected.components
    assert derived.inputs["platelets"] == 90.0 and derived.inputs["bilirubin"] == 2.0
    assert derived.inputs["creatinine"] == 5.0  # 442 umol/L is exactly 5.0 mg/dL: 4 renal points
    assert expected.components["renal"] == 4


def test_an_incomplete_sofa_is_stored_blank_with_what_is_missing() -> None:
    derived = derive("SOFA", parsed("SOFA", {"assessed_on": "2026-11-20", "gcs": "15"}, "BASELINE"))["sofa"]
    assert derived.value == ""
    assert derived.result["partial_score"] == 0 and "platelets" in derived.result["missing"]


def test_who_scale_on_save_equals_the_pure_score() -> None:
    values = {"assessed_on": "2026-11-20", "dead": "no", "hospitalized": "yes", "oxygen_support": "niv_or_high_flow"}
    derived = derive("CLINICAL-STATUS", parsed("CLINICAL-STATUS", values))["who_scale"]
    expected = who_clinical_progression(WhoInput(dead=False, hospitalized=True, oxygen_support="niv_or_high_flow"))
    assert derived.value == str(expected.score) == "6"


def test_death_is_who_10() -> None:
    values = {"assessed_on": "2026-11-20", "dead": "yes", "hospitalized": "no"}
    assert derive("CLINICAL-STATUS", parsed("CLINICAL-STATUS", values))["who_scale"].value == "10"


@pytest.mark.parametrize(
    ("analyte", "extra", "term"),
    [
        ("alc", {"alc": "0.65", "alc.unit": "10^9/L", "alc_lln": "1.0"}, "lymphocyte_count_decreased"),
        ("hemoglobin", {"hemoglobin": "95", "hemoglobin.unit": "g/L"}, "anemia"),
        ("alt", {"alt": "166.5", "alt_uln": "33.3"}, "alt_increased"),
        ("platelets", {"platelets": "40", "platelets.unit": "10^3/uL", "platelets_lln": "150"}, "platelet_count_decreased"),
        ("creatinine", {"creatinine": "2.0", "creatinine.unit": "mg/dL", "creatinine_uln": "1.1"}, "creatinine_increased"),
    ],
)  # fmt: skip
def test_lab_ctcae_grade_on_save_equals_the_pure_grade(analyte: str, extra: dict[str, str], term: str) -> None:
    values = {"collected_at": "2026-11-20T06:00:00-05:00", **extra}
    derived = derive("LAB", parsed("LAB", values, "BASELINE"))[f"ctcae_{term}"]
    unit = extra.get(f"{analyte}.unit") or {"alt": "U/L"}.get(analyte)
    lln, uln = extra.get(f"{analyte}_lln"), extra.get(f"{analyte}_uln")
    expected = ctcae_grade(
        CtcaeInput(
            term=term,  # type: ignore[arg-type]
            value=float(extra[analyte]),
            unit=unit,
            lln=None if lln is None else float(lln),
            uln=None if uln is None else float(uln),
        )
    )
    assert derived.value == ("" if expected.grade is None else str(expected.grade))
    assert derived.inputs["value"] == float(extra[analyte]) and derived.inputs["unit"] == unit


def test_alt_at_exactly_five_times_uln_is_grade_2() -> None:
    values = {"collected_at": "2026-11-20T06:00:00-05:00", "alt": "166.5", "alt_uln": "33.3"}
    assert derive("LAB", parsed("LAB", values, "BASELINE"))["ctcae_alt_increased"].value == "2"


def test_a_grade_that_needs_a_missing_lln_is_blank_with_the_missing_limit() -> None:
    values = {"collected_at": "2026-11-20T06:00:00-05:00", "alc": "900", "alc.unit": "cells/mm3"}
    derived = derive("LAB", parsed("LAB", values, "BASELINE"))["ctcae_lymphocyte_count_decreased"]
    assert derived.value == "" and derived.result["missing"] == ["lln"]


def test_an_abnormal_baseline_changes_the_alt_grade() -> None:
    values = {"collected_at": "2026-11-20T06:00:00-05:00", "alt": "150", "alt_uln": "40"}
    without = derive("LAB", parsed("LAB", values, "DOSE3"))["ctcae_alt_increased"]
    with_baseline = derive("LAB", parsed("LAB", values, "DOSE3"), baselines={"alt": Decimal(100)})
    assert without.value == "2"  # 3.75 x ULN
    assert with_baseline["ctcae_alt_increased"].value == "1"  # 1.5 x an abnormal baseline


def test_an_adverse_event_gets_a_suggested_grade_from_its_lab_value() -> None:
    values = {
        "term": "Lymphocyte count decreased", "grade": "3", "onset_date": "2026-11-21", "serious": "no",
        "relatedness": "possible", "expected": "no", "outcome": "recovering",
        "lab_term": "lymphocyte_count_decreased", "lab_value": "400", "lab_unit": "cells/uL",
    }  # fmt: skip
    assert derive("ADVERSE-EVENT", parsed("ADVERSE-EVENT", values))["suggested_grade"].value == "3"


def test_forms_without_a_score_derive_nothing() -> None:
    assert derive("DEATH", {"death_date": "2026-11-24"}) == {}


def test_a_serious_adverse_event_must_be_reported_within_24_hours_of_awareness() -> None:
    aware = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    assert sae_deadline({"serious": True, "awareness_at": aware}) == aware + timedelta(hours=24)


def test_a_non_serious_event_has_no_reporting_clock() -> None:
    with pytest.raises(InputError) as refused:
        sae_deadline({"serious": False, "awareness_at": NOW})
    assert refused.value.field == "serious"
    with pytest.raises(InputError) as missing:
        sae_deadline({"serious": True})
    assert missing.value.field == "awareness_at"


def test_an_entered_grade_that_differs_from_the_lab_grade_is_a_warning_beside_the_grade() -> None:
    values = {
        "term": "Lymphocyte count decreased", "grade": "2", "onset_date": "2026-11-21", "serious": "no",
        "relatedness": "possible", "expected": "no", "outcome": "recovering",
        "lab_term": "lymphocyte_count_decreased", "lab_value": "400", "lab_unit": "cells/uL",
    }  # fmt: skip
    result = validate_form(form_spec(PROTOCOL, "ADVERSE-EVENT"), values, context=CaptureContext(now=NOW))
    assert result.ok
    [message] = result.messages_for("grade")
    assert message.severity == "warning" and "(3)" in message.message
