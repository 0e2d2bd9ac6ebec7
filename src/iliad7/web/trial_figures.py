"""The numbers of the trial overview (issue 17), as pure functions over facts the view reads.

Enrolment (randomized participants, cumulative by date, per site and in total), the screening
funnel (how many participants reached each step), the absolute lymphocyte count (ALC) by visit
pooled over every participant, and the share of due forms saved, per site. No Django here and no
arm: none of these functions is given one, so nothing they return can follow it (the view reads
no allocation either). The ALC is summarised per visit by median and interquartile range over all
participants, never per participant, so no line on the chart is one person's.

    facts = [ParticipantFacts("MSKCC", "randomized", True, True, date(2026, 5, 1), True)]
    funnel(facts, ["MSKCC"])["randomized"]  # {"MSKCC": 1}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from iliad7.errors import InputError
from iliad7.schedule import VisitState
from iliad7.scores.units import Quantity, to_canonical

TOTAL = "Total"  # the row, column or line of every site shown together

# The funnel's steps, in order, with the words the page shows.
FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("screened", "Screened"),
    ("eligible", "Eligible"),
    ("consented", "Consented"),
    ("randomized", "Randomized"),
    ("dosed", "Dose 1 given"),
    ("completed", "Completed day 45"),
)


@dataclass(frozen=True)
class ParticipantFacts:
    """What the funnel needs to know of one participant (no arm)."""

    site: str
    status: str
    eligible: bool  # the latest saved screening record was judged eligible
    consented: bool  # a consent is recorded
    randomized_on: date | None  # the site-local day of randomization
    dosed: bool  # dose 1 was given


def stages_reached(facts: ParticipantFacts) -> frozenset[str]:
    """The funnel steps a participant has reached. Randomization required eligibility and consent, so a
    randomized participant counts as eligible and consented whatever was saved since."""
    randomized = facts.randomized_on is not None
    reached = {"screened"}
    if facts.eligible or randomized:
        reached.add("eligible")
    if facts.consented or randomized:
        reached.add("consented")
    if randomized:
        reached.add("randomized")
        if facts.dosed:
            reached.add("dosed")
        if facts.status == "completed":
            reached.add("completed")
    return frozenset(reached)


def funnel(facts: Iterable[ParticipantFacts], sites: Sequence[str]) -> dict[str, dict[str, int]]:
    """{stage: {site: participants who reached it}} for every stage and site, in the stages' order."""
    counts = {stage: dict.fromkeys(sites, 0) for stage, _ in FUNNEL_STAGES}
    for one in facts:
        if one.site not in sites:
            raise InputError("site", f"participant of site {one.site!r} is not among the sites shown")
        for stage in stages_reached(one):
            counts[stage][one.site] += 1
    return counts


def status_counts(facts: Iterable[ParticipantFacts], sites: Sequence[str]) -> dict[str, dict[str, int]]:
    """{status: {site: participants in that status now}} for the statuses that occur, sorted by name."""
    counts: dict[str, dict[str, int]] = {}
    for one in facts:
        counts.setdefault(one.status, dict.fromkeys(sites, 0))[one.site] += 1
    return dict(sorted(counts.items()))


def cumulative(days: Iterable[date]) -> list[tuple[date, int]]:
    """(day, count so far) for each day on which the count grew, in day order."""
    steps: list[tuple[date, int]] = []
    for total, day in enumerate(sorted(days), start=1):
        if steps and steps[-1][0] == day:
            steps[-1] = (day, total)
        else:
            steps.append((day, total))
    return steps


def enrolment(randomized_on: Mapping[str, Sequence[date]]) -> dict[str, list[tuple[date, int]]]:
    """The cumulative count of randomized participants by day: per site (in the mapping's order), then the total."""
    series = {site: cumulative(days) for site, days in randomized_on.items()}
    series[TOTAL] = cumulative(day for days in randomized_on.values() for day in days)
    return series


@dataclass(frozen=True)
class Quartiles:
    q1: float
    median: float
    q3: float


def quartiles(values: Sequence[float]) -> Quartiles:
    """First quartile, median and third quartile, linear between order statistics (R's type 7, numpy's default)."""
    if not values:
        raise InputError("values", "quartiles of no values")
    ordered = sorted(values)

    def at(p: float) -> float:
        h = (len(ordered) - 1) * p
        low = math.floor(h)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (h - low) * (ordered[high] - ordered[low])

    return Quartiles(at(0.25), at(0.5), at(0.75))


def cells_per_mm3(value: str, unit: str) -> float | None:
    """A saved ALC in cells/mm3 (the unit the rules use), or None when the text or unit is not a count."""
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not number.is_finite():
        return None
    try:
        return float(to_canonical(Quantity.CELL_COUNT, number, unit or "cells/mm3"))
    except InputError:
        return None


@dataclass(frozen=True)
class VisitSummary:
    """The ALC at one visit over every participant with a count there."""

    visit: str
    name: str
    day: int  # the visit's target study day
    n: int
    q1: float
    median: float
    q3: float


def alc_by_visit(
    counts: Iterable[tuple[int, str, int, str, str]], visits: Sequence[tuple[str, str, int]]
) -> list[VisitSummary]:
    """Median and quartiles of the ALC at each visit that has counts, pooled over participants.

    `counts` are (participant, visit, instance, value, unit): the current version of each saved ALC;
    a participant counts once per visit (their first instance there). `visits` are (id, name, target
    day) in schedule order. A value that is not a number in a cell-count unit is left out.
    """
    first: dict[tuple[int, str], tuple[int, float]] = {}
    for participant, visit, instance, value, unit in counts:
        cells = cells_per_mm3(value, unit)
        if cells is None:
            continue
        key = (participant, visit)
        if key not in first or instance < first[key][0]:
            first[key] = (instance, cells)
    by_visit: dict[str, list[float]] = {}
    for (_, visit), (_, cells) in first.items():
        by_visit.setdefault(visit, []).append(cells)
    summaries = []
    for visit, name, day in visits:
        values = by_visit.get(visit)
        if values:
            q = quartiles(values)
            summaries.append(VisitSummary(visit, name, day, len(values), q.q1, q.median, q.q3))
    return summaries


# The visit states in which a visit's forms are due: its window has opened and it still applies.
DUE_STATES = frozenset({VisitState.DONE, VisitState.DUE, VisitState.OVERDUE, VisitState.MISSED, VisitState.INCOMPLETE})


def due_forms(state: str, forms: int, saved: int, *, done: bool) -> tuple[int, int]:
    """(forms due, forms saved of them) at one visit of one participant, as the calendar judged the visit.

    A visit not yet open, or no longer applicable (after discharge, death or withdrawal), has nothing
    due. A visit the calendar counts done counts whole (the screening visit is done by the screening
    record that allowed the randomization, whatever its forms hold).
    """
    if state not in DUE_STATES or forms == 0:
        return 0, 0
    return forms, forms if done else min(saved, forms)


@dataclass(frozen=True)
class Completeness:
    site: str
    saved: int
    due: int


def completeness(rows: Iterable[tuple[str, int, int]], sites: Sequence[str]) -> list[Completeness]:
    """Per site (in the order given), then in total, the forms saved of those due; rows are (site, due, saved)."""
    due = dict.fromkeys(sites, 0)
    saved = dict.fromkeys(sites, 0)
    for site, n_due, n_saved in rows:
        due[site] += n_due
        saved[site] += n_saved
    result = [Completeness(site, saved[site], due[site]) for site in sites]
    result.append(Completeness(TOTAL, sum(saved.values()), sum(due.values())))
    return result
