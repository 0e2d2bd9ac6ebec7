"""Simulated participants: published control-arm ranges, and days that hang together clinically."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from iliad7.simulate.cohort import cohort_json, simulate_cohort
from iliad7.simulate.course import draw_courses, protocol_calendar
from iliad7.simulate.parameters import load_parameters
from iliad7.simulate.trajectories import Participant, participants_from_courses

N_PLACEBO = 1500


@pytest.fixture(scope="module")
def placebo() -> list[Participant]:
    params = load_parameters()
    rng = np.random.default_rng(2024)
    shape = (N_PLACEBO,)
    courses = draw_courses(params, rng, arm=np.zeros(shape, dtype=np.int64), site=rng.integers(0, 2, shape))
    return participants_from_courses(courses, params, rng)


@pytest.fixture(scope="module")
def mixed() -> list[Participant]:
    params = load_parameters()
    rng = np.random.default_rng(7)
    shape = (800,)
    arm = np.tile(np.array([0, 1], dtype=np.int64), shape[0] // 2)
    courses = draw_courses(params, rng, arm=arm, site=rng.integers(0, 2, shape))
    return participants_from_courses(courses, params, rng)


# --- published ranges (parameters.yaml `checks`) -------------------------------------------------
# With 1,500 placebo participants the sampling SE is about 0.013 for mortality, under 1 day for the
# median stay and about 0.03 for the median ALC ratio; the model sits well inside each cited range
# (0.39 in 0.28-0.55, about 21 d in 13-42 d, 1.5 in 1.2-2.0), so the check fails only if the model
# moves, not by chance.


def test_placebo_day45_mortality_is_inside_the_cited_range(placebo: list[Participant]) -> None:
    check = load_parameters().checks.placebo_mortality_d45.value
    mortality = np.mean([p.death_day is not None for p in placebo])
    assert check["low"] <= mortality <= check["high"]


def test_placebo_length_of_stay_is_inside_the_cited_range(placebo: list[Participant]) -> None:
    check = load_parameters().checks.placebo_los_median_survivors.value
    horizon = protocol_calendar().horizon_day
    # survivors still in hospital at day 45 count as longer than any discharge (the median is unaffected)
    stays = [p.discharge_day if p.discharge_day is not None else horizon + 1 for p in placebo if p.death_day is None]
    assert check["low"] <= float(np.median(stays)) <= check["high"]


def test_placebo_alc_day29_to_baseline_ratio_is_inside_the_cited_range(placebo: list[Participant]) -> None:
    check = load_parameters().checks.placebo_alc_ratio_d29_median.value
    ratios = [p.alc[29] / p.alc[0] for p in placebo if p.death_day is None]
    assert check["low"] <= float(np.median(ratios)) <= check["high"]


def test_placebo_alc_rises_over_the_first_month_in_survivors(placebo: list[Participant]) -> None:
    survivors = np.array([p.alc[:31] / p.alc[0] for p in placebo if p.death_day is None])
    medians = np.median(survivors, axis=0)
    assert medians[7] < medians[14] < medians[29]


def test_cyt107_raises_alc_and_placebo_does_not_get_the_effect(mixed: list[Participant]) -> None:
    def median_ratio(arm: str) -> float:
        return float(np.median([p.alc[21] / p.alc[0] for p in mixed if p.baseline.arm == arm and p.death_day is None]))

    assert median_ratio("CYT107") / median_ratio("placebo") == pytest.approx(1.33, abs=0.2)


# --- death, discharge and dosing ---------------------------------------------------------------


def test_no_data_after_death(mixed: list[Participant]) -> None:
    dead = [p for p in mixed if p.death_day is not None]
    assert dead
    for p in dead:
        t = p.death_day
        assert t is not None
        for series in (p.alc, p.cd4, p.cd8, p.ferritin, p.crp, p.d_dimer, p.viral_load_log10):
            assert np.isnan(series[t:]).all() and not np.isnan(series[:t]).any()
        assert (p.who[t:] == 10).all() and (p.who[:t] < 10).all()
        assert not p.hospitalized[t:].any() and (p.news2[t:] == -1).all()
        assert all(v is None for v in p.vitals[t:])
        assert all(d.study_day < t for d in p.doses)
        assert all(e.day < t for e in p.adverse_events)
        assert all(e.stop_day is not None and e.stop_day <= t for e in p.support + p.icu_stays + p.hospital_stays)
        assert p.discharge_day is None


def test_death_follows_worsening_status(mixed: list[Participant]) -> None:
    for p in mixed:
        if p.death_day is not None:
            before = p.who[p.death_day - 1]
            assert before >= max(6, p.who[0])


def test_discharge_only_after_recovery(mixed: list[Participant]) -> None:
    recovery = int(load_parameters().course.recovery_days_before_discharge.value)
    discharged = [p for p in mixed if p.discharge_day is not None]
    assert discharged
    for p in discharged:
        d = p.discharge_day
        assert d is not None and d >= recovery + 1
        assert (p.who[d - recovery : d] == 4).all()
        assert p.hospitalized[:d].all() and not p.hospitalized[d]
        assert p.who[d] <= 3


def test_no_dose_on_or_after_discharge(mixed: list[Participant]) -> None:
    for p in mixed:
        stops = [day for day in (p.discharge_day, p.death_day) if day is not None]
        if stops:
            assert all(d.study_day < min(stops) for d in p.doses)


def test_doses_follow_the_protocol_schedule(mixed: list[Participant]) -> None:
    cal = protocol_calendar()
    for p in mixed:
        assert p.doses[0].number == 1 and p.doses[0].study_day == 0
        assert [d.number for d in p.doses] == list(range(1, len(p.doses) + 1))
        assert all(d.study_day == cal.dose_days[d.number - 1] for d in p.doses)
        assert len(p.doses) <= 7
        assert all(d.dose_ug == math.floor(p.baseline.weight_kg * 10 + 0.5) for d in p.doses)
        # someone still in the first stay and alive on day 21 gets all seven (a readmission brings none)
        if (p.discharge_day is None or p.discharge_day > 21) and (p.death_day is None or p.death_day > 21):
            assert len(p.doses) == 7
        for dose in p.doses[1:]:
            assert dose.given_at - p.doses[0].given_at >= timedelta(hours=72)


def test_who_scale_scored_by_iliad7_scores_equals_the_simulated_status(mixed: list[Participant]) -> None:
    for p in mixed:
        assert (p.who == p.level).all()


def test_who_inputs_of_each_day_score_to_the_simulated_who(mixed: list[Participant]) -> None:
    """The inputs the database path enters on CLINICAL-STATUS give back `who[day]` when scored."""
    from iliad7.scores import who_clinical_progression

    for p in mixed[:200]:
        for day in range(p.who.size):
            assert who_clinical_progression(p.who_status(day)).score == p.who[day]


def test_vitals_on_oxygen_carry_a_flow_in_the_device_range(mixed: list[Participant]) -> None:
    params = load_parameters()
    flows, conventional = params.vitals.oxygen_flow_lpm.value, params.population.oxygen_flow_lpm.value
    ranges = {
        "nasal_cannula": (conventional["low"], conventional["high"]),
        "mask": (conventional["low"], conventional["high"]),
        "high_flow": (flows["high_flow_low"], flows["high_flow_high"]),
    }
    for p in mixed:
        for day, v in enumerate(p.vitals):
            if v is None:
                continue
            assert v["on_supplemental_oxygen"] == (p.device[day] != "none")
            if not v["on_supplemental_oxygen"]:
                assert "oxygen_flow_lpm" not in v
                continue
            low, high = ranges.get(p.device[day], (flows["ventilator_low"], flows["ventilator_high"]))
            assert low <= v["oxygen_flow_lpm"] <= high and isinstance(v["oxygen_flow_lpm"], int)


def test_cohort_doses_come_after_randomization_and_the_protocol_interval() -> None:
    from iliad7.protocol import load_protocol

    dosing = load_protocol().dosing
    cohort = simulate_cohort(load_parameters(), 20201220, 48)
    for item in cohort.randomized:
        p = item.participant
        assert p.baseline.randomized_at is not None and p.doses[0].given_at > p.baseline.randomized_at
        for before, after in zip(p.doses, p.doses[1:], strict=False):
            assert after.given_at - before.given_at >= timedelta(hours=dosing.min_hours_between_doses)


def test_news2_is_scored_on_every_hospital_day_and_only_then(mixed: list[Participant]) -> None:
    for p in mixed:
        assert ((p.news2 >= 0) == p.hospitalized).all()


def test_icu_stays_cover_the_days_of_high_flow_niv_or_ventilation(mixed: list[Participant]) -> None:
    for p in mixed:
        in_icu = np.zeros(p.who.size, dtype=bool)
        for stay in p.icu_stays:
            in_icu[stay.start_day : stay.stop_day] = True
        assert (in_icu == ((p.who >= 6) & (p.who <= 9))).all()


def test_adverse_events_include_injection_site_reactions_mostly_on_cyt107(mixed: list[Participant]) -> None:
    def share(arm: str) -> float:
        group = [p for p in mixed if p.baseline.arm == arm]
        return sum(any(e.term == "injection_site_reaction" for e in p.adverse_events) for p in group) / len(group)

    assert share("CYT107") > share("placebo")


def test_lymphocytosis_is_graded_from_the_simulated_count(mixed: list[Participant]) -> None:
    for p in mixed:
        for event in p.adverse_events:
            if event.term == "lymphocyte_count_increased":
                assert p.alc[event.day] > 4000 and event.grade >= 2


def test_secondary_infections_prolong_no_stay_beyond_day_45_arrays(mixed: list[Participant]) -> None:
    horizon = protocol_calendar().horizon_day
    for p in mixed:
        assert p.who.size == horizon + 1
        assert all(0 < i.day <= horizon for i in p.infections)


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_cohort_byte_identical_export() -> None:
    params = load_parameters()
    first = cohort_json(simulate_cohort(params, seed=42, n=12))
    assert first == cohort_json(simulate_cohort(params, seed=42, n=12))
    assert first != cohort_json(simulate_cohort(params, seed=43, n=12))


def test_a_cohort_randomizes_eligible_patients_by_the_real_allocation_list() -> None:
    cohort = simulate_cohort(load_parameters(), seed=5, n=20)
    assert len(cohort.randomized) == 20
    screened = {s.index: s for s in cohort.screened}
    for item in cohort.randomized:
        patient = screened[item.screening_index]
        assert patient.eligible
        assert item.randomization_number.startswith(patient.site)
        assert item.participant.baseline.alc0 <= 1000
    assert any(not s.eligible for s in cohort.screened)
