"""The participant calendar from the protocol's schedule of activities: windows, statuses, discharge, death."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from iliad7.errors import InputError
from iliad7.protocol import load_protocol
from iliad7.schedule import VisitState, VisitStatus, daily_assessments, participant_calendar

SCHEDULE = load_protocol().schedule
DAY0 = date(2026, 4, 6)
DONE_AT_START = {"SCREENING", "BASELINE"}
DOSES = ["DOSE2", "DOSE3", "DOSE4", "DOSE5", "DOSE6", "DOSE7"]


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def calendar(today: int, done: set[str] | dict[str, date] | None = None, **events: int) -> dict[str, VisitStatus]:
    dates = {f"{event}_date": day(n) for event, n in events.items()}
    visits = participant_calendar(
        SCHEDULE, day0=DAY0, today=day(today), done=DONE_AT_START if done is None else done, **dates
    )
    return {v.visit: v for v in visits}


def states(cal: dict[str, VisitStatus], *ids: str) -> list[VisitState]:
    return [cal[i].status for i in ids]


def test_calendar_lists_the_protocol_visits_with_targets_windows_and_assessments() -> None:
    cal = calendar(0)
    assert list(cal) == [v.id for v in SCHEDULE.visits]
    assert [(v.target_day, v.first_day, v.last_day) for v in cal.values()] == [
        (v.target_day, v.earliest_day, v.latest_day) for v in SCHEDULE.visits
    ]
    assert cal["SCREENING"].target_date == date(2026, 4, 3)
    assert (cal["DOSE2"].first_date, cal["DOSE2"].target_date, cal["DOSE2"].last_date) == (day(2), day(3), day(4))
    assert cal["D30"].target_date == date(2026, 5, 6) and not cal["D30"].moved_to_discharge
    assert cal["DOSE4"].dose == 4 and "VIRAL-LOAD" in cal["DOSE4"].assessments
    assert "STUDY-DRUG" in cal["BASELINE"].assessments and "ALC" in cal["D30"].assessments


def test_statuses_run_upcoming_due_overdue_missed() -> None:
    assert calendar(1)["DOSE2"].status is VisitState.UPCOMING
    assert calendar(2)["DOSE2"].status is VisitState.DUE  # window open, before target
    assert calendar(3)["DOSE2"].status is VisitState.DUE  # the target day
    assert calendar(4)["DOSE2"].status is VisitState.OVERDUE  # the window's last day still counts
    missed = calendar(5)["DOSE2"]
    assert missed.status is VisitState.MISSED and missed.reason == "window closed on day 4 (2026-04-10)"


def test_a_done_visit_is_done_with_its_date() -> None:
    cal = calendar(5, {"SCREENING": day(-2), "BASELINE": day(0), "DOSE2": day(3)})
    assert cal["DOSE2"].status is VisitState.DONE and cal["DOSE2"].done_on == day(3)
    assert calendar(5, {*DONE_AT_START, "DOSE2"})["DOSE2"].done_on is None


def test_a_missed_dose_visit_stays_missed_and_the_next_is_due() -> None:
    cal = calendar(9, {*DONE_AT_START, "DOSE2"})
    assert cal["DOSE3"].status is VisitState.MISSED
    assert cal["DOSE4"].status is VisitState.DUE
    assert calendar(40, {*DONE_AT_START, "DOSE2", "DOSE4"})["DOSE3"].status is VisitState.MISSED


def test_discharge_between_doses_ends_the_hospital_visits_and_moves_day_30_to_discharge() -> None:
    done = {*DONE_AT_START, "DOSE2", "DOSE3", "DOSE4"}
    cal = calendar(12, done, discharge=12)
    assert states(cal, "DOSE5", "DOSE6", "DOSE7", "D21") == [VisitState.NOT_APPLICABLE] * 4
    assert cal["DOSE5"].reason == "hospital discharge on day 12 (2026-04-18)"
    d30 = cal["D30"]
    assert d30.moved_to_discharge and d30.target_day == 12 and d30.target_date == day(12)
    assert (d30.first_day, d30.last_day) == (10, 12)  # the days before discharge still count, none after
    assert d30.status is VisitState.DUE and "moved to the day of hospital discharge" in (d30.reason or "")
    assert calendar(13, done, discharge=12)["D30"].status is VisitState.MISSED
    assert cal["D45"].status is VisitState.UPCOMING and cal["D45"].target_day == 45


def test_discharge_on_a_dose_target_day_means_no_dose_visit_that_day() -> None:
    cal = calendar(10, {*DONE_AT_START, "DOSE2", "DOSE3"}, discharge=10)
    assert cal["DOSE4"].status is VisitState.NOT_APPLICABLE


def test_discharge_late_in_a_window_shortens_it_to_the_day_before() -> None:
    cal = calendar(11, {*DONE_AT_START, "DOSE2", "DOSE3"}, discharge=11)
    assert (cal["DOSE4"].first_day, cal["DOSE4"].last_day) == (9, 10)
    assert cal["DOSE4"].status is VisitState.MISSED
    assert calendar(10, {*DONE_AT_START, "DOSE2", "DOSE3"}, discharge=11)["DOSE4"].status is VisitState.DUE


def test_discharge_after_day_30_leaves_day_30_where_it_is() -> None:
    d30 = calendar(29, discharge=35)["D30"]
    assert not d30.moved_to_discharge and (d30.target_day, d30.first_day, d30.last_day) == (30, 28, 32)


def test_discharge_on_day_30_is_the_day_30_visit() -> None:
    d30 = calendar(30, discharge=30)["D30"]
    assert not d30.moved_to_discharge and (d30.target_day, d30.first_day, d30.last_day) == (30, 28, 30)
    assert d30.status is VisitState.DUE


def test_discharge_on_day_0_puts_the_discharge_visit_on_day_0() -> None:
    d30 = calendar(0, discharge=0)["D30"]
    assert (d30.target_day, d30.first_day, d30.last_day) == (0, 0, 0) and d30.moved_to_discharge


def test_a_visit_done_on_the_discharge_day_stays_done() -> None:
    done = {*DONE_AT_START, *DOSES, "D21"}
    cal = calendar(21, done, discharge=21)
    assert cal["D21"].status is VisitState.DONE and cal["D30"].target_day == 21


def test_death_makes_later_visits_not_applicable() -> None:
    cal = calendar(20, {*DONE_AT_START, "DOSE2", "DOSE3"}, death=12)
    assert cal["DOSE3"].status is VisitState.DONE
    assert cal["DOSE4"].status is VisitState.MISSED  # its window closed on day 11, before the death
    assert states(cal, "DOSE5", "DOSE6", "DOSE7", "D21", "D30", "D45") == [VisitState.NOT_APPLICABLE] * 6
    assert cal["D45"].reason == "death on day 12 (2026-04-18)"


def test_death_inside_a_window_makes_that_visit_not_applicable() -> None:
    assert calendar(12, {*DONE_AT_START, "DOSE2", "DOSE3"}, death=10)["DOSE4"].status is VisitState.NOT_APPLICABLE


def test_death_after_discharge_keeps_the_discharge_visit_and_ends_follow_up() -> None:
    cal = calendar(25, {*DONE_AT_START, "DOSE2", "D30"}, discharge=5, death=20)
    assert cal["D30"].status is VisitState.DONE and cal["D30"].target_day == 5
    assert cal["D45"].status is VisitState.NOT_APPLICABLE


def test_withdrawal_ends_the_calendar_like_death() -> None:
    cal = calendar(16, {*DONE_AT_START, "DOSE2", "DOSE3", "DOSE4"}, withdrawal=15)
    assert cal["DOSE5"].status is VisitState.NOT_APPLICABLE and "withdrawal" in (cal["DOSE5"].reason or "")
    assert cal["D45"].status is VisitState.NOT_APPLICABLE


def test_an_unknown_visit_or_a_datetime_is_refused() -> None:
    with pytest.raises(InputError, match="DAY99"):
        calendar(3, {"DAY99"})
    with pytest.raises(InputError, match="discharge_date"):
        participant_calendar(SCHEDULE, day0=DAY0, today=DAY0, done=set(), discharge_date=DAY0 - timedelta(days=1))


# --- daily assessments while hospitalized --------------------------------------------------------


def test_daily_assessments_run_each_day_to_discharge() -> None:
    days = daily_assessments(SCHEDULE, day0=DAY0, today=day(20), discharge_date=day(5))
    assert [d.day for d in days] == [0, 1, 2, 3, 4, 5]
    assert days[-1].date == day(5)
    assert {"WHO-SCALE", "NEWS2"} <= set(days[0].assessments)
    assert set(days[0].assessments) == {a.id for a in SCHEDULE.assessments if a.daily_while_hospitalized}


def test_daily_assessments_run_to_today_while_still_in_hospital() -> None:
    assert [d.day for d in daily_assessments(SCHEDULE, day0=DAY0, today=day(3))] == [0, 1, 2, 3]
    assert daily_assessments(SCHEDULE, day0=DAY0, today=day(-1)) == []


def test_daily_assessments_stop_at_death_and_at_the_end_of_follow_up() -> None:
    assert daily_assessments(SCHEDULE, day0=DAY0, today=day(9), death_date=day(7))[-1].day == 7
    assert daily_assessments(SCHEDULE, day0=DAY0, today=day(60))[-1].day == 45


# --- when a visit is done: its forms saved (issue 17) ---------------------------------------------


def test_a_visit_whose_window_closed_with_some_forms_saved_is_incomplete_not_missed() -> None:
    cal = {
        v.visit: v
        for v in participant_calendar(SCHEDULE, day0=DAY0, today=day(9), done=DONE_AT_START, started={"DOSE2"})
    }
    assert cal["DOSE2"].status is VisitState.INCOMPLETE and cal["DOSE2"].started
    assert cal["DOSE3"].status is VisitState.MISSED and not cal["DOSE3"].started
    # While the window is open, a started visit is due or overdue like any other, and says it is started.
    open_now = {
        v.visit: v
        for v in participant_calendar(SCHEDULE, day0=DAY0, today=day(3), done=DONE_AT_START, started={"DOSE2"})
    }
    assert open_now["DOSE2"].status is VisitState.DUE and open_now["DOSE2"].started
    # A visit both done and started is done.
    both = participant_calendar(SCHEDULE, day0=DAY0, today=day(9), done={*DONE_AT_START, "DOSE2"}, started={"DOSE2"})
    assert next(v for v in both if v.visit == "DOSE2").status is VisitState.DONE
    with pytest.raises(InputError, match="DAY99"):
        participant_calendar(SCHEDULE, day0=DAY0, today=DAY0, done=(), started={"DAY99"})


def test_a_calendar_read_at_the_data_cut_shows_later_visits_upcoming_not_missed() -> None:
    # Follow-up entered to day 20, read years later: read at the data cut, D30 and D45 have not come yet.
    at_cut = calendar(20, {*DONE_AT_START, *DOSES[:5]})
    assert at_cut["D30"].status is VisitState.UPCOMING and at_cut["D45"].status is VisitState.UPCOMING
    assert at_cut["DOSE7"].status is VisitState.DUE
    years_later = calendar(2000, {*DONE_AT_START, *DOSES[:5]})
    assert years_later["D45"].status is VisitState.MISSED


def test_the_forms_of_each_visit_come_from_the_schedule_of_activities() -> None:
    from iliad7.schedule import visit_forms

    forms = visit_forms(load_protocol())
    assert list(forms) == [v.id for v in SCHEDULE.visits]
    assert forms["BASELINE"] == ("VITALS", "CLINICAL-STATUS", "SOFA", "LAB", "VIRAL-LOAD", "STUDY-DRUG")
    assert forms["DOSE2"] == ("LAB", "STUDY-DRUG")
    assert forms["SCREENING"] == ("VITALS", "LAB", "DEMOGRAPHICS")
    # Event forms (adverse events, stays, death, end of study) belong to no visit.
    assert not {"ADVERSE-EVENT", "HOSPITAL-STAY", "DEATH", "END-OF-STUDY"} & {f for ids in forms.values() for f in ids}


def test_a_visit_is_done_only_when_all_its_forms_are_saved() -> None:
    from iliad7.schedule import calendar_inputs, visit_forms, visit_progress

    forms = visit_forms(load_protocol())
    # Baseline with only the dose's STUDY-DRUG form saved: 1 of 6, started, not done.
    progress = visit_progress(forms, {"BASELINE": {"STUDY-DRUG": day(0)}}, screening_done_on=day(-1))
    baseline = progress["BASELINE"]
    assert not baseline.done and baseline.started and baseline.saved == ("STUDY-DRUG",)
    assert baseline.missing == ("VITALS", "CLINICAL-STATUS", "SOFA", "LAB", "VIRAL-LOAD")
    # All six saved: done on the day the last was first saved.
    every = {f: day(0) for f in forms["BASELINE"]} | {"SOFA": day(1)}
    assert visit_progress(forms, {"BASELINE": every})["BASELINE"].done_on == day(1)
    # The screening of a randomized participant is done by the screening record, whatever its forms hold;
    # before randomization (no record date given) it is not done by default.
    assert progress["SCREENING"].done_on == day(-1)
    assert not visit_progress(forms, {})["SCREENING"].done
    done, started = calendar_inputs(progress)
    assert done == {"SCREENING": day(-1)} and started == {"BASELINE"}
    cal = {v.visit: v for v in participant_calendar(SCHEDULE, day0=DAY0, today=day(1), done=done, started=started)}
    assert cal["SCREENING"].status is VisitState.DONE  # never "overdue" for a randomized participant
    assert cal["BASELINE"].status is VisitState.INCOMPLETE and cal["BASELINE"].started  # not "done" at 1 of 6


def test_a_record_status_cell_says_what_is_missing_or_how_far_review_went() -> None:
    from iliad7.schedule import cell_state

    forms = ("LAB", "STUDY-DRUG")
    assert cell_state(forms, ()) == "not_started"
    assert cell_state(forms, {"LAB"}) == "incomplete"
    assert cell_state(forms, {"LAB", "STUDY-DRUG"}) == "complete"
    assert cell_state(forms, {"LAB", "STUDY-DRUG"}, verified={"LAB"}) == "complete"  # SDV'd is every form
    assert cell_state(forms, {"LAB", "STUDY-DRUG"}, verified=set(forms)) == "sdv"
    assert cell_state(forms, set(forms), verified=set(forms), casebook_signed=True) == "signed"
    # An open query needs work, even on a verified form; a lock ends all of it.
    assert cell_state(forms, set(forms), verified=set(forms), queried=True) == "open_query"
    assert cell_state(forms, {"LAB"}, queried=True) == "open_query"
    assert cell_state(forms, set(forms), locked={"LAB"}) == "complete"  # one form locked is not the visit
    assert cell_state(forms, set(forms), locked=set(forms)) == "locked"
    assert cell_state(forms, (), casebook_locked=True) == "locked"
    assert cell_state((), ()) == "not_started"  # a visit with no forms is never complete by default
