"""The schedule of activities, per participant, as pure functions (issue 5).

    from iliad7.schedule import participant_calendar, daily_assessments
    participant_calendar(protocol.schedule, day0=d0, today=today, done={"SCREENING", "BASELINE"})

Visits, windows and assessments come from the protocol's `schedule` block;
when doses may actually be given (72 h, +/- 1 day) is `iliad7.dosing`'s job.
"""

from iliad7.schedule.calendar import (
    DailyAssessments,
    VisitState,
    VisitStatus,
    daily_assessments,
    participant_calendar,
)
from iliad7.schedule.completion import (
    CELL_STATES,
    VisitProgress,
    calendar_inputs,
    cell_state,
    visit_forms,
    visit_progress,
)

__all__ = [
    "CELL_STATES",
    "DailyAssessments",
    "VisitProgress",
    "VisitState",
    "VisitStatus",
    "calendar_inputs",
    "cell_state",
    "daily_assessments",
    "participant_calendar",
    "visit_forms",
    "visit_progress",
]
