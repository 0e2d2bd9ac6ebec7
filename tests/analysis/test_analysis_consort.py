"""CONSORT counts: every screened participant is excluded under one reason, randomized, or waiting."""

from __future__ import annotations

from iliad7.analysis.consort import consort_counts
from iliad7.analysis.from_simulation import SimulatedTrial


def test_screened_is_excluded_plus_eligible_and_the_first_failure_names_the_exclusion(trial10: SimulatedTrial) -> None:
    n = trial10.data.adsl.height
    screenings = [
        ("ineligible", ["INC-ALC", "EXC-BMI"], []),
        ("incomplete", [], ["EXC-FRAILTY"]),
        *[("eligible", [], [])] * (n + 2),  # two eligible participants not randomized yet
    ]
    counts = consort_counts(screenings, trial10.data)
    assert counts["screened"] == len(screenings)
    assert counts["excluded"] == {"INC-ALC": 1, "incomplete: EXC-FRAILTY": 1}
    assert counts["eligible_not_randomized"] == 2 and counts["randomized"] == n
    assert sum(counts["excluded"].values()) + counts["eligible_not_randomized"] + n == counts["screened"]


def test_a_simulated_trial_has_no_one_waiting(trial10: SimulatedTrial) -> None:
    consort = trial10.consort
    assert consort["eligible_not_randomized"] == 0
    assert sum(consort["excluded"].values()) + consort["randomized"] == consort["screened"]
