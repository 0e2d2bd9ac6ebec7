"""The look-back windows of the eligibility rules (clinical-rules section 3, conventions).

Dates without time are calendar dates in the site's local zone; ``T0``'s date is
the date written in the baseline time's own offset.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def completed_years(birth: date, on: date) -> int:
    """Age in completed years on ``on`` (a 29 February birthday falls on 1 March in common years)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def months_before(on: date, months: int) -> date:
    """The same calendar day ``months`` earlier, clamped to the last day of that month."""
    index = on.year * 12 + (on.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(on.day, days_in_month(year, month)))


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def within_months(when: date, t0: date, months: int) -> bool:
    """On or after the same day ``months`` before T0's date, and not after T0's date."""
    return months_before(t0, months) <= when <= t0


def within_past_days(when: date, t0: date, days: int) -> bool:
    """0 <= (T0's date - date) <= days."""
    return 0 <= (t0 - when).days <= days


def within_before(when: datetime, t0: datetime, lookback: timedelta) -> bool:
    """A time in [T0 - lookback, T0] ("within 72 h before T0")."""
    return t0 - lookback <= when <= t0
