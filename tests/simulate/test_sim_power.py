"""The vectorized power path: same answers as statsmodels, nominal type I error, reproducible rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest
import statsmodels.api as sm
import typer
from typer.testing import CliRunner

from iliad7.cli import simulate as simulate_cli
from iliad7.simulate.parameters import load_parameters
from iliad7.simulate.power import (
    TrialStack,
    allocate,
    ancova,
    operating_characteristics,
    simulate_trials,
    true_log_gmr,
)
from iliad7.simulate.trajectories import participants_from_courses

TOLERANCE = 1e-8  # the closed form and statsmodels' pinv solve the same least squares
ROW_KEYS = ["n", "effect", "trials", "power", "type1_error", "bias", "coverage", "mcse"]


def _statsmodels_fit(y: np.ndarray, arm: np.ndarray, log_alc0: np.ndarray, site: np.ndarray):  # type: ignore[no-untyped-def]
    columns = [np.ones_like(y), arm.astype(float), log_alc0]
    if 0 < site.sum() < site.size:
        columns.append(site.astype(float))
    return sm.OLS(y, np.column_stack(columns)).fit()


def _assert_same(batch, k: int, fit) -> None:  # type: ignore[no-untyped-def]
    lower, upper = fit.conf_int(alpha=0.05)[1]
    assert batch.log_gmr[k] == pytest.approx(fit.params[1], abs=TOLERANCE)
    assert batch.se[k] == pytest.approx(fit.bse[1], abs=TOLERANCE)
    assert batch.p_value[k] == pytest.approx(fit.pvalues[1], abs=TOLERANCE)
    assert batch.ci_lower[k] == pytest.approx(lower, abs=TOLERANCE)
    assert batch.ci_upper[k] == pytest.approx(upper, abs=TOLERANCE)
    assert batch.df[k] == fit.df_resid


def test_vectorized_ancova_equals_statsmodels_ols_on_sampled_trials() -> None:
    params = load_parameters()
    stack = simulate_trials(params, np.random.default_rng(99), trials=400, n=24)
    batch = ancova(stack)
    c = stack.courses
    with_exclusions = np.flatnonzero(~c.analysable.all(axis=1))
    sampled = sorted(set(np.random.default_rng(1).choice(400, 12, replace=False)) | set(with_exclusions[:3]))
    assert len(with_exclusions) > 0
    for k in sampled:
        keep = c.analysable[k]
        fit = _statsmodels_fit(stack.y[k][keep], c.arm[k][keep], c.log_alc0[k][keep], c.site[k][keep])
        _assert_same(batch, k, fit)


def test_a_trial_with_one_site_drops_the_site_term_like_statsmodels() -> None:
    params = load_parameters().with_overrides({"population.site_share.MSKCC": 1.0, "population.site_share.MDACC": 0.0})
    stack = simulate_trials(params, np.random.default_rng(5), trials=5, n=12)
    batch = ancova(stack)
    c = stack.courses
    for k in range(5):
        keep = c.analysable[k]
        fit = _statsmodels_fit(stack.y[k][keep], c.arm[k][keep], c.log_alc0[k][keep], c.site[k][keep])
        assert len(fit.params) == 3
        _assert_same(batch, k, fit)


def test_the_full_path_participants_give_the_same_primary_analysis_as_the_fast_path() -> None:
    params = load_parameters()
    stack = simulate_trials(params, np.random.default_rng(123), trials=3, n=48)
    batch = ancova(stack)
    for k in range(3):
        participants = participants_from_courses(stack.courses.take(k), params, np.random.default_rng(k))
        rows = [p for p in participants if p.primary_alc is not None]
        y = np.log([p.primary_alc for p in rows])
        arm = np.array([p.baseline.arm == "CYT107" for p in rows], dtype=np.int64)
        log_alc0 = np.log([p.baseline.alc0 for p in rows])
        site = np.array([p.baseline.site == "MDACC" for p in rows], dtype=np.int64)
        _assert_same(batch, k, _statsmodels_fit(y, arm, log_alc0, site))


def test_allocation_is_one_to_one_within_each_site() -> None:
    arm, site = allocate(np.random.default_rng(3), 2000, 17, [0.5, 0.5])
    for s in (0, 1):
        treated = ((arm == 1) & (site == s)).sum(axis=1)
        control = ((arm == 0) & (site == s)).sum(axis=1)
        assert (np.abs(treated - control) <= 1).all()


def test_type_one_error_under_no_effect_is_within_monte_carlo_error_of_005() -> None:
    trials = 4000
    (result,) = operating_characteristics(load_parameters(), ns=[48], trials=trials, seed=20201220)
    mcse = math.sqrt(0.05 * 0.95 / trials)
    assert abs(result.type1_error - 0.05) < 3 * mcse


def test_bias_and_coverage_against_the_estimand_are_within_monte_carlo_error() -> None:
    (result,) = operating_characteristics(load_parameters(), ns=[48], trials=4000, seed=7)
    assert abs(result.bias) < 3 * result.mcse.bias
    assert abs(result.coverage - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 4000)
    assert result.power > 0.5


def test_the_estimand_is_below_the_full_response_effect_and_zero_without_effect() -> None:
    params = load_parameters()
    truth = true_log_gmr(params)
    assert 0 < truth < math.log(params.effect.alc_gmr.value)
    assert true_log_gmr(params.without_il7_effect()) == 0.0


def test_same_seed_same_rows_byte_identical_and_independent_of_other_n() -> None:
    params = load_parameters()
    first = orjson.dumps([r.as_row() for r in operating_characteristics(params, ns=[10, 24], trials=300, seed=1)])
    again = orjson.dumps([r.as_row() for r in operating_characteristics(params, ns=[10, 24], trials=300, seed=1)])
    alone = operating_characteristics(params, ns=[24], trials=300, seed=1)
    assert first == again
    assert orjson.loads(first)[1] == alone[0].as_row()


def test_a_row_for_one_effect_does_not_depend_on_the_other_effects_asked_for() -> None:
    params = load_parameters()
    both = operating_characteristics(params, ns=[24], effects=[1.2, 1.45], trials=300, seed=3)
    alone = operating_characteristics(params, ns=[24], effects=[1.45], trials=300, seed=3)
    assert both[1].as_row() == alone[0].as_row()
    assert both[0].power <= both[1].power


def test_rows_have_exactly_the_interface_keys() -> None:
    (result,) = operating_characteristics(load_parameters(), ns=[10], trials=200, seed=2)
    row = result.as_row()
    assert list(row) == ROW_KEYS
    assert set(row["mcse"]) == {"power", "type1_error", "bias", "coverage"}  # type: ignore[arg-type]


def _app() -> typer.Typer:
    app = typer.Typer()
    simulate_cli.register(app)
    return app


def test_cli_power_writes_the_json_rows_and_a_plot(tmp_path: Path) -> None:
    out, plot = tmp_path / "power.json", tmp_path / "power.png"
    args = ["simulate", "power", "--n", "10,24", "--trials", "300", "--seed", "4", "--json", str(out)]
    result = CliRunner().invoke(_app(), [*args, "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(out.read_bytes())
    assert [row["n"] for row in rows] == [10, 24] and all(list(row) == ROW_KEYS for row in rows)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    first = out.read_bytes()
    assert CliRunner().invoke(_app(), args).exit_code == 0
    assert out.read_bytes() == first


def test_cli_power_refuses_a_bad_n_with_exit_2() -> None:
    result = CliRunner().invoke(_app(), ["simulate", "power", "--n", "ten", "--seed", "1"])
    assert result.exit_code == 2


def test_cli_screening_writes_records_that_screen_reads(tmp_path: Path) -> None:
    from iliad7.eligibility import SCREENING_RECORDS

    out = tmp_path / "records.json"
    result = CliRunner().invoke(_app(), ["simulate", "screening", "--n", "30", "--seed", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(SCREENING_RECORDS.validate_json(out.read_bytes())) == 30


def test_an_unestimable_trial_counts_as_not_rejecting() -> None:
    params = load_parameters()
    stack = simulate_trials(params, np.random.default_rng(0), trials=2, n=8)
    c = stack.courses
    one_arm = TrialStack(c.__class__(**{**c.__dict__, "arm": np.ones_like(c.arm)}))
    batch = ancova(one_arm)
    assert not batch.estimable.any() and np.isnan(batch.p_value).all()
