"""The hand-written engines of iliad7.analysis.fit against the Python libraries that fit the same models.

The proportional odds fit, Kaplan-Meier, Aalen-Johansen and the random-intercept REML are written
in numpy for speed and precision (a 20,000-participant trial in seconds, agreement with R to
1e-6); here they are checked against statsmodels' OrderedModel and MixedLM and lifelines'
KaplanMeierFitter and AalenJohansenFitter on simulated trials.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from iliad7.analysis import analyses, fit
from iliad7.analysis.from_simulation import SimulatedTrial


def test_proportional_odds_equals_statsmodels_ordered_model(trial48: SimulatedTrial) -> None:
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    frame = analyses.population(trial48.data, "MITT").adsl
    y = frame["WHOD30"].to_numpy()
    arm = (frame["ARM"] == "CYT107").to_numpy().astype(float)
    base = frame["WHOBL"].to_numpy().astype(float)
    ours = fit.polr_contrast(y, arm, {"base": base})
    codes = np.searchsorted(np.unique(y), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = OrderedModel(codes, np.column_stack([arm, base]), distr="logit").fit(
            method="bfgs", maxiter=5000, disp=False, gtol=1e-10
        )
    assert ours.estimate == pytest.approx(theirs.params[0], rel=1e-5)
    assert ours.se == pytest.approx(theirs.bse[0], rel=1e-4)


def test_kaplan_meier_equals_lifelines(trial48: SimulatedTrial) -> None:
    from lifelines import KaplanMeierFitter

    tte = trial48.data.adtte.filter(pl.col("PARAMCD") == "TTDTH45")
    t = tte["AVAL"].to_numpy()
    e = (tte["CNSR"] == 0).to_numpy().astype(float)
    ours = fit.km_at(t, e, 45)
    km = KaplanMeierFitter().fit(t, e)
    assert ours.survival == pytest.approx(float(km.survival_function_at_times(45).iloc[0]), rel=1e-12)
    ci = km.confidence_interval_
    low, high = ci.iloc[ci.index.get_indexer([45.0], method="ffill")[0]]
    assert ours.ci_lower == pytest.approx(low, rel=1e-9)
    assert ours.ci_upper == pytest.approx(high, rel=1e-9)


def test_aalen_johansen_equals_lifelines(trial48: SimulatedTrial) -> None:
    from lifelines import AalenJohansenFitter

    tte = trial48.data.adtte.filter(pl.col("PARAMCD") == "HOSPLOS")
    t = tte["AVAL"].to_numpy()
    code = tte["EVENTCD"].to_numpy()
    ours = fit.cumulative_incidence(t, code, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aj = AalenJohansenFitter(calculate_variance=False, seed=0).fit(t, code, event_of_interest=1)
    curve = aj.cumulative_density_
    theirs = float(curve[curve.index <= 30].iloc[-1, 0])
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_random_intercept_reml_equals_statsmodels_mixedlm(trial48: SimulatedTrial) -> None:
    from statsmodels.regression.mixed_linear_model import MixedLM

    pop = analyses.population(trial48.data, "MITT")
    frame = analyses._visits_frame(trial48.data, pop, "LYM")
    y = np.log(frame["AVAL"].to_numpy())
    visit = frame["AVISITN"].to_numpy()
    arm = (frame["ARM"] == "CYT107").to_numpy().astype(float)
    base = np.log(frame["BASE"].to_numpy())
    subjects = frame["USUBJID"].to_numpy()
    target = int(visit.max())
    ours = fit.mixed_model_contrast(y, arm, visit, subjects, {"base": base}, target)
    levels = np.unique(visit)
    x = pd.DataFrame(
        {
            **{f"v{v}": (visit == v).astype(float) for v in levels},
            **{f"a{v}": ((visit == v) & (arm == 1)).astype(float) for v in levels},
            "base": base,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MixedLM(y, x, groups=subjects).fit(reml=True)
    assert ours.estimate == pytest.approx(theirs.fe_params[f"a{target}"], rel=1e-4)
    assert ours.se == pytest.approx(theirs.bse_fe[f"a{target}"], rel=1e-3)
