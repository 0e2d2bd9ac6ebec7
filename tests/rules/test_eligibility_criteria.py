"""Eligibility (clinical-rules 3): both sides of every criterion boundary, in three-valued logic."""

from __future__ import annotations

import pytest

from iliad7.eligibility import CRITERION_IDS

from .conftest import DELETE, criterion, judge, varied

T0 = "2021-03-05T14:00:00+00:00"


def test_the_spec_example_is_eligible_with_a_reason_for_every_criterion() -> None:
    result = judge()
    assert result.verdict == "eligible"
    assert [c.id for c in result.criteria] == list(CRITERION_IDS)
    assert all(c.status == "pass" and c.reason for c in result.criteria)


# ---- INC-CONSENT


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"consent__type": "emergency_oral"}, "pass"),
        ({"consent__by": "legally_authorized_representative"}, "pass"),
        ({"consent__obtained": False}, "fail"),
        ({"consent__reconsent_anticipated": False}, "fail"),
        ({"consent__obtained": False, "consent__type": None}, "fail"),
        ({"consent__type": None}, "unknown"),
        ({"consent": None}, "unknown"),
    ],
)
def test_consent(changes: dict[str, object], status: str) -> None:
    assert criterion("INC-CONSENT", **changes)[0] == status


# ---- INC-ONCOLOGY


def _only(**oncology: object) -> dict[str, object]:
    base = {
        "last_chemo_or_immunotherapy_date": None, "hsct_date": None, "hsct_for_lymphoma": False,
        "car_t_date": None, "on_hormonal_therapy": False, "last_cancer_surgery_or_radiotherapy_date": None,
        "new_untreated_biopsy_proven_malignancy": False,
    }  # fmt: skip
    return {"oncology": {**base, **oncology}}


@pytest.mark.parametrize(
    ("oncology", "status"),
    [
        ({}, "fail"),
        ({"last_chemo_or_immunotherapy_date": "2020-09-05"}, "pass"),  # exactly 6 months
        ({"last_chemo_or_immunotherapy_date": "2020-09-04"}, "fail"),
        ({"last_chemo_or_immunotherapy_date": "2021-03-05"}, "pass"),
        ({"last_chemo_or_immunotherapy_date": "2021-03-06"}, "fail"),  # after T0's date
        ({"last_cancer_surgery_or_radiotherapy_date": "2020-09-05"}, "pass"),
        ({"last_cancer_surgery_or_radiotherapy_date": "2020-09-04"}, "fail"),
        ({"hsct_date": "2020-03-05"}, "pass"),  # exactly 12 months
        ({"hsct_date": "2020-03-04"}, "fail"),
        ({"hsct_date": "2020-12-01", "hsct_for_lymphoma": True}, "fail"),
        ({"hsct_date": "2020-12-01", "hsct_for_lymphoma": None}, "unknown"),
        ({"hsct_date": None, "hsct_for_lymphoma": None}, "fail"),
        (
            {"car_t_date": "2021-02-03"},
            "fail",
        ),  # 30 days before: within the past 30 days, (c) fails
        ({"car_t_date": "2021-02-02"}, "pass"),  # 31 days before
        ({"car_t_date": "2020-03-05"}, "pass"),
        ({"car_t_date": "2020-03-04"}, "fail"),
        ({"on_hormonal_therapy": True}, "pass"),
        ({"new_untreated_biopsy_proven_malignancy": True}, "pass"),
        ({"on_hormonal_therapy": None}, "unknown"),
        ({"on_hormonal_therapy": None, "new_untreated_biopsy_proven_malignancy": True}, "pass"),
    ],
)
def test_oncology_windows(oncology: dict[str, object], status: str) -> None:
    assert criterion("INC-ONCOLOGY", **_only(**oncology))[0] == status


def test_six_months_before_31_august_is_28_february() -> None:
    t0 = "2021-08-31T10:00:00+00:00"
    changes = {"baseline_time": t0, "alc__0__time": "2021-08-31T09:00:00+00:00", "news2": []}
    assert criterion("INC-ONCOLOGY", **_only(last_chemo_or_immunotherapy_date="2021-02-28"), **changes)[0] == "pass"
    assert criterion("INC-ONCOLOGY", **_only(last_chemo_or_immunotherapy_date="2021-02-27"), **changes)[0] == "fail"


def test_absent_oncology_date_is_missing_but_null_means_never() -> None:
    record = _only()
    del record["oncology"]["hsct_date"]  # type: ignore[attr-defined]
    status, missing = criterion("INC-ONCOLOGY", **record)
    assert (status, missing) == ("unknown", ("oncology.hsct_date",))


# ---- INC-AGE


@pytest.mark.parametrize(
    ("birth", "status"),
    [
        ("1996-03-05", "pass"),  # 25th birthday on T0's date
        ("1996-03-06", "fail"),  # 24 until tomorrow
        ("1940-03-06", "pass"),  # 80, turns 81 tomorrow
        ("1940-03-05", "fail"),  # 81 today
    ],
)
def test_age_is_completed_years_on_t0_date(birth: str, status: str) -> None:
    assert criterion("INC-AGE", birth_date=birth)[0] == status


def test_age_uses_t0_date_in_its_own_offset() -> None:
    # 2021-03-05 23:30 at UTC-05:00 is 6 March in UTC; the local date decides.
    changes = {"baseline_time": "2021-03-05T23:30:00-05:00", "birth_date": "1996-03-06"}
    assert criterion("INC-AGE", **changes)[0] == "fail"


def test_leap_day_birthday() -> None:
    changes = {
        "baseline_time": "2021-02-28T12:00:00+00:00",
        "news2": [],
        "alc__0__time": "2021-02-28T10:00:00+00:00",
    }
    assert criterion("INC-AGE", birth_date="1996-02-29", **changes)[0] == "fail"  # still 24
    changes["baseline_time"] = "2021-03-01T12:00:00+00:00"
    assert criterion("INC-AGE", birth_date="1996-02-29", **changes)[0] == "pass"


# ---- INC-ALC


@pytest.mark.parametrize(
    ("alc", "status"),
    [
        ([{"time": "2021-03-05T10:00:00+00:00", "value": 1000, "unit": "cells/uL"}], "pass"),
        ([{"time": "2021-03-05T10:00:00+00:00", "value": 1.0, "unit": "10^9/L"}], "pass"),
        ([{"time": "2021-03-05T10:00:00+00:00", "value": 1001, "unit": "/mm3"}], "fail"),
        ([{"time": "2021-03-02T14:00:00+00:00", "value": 500, "unit": "/uL"}], "pass"),  # exactly 72 h
        ([{"time": "2021-03-02T13:59:59+00:00", "value": 500, "unit": "/uL"}], "fail"),
        ([{"time": "2021-03-05T14:00:00+00:00", "value": 500, "unit": "/uL"}], "pass"),  # at T0
        ([{"time": "2021-03-05T14:00:01+00:00", "value": 500, "unit": "/uL"}], "fail"),  # after T0
        ([], "fail"),
        ([{"time": "2021-03-05T10:00:00+00:00", "value": 1200, "unit": "/uL"},
          {"time": "2021-03-04T10:00:00+00:00", "value": 900, "unit": "/uL"}], "pass"),
        ([{"time": "2021-03-05T10:00:00+00:00", "value": None, "unit": "/uL"}], "unknown"),
        ([{"time": None, "value": 500, "unit": "/uL"}], "unknown"),
        ([{"time": None, "value": 1500, "unit": "/uL"}], "fail"),
        ([{"time": "2021-03-01T10:00:00+00:00", "value": None, "unit": "/uL"}], "fail"),  # outside the window
    ],
)  # fmt: skip
def test_alc_within_72_hours(alc: list[dict[str, object]], status: str) -> None:
    assert criterion("INC-ALC", alc=alc)[0] == status


def test_alc_reason_reads_like_a_coordinator_would_write_it() -> None:
    alc = [{"time": "2021-03-05T06:00:00+00:00", "value": 1150, "unit": "cells/uL"}]
    result = next(c for c in judge(alc=alc).criteria if c.id == "INC-ALC")
    assert result.reason == "ALC 1,150 cells/mm3 on 2021-03-05 06:00 is above 1,000"


def test_not_hospitalized_fails_alc_and_hypoxemia_whatever_is_missing() -> None:
    result = judge(hospitalized=False, alc=None, respiratory_support=None)
    assert {"INC-ALC", "INC-HYPOXEMIA"} <= set(result.failed)


def test_missing_alc_list_is_unknown() -> None:
    assert criterion("INC-ALC", alc=DELETE) == ("unknown", ("alc",))


# ---- INC-HYPOXEMIA


@pytest.mark.parametrize(
    ("support", "status"),
    [
        ({"device": "nasal_cannula", "oxygen_flow_lpm": 4}, "fail"),
        ({"device": "nasal_cannula", "oxygen_flow_lpm": 4.5}, "pass"),
        ({"device": "mask", "oxygen_flow_lpm": 5}, "pass"),
        ({"device": "mask", "oxygen_flow_lpm": None}, "unknown"),
        ({"device": "high_flow"}, "pass"),
        ({"device": "niv"}, "pass"),
        ({"device": "mechanical_ventilation"}, "pass"),
        ({"device": "ecmo"}, "pass"),
        ({"device": "none"}, "fail"),
        ({"device": None}, "unknown"),
    ],
)
def test_hypoxemia_needs_more_than_4_litres_or_high_support(support: dict[str, object], status: str) -> None:
    changes: dict[str, object] = {"respiratory_support": support}
    if support.get("device") in ("mechanical_ventilation", "ecmo"):
        changes["mechanical_ventilation_start"] = "2021-03-04T00:00:00+00:00"
    assert criterion("INC-HYPOXEMIA", **changes)[0] == status


@pytest.mark.parametrize(
    ("field", "cid"),
    [("covid_confirmed", "INC-COVID"), ("contraception_agreed", "INC-CONTRACEPTION")],
)
def test_simple_inclusions(field: str, cid: str) -> None:
    assert criterion(cid, **{field: True})[0] == "pass"
    assert criterion(cid, **{field: False})[0] == "fail"
    assert criterion(cid, **{field: None}) == ("unknown", (field,))


# ---- exclusions that are one flag


@pytest.mark.parametrize(
    ("field", "cid"),
    [
        ("pregnant", "EXC-PREGNANCY"), ("breastfeeding", "EXC-PREGNANCY"),
        ("active_autoimmune_disease", "EXC-AUTOIMMUNE"), ("lymphoid_malignancy_history", "EXC-LYMPHOID-MALIGNANCY"),
        ("malignancy_life_expectancy_under_6_months", "EXC-LIFE-EXPECTANCY"),
        ("unresolved_crs", "EXC-CART"), ("unresolved_icans", "EXC-CART"),
        ("solid_organ_transplant_history", "EXC-TRANSPLANT"), ("active_tuberculosis", "EXC-INFECTION"),
        ("uncontrolled_hbv", "EXC-INFECTION"), ("uncontrolled_hcv", "EXC-INFECTION"),
        ("hiv_viral_load_detectable", "EXC-INFECTION"), ("chronic_dialysis", "EXC-DIALYSIS"),
        ("under_guardianship", "EXC-GUARDIANSHIP"),
    ],
)  # fmt: skip
def test_flag_exclusions(field: str, cid: str) -> None:
    assert criterion(cid, **{field: True})[0] == "fail"
    assert criterion(cid, **{field: False})[0] == "pass"
    status, missing = criterion(cid, **{field: None})
    assert status == "unknown" and field in missing
    assert judge(**{field: True}).verdict == "ineligible"


def test_one_exclusion_applying_decides_despite_the_other_missing() -> None:
    assert criterion("EXC-PREGNANCY", pregnant=True, breastfeeding=None)[0] == "fail"
    assert criterion("EXC-INFECTION", uncontrolled_hbv=True, active_tuberculosis=None)[0] == "fail"


# ---- EXC-LIVER


@pytest.mark.parametrize(
    ("alt", "ast", "status"),
    [
        ({"value": 166.5, "uln": 33.3}, {"value": 20, "uln": 40}, "pass"),  # exactly 5 x ULN
        ({"value": 166.6, "uln": 33.3}, {"value": 20, "uln": 40}, "fail"),
        ({"value": 20, "uln": 40}, {"value": 200.1, "uln": 40}, "fail"),
        ({"value": 20, "uln": 40}, {"value": 200, "uln": 40}, "pass"),
        ({"value": 20, "uln": None}, {"value": 20, "uln": 40}, "unknown"),
        ({"value": 20, "uln": None}, {"value": 201, "uln": 40}, "fail"),
        (None, {"value": 20, "uln": 40}, "unknown"),
    ],
)
def test_liver_enzymes_above_5_times_uln(alt: object, ast: object, status: str) -> None:
    assert criterion("EXC-LIVER", alt=alt, ast=ast)[0] == status


# ---- EXC-CART


@pytest.mark.parametrize(
    ("car_t", "status"),
    [
        ("2021-02-03", "fail"),
        ("2021-02-02", "pass"),
        ("2021-03-05", "fail"),
        ("2021-03-06", "pass"),
    ],
)
def test_car_t_within_the_past_30_days(car_t: str, status: str) -> None:
    assert criterion("EXC-CART", oncology__car_t_date=car_t)[0] == status


def test_car_t_date_absent_is_unknown() -> None:
    assert criterion("EXC-CART", oncology__car_t_date=DELETE) == (
        "unknown",
        ("oncology.car_t_date",),
    )


# ---- thresholds


@pytest.mark.parametrize(("grade", "status"), [(0, "pass"), (2, "pass"), (3, "fail"), (4, "fail")])
def test_toxicity_grade_3_or_more_excludes(grade: int, status: str) -> None:
    assert criterion("EXC-TOXICITY", max_unresolved_prior_therapy_toxicity_grade=grade)[0] == status


@pytest.mark.parametrize(("hours", "status"), [(0, "pass"), (6, "pass"), (6.0, "pass"), (6.01, "fail"), (24, "fail")])
def test_refractory_hypoxia_more_than_6_hours(hours: float, status: str) -> None:
    assert criterion("EXC-REFRACTORY-HYPOXIA", hours_spo2_at_or_below_85_on_maximal_therapy=hours)[0] == status


@pytest.mark.parametrize(("sofa", "status"), [(0, "pass"), (8, "pass"), (9, "fail"), (24, "fail")])
def test_sofa_9_or_more_excludes(sofa: int, status: str) -> None:
    assert criterion("EXC-SOFA", sofa=sofa)[0] == status


SOFA_FULL = {
    "pao2_fio2": 170, "respiratory_support": True, "platelets": 85, "bilirubin": 0.7, "map": 78,
    "dopamine": 0, "epinephrine": 0, "norepinephrine": 0, "dobutamine": False, "gcs": 14, "creatinine": 0.8,
}  # fmt: skip


def test_sofa_object_is_scored() -> None:
    assert criterion("EXC-SOFA", sofa=SOFA_FULL)[0] == "pass"  # 6
    assert criterion("EXC-SOFA", sofa={**SOFA_FULL, "gcs": 5, "creatinine": 2.0})[0] == "fail"  # 11


def test_sofa_object_already_at_9_fails_despite_missing_systems() -> None:
    partial = {
        **SOFA_FULL,
        "pao2_fio2": 90,
        "platelets": 15,
        "bilirubin": None,
    }  # 4 + 4 + 1 present
    assert criterion("EXC-SOFA", sofa=partial)[0] == "fail"


def test_sofa_object_that_cannot_reach_9_passes_despite_missing_systems() -> None:
    partial = {**SOFA_FULL, "pao2_fio2": 450, "platelets": 200, "gcs": None}  # 0 + 0 + at most 4
    assert criterion("EXC-SOFA", sofa=partial)[0] == "pass"


def test_sofa_object_that_could_reach_9_is_unknown() -> None:
    status, missing = criterion("EXC-SOFA", sofa={**SOFA_FULL, "gcs": None, "creatinine": None})
    assert (status, missing) == ("unknown", ("sofa.gcs", "sofa.creatinine"))


@pytest.mark.parametrize(
    ("weight", "height", "status"), [(115.6, 170, "pass"), (115.61, 170, "fail"), (70, 170, "pass")]
)
def test_bmi_above_40_excludes_exactly(weight: float, height: float, status: str) -> None:
    assert criterion("EXC-BMI", weight_kg=weight, height_cm=height)[0] == status


@pytest.mark.parametrize(("cfs", "status"), [(1, "pass"), (5, "pass"), (6, "fail"), (9, "fail")])
def test_frailty_6_or_more_excludes(cfs: int, status: str) -> None:
    assert criterion("EXC-FRAILTY", clinical_frailty_scale=cfs)[0] == status


# ---- EXC-PROLONGED-MV


@pytest.mark.parametrize(
    ("device", "start", "status"),
    [
        ("mechanical_ventilation", "2021-02-26T14:00:00+00:00", "fail"),  # exactly 168 h
        ("mechanical_ventilation", "2021-02-26T14:00:01+00:00", "pass"),
        ("ecmo", "2021-02-20T00:00:00+00:00", "fail"),
        ("mechanical_ventilation", None, "unknown"),
        ("niv", "2021-02-01T00:00:00+00:00", "pass"),  # not ventilated now: the start is ignored
        ("high_flow", None, "pass"),
        (None, "2021-03-01T00:00:00+00:00", "pass"),  # under 168 h whatever the device
        (None, "2021-02-20T00:00:00+00:00", "unknown"),
        (None, None, "unknown"),  # null start with unknown device: could be ventilated for 10 days
    ],
)
def test_prolonged_ventilation(device: str | None, start: str | None, status: str) -> None:
    result = criterion(
        "EXC-PROLONGED-MV",
        respiratory_support={"device": device},
        mechanical_ventilation_start=start,
    )
    assert result[0] == status
    if device is None and status == "unknown":
        assert result[1] == ("respiratory_support.device",)


def test_absent_start_with_unknown_device_is_unknown() -> None:
    status, missing = criterion(
        "EXC-PROLONGED-MV",
        respiratory_support={"device": None},
        mechanical_ventilation_start=DELETE,
    )
    assert status == "unknown" and "mechanical_ventilation_start" in missing


# ---- EXC-NEWS2-RISE


def _n(time: str, score: int | None) -> dict[str, object]:
    return {"time": time, "score": score}


@pytest.mark.parametrize(
    ("scores", "status"),
    [
        ([], "pass"),
        ([_n("2021-03-04T14:00:00+00:00", 5), _n("2021-03-05T13:00:00+00:00", 11)], "pass"),  # +6
        ([_n("2021-03-04T14:00:00+00:00", 5), _n("2021-03-05T13:00:00+00:00", 12)], "fail"),  # +7
        ([_n("2021-03-04T14:00:00+00:00", 12), _n("2021-03-05T13:00:00+00:00", 5)], "pass"),  # a fall
        ([_n("2021-03-05T13:00:00+00:00", 2), _n("2021-03-05T13:00:00+00:00", 12)], "pass"),  # same instant
        ([_n("2021-03-02T14:00:00+00:00", 2), _n("2021-03-05T14:00:00+00:00", 9)], "fail"),  # window edges
        ([_n("2021-03-02T13:59:00+00:00", 2), _n("2021-03-05T14:00:00+00:00", 9)], "pass"),  # first outside
        ([_n("2021-03-04T00:00:00+00:00", 2), _n("2021-03-05T15:00:00+00:00", 9)], "pass"),  # second after T0
        ([_n("2021-03-03T00:00:00+00:00", 1), _n("2021-03-04T00:00:00+00:00", 9),
          _n("2021-03-05T00:00:00+00:00", 8)], "fail"),  # largest pair is not adjacent in value order
        ([_n("2021-03-04T00:00:00+00:00", 3), _n("2021-03-05T00:00:00+00:00", None)], "unknown"),
        ([_n("2021-03-04T00:00:00+00:00", 10), {"time": None, "score": 10}], "pass"),  # nothing can rise > 6
        ([_n("2021-03-04T00:00:00+00:00", 2), {"time": None, "score": 10}], "unknown"),
        ([_n("2021-02-01T00:00:00+00:00", None), _n("2021-03-05T00:00:00+00:00", 9)], "pass"),  # outside
    ],
)  # fmt: skip
def test_news2_rise_of_more_than_6_within_72_hours(scores: list[dict[str, object]], status: str) -> None:
    assert criterion("EXC-NEWS2-RISE", news2=scores)[0] == status


def test_missing_news2_history_is_unknown() -> None:
    assert criterion("EXC-NEWS2-RISE", news2=None) == ("unknown", ("news2",))


# ---- the verdict


def test_verdict_ineligible_beats_incomplete_and_lists_in_protocol_order() -> None:
    result = judge(covid_confirmed=None, under_guardianship=True, pregnant=True, weight_kg=None)
    assert result.verdict == "ineligible"
    assert result.failed == ("EXC-PREGNANCY", "EXC-GUARDIANSHIP")
    assert result.unknown == ("INC-COVID", "EXC-BMI")


def test_everything_missing_is_incomplete_not_a_crash() -> None:
    result = judge(**{key: DELETE for key in varied()})
    assert result.verdict == "incomplete"
    assert all(c.status == "unknown" and c.missing for c in result.criteria if c.id != "INC-ALC")
