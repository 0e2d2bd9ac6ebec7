"""Shared fixtures of the analysis tests: simulated trials built once per session."""

from __future__ import annotations

import pytest

from iliad7.analysis.from_simulation import SimulatedTrial, simulated_trial


@pytest.fixture(scope="session")
def trial48() -> SimulatedTrial:
    """The planned size: 48 participants."""
    return simulated_trial(48, 7)


@pytest.fixture(scope="session")
def trial10() -> SimulatedTrial:
    """The size actually enrolled: 10 participants."""
    return simulated_trial(10, 7)
