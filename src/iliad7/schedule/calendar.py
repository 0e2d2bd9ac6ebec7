"""A participant's calendar from the protocol's schedule of activities (issue 5).

Days are study days: day 0 is the calendar date of dose 1 in the site's zone
(see `iliad7.dosing`), `day0` here. Discharge, death, withdrawal and `today`
are calendar dates in the same zone. Discharge means the end of the index
hospitalisation.

How each visit's `occurs` is read:

- `always` (screening, baseline, day 45): expected whatever the hospital course.
- `while-hospitalized` (dose visits, day 21): not applicable when discharge
  falls on or before its target day, since no dose is given on or after the
  discharge day; a discharge later in the window shortens the window to the
  day before discharge.
- `day-30-or-discharge` (D30): "day 30 or discharge, whichever first". When
  discharge falls on or before the target day, the visit moves to the
  discharge day: its window keeps the days before (`window_days.before`, never
  before day 0) and ends on the discharge day.

After death or withdrawal, a visit whose window had not closed before that
day, and that was not done, is not applicable. Statuses, for a visit not done:
`upcoming` before its window opens, `due` from then to its target day,
`overdue` after the target day while the window is open (the last day of the
window still counts); once the window has closed, `incomplete` when some of
the visit's forms were saved (`started`) and `missed` when none was.

`today` is the day the calendar is read on: the site's today, or the data cut
(the day follow-up entry stopped, as in a trial part-way through follow-up),
whichever comes first, so that a visit after the data cut is `upcoming`, never
`missed`. Which visits are done or started is `iliad7.schedule.completion`'s
rule (a visit is done when its forms are saved).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from iliad7.errors import InputError
from iliad7.protocol import Schedule, Visit


class VisitState(StrEnum):
    DONE = "done"
    UPCOMING = "upcoming"  # the window has not opened
    DUE = "due"  # the window is open, on or before the target day
    OVERDUE = "overdue"  # after the target day, the window still open
    MISSED = "missed"  # the window closed without the visit
    INCOMPLETE = "incomplete"  # the window closed with only some of the visit's forms saved
    NOT_APPLICABLE = "not_applicable"  # after discharge (hospital visits), death or withdrawal


@dataclass(frozen=True)
class VisitStatus:
    """One visit of one participant's calendar."""

    visit: str
    name: str
    dose: int | None
    target_day: int
    target_date: date
    first_day: int  # the window, in study days, inclusive
    last_day: int
    first_date: date
    last_date: date
    assessments: tuple[str, ...]
    status: VisitState
    reason: str | None = None  # why missed or not applicable, or why the visit moved
    done_on: date | None = None
    moved_to_discharge: bool = False
    started: bool = False  # some of the visit's forms are saved (a visit not done)


@dataclass(frozen=True)
class DailyAssessments:
    """The assessments due on one day in hospital."""

    day: int
    date: date
    assessments: tuple[str, ...]


def _calendar_date(field: str, value: date | None) -> date | None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InputError(field, f"give a calendar date in the site's zone, not {value!r}")
    return value


def _end_of_follow_up(
    day0: date, death_date: date | None, withdrawal_date: date | None
) -> tuple[int, str, date] | None:
    """The first of death and withdrawal: (study day, event, date)."""
    ends = [(d, event) for d, event in ((death_date, "death"), (withdrawal_date, "withdrawal")) if d is not None]
    if not ends:
        return None
    when, event = min(ends)
    return (when - day0).days, event, when


def _done_dates(schedule: Schedule, done: Collection[str] | Mapping[str, date]) -> dict[str, date | None]:
    known = {v.id for v in schedule.visits}
    result: dict[str, date | None] = {}
    if isinstance(done, Mapping):
        for visit_id, on in done.items():
            result[visit_id] = _calendar_date(f"done[{visit_id}]", on)
    else:
        result = dict.fromkeys(done)
    unknown = sorted(set(result) - known)
    if unknown:
        raise InputError("done", f"no visit(s) {', '.join(unknown)} in the schedule")
    return result


def participant_calendar(
    schedule: Schedule,
    *,
    day0: date,
    today: date,
    done: Collection[str] | Mapping[str, date],
    discharge_date: date | None = None,
    death_date: date | None = None,
    withdrawal_date: date | None = None,
    started: Collection[str] = (),
) -> list[VisitStatus]:
    """Every visit of the schedule with its window and status on `today`, in schedule order.

    `done` holds the ids of visits done, or maps them to the date they were done; `started` the
    ids of visits not done with some of their forms saved.
    """
    for field, value in (("day0", day0), ("today", today)):
        if _calendar_date(field, value) is None:
            raise InputError(field, "is required")
    discharge_date = _calendar_date("discharge_date", discharge_date)
    death_date = _calendar_date("death_date", death_date)
    withdrawal_date = _calendar_date("withdrawal_date", withdrawal_date)
    done_on = _done_dates(schedule, done)
    begun = frozenset(started) - set(done_on)
    unknown = sorted(begun - {v.id for v in schedule.visits})
    if unknown:
        raise InputError("started", f"no visit(s) {', '.join(unknown)} in the schedule")
    discharge_day = None if discharge_date is None else (discharge_date - day0).days
    if discharge_day is not None and discharge_day < 0:
        raise InputError("discharge_date", f"{discharge_date} is before day 0 ({day0}): they were in hospital then")
    end = _end_of_follow_up(day0, death_date, withdrawal_date)
    today_day = (today - day0).days
    return [
        _visit_status(schedule, visit, day0, today_day, done_on, discharge_day, discharge_date, end, visit.id in begun)
        for visit in schedule.visits
    ]


def _visit_status(
    schedule: Schedule,
    visit: Visit,
    day0: date,
    today_day: int,
    done_on: Mapping[str, date | None],
    discharge_day: int | None,
    discharge_date: date | None,
    end: tuple[int, str, date] | None,
    started: bool,
) -> VisitStatus:
    target, first, last = visit.target_day, visit.earliest_day, visit.latest_day
    moved = False
    not_applicable: str | None = None
    if discharge_day is not None and discharge_date is not None:
        discharged = f"hospital discharge on day {discharge_day} ({discharge_date.isoformat()})"
        if visit.occurs == "day-30-or-discharge" and discharge_day <= target:
            moved = discharge_day < target
            target, first, last = discharge_day, max(0, discharge_day - visit.window_days.before), discharge_day
        elif visit.occurs == "while-hospitalized":
            if discharge_day <= target:
                not_applicable = discharged
            else:
                last = min(last, discharge_day - 1)
    if end is not None and not_applicable is None and last >= end[0]:
        not_applicable = f"{end[1]} on day {end[0]} ({end[2].isoformat()})"

    def on(day: int) -> date:
        return day0 + timedelta(days=day)

    reason: str | None = None
    if visit.id in done_on:
        status = VisitState.DONE
    elif not_applicable is not None:
        status, reason = VisitState.NOT_APPLICABLE, not_applicable
    elif today_day < first:
        status = VisitState.UPCOMING
    elif today_day <= target:
        status = VisitState.DUE
    elif today_day <= last:
        status = VisitState.OVERDUE
    elif started:
        status, reason = VisitState.INCOMPLETE, f"window closed on day {last} ({on(last).isoformat()})"
    else:
        status, reason = VisitState.MISSED, f"window closed on day {last} ({on(last).isoformat()})"
    if moved and reason is None:
        reason = f"moved to the day of hospital discharge (day {target}), which came before day {visit.target_day}"
    return VisitStatus(
        visit=visit.id,
        name=visit.name,
        dose=visit.dose,
        target_day=target,
        target_date=on(target),
        first_day=first,
        last_day=last,
        first_date=on(first),
        last_date=on(last),
        assessments=tuple(a.id for a in schedule.assessments_at(visit.id)),
        status=status,
        reason=reason,
        done_on=done_on.get(visit.id),
        moved_to_discharge=moved,
        started=started and status is not VisitState.DONE,
    )


def daily_assessments(
    schedule: Schedule,
    *,
    day0: date,
    today: date,
    discharge_date: date | None = None,
    death_date: date | None = None,
    withdrawal_date: date | None = None,
) -> list[DailyAssessments]:
    """One entry per day in hospital, day 0 onwards, with the `daily_while_hospitalized` assessments.

    The list runs to the discharge day (inclusive: the patient is still in
    hospital that morning), else to the day of death or withdrawal, else to
    `today` while the stay goes on, and never past the last visit's target day
    (the end of follow-up).
    """
    for field, value in (("day0", day0), ("today", today)):
        if _calendar_date(field, value) is None:
            raise InputError(field, "is required")
    stops = [
        _calendar_date(field, value)
        for field, value in (
            ("discharge_date", discharge_date),
            ("death_date", death_date),
            ("withdrawal_date", withdrawal_date),
        )
    ]
    last_date = min([d for d in stops if d is not None] or [today])
    last_day = min((last_date - day0).days, max(v.target_day for v in schedule.visits))
    assessments = tuple(a.id for a in schedule.assessments if a.daily_while_hospitalized)
    return [DailyAssessments(day, day0 + timedelta(days=day), assessments) for day in range(0, last_day + 1)]
