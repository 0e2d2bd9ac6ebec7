"""Simulated screening records follow the contract and fail each criterion in the configured share."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import orjson
import pytest

from iliad7.eligibility import CRITERION_IDS, parse_record, screen
from iliad7.simulate.parameters import load_parameters
from iliad7.simulate.population import (
    baseline_alc,
    draw_screening_records,
    expected_verdict_shares,
    failure_shares,
    screen_population,
)

N = 4000


@pytest.fixture(scope="module")
def population():  # type: ignore[no-untyped-def]
    return screen_population(load_parameters(), seed=11, n=N)


def test_every_simulated_record_is_a_valid_contract_record(population) -> None:  # type: ignore[no-untyped-def]
    for patient in population[:500]:
        # through JSON text, as `iliad7 screen` would read it
        record = parse_record(orjson.dumps(patient.record))
        assert screen(record).as_contract() == patient.screening.as_contract()


def test_screen_fails_exactly_the_criteria_the_generator_made_fail(population) -> None:  # type: ignore[no-untyped-def]
    for patient in population:
        assert set(patient.screening.failed) == set(patient.made_to_fail)
        assert set(patient.screening.unknown) <= {"EXC-FRAILTY"}


def test_each_criterion_fails_in_its_configured_share(population) -> None:  # type: ignore[no-untyped-def]
    shares = failure_shares(load_parameters())
    failed = Counter(cid for patient in population for cid in patient.screening.failed)
    for cid in CRITERION_IDS:
        share = shares[cid]
        # binomial sampling error of N records; 4 SE keeps the 24 simultaneous checks from flaking
        tolerance = 4 * math.sqrt(share * (1 - share) / N) + 1e-9
        assert abs(failed[cid] / N - share) <= tolerance, cid


def test_verdict_shares_are_near_the_configured_shares(population) -> None:  # type: ignore[no-untyped-def]
    expected = expected_verdict_shares(load_parameters())
    verdicts = Counter(patient.screening.verdict for patient in population)
    for verdict, share in expected.items():
        assert abs(verdicts[verdict] / N - share) <= 4 * math.sqrt(share * (1 - share) / N), verdict


def test_eligible_patients_have_a_screening_alc_of_at_most_1000(population) -> None:  # type: ignore[no-untyped-def]
    values = [baseline_alc(p.record) for p in population if p.eligible]
    assert max(values) <= 1000
    # the capped log-normal of the parameter file (median 550, IQR 380-750, cap 1000) has median about 510
    assert 470 <= float(np.median(values)) <= 550


def test_same_seed_same_records_byte_identical() -> None:
    params = load_parameters()
    first = orjson.dumps([p.record for p in screen_population(params, seed=3, n=200)])
    second = orjson.dumps([p.record for p in screen_population(params, seed=3, n=200)])
    other = orjson.dumps([p.record for p in screen_population(params, seed=4, n=200)])
    assert first == second
    assert first != other


def test_records_are_drawn_from_the_generator_passed_in() -> None:
    params = load_parameters()
    a = draw_screening_records(params, np.random.default_rng(9), 20)
    b = draw_screening_records(params, np.random.default_rng(9), 20)
    assert [p.record for p in a] == [p.record for p in b]
