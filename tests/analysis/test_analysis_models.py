"""The SAP analyses on simulated trials, and their fallbacks when a model cannot be estimated (SAP 4.9)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from iliad7.analysis import analyses, fit
from iliad7.analysis.datasets import AnalysisData
from iliad7.analysis.from_simulation import SimulatedTrial
from iliad7.analysis.results import AnalysisResult

FIXED = {
    "ALC-ANCOVA": {"gmr", "p_value"},
    "ALC-WILCOXON": {"p_value"},
    "MORTALITY-D45-KM": {"survival_cyt107", "survival_placebo"},
    "MORTALITY-D45-LOGRANK": {"p_value"},
    "MORTALITY-D45-COX": {"hr", "p_value"},
    "OSFD-WILCOXON": {"p_value"},
    "WHO-D30-POLR": {"or", "p_value"},
}


def _numbers(result: AnalysisResult) -> list[float]:
    values = []
    for e in result.estimates:
        values += [v for v in (e.value, e.ci_lower, e.ci_upper) if v is not None]
    return values


@pytest.mark.parametrize("size", ["trial10", "trial48"])
def test_every_analysis_runs_and_reports_only_finite_numbers(size: str, request: pytest.FixtureRequest) -> None:
    trial: SimulatedTrial = request.getfixturevalue(size)
    results = analyses.run_all(trial.data)
    ids = [r.analysis_id for r in results]
    assert len(ids) == len(set(ids))
    for result in results:
        assert all(math.isfinite(v) for v in _numbers(result)), result
        assert result.n >= 0 and result.method and result.population in ("ITT", "MITT", "SAFETY", "PP")
        for e in result.estimates:
            if e.statistic.startswith("p_value") and e.value is not None:
                assert 0 <= e.value <= 1
            if e.ci_lower is not None and e.value is not None and e.ci_upper is not None:
                assert e.ci_lower <= e.value <= e.ci_upper


def test_protocol_analysis_ids_are_all_produced(trial48: SimulatedTrial) -> None:
    from iliad7.protocol import load_protocol

    produced = {r.analysis_id for r in analyses.run_all(trial48.data)}
    planned = {aid for outcome in load_protocol().outcomes for aid in outcome.analysis.analysis_ids}
    assert planned <= produced
    for result in analyses.run_all(trial48.data):
        if result.analysis_id in FIXED:
            assert FIXED[result.analysis_id] <= {e.statistic for e in result.estimates}


def test_primary_ancova_matches_statsmodels_formula(trial48: SimulatedTrial) -> None:
    import pandas as pd
    import statsmodels.formula.api as smf

    frame = analyses.primary_frame(trial48.data, analyses.population(trial48.data, "MITT"))
    df = pd.DataFrame(
        {
            "y": np.log(frame["AVAL"].to_numpy()),
            "b": np.log(frame["BASE"].to_numpy()),
            "arm": (frame["ARM"] == "CYT107").to_numpy().astype(int),
            "site": frame["SITEID"].to_list(),
        }
    )
    model = smf.ols("y ~ arm + b + C(site)", df).fit()
    result = analyses.alc_ancova(trial48.data)
    assert result.estimate("gmr").value == pytest.approx(math.exp(model.params["arm"]), rel=1e-12)
    assert result.estimate("p_value").value == pytest.approx(model.pvalues["arm"], rel=1e-9)


def test_primary_record_is_the_simulators_endpoint_alc(trial48: SimulatedTrial) -> None:
    """The adapter's D30 visit and derive_anl01fl agree with the simulator's own primary ALC."""
    from iliad7.simulate import load_parameters, simulate_cohort

    cohort = simulate_cohort(load_parameters(), 7, 48)
    expected = sorted(round(r.participant.primary_alc, 6) for r in cohort.randomized if r.participant.primary_alc)
    flagged = trial48.data.adlb.filter(pl.col("ANL01FL") == "Y")["AVAL"].to_list()
    assert sorted(round(v, 6) for v in flagged) == expected


def _without_deaths_in(data: AnalysisData, arm: str) -> AnalysisData:
    """The same trial with every death in one arm turned into survival to day 45 (censored)."""
    subjects = data.adsl.filter(pl.col("TRT01P") == arm)["USUBJID"].implode()
    adtte = data.adtte.with_columns(
        pl.when((pl.col("PARAMCD") == "TTDTH45") & pl.col("USUBJID").is_in(subjects))
        .then(pl.lit(45.0))
        .otherwise(pl.col("AVAL"))
        .alias("AVAL"),
        pl.when((pl.col("PARAMCD") == "TTDTH45") & pl.col("USUBJID").is_in(subjects))
        .then(pl.lit(1, dtype=pl.Int64))
        .otherwise(pl.col("CNSR"))
        .alias("CNSR"),
    )
    return AnalysisData(**{**data.frames(), "adtte": adtte})


def test_no_deaths_in_one_arm_km_and_logrank_fine_cox_falls_back(trial48: SimulatedTrial) -> None:
    data = _without_deaths_in(trial48.data, "placebo")
    km, lr, cox = analyses.mortality(data)
    assert km.estimate("survival_placebo").value == 1.0
    assert km.estimate("survival_placebo").ci_lower is None  # undefined without deaths, as in R
    assert not lr.fallback and lr.estimate("p_value").value is not None
    assert cox.fallback
    assert "cannot be estimated" in cox.method and "no events in the placebo arm" in cox.method
    assert "Fisher" in cox.method
    assert cox.estimate("hr").value is None
    assert 0 < (cox.estimate("p_value").value or 0) <= 1


def test_no_deaths_at_all_makes_logrank_say_so() -> None:
    t = np.full(10, 45.0)
    with pytest.raises(fit.NotEstimable, match="no events"):
        fit.log_rank(t, np.zeros(10), np.array([1, 0] * 5, dtype=float))


def test_trial_of_10_gives_a_result_or_a_named_fallback_for_every_analysis(trial10: SimulatedTrial) -> None:
    for result in analyses.run_all(trial10.data):
        if result.fallback:
            assert "fallback" in result.method or "not estimable" in result.method


def test_separation_in_the_proportional_odds_model_falls_back() -> None:
    with pytest.raises(fit.NotEstimable, match="separation"):
        fit.polr_contrast(np.array([1, 2, 2, 5, 6, 6]), np.array([1, 1, 1, 0, 0, 0], dtype=float), {})


def test_who_polr_separation_reports_the_wilcoxon_fallback(trial10: SimulatedTrial) -> None:
    adsl = trial10.data.adsl.with_columns(
        WHOD30=pl.when(pl.col("TRT01P") == "CYT107")
        .then(pl.lit(2, dtype=pl.Int64))
        .otherwise(pl.lit(10, dtype=pl.Int64))
    )
    result = analyses.who_polr(AnalysisData(**{**trial10.data.frames(), "adsl": adsl}))
    assert result.fallback and "separation" in result.method and "Wilcoxon" in result.method
    assert result.estimate("or").value is None
    assert result.estimate("p_value").value is not None


def test_singular_design_drops_the_site_and_says_so() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
    arm = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    c = fit.ols_contrast(y, arm, {"site[X]": np.zeros(6)})
    assert c.dropped == ("site[X]",)


def test_too_few_for_ancova_falls_back_to_exact_wilcoxon(trial10: SimulatedTrial) -> None:
    # one participant per arm: 2 participants, 4 parameters
    keep = trial10.data.adsl.group_by("TRT01P").agg(pl.col("USUBJID").sort().first())["USUBJID"]
    adsl = trial10.data.adsl.filter(pl.col("USUBJID").is_in(keep.implode()))
    result = analyses.alc_ancova(AnalysisData(**{**trial10.data.frames(), "adsl": adsl}))
    assert result.fallback and "no residual degrees of freedom" in result.method
    assert "Wilcoxon rank-sum test (exact)" in result.method


def test_one_arm_only_is_not_estimable_anywhere(trial10: SimulatedTrial) -> None:
    adsl = trial10.data.adsl.filter(pl.col("TRT01P") == "CYT107")
    results = analyses.run_all(AnalysisData(**{**trial10.data.frames(), "adsl": adsl}))
    by_id = {r.analysis_id: r for r in results}
    assert by_id["ALC-ANCOVA"].fallback
    assert by_id["MORTALITY-D45-COX"].fallback
    assert by_id["MORTALITY-D45-KM"].estimate("survival_placebo").value is None


def test_poisson_without_events_in_an_arm_falls_back_to_fisher() -> None:
    with pytest.raises(fit.NotEstimable, match="no events in the CYT107 arm"):
        fit.poisson_contrast(np.array([0, 0, 1, 2.0]), np.ones(4) * 30, np.array([1, 1, 0, 0.0]), {})


def test_fisher_and_newcombe_interval_known_values() -> None:
    table = fit.fisher_two_by_two(0, 5, 3, 5)
    assert table.p_value == pytest.approx(0.16666666666666669)
    assert table.risk_difference == pytest.approx(-0.6)
    assert -1 < table.ci_lower < -0.6 < table.ci_upper < 0.2


def test_aalen_johansen_equals_one_minus_km_without_competing_events() -> None:
    t = np.array([2.0, 3, 3, 5, 8, 10])
    e = np.array([1, 1, 0, 1, 0, 1])
    cif = fit.cumulative_incidence(t, e, 45)
    assert cif == pytest.approx(1 - fit.km_at(t, e.astype(float), 45).survival)


def test_mixed_model_at_boundary_is_reported() -> None:
    rng = np.random.default_rng(1)
    subjects = np.repeat([f"s{i}" for i in range(12)], 3)
    visit = np.tile([1, 2, 3], 12)
    arm = np.repeat([1.0, 0.0] * 6, 3)
    y = rng.normal(size=36)  # no participant effect at all
    c = fit.mixed_model_contrast(y, arm, visit, subjects, {}, 3)
    assert math.isfinite(c.estimate)
