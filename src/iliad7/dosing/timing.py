"""When each dose may be given (clinical-rules section 4, protocol `dosing`).

Study days. Day 0 is the calendar date of dose 1 in the site's local zone
(`first_dose_day` in the protocol); every other time's study day is the
number of calendar days between its local date and that date. The zone is an
explicit `tz` argument (the protocol does not record one per site), and every
datetime must be aware. Discharge, death and withdrawal are calendar dates in
the same zone.

A dose n >= `window_from_dose` (2) may be given

- on a study day within `window_days` (1) of its target day
  (`target_days`: 0, 3, 7, 10, 14, 17, 21), and
- at least `min_hours_between_doses` (72) elapsed hours after the previous
  dose actually given (for dose 2 also `observation_hours_before_dose_2`
  after dose 1). Hours are real elapsed time, compared in UTC, so a
  daylight-saving change does not shorten the interval; and
- before the local day of discharge, death or withdrawal (none on that day
  or after), and only if no later dose has been recorded.

No dose, dose 1 included, is given before the participant's randomization
(`randomized_at`, T0, compared in UTC): a dose dated earlier is refused.

Doses are numbered by their place in the regimen, not by how many were given:
if dose 3's window passes, the next one given is dose 4, in dose 4's window.
A missed dose is never made up outside its window, and there are at most
`max_doses` (7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from itertools import pairwise

from iliad7.errors import Iliad7Error, InputError
from iliad7.protocol import Dosing

_EVENTS = {"discharge": "hospital discharge", "death": "death", "withdrawal": "withdrawal"}


class DoseRefused(Iliad7Error):
    """A dose may not be given now; `reasons` says why (each one a sentence for the user)."""

    def __init__(self, dose: int, reasons: tuple[str, ...]) -> None:
        super().__init__(f"dose {dose} refused: " + "; ".join(reasons))
        self.dose = dose
        self.reasons = reasons


class DoseStatus(StrEnum):
    GIVEN = "given"
    UPCOMING = "upcoming"  # its window has not opened yet
    DUE = "due"  # it may be given now
    MISSED = "missed"  # its window passed without it; it is not made up
    NOT_APPLICABLE = "not_applicable"  # its window opens on or after discharge, death or withdrawal


@dataclass(frozen=True)
class DoseDecision:
    """The answer to "may dose `dose` be given at `at`?"."""

    dose: int
    at: datetime
    study_day: int | None  # None when day 0 is not set yet and this is not dose 1
    allowed: bool
    reasons: tuple[str, ...]  # empty when allowed

    def raise_if_refused(self) -> None:
        if not self.allowed:
            raise DoseRefused(self.dose, self.reasons)


@dataclass(frozen=True)
class PlannedDose:
    """One dose of the regimen, as the participant's course stands at `now`."""

    dose: int
    target_day: int
    target_date: date
    first_day: int  # the window, in study days, inclusive
    last_day: int
    window_opens: datetime  # UTC: the first allowed moment (the window's first day, or 72 h after the last dose)
    window_closes: datetime  # UTC, exclusive: the end of the window's last day, or the start of the stop day
    status: DoseStatus
    reason: str | None = None  # why missed or not applicable
    given_at: datetime | None = None
    deviation: str | None = None  # for a given dose outside the rules, what was broken


# --- study days ---------------------------------------------------------------------------------


def _aware(field: str, when: datetime) -> datetime:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise InputError(field, f"must be an aware datetime (with its UTC offset), not {when!r}")
    return when.astimezone(UTC)


def _calendar_date(field: str, value: date | None) -> date | None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InputError(field, f"give the calendar date in the site's zone, not {value!r}")
    return value


def local_date(when: datetime, tz: tzinfo) -> date:
    """The calendar date of `when` in the site's zone."""
    return _aware("when", when).astimezone(tz).date()


def study_day(when: datetime, *, day0: date, tz: tzinfo) -> int:
    """Calendar days from `day0` to `when`'s local date (day 0 is the date of dose 1)."""
    return (local_date(when, tz) - day0).days


def day_start(day: date, tz: tzinfo) -> datetime:
    """The first moment (UTC) of local calendar date `day`."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _elapsed(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


# --- the participant's course -------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    target_day: int
    first_day: int
    last_day: int
    opens: datetime  # UTC, with the interval rule applied
    closes: datetime  # UTC, exclusive, end of the last day
    previous: int | None  # the dose the interval is counted from


class _Course:
    """The validated facts one decision needs: regimen, doses given, zone, stop day."""

    def __init__(
        self,
        dosing: Dosing,
        given: Mapping[int, datetime],
        tz: tzinfo,
        stops: Mapping[str, date | None],
    ) -> None:
        self.dosing = dosing
        self.tz = tz
        self.given: dict[int, datetime] = {}
        for dose in sorted(given):
            if isinstance(dose, bool) or not isinstance(dose, int) or not 1 <= dose <= dosing.max_doses:
                raise InputError("given", f"dose {dose!r} is not one of 1..{dosing.max_doses}")
            self.given[dose] = _aware(f"given[{dose}]", given[dose])
        times = list(self.given.items())
        for (before, t_before), (after, t_after) in pairwise(times):
            if t_after <= t_before:
                raise InputError("given", f"dose {after} is recorded at or before dose {before}")
        self.day0: date | None = None
        if 1 in self.given:
            self.day0 = local_date(self.given[1], tz) - timedelta(days=dosing.first_dose_day)
        elif self.given:
            raise InputError("given", "doses are recorded but dose 1 is not")
        # The first stop day among the events the protocol names; later ones change nothing.
        self.stop: tuple[date, str] | None = None
        for event, when in stops.items():
            when = _calendar_date(f"{event}_date", when)
            if when is not None and event in dosing.no_dose_on_or_after and (self.stop is None or when < self.stop[0]):
                self.stop = (when, event)

    def study_day_of(self, when: date) -> int:
        assert self.day0 is not None
        return (when - self.day0).days

    def stop_text(self) -> str:
        assert self.stop is not None
        when, event = self.stop
        day = f"day {self.study_day_of(when)}, " if self.day0 is not None else ""
        return f"{_EVENTS[event]} on {day}{when.isoformat()}"

    def stop_start(self) -> datetime | None:
        return None if self.stop is None else day_start(self.stop[0], self.tz)

    def min_gap(self, dose: int) -> timedelta:
        hours = self.dosing.min_hours_between_doses
        if dose == 2:
            hours = max(hours, self.dosing.observation_hours_before_dose_2)
        return timedelta(hours=hours)

    def window(self, dose: int) -> _Window:
        assert self.day0 is not None
        target = self.dosing.target_days[dose - 1]
        half = self.dosing.window_for_dose(dose)
        first, last = target - half, target + half
        opens = day_start(self.day0 + timedelta(days=first), self.tz)
        closes = day_start(self.day0 + timedelta(days=last + 1), self.tz)
        earlier = [k for k in self.given if k < dose]
        previous = max(earlier) if earlier else None
        if previous is not None:
            opens = max(opens, self.given[previous] + self.min_gap(dose))
        return _Window(target, first, last, opens, closes, previous)


def _course(
    dosing: Dosing,
    given: Mapping[int, datetime],
    tz: tzinfo,
    discharge_date: date | None,
    death_date: date | None,
    withdrawal_date: date | None,
) -> _Course:
    return _Course(dosing, given, tz, {"discharge": discharge_date, "death": death_date, "withdrawal": withdrawal_date})


# --- decisions ----------------------------------------------------------------------------------


def check_dose(
    dosing: Dosing,
    *,
    dose: int,
    at: datetime,
    given: Mapping[int, datetime],
    tz: tzinfo,
    discharge_date: date | None = None,
    death_date: date | None = None,
    withdrawal_date: date | None = None,
    randomized_at: datetime | None = None,
) -> DoseDecision:
    """May dose `dose` be given at `at`, after the doses in `given` (dose number -> time)?

    `randomized_at` is the participant's randomization time (T0): no dose is
    given before it. Every rule that fails is listed in `reasons`.
    """
    course = _course(dosing, given, tz, discharge_date, death_date, withdrawal_date)
    at_utc = _aware("at", at)
    t0 = None if randomized_at is None else _aware("randomized_at", randomized_at)
    if isinstance(dose, bool) or not isinstance(dose, int) or not 1 <= dose <= dosing.max_doses:
        reason = f"there is no dose {dose!r}: at most {dosing.max_doses} doses are given"
        return DoseDecision(dose, at, None, False, (reason,))
    reasons: list[str] = []
    if t0 is not None and at_utc < t0:
        reasons.append(
            f"{at_utc.isoformat()} is before the participant's randomization ({t0.isoformat()}): "
            "no dose is given before randomization"
        )
    if dose in course.given:
        reasons.append(f"dose {dose} was already given at {course.given[dose].isoformat()}")
    later = [k for k in course.given if k > dose]
    if later:
        reasons.append(
            f"dose {max(later)} has already been given: dose {dose} is not given out of order "
            "(a missed dose is not made up)"
        )
    if course.stop is not None and local_date(at_utc, tz) >= course.stop[0]:
        reasons.append(f"no dose on or after the day of {course.stop_text()}")
    if dose == 1:
        day = dosing.first_dose_day if course.day0 is None else course.study_day_of(local_date(at_utc, tz))
        return DoseDecision(dose, at, day, not reasons, tuple(reasons))
    if course.day0 is None:
        reasons.append("dose 1 has not been given, so study day 0 is not set")
        return DoseDecision(dose, at, None, False, tuple(reasons))

    day = course.study_day_of(local_date(at_utc, tz))
    window = course.window(dose)
    if not window.first_day <= day <= window.last_day:
        reason = (
            f"study day {day} is outside dose {dose}'s window, days {window.first_day} to {window.last_day} "
            f"(target day {window.target_day})"
        )
        if day > window.last_day:
            reason += "; a missed dose is not made up outside its window"
        reasons.append(reason)
    if window.previous is not None:
        since = at_utc - course.given[window.previous]
        needed = course.min_gap(dose)
        if since < needed:
            when = "before" if since <= timedelta(0) else f"only {_elapsed(since)} after"
            reasons.append(
                f"{when} dose {window.previous} (given {course.given[window.previous].isoformat()}); "
                f"at least {needed.total_seconds() / 3600:g} h must separate them"
            )
    return DoseDecision(dose, at, day, not reasons, tuple(reasons))


def dose_plan(
    dosing: Dosing,
    *,
    given: Mapping[int, datetime],
    now: datetime,
    tz: tzinfo,
    discharge_date: date | None = None,
    death_date: date | None = None,
    withdrawal_date: date | None = None,
    missed_reasons: Mapping[int, str] | None = None,
    randomized_at: datetime | None = None,
) -> list[PlannedDose]:
    """Doses 1..`max_doses` with target day, window and status at `now`.

    `given` maps dose numbers to the times they were given and must include
    dose 1 (it sets day 0). `missed_reasons` are the reasons site staff recorded
    for missed doses; a missed dose without one says that its window closed.
    """
    course = _course(dosing, given, tz, discharge_date, death_date, withdrawal_date)
    if course.day0 is None:
        raise InputError("given", "dose 1 has not been given: the plan counts from its day")
    now_utc = _aware("now", now)
    recorded = dict(missed_reasons or {})
    for dose in recorded:
        if dose in course.given or not isinstance(dose, int) or not 1 <= dose <= dosing.max_doses:
            raise InputError("missed_reasons", f"dose {dose!r} is not a dose that can be missed")
    stop_start = course.stop_start()
    plan: list[PlannedDose] = []
    for dose in range(1, dosing.max_doses + 1):
        window = course.window(dose)
        closes = window.closes if stop_start is None else min(window.closes, stop_start)
        planned = PlannedDose(
            dose=dose,
            target_day=window.target_day,
            target_date=course.day0 + timedelta(days=window.target_day),
            first_day=window.first_day,
            last_day=window.last_day,
            window_opens=window.opens,
            window_closes=closes,
            status=DoseStatus.UPCOMING,
        )
        if dose in course.given:
            earlier = {k: v for k, v in course.given.items() if k < dose}
            decision = check_dose(
                dosing,
                dose=dose,
                at=course.given[dose],
                given=earlier,
                tz=tz,
                discharge_date=discharge_date,
                death_date=death_date,
                withdrawal_date=withdrawal_date,
                randomized_at=randomized_at,
            )
            deviation = "; ".join(decision.reasons) or None
            plan.append(replace(planned, status=DoseStatus.GIVEN, given_at=course.given[dose], deviation=deviation))
            continue
        status, reason = _open_dose_status(course, dose, window, closes, now_utc, recorded.get(dose))
        plan.append(replace(planned, status=status, reason=reason))
    return plan


def _open_dose_status(
    course: _Course, dose: int, window: _Window, closes: datetime, now: datetime, recorded: str | None
) -> tuple[DoseStatus, str | None]:
    """The status of a dose not given: not applicable, missed, upcoming or due."""
    stop_start = course.stop_start()
    if stop_start is not None and window.opens >= stop_start:
        return DoseStatus.NOT_APPLICABLE, f"{course.stop_text()}: no dose on or after that day"
    later = [k for k in course.given if k > dose]
    if later:
        return DoseStatus.MISSED, recorded or f"not given; dose {min(later)} was given after its window"
    if window.opens >= window.closes:
        return DoseStatus.MISSED, recorded or (
            f"no time in its window (days {window.first_day} to {window.last_day}) is "
            f"{course.min_gap(dose).total_seconds() / 3600:g} h after dose {window.previous}"
        )
    if now >= closes:
        default = f"not given in its window (days {window.first_day} to {window.last_day})"
        if closes < window.closes:
            default += f", cut short by {course.stop_text()}"
        return DoseStatus.MISSED, recorded or default
    if now < window.opens:
        return DoseStatus.UPCOMING, None
    return DoseStatus.DUE, None
