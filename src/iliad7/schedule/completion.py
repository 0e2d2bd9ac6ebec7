"""When a visit is done: its forms, and which of them are saved (issue 17), as pure functions.

A visit's forms are the protocol's forms filled per visit or per day (`repeat: visit` or
`daily`) whose assessments the schedule of activities puts at that visit; forms filled per
event (an adverse event, a hospital stay, the end of study) belong to no visit. A visit is
done when every one of its forms is saved there, on the day the last of them was first saved;
it is started when some are. The screening visit is the exception: a randomized participant's
screening is done by the screening record that allowed the randomization (eligible, consented:
the randomization refuses otherwise), whatever its forms hold, so it is never "overdue" once
the participant is on the calendar.

    from iliad7.schedule.completion import visit_forms, visit_progress
    forms = visit_forms(protocol)
    done, started = visit_progress(forms, saved_on, screening_done_on=screened)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from iliad7.protocol import Protocol

SCREENING_VISIT = "SCREENING"


def visit_forms(protocol: Protocol) -> dict[str, tuple[str, ...]]:
    """{visit id: the ids of the forms it is done with}, every visit of the schedule, forms in protocol order."""
    schedule = protocol.schedule
    forms: dict[str, list[str]] = {visit.id: [] for visit in schedule.visits}
    for form in protocol.forms:
        if form.repeat not in ("visit", "daily"):
            continue
        wanted = {v for a in form.assessments for v in schedule.assessment(a).visits}
        for visit in schedule.visits:
            if visit.id in wanted:
                forms[visit.id].append(form.id)
    return {visit: tuple(ids) for visit, ids in forms.items()}


@dataclass(frozen=True)
class VisitProgress:
    """One visit's forms and those saved at it."""

    visit: str
    forms: tuple[str, ...]
    saved: tuple[str, ...]
    done_on: date | None  # the day the visit was done (its last form first saved), None while not done

    @property
    def done(self) -> bool:
        return self.done_on is not None

    @property
    def started(self) -> bool:
        return bool(self.saved) and not self.done

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(f for f in self.forms if f not in self.saved)


def visit_progress(
    forms: Mapping[str, tuple[str, ...]],
    saved_on: Mapping[str, Mapping[str, date]],
    *,
    screening_done_on: date | None = None,
) -> dict[str, VisitProgress]:
    """Each visit's progress from `saved_on` ({visit: {form: the day it was first saved there}}).

    `screening_done_on` is the day of the screening record of a randomized participant (None when
    not randomized): the screening visit is done on that day. A visit with no forms is done only
    that way (never by default).
    """
    progress: dict[str, VisitProgress] = {}
    for visit, ids in forms.items():
        at = saved_on.get(visit, {})
        saved = tuple(f for f in ids if f in at)
        done_on: date | None = None
        if visit == SCREENING_VISIT and screening_done_on is not None:
            done_on = screening_done_on
        elif ids and len(saved) == len(ids):
            done_on = max(at[f] for f in ids)
        progress[visit] = VisitProgress(visit, ids, saved, done_on)
    return progress


def calendar_inputs(progress: Mapping[str, VisitProgress]) -> tuple[dict[str, date], frozenset[str]]:
    """(`done`, `started`) as `participant_calendar` takes them."""
    done = {v: p.done_on for v, p in progress.items() if p.done_on is not None}
    started = frozenset(v for v, p in progress.items() if p.started)
    return done, started


# The states of a record-status cell (a participant at a visit), as the dashboard shows them.
CELL_STATES = ("not_started", "incomplete", "complete", "open_query", "sdv", "signed", "locked")


def cell_state(
    forms: tuple[str, ...],
    saved: Collection[str],
    *,
    queried: bool = False,
    verified: Collection[str] = (),
    locked: Collection[str] = (),
    casebook_signed: bool = False,
    casebook_locked: bool = False,
) -> str:
    """The state of one visit's cell: what its forms are missing or what review they have reached.

    In order: `locked` (the casebook, or every form of the visit); `open_query` (a query not closed
    on any form there: it needs work whatever else is true); `not_started` / `incomplete` (none, or
    some, of its forms saved); then, all saved, `signed` (the investigator signed the casebook),
    `sdv` (every form source-verified) or `complete`.
    """
    if casebook_locked or (forms and all(f in locked for f in forms)):
        return "locked"
    if queried:
        return "open_query"
    done = [f for f in forms if f in saved]
    if not done:
        return "not_started"
    if len(done) < len(forms):
        return "incomplete"
    if casebook_signed:
        return "signed"
    if all(f in verified for f in forms):
        return "sdv"
    return "complete"
