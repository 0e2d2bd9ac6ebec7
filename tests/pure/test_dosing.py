"""Dosing, clinical-rules section 4: dose and volume arithmetic, the 72 h rule, windows, stops, at most 7."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iliad7.dosing import (
    DoseDecision,
    DoseRefused,
    DoseStatus,
    PlannedDose,
    check_dose,
    dose_micrograms,
    dose_plan,
    injection_volume_ml,
    prepare_syringe,
    study_day,
)
from iliad7.errors import InputError
from iliad7.protocol import load_protocol

DOSING = load_protocol().dosing
NY = ZoneInfo("America/New_York")
DAY0 = date(2026, 4, 6)
DOSE1 = datetime(2026, 4, 6, 10, 0, tzinfo=NY)


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A local New York time on study day `day` of the standard course."""
    return datetime.combine(DAY0 + timedelta(days=day), datetime.min.time(), tzinfo=NY).replace(
        hour=hour, minute=minute
    )


def check(dose: int, when: datetime, given: dict[int, datetime] | None = None, **stops: date) -> DoseDecision:
    return check_dose(DOSING, dose=dose, at=when, given={1: DOSE1} if given is None else given, tz=NY, **stops)


# --- arithmetic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "dose"),
    [
        ("70", 700),
        ("70.05", 701),  # 700.5 ug: exactly half, rounded up
        ("70.04", 700),  # 700.4
        ("70.049", 700),  # 700.49: just below half
        ("70.051", 701),
        ("70.06", 701),
        ("0.05", 1),  # 0.5 ug
        ("123.45", 1235),  # 1234.5
    ],
)
def test_dose_is_weight_times_10_rounded_half_up_to_the_microgram(weight: str, dose: int) -> None:
    assert dose_micrograms(Decimal(weight), DOSING) == dose


def test_dose_rate_and_rounding_come_from_the_protocol() -> None:
    assert (DOSING.dose_ug_per_kg, DOSING.dose_rounding_ug, DOSING.volume_rounding_ml) == (
        Decimal(10),
        Decimal(1),
        Decimal("0.01"),
    )
    half_rate = DOSING.model_copy(update={"dose_ug_per_kg": Decimal(5)})
    assert dose_micrograms(Decimal("70.05"), half_rate) == 350  # 350.25


def test_a_float_weight_is_refused_because_70_05_is_not_exact_in_binary() -> None:
    with pytest.raises(InputError) as refused:
        dose_micrograms(70.05, DOSING)  # type: ignore[arg-type]
    assert refused.value.field == "weight_kg"


@pytest.mark.parametrize("weight", ["0", "-70", "NaN", "Infinity"])
def test_a_weight_that_is_not_positive_and_finite_is_refused(weight: str) -> None:
    with pytest.raises(InputError, match="weight_kg"):
        dose_micrograms(Decimal(weight), DOSING)


@pytest.mark.parametrize(
    ("dose", "concentration", "volume"),
    [
        (700, "200", "3.50"),
        (701, "200", "3.51"),  # 3.505 mL: half, rounded up
        (1001, "200", "5.01"),  # 5.005
        (1009, "200", "5.05"),  # 5.045
        (999, "200", "5.00"),  # 4.995
        (701, "1000", "0.70"),  # 0.701
        (705, "1000", "0.71"),  # 0.705
        (704, "1000", "0.70"),  # 0.704
        (1, "200", "0.01"),  # 0.005 mL, the smallest volume that rounds up
        (700, "350", "2.00"),
        (700, "300", "2.33"),  # 2.3333...
    ],
)
def test_volume_is_dose_over_concentration_rounded_half_up_to_0_01_ml(
    dose: int, concentration: str, volume: str
) -> None:
    result = injection_volume_ml(dose, Decimal(concentration), DOSING)
    assert result == Decimal(volume) and str(result) == volume


def test_a_volume_that_rounds_to_nothing_is_refused() -> None:
    with pytest.raises(InputError, match="nothing to inject"):
        injection_volume_ml(1, Decimal("201"), DOSING)  # 0.004975 mL


@pytest.mark.parametrize("concentration", [None, Decimal(0), Decimal("-200"), 200.0])
def test_concentration_is_required_positive_and_exact(concentration: object) -> None:
    with pytest.raises(InputError) as refused:
        injection_volume_ml(700, concentration, DOSING)  # type: ignore[arg-type]
    assert refused.value.field == "concentration_ug_per_ml"


def test_missing_concentration_says_it_has_no_default() -> None:
    with pytest.raises(InputError, match="no default"):
        injection_volume_ml(700, None, DOSING)


def test_placebo_syringe_has_the_same_volume_as_the_active_one() -> None:
    active = prepare_syringe("CYT107", Decimal("70.05"), Decimal("200"), DOSING)
    placebo = prepare_syringe("placebo", Decimal("70.05"), Decimal("200"), DOSING)
    assert active.volume_ml == placebo.volume_ml == Decimal("3.51")
    assert "701 ug" in active.contents and "saline" in placebo.contents
    with pytest.raises(InputError, match="arm"):
        prepare_syringe("other", Decimal(70), Decimal(200), DOSING)


# --- study days -----------------------------------------------------------------------------------


def test_study_days_count_calendar_dates_in_the_site_zone() -> None:
    late = datetime(2026, 4, 6, 23, 30, tzinfo=NY)  # already 7 April in UTC
    assert study_day(late, day0=DAY0, tz=NY) == 0
    assert study_day(late.astimezone(UTC), day0=DAY0, tz=NY) == 0
    assert study_day(datetime(2026, 4, 7, 0, 30, tzinfo=NY), day0=DAY0, tz=NY) == 1
    assert study_day(datetime(2026, 4, 7, 3, 30, tzinfo=UTC), day0=DAY0, tz=NY) == 0  # 23:30 in New York


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(InputError, match="aware"):
        check(2, datetime(2026, 4, 9, 10, 0))


# --- the 72 h rule and the +/- 1 day window ---------------------------------------------------------


def test_dose_2_on_day_2_is_refused_although_day_2_is_in_its_window() -> None:
    decision = check(2, at(2, 23, 59))
    assert not decision.allowed and decision.study_day == 2
    assert len(decision.reasons) == 1 and "at least 72 h" in decision.reasons[0]


def test_dose_2_on_day_3_at_exactly_72_hours_is_allowed() -> None:
    decision = check(2, at(3, 10, 0))
    assert decision.allowed and decision.reasons == () and decision.study_day == 3


def test_dose_2_at_71_hours_59_minutes_is_refused() -> None:
    decision = check(2, at(3, 9, 59))
    assert not decision.allowed
    assert "only 71 h 59 min after dose 1" in decision.reasons[0]
    with pytest.raises(DoseRefused, match="dose 2 refused"):
        decision.raise_if_refused()


def test_dose_2_late_on_day_4_is_allowed_and_on_day_5_refused() -> None:
    assert check(2, at(4, 23, 59)).allowed
    refused = check(2, at(5, 0, 0))
    assert not refused.allowed and "outside dose 2's window, days 2 to 4" in refused.reasons[0]


def test_72_hours_are_elapsed_hours_across_the_daylight_saving_change() -> None:
    # Clocks go forward in New York on 8 March 2026: 72 h after 10:00 EST on 5 March is 11:00 EDT on 8 March.
    dose1 = datetime(2026, 3, 5, 10, 0, tzinfo=NY)
    assert not check(2, datetime(2026, 3, 8, 10, 30, tzinfo=NY), {1: dose1}).allowed
    assert check(2, datetime(2026, 3, 8, 11, 0, tzinfo=NY), {1: dose1}).allowed


def test_a_late_dose_pushes_the_next_one_72_hours_on_within_its_window() -> None:
    given = {1: DOSE1, 2: at(4, 20, 0)}
    early = check(3, at(6, 12), given)  # day 6 is in dose 3's window (6-8) but only 40 h after dose 2
    assert not early.allowed and "after dose 2" in early.reasons[0]
    assert not check(3, at(7, 19, 59), given).allowed
    assert check(3, at(7, 20, 0), given).allowed


def test_dose_1_sets_day_0_and_needs_nothing_before_it() -> None:
    decision = check(1, DOSE1, {})
    assert decision.allowed and decision.study_day == 0


def test_a_later_dose_before_dose_1_is_refused() -> None:
    decision = check(2, at(3), {})
    assert not decision.allowed and "dose 1 has not been given" in decision.reasons[0]


def test_a_dose_is_not_given_twice() -> None:
    decision = check(2, at(4), {1: DOSE1, 2: at(3)})
    assert not decision.allowed and "already given" in decision.reasons[0]


# --- randomization comes first ------------------------------------------------------------------


def test_dose_1_one_minute_before_randomization_is_refused() -> None:
    t0 = DOSE1 + timedelta(minutes=1)
    decision = check_dose(DOSING, dose=1, at=DOSE1, given={}, tz=NY, randomized_at=t0)
    assert not decision.allowed
    assert decision.reasons == (
        "2026-04-06T14:00:00+00:00 is before the participant's randomization (2026-04-06T14:01:00+00:00): "
        "no dose is given before randomization",
    )


def test_dose_1_at_the_moment_of_randomization_or_after_is_allowed() -> None:
    assert check_dose(DOSING, dose=1, at=DOSE1, given={}, tz=NY, randomized_at=DOSE1).allowed
    assert check_dose(DOSING, dose=1, at=DOSE1, given={}, tz=NY, randomized_at=DOSE1 - timedelta(hours=2)).allowed


def test_randomization_is_compared_in_utc_whatever_the_offsets() -> None:
    t0 = datetime(2026, 4, 6, 14, 30, tzinfo=UTC)  # 10:30 in New York, after DOSE1 (10:00 New York)
    assert not check_dose(DOSING, dose=1, at=DOSE1, given={}, tz=NY, randomized_at=t0).allowed


def test_a_later_dose_dated_before_randomization_names_both_rules() -> None:
    decision = check_dose(DOSING, dose=2, at=at(3), given={1: DOSE1}, tz=NY, randomized_at=at(5))
    assert not decision.allowed
    assert "before the participant's randomization" in decision.reasons[0]


def test_a_naive_randomization_time_is_refused() -> None:
    with pytest.raises(InputError, match="randomized_at"):
        check_dose(DOSING, dose=1, at=DOSE1, given={}, tz=NY, randomized_at=datetime(2026, 4, 6, 9, 0))


def test_a_plan_shows_a_dose_given_before_randomization_as_a_deviation() -> None:
    doses = plan(at(4), {1: DOSE1}, randomized_at=DOSE1 + timedelta(hours=1))
    assert doses[0].status is DoseStatus.GIVEN and "before the participant's randomization" in (
        doses[0].deviation or ""
    )


# --- stops and the limit -------------------------------------------------------------------------


def test_no_dose_on_the_day_of_discharge() -> None:
    decision = check(2, at(3, 10), discharge_date=DAY0 + timedelta(days=3))
    assert not decision.allowed
    assert decision.reasons == ("no dose on or after the day of hospital discharge on day 3, 2026-04-09",)
    assert check(2, at(3, 10), discharge_date=DAY0 + timedelta(days=4)).allowed


def test_no_dose_after_death() -> None:
    decision = check(2, at(4, 8), death_date=DAY0 + timedelta(days=3))
    assert not decision.allowed and "death" in decision.reasons[0]


def test_no_dose_on_the_day_of_withdrawal() -> None:
    decision = check(3, at(7), {1: DOSE1, 2: at(3)}, withdrawal_date=DAY0 + timedelta(days=7))
    assert not decision.allowed and "withdrawal" in decision.reasons[0]


def test_no_dose_1_on_the_discharge_day_either() -> None:
    assert not check(1, DOSE1, {}, discharge_date=DAY0).allowed


@pytest.mark.parametrize("dose", [0, 8, 9])
def test_there_are_at_most_7_doses(dose: int) -> None:
    decision = check(dose, at(25))
    assert not decision.allowed and "at most 7 doses" in decision.reasons[0]


def test_dose_7_in_its_window_is_the_last_allowed() -> None:
    given = {1: DOSE1, 2: at(3), 3: at(7), 4: at(10), 5: at(14), 6: at(17)}
    assert check(7, at(21), given).allowed


def test_a_missed_dose_is_not_made_up_outside_its_window() -> None:
    given = {1: DOSE1, 2: at(3)}
    late = check(3, at(9), given)  # dose 3's window is days 6-8
    assert not late.allowed and "not made up outside its window" in late.reasons[0]
    assert check(4, at(9), given).allowed  # the next dose, in its own window, 6 days after dose 2


def test_an_earlier_dose_is_not_given_after_a_later_one() -> None:
    decision = check(3, at(8), {1: DOSE1, 2: at(3), 4: at(9)})
    assert not decision.allowed and "out of order" in decision.reasons[0]


# --- the plan ------------------------------------------------------------------------------------


def plan(now: datetime, given: dict[int, datetime] | None = None, **kwargs: object) -> list[PlannedDose]:
    return dose_plan(DOSING, given={1: DOSE1} if given is None else given, now=now, tz=NY, **kwargs)  # type: ignore[arg-type]


def test_plan_has_the_protocol_regimen() -> None:
    doses = plan(at(1))
    assert [d.target_day for d in doses] == [0, 3, 7, 10, 14, 17, 21] == list(DOSING.target_days)
    assert [(d.first_day, d.last_day) for d in doses[:3]] == [(0, 0), (2, 4), (6, 8)]
    assert doses[1].target_date == date(2026, 4, 9)
    assert [d.status for d in doses] == [DoseStatus.GIVEN] + [DoseStatus.UPCOMING] * 6
    assert doses[0].given_at == DOSE1 and doses[0].deviation is None


def test_dose_2_window_opens_at_72_hours_not_at_the_start_of_day_2() -> None:
    doses = plan(at(2, 12))
    assert doses[1].window_opens == at(3, 10).astimezone(UTC)
    assert doses[1].window_closes == at(5, 0).astimezone(UTC)
    assert doses[1].status is DoseStatus.UPCOMING
    assert plan(at(3, 10))[1].status is DoseStatus.DUE
    assert plan(at(4, 23, 59))[1].status is DoseStatus.DUE


def test_a_dose_not_given_by_the_end_of_its_window_is_missed_and_stays_missed() -> None:
    missed = plan(at(5, 0))[1]
    assert missed.status is DoseStatus.MISSED and missed.reason == "not given in its window (days 2 to 4)"
    given = {1: DOSE1, 2: at(3), 4: at(10)}
    later = plan(at(30), given, missed_reasons={3: "patient refused"})
    assert later[2].status is DoseStatus.MISSED and later[2].reason == "patient refused"
    assert [d.status for d in later[3:]] == [DoseStatus.GIVEN, DoseStatus.MISSED, DoseStatus.MISSED, DoseStatus.MISSED]


def test_after_a_missed_dose_the_next_is_due_in_its_own_window() -> None:
    doses = plan(at(9, 12), {1: DOSE1, 2: at(3)})
    assert doses[2].status is DoseStatus.MISSED
    assert doses[3].status is DoseStatus.DUE and doses[3].window_opens == at(9, 0).astimezone(UTC)


def test_discharge_between_doses_makes_the_rest_not_applicable() -> None:
    doses = plan(at(5, 12), {1: DOSE1, 2: at(3)}, discharge_date=DAY0 + timedelta(days=5))
    assert [d.status for d in doses] == [DoseStatus.GIVEN] * 2 + [DoseStatus.NOT_APPLICABLE] * 5
    assert doses[2].reason == "hospital discharge on day 5, 2026-04-11: no dose on or after that day"


def test_discharge_inside_a_window_cuts_it_short() -> None:
    doses = plan(at(8, 12), {1: DOSE1, 2: at(3)}, discharge_date=DAY0 + timedelta(days=8))
    assert doses[2].status is DoseStatus.MISSED and "cut short by hospital discharge on day 8" in (
        doses[2].reason or ""
    )
    assert doses[2].window_closes == at(8, 0).astimezone(UTC)
    assert {d.status for d in doses[3:]} == {DoseStatus.NOT_APPLICABLE}
    # before the discharge day the dose could still be given
    assert plan(at(7, 12), {1: DOSE1, 2: at(3)}, discharge_date=DAY0 + timedelta(days=8))[2].status is DoseStatus.DUE


def test_death_makes_later_doses_not_applicable_and_the_first_stop_counts() -> None:
    doses = plan(
        at(13),
        {1: DOSE1, 2: at(3), 3: at(7)},
        death_date=DAY0 + timedelta(days=12),
        discharge_date=DAY0 + timedelta(days=20),
    )
    assert doses[3].status is DoseStatus.MISSED  # day 10 passed before death on day 12
    assert {d.status for d in doses[4:]} == {DoseStatus.NOT_APPLICABLE}
    assert doses[4].reason is not None and doses[4].reason.startswith("death on day 12")


def test_a_dose_given_against_the_rules_is_shown_as_a_deviation() -> None:
    doses = plan(at(4), {1: DOSE1, 2: at(3, 9, 0)})
    assert doses[1].status is DoseStatus.GIVEN and "only 71 h 00 min after dose 1" in (doses[1].deviation or "")


def test_plan_needs_dose_1_and_doses_in_time_order() -> None:
    with pytest.raises(InputError, match="dose 1"):
        plan(at(1), {})
    with pytest.raises(InputError, match="at or before dose 2"):
        plan(at(9), {1: DOSE1, 2: at(7), 3: at(6)})
    with pytest.raises(InputError, match="missed_reasons"):
        plan(at(9), missed_reasons={1: "x"})
    with pytest.raises(InputError, match="discharge_date"):
        plan(at(9), discharge_date=at(5))


@settings(max_examples=300, deadline=None)
@given(
    first_minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    offset_minutes=st.integers(min_value=1, max_value=7 * 24 * 60),
    discharge_day=st.one_of(st.none(), st.integers(min_value=1, max_value=8)),
)
def test_dose_2_is_allowed_exactly_when_in_window_72_hours_on_and_before_discharge(
    first_minute: int, offset_minutes: int, discharge_day: int | None
) -> None:
    dose1 = datetime.combine(DAY0, datetime.min.time(), tzinfo=NY) + timedelta(minutes=first_minute)
    when = dose1 + timedelta(minutes=offset_minutes)
    local_day = (when.date() - DAY0).days  # both in New York time; no DST change in April
    expected = (
        2 <= local_day <= 4 and offset_minutes >= 72 * 60 and (discharge_day is None or local_day < discharge_day)
    )
    stops = {} if discharge_day is None else {"discharge_date": day_date(discharge_day)}
    assert check(2, when, {1: dose1}, **stops).allowed is expected


def day_date(n: int) -> date:
    return DAY0 + timedelta(days=n)
