"""The in-silico ILIAD-7 trial: simulated screening, participants and operating characteristics.

Pure and seeded (no database): every function takes a ``numpy.random.Generator`` or a seed, and
every number comes from ``parameters.yaml`` with its published source or marked as an
assumption (docs/simulation.md).

- :func:`load_parameters` — the validated parameter file, with overrides for power runs.
- :func:`draw_screening_records` / :func:`screen_population` — contract screening records,
  judged by the real ``iliad7.eligibility.screen``.
- :func:`draw_courses` — the course model shared by both paths (vectorized).
- :func:`simulate_participants` / :func:`participants_from_courses` — daily courses to day 45.
- :func:`simulate_cohort` / :func:`cohort_json` — screening, real allocation list, participants.
- :func:`operating_characteristics` / :func:`ancova` / :func:`simulate_trials` — the fast
  vectorized power path.

Submodules import numpy and scipy; import them only where the simulation is needed.
"""

from iliad7.simulate.cohort import Cohort, Randomized, cohort_json, simulate_cohort
from iliad7.simulate.course import Calendar, Courses, draw_courses, protocol_calendar
from iliad7.simulate.parameters import KNOWN_SOURCES, PARAMETERS_FILE, Parameters, load_parameters
from iliad7.simulate.population import (
    ScreenedPatient,
    draw_screening_records,
    expected_verdict_shares,
    failure_shares,
    screen_population,
)
from iliad7.simulate.power import (
    AncovaBatch,
    OperatingCharacteristics,
    TrialStack,
    ancova,
    operating_characteristics,
    simulate_trials,
    true_log_gmr,
)
from iliad7.simulate.trajectories import (
    AdverseEvent,
    Baseline,
    Dose,
    Episode,
    Infection,
    Participant,
    participants_from_courses,
    simulate_participants,
)

__all__ = [
    "KNOWN_SOURCES",
    "PARAMETERS_FILE",
    "AdverseEvent",
    "AncovaBatch",
    "Baseline",
    "Calendar",
    "Cohort",
    "Courses",
    "Dose",
    "Episode",
    "Infection",
    "OperatingCharacteristics",
    "Parameters",
    "Participant",
    "Randomized",
    "ScreenedPatient",
    "TrialStack",
    "ancova",
    "cohort_json",
    "draw_courses",
    "draw_screening_records",
    "expected_verdict_shares",
    "failure_shares",
    "load_parameters",
    "operating_characteristics",
    "participants_from_courses",
    "protocol_calendar",
    "screen_population",
    "simulate_cohort",
    "simulate_participants",
    "simulate_trials",
    "true_log_gmr",
]
