"""Edit checks fire beside the field they are about, keep what was typed, and never coerce silently."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from iliad7.capture import CaptureContext, form_spec, validate_form
from iliad7.protocol import load_protocol

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CTX = CaptureContext(now=NOW)
PROTOCOL = load_protocol()

# A valid entry of every form (the visit it is filled at, if any).
VALID: dict[str, tuple[str, dict[str, Any]]] = {
    "VITALS": ("", {
        "assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "22", "spo2": "93", "spo2_scale": "1",
        "on_supplemental_oxygen": "yes", "oxygen_flow_lpm": "4", "systolic_bp": "105", "pulse": "112",
        "consciousness": "A", "temperature": "38.4",
    }),
    "CLINICAL-STATUS": ("", {
        "assessed_on": "2026-11-20", "dead": "no", "hospitalized": "yes", "oxygen_support": "niv_or_high_flow",
    }),
    "SOFA": ("BASELINE", {
        "assessed_on": "2026-11-20", "pao2_fio2": "180", "respiratory_support": "true", "platelets": "90",
        "platelets.unit": "10^3/uL", "creatinine.unit": "mg/dL",
        "bilirubin": "34.2", "bilirubin.unit": "umol/L", "map": "65", "dopamine": "0", "epinephrine": "0",
        "norepinephrine": "0.05", "dobutamine": "false", "gcs": "14", "creatinine": "1.3",
    }),
    "LAB": ("BASELINE", {
        "collected_at": "2026-11-20T06:00:00-05:00", "alc": "0.65", "alc.unit": "10^9/L", "alc_lln": "1.0",
        "hemoglobin": "95", "hemoglobin.unit": "g/L", "alt": "200", "alt_uln": "40", "crp": "85",
    }),
    "VIRAL-LOAD": ("BASELINE", {
        "collected_at": "2026-11-20T06:00:00-05:00", "specimen": "nasopharyngeal", "detected": "true",
        "ct_value": "24.5",
    }),
    "STUDY-DRUG": ("BASELINE", {
        "given": "true", "given_at": "2026-11-20T12:00:00-05:00", "volume_ml": "1.40",
        "injection_site": "left_deltoid", "local_reaction": "none",
    }),
    "HOSPITAL-STAY": ("", {
        "stay_type": "icu", "readmission": "false", "admitted_at": "2026-11-19T10:00:00-05:00",
        "discharged_at": "2026-11-22T10:00:00-05:00", "discharge_destination": "ward",
    }),
    "ORGAN-SUPPORT": ("", {
        "support_type": "niv", "started_at": "2026-11-19T10:00:00-05:00", "stopped_at": "2026-11-21T08:00:00-05:00",
    }),
    "SECONDARY-INFECTION": ("", {
        "onset_date": "2026-11-22", "infection_site": "bloodstream", "organism_type": "bacterial",
        "organism": "Klebsiella pneumoniae", "culture_confirmed": "yes",
    }),
    "DEMOGRAPHICS": ("SCREENING", {"collected_on": "2026-11-20", "race": "white", "ethnicity": "not_reported"}),
    "ADVERSE-EVENT": ("", {
        "term": "Lymphocyte count decreased", "grade": "3", "onset_date": "2026-11-21", "serious": "no",
        "relatedness": "possible", "expected": "no", "outcome": "recovering",
        "lab_term": "lymphocyte_count_decreased", "lab_value": "400", "lab_unit": "cells/uL",
    }),
    "DEATH": ("", {"death_date": "2026-11-24", "primary_cause": "covid_19", "cause_text": "COVID-19 pneumonia"}),
    "END-OF-STUDY": ("", {"end_status": "completed", "end_date": "2026-11-24"}),
}  # fmt: skip


def check(form: str, values: dict[str, Any], visit: str | None = None, **context: Any) -> Any:
    spec = form_spec(PROTOCOL, form)
    ctx = CaptureContext(now=NOW, visit=VALID[form][0] if visit is None else visit, **context)
    return validate_form(spec, values, context=ctx)


def kinds(result: Any, field: str) -> list[str]:
    return [m.kind for m in result.messages_for(field)]


@pytest.mark.parametrize("form", sorted(VALID))
def test_a_valid_entry_of_every_form_has_no_error(form: str) -> None:
    result = check(form, VALID[form][1])
    assert result.errors == (), result.errors


def test_every_form_of_the_protocol_has_a_valid_example_here() -> None:
    assert sorted(VALID) == sorted(f.id for f in PROTOCOL.forms)


@pytest.mark.parametrize("form", sorted(VALID))
def test_bad_input_in_every_form_is_refused_and_keeps_the_typed_text(form: str) -> None:
    spec = form_spec(PROTOCOL, form)
    values = dict(VALID[form][1])
    target = next(i for i in spec.items if i.type in ("integer", "decimal", "date", "datetime", "boolean", "choice"))
    values[target.id] = "twelve-ish"
    result = check(form, values)
    assert not result.ok
    assert result.messages_for(target.id)[0].kind in ("type", "choice")
    assert result.items[target.id].text == "twelve-ish"
    assert result.items[target.id].value is None


def test_a_missing_required_item_is_named() -> None:
    values = {k: v for k, v in VALID["VITALS"][1].items() if k != "pulse"}
    result = check("VITALS", values)
    assert kinds(result, "pulse") == ["required"]
    assert "Pulse is required" in result.messages_for("pulse")[0].message


def test_a_blank_typed_value_counts_as_missing_and_keeps_its_text() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "pulse": "   "})
    assert kinds(result, "pulse") == ["required"]
    assert result.items["pulse"].text == "   "


def test_a_decimal_in_a_whole_number_item_is_a_type_error_not_rounded() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "respiratory_rate": "22.5"})
    assert kinds(result, "respiratory_rate") == ["type"]
    assert result.items["respiratory_rate"].text == "22.5"


def test_a_value_outside_the_physical_range_is_refused() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "spo2": "101"})
    assert kinds(result, "spo2") == ["range"]
    assert "101" in result.messages_for("spo2")[0].message


def test_a_value_outside_the_usual_range_is_a_warning_that_does_not_block() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "pulse": "210"})
    assert result.ok
    assert [(m.kind, m.severity) for m in result.messages_for("pulse")] == [("expected-range", "warning")]


def test_the_range_is_checked_after_unit_conversion() -> None:
    # 300 g/L of hemoglobin is 30.0 g/dL, at the physical limit; 310 g/L is beyond it.
    assert check("LAB", {**VALID["LAB"][1], "hemoglobin": "300", "hemoglobin.unit": "g/L"}).ok
    result = check("LAB", {**VALID["LAB"][1], "hemoglobin": "310", "hemoglobin.unit": "g/L"})
    assert kinds(result, "hemoglobin") == ["range"]
    assert "31 g/dL" in result.messages_for("hemoglobin")[0].message


def test_an_unknown_unit_is_refused_beside_the_unit_field() -> None:
    result = check("LAB", {**VALID["LAB"][1], "alc.unit": "mmol/L"})
    assert kinds(result, "alc.unit") == ["unit"]
    assert "accepted: cells/mm3" in result.messages_for("alc.unit")[0].message
    assert result.items["alc"].text == "0.65" and result.items["alc"].unit_text == "mmol/L"


def test_a_value_with_several_possible_units_needs_its_unit() -> None:
    values = {k: v for k, v in VALID["LAB"][1].items() if k != "alc.unit"}
    assert kinds(check("LAB", values), "alc.unit") == ["unit"]


def test_micro_sign_and_case_are_read_as_the_same_unit() -> None:
    result = check("LAB", {**VALID["LAB"][1], "alc": "650", "alc.unit": "CELLS/µL", "alc_lln": "1000"})
    assert result.ok
    assert result.items["alc"].unit == "cells/uL"


def test_a_single_unit_may_be_left_implicit() -> None:
    result = check("LAB", VALID["LAB"][1])
    assert result.items["crp"].unit == "mg/L"


def test_an_lln_takes_the_unit_of_its_analyte() -> None:
    result = check("LAB", VALID["LAB"][1])
    assert result.items["alc_lln"].unit == "10^9/L"


def test_a_key_that_is_no_item_of_the_form_is_refused() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "heart_rate": "80"})
    assert kinds(result, "heart_rate") == ["unknown"]


def test_a_choice_outside_the_list_is_refused_not_guessed() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "consciousness": "alert"})
    assert kinds(result, "consciousness") == ["choice"]


def test_a_datetime_without_utc_offset_is_refused() -> None:
    result = check("VITALS", {**VALID["VITALS"][1], "assessed_at": "2026-11-20T10:00"})
    assert kinds(result, "assessed_at") == ["type"]
    assert "UTC offset" in result.messages_for("assessed_at")[0].message


def test_a_stop_before_its_start_is_refused_on_the_stop() -> None:
    values = {**VALID["ORGAN-SUPPORT"][1], "stopped_at": "2026-11-18T10:00:00-05:00"}
    result = check("ORGAN-SUPPORT", values)
    assert [(m.kind, m.check) for m in result.messages_for("stopped_at")] == [("cross-field", "OS-ORDER")]


def test_an_adverse_event_resolving_on_its_onset_day_is_accepted() -> None:
    assert check("ADVERSE-EVENT", {**VALID["ADVERSE-EVENT"][1], "stop_date": "2026-11-21"}).ok


def test_death_before_randomization_is_refused() -> None:
    t0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    result = check("DEATH", {**VALID["DEATH"][1], "death_date": "2026-11-19"}, randomized_at=t0)
    assert [(m.kind, m.check) for m in result.messages_for("death_date")] == [("cross-field", "DTH-AFTER-T0")]
    assert check("DEATH", {**VALID["DEATH"][1], "death_date": "2026-11-20"}, randomized_at=t0).ok


def test_a_date_in_the_future_is_refused() -> None:
    result = check("DEATH", {**VALID["DEATH"][1], "death_date": "2026-11-26"})
    assert [m.check for m in result.messages_for("death_date")] == ["DTH-FUTURE"]


def test_a_serious_event_without_awareness_time_is_refused() -> None:
    result = check("ADVERSE-EVENT", {**VALID["ADVERSE-EVENT"][1], "serious": "yes"})
    assert [m.check for m in result.messages_for("awareness_at")] == ["AE-AWARE"]


def test_a_serious_event_names_its_criterion_and_a_non_serious_one_none() -> None:
    serious = {**VALID["ADVERSE-EVENT"][1], "serious": "yes", "awareness_at": "2026-11-21T10:00:00-05:00"}
    assert [m.check for m in check("ADVERSE-EVENT", serious).messages_for("sae_death")] == ["AE-SERIOUS-WHY"]
    assert check("ADVERSE-EVENT", {**serious, "sae_hospitalization": "yes"}).ok
    assert not check("ADVERSE-EVENT", {**serious, "sae_hospitalization": "no"}).ok  # a "no" is no criterion
    not_serious = {**VALID["ADVERSE-EVENT"][1], "sae_life_threatening": "yes"}
    assert [m.check for m in check("ADVERSE-EVENT", not_serious).messages_for("sae_death")] == ["AE-NOT-SERIOUS"]
    assert check("ADVERSE-EVENT", {**VALID["ADVERSE-EVENT"][1], "sae_life_threatening": "no"}).ok


def test_a_fatal_outcome_is_the_death_criterion() -> None:
    fatal = {**VALID["ADVERSE-EVENT"][1], "outcome": "fatal", "serious": "yes", "sae_life_threatening": "yes",
             "awareness_at": "2026-11-21T10:00:00-05:00"}  # fmt: skip
    assert "AE-FATAL" in [m.check for m in check("ADVERSE-EVENT", fatal).messages_for("sae_death")]
    assert check("ADVERSE-EVENT", {**fatal, "sae_death": "yes"}).ok


def test_a_missed_dose_needs_its_reason() -> None:
    result = check("STUDY-DRUG", {"given": "no"})
    assert [m.check for m in result.messages_for("not_given_reason")] == ["SD-REASON"]
    assert check("STUDY-DRUG", {"given": "no", "not_given_reason": "discharged"}).ok


def test_a_viral_load_needs_ct_or_copies() -> None:
    values = {k: v for k, v in VALID["VIRAL-LOAD"][1].items() if k != "ct_value"}
    result = check("VIRAL-LOAD", values)
    assert [m.check for m in result.messages_for("ct_value")] == ["VL-RESULT"]


NOT_DETECTED = {"collected_at": "2026-11-20T06:00:00-05:00", "specimen": "nasopharyngeal", "detected": "false"}


def test_rna_not_detected_is_a_result_without_ct_or_load() -> None:
    result = check("VIRAL-LOAD", NOT_DETECTED)
    assert result.errors == (), result.errors
    assert result.parsed["detected"] is False


def test_rna_not_detected_may_still_carry_a_ct_or_a_load() -> None:
    assert check("VIRAL-LOAD", {**NOT_DETECTED, "ct_value": "40"}).ok
    assert check("VIRAL-LOAD", {**NOT_DETECTED, "log10_copies_per_ml": "1.2"}).ok


@pytest.mark.parametrize("detected", ["true", "yes"])
def test_rna_detected_still_needs_a_ct_or_a_load(detected: str) -> None:
    result = check("VIRAL-LOAD", {**NOT_DETECTED, "detected": detected})
    assert [m.check for m in result.messages_for("ct_value")] == ["VL-RESULT"]
    assert check("VIRAL-LOAD", {**NOT_DETECTED, "detected": detected, "log10_copies_per_ml": "5.1"}).ok


def test_a_viral_load_without_the_detected_answer_names_only_that_item() -> None:
    values = {k: v for k, v in NOT_DETECTED.items() if k != "detected"}
    result = check("VIRAL-LOAD", values)
    assert [m.field for m in result.errors] == ["detected"]
    assert kinds(result, "detected") == ["required"]


def test_a_visit_form_needs_a_visit_where_it_is_scheduled() -> None:
    assert kinds(check("LAB", VALID["LAB"][1], visit=""), "visit") == ["visit"]
    result = check("VIRAL-LOAD", VALID["VIRAL-LOAD"][1], visit="DOSE2")
    assert kinds(result, "visit") == ["visit"] and "DOSE4" in result.messages_for("visit")[0].message
    assert kinds(check("DEATH", VALID["DEATH"][1], visit="D30"), "visit") == ["visit"]


def test_a_lab_collected_outside_the_visit_window_is_flagged_from_the_calendar() -> None:
    day0 = date(2026, 11, 10)  # DOSE3 targets day 7 (+/- 1): 2026-11-16 to 2026-11-18
    inside = check("LAB", {**VALID["LAB"][1], "collected_at": "2026-11-18T08:00:00-05:00"}, visit="DOSE3", day0=day0)
    assert inside.messages_for("collected_at") == ()
    outside = check("LAB", {**VALID["LAB"][1], "collected_at": "2026-11-20T08:00:00-05:00"}, visit="DOSE3", day0=day0)
    message = outside.messages_for("collected_at")[0]
    assert (message.kind, message.severity, message.check) == ("visit-window", "warning", "LAB-WINDOW")
    assert "day 6 (2026-11-16) to day 8 (2026-11-18)" in message.message and "day 10" in message.message


def test_the_day_30_window_moves_to_an_earlier_discharge() -> None:
    day0 = date(2026, 11, 1)
    values = {**VALID["LAB"][1], "collected_at": "2026-11-13T08:00:00-05:00"}  # day 12
    assert (
        check("LAB", values, visit="D30", day0=day0, discharge_date=date(2026, 11, 13)).messages_for("collected_at")
        == ()
    )
    assert check("LAB", values, visit="D30", day0=day0).messages_for("collected_at")[0].kind == "visit-window"


def test_typed_values_are_parsed_exactly() -> None:
    result = check("SOFA", VALID["SOFA"][1])
    assert result.items["bilirubin"].value == Decimal("34.2")
    assert result.items["bilirubin"].canonical == Decimal(2)  # 34.2 umol/L / 17.1 = 2.0 mg/dL
    assert result.items["gcs"].value == 14
    assert result.items["respiratory_support"].value is True


def test_stored_text_of_a_datetime_is_utc() -> None:
    result = check("VITALS", VALID["VITALS"][1])
    assert result.items["assessed_at"].stored == "2026-11-20T15:00:00+00:00"


def test_a_bad_ctcae_unit_in_an_adverse_event_is_named() -> None:
    result = check("ADVERSE-EVENT", {**VALID["ADVERSE-EVENT"][1], "lab_unit": "furlongs"})
    assert kinds(result, "lab_unit") == ["unit"]
