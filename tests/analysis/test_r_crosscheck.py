"""The key SAP analyses programmed a second time in R (tests/analysis/r/*.R), compared to a relative 1e-6.

Each test writes the analysis input as CSV, runs the R program beside it with ``Rscript``, and
compares estimates, confidence limits and p-values. Conventions shared by both sides (stated in
iliad7.analysis.fit): t-based CI for the ANCOVA, Wald CIs for the Cox and proportional odds models,
log-log CIs for Kaplan-Meier, Efron ties, and the Wilcoxon test exact exactly when R's default is
(fewer than 50 per group and no ties), otherwise the normal approximation with continuity
correction on both sides. The mixed model is compared with nlme::lme (random intercept, REML) on
the estimate and its standard error, also to 1e-6.

Without ``Rscript``, or without the R package a program loads (``library(ordinal)``...), that
test is skipped on a developer machine, naming what is missing, and fails under ``CI`` (CI
installs R and the packages with scripts/install-r).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from iliad7.analysis import analyses
from iliad7.analysis.derive import protocol_days
from iliad7.analysis.from_simulation import SimulatedTrial

R_DIR = Path(__file__).parent / "r"
RTOL = 1e-6


def _rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Rscript is missing under CI: scripts/install-r must install R")
        pytest.skip("Rscript is not installed (run scripts/install-r)")
    return path


def _missing_packages(rscript: str, script: str) -> list[str]:
    """The R packages `script` loads with library() that this R does not have."""
    import re

    wanted = re.findall(r"library\((\w+)\)", (R_DIR / script).read_text())
    if not wanted:
        return []
    probe = "cat(Filter(function(p) !requireNamespace(p, quietly = TRUE), c({})), sep = ' ')".format(
        ", ".join(f'"{name}"' for name in wanted)
    )
    found = subprocess.run([rscript, "-e", probe], capture_output=True, text=True, timeout=120, check=False)
    return found.stdout.split()


def _run(script: str, *args: str) -> dict[str, float]:
    missing = _missing_packages(_rscript(), script)
    if missing:
        message = f"R package(s) {', '.join(missing)} missing for {script}: run scripts/install-r"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must install them)")
        pytest.skip(message)
    result = subprocess.run(
        [_rscript(), str(R_DIR / script), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def close(python: float | None, r: float, rtol: float = RTOL) -> bool:
    assert python is not None
    return math.isclose(python, r, rel_tol=rtol, abs_tol=1e-12)


def _site_dummy(frame: pl.DataFrame) -> np.ndarray:
    return (frame["SITEID"] == sorted(set(frame["SITEID"].to_list()))[-1]).to_numpy().astype(int)


def test_primary_ancova_and_wilcoxon_agree_with_r(trial48: SimulatedTrial, tmp_path: Path) -> None:
    data = trial48.data
    pop = analyses.population(data, "MITT")
    frame = analyses.primary_frame(data, pop)
    osfd = pop.adsl.select("USUBJID", "OSFD45")
    frame = frame.join(osfd, on="USUBJID")
    csv = tmp_path / "primary.csv"
    pl.DataFrame(
        {
            "arm": (frame["ARM"] == "CYT107").cast(pl.Int64),
            "site": frame["SITEID"],
            "log_aval": frame["AVAL"].log(),
            "log_base": frame["BASE"].log(),
            "chg": frame["AVAL"] - frame["BASE"],
            "osfd": frame["OSFD45"],
        }
    ).write_csv(csv, float_precision=17)
    r = _run("ancova_wilcoxon.R", str(csv))
    ancova = analyses.alc_ancova(data)
    gmr = ancova.estimate("gmr")
    assert not ancova.fallback
    assert close(gmr.value, r["gmr"])
    assert close(gmr.ci_lower, r["gmr_lower"])
    assert close(gmr.ci_upper, r["gmr_upper"])
    assert close(ancova.estimate("p_value").value, r["p_value"])
    assert ancova.extra["df"] == r["df"]
    wilcoxon = analyses.alc_wilcoxon(data)
    assert "exact" in wilcoxon.method  # no ties, fewer than 50 per arm: exact on both sides
    assert close(wilcoxon.estimate("p_value").value, r["wilcoxon_chg_p"])
    assert close(wilcoxon.extra["W"], r["wilcoxon_chg_W"])
    osfd_test = analyses.osfd(data)[0]
    assert "normal approximation" in osfd_test.method  # ties: normal approximation on both sides
    assert close(osfd_test.estimate("p_value").value, r["wilcoxon_osfd_p"])


def test_mortality_km_logrank_cox_agree_with_r(trial48: SimulatedTrial, tmp_path: Path) -> None:
    data = trial48.data
    horizon = protocol_days().horizon_day
    pop = analyses.population(data, "ITT")
    frame = data.adtte.filter(pl.col("PARAMCD") == "TTDTH45").join(
        pop.adsl.select("USUBJID", "SITEID", "ARM"), on="USUBJID"
    )
    csv = tmp_path / "survival.csv"
    pl.DataFrame(
        {
            "time": frame["AVAL"],
            "event": (frame["CNSR"] == 0).cast(pl.Int64),
            "arm": (frame["ARM"] == "CYT107").cast(pl.Int64),
            "site_dummy": _site_dummy(frame),
        }
    ).write_csv(csv, float_precision=17)
    r = _run("survival.R", str(csv), str(horizon))
    km, lr, cox = analyses.mortality(data)
    for arm in ("cyt107", "placebo"):
        e = km.estimate(f"survival_{arm}")
        assert close(e.value, r[f"survival_{arm}"])
        assert close(e.ci_lower, r[f"survival_{arm}_lower"])
        assert close(e.ci_upper, r[f"survival_{arm}_upper"])
    assert close(lr.estimate("p_value").value, r["logrank_p"])
    assert not cox.fallback and not cox.extra["dropped"], cox.method
    hr = cox.estimate("hr")
    assert close(hr.value, r["hr"])
    assert close(hr.ci_lower, r["hr_lower"])
    assert close(hr.ci_upper, r["hr_upper"])
    assert close(cox.estimate("p_value").value, r["hr_p"])


def test_who_proportional_odds_agrees_with_r(trial48: SimulatedTrial, tmp_path: Path) -> None:
    data = trial48.data
    frame = analyses.population(data, "MITT").adsl.filter(pl.col("WHOD30").is_not_null())
    csv = tmp_path / "polr.csv"
    pl.DataFrame(
        {
            "y": frame["WHOD30"],
            "arm": (frame["ARM"] == "CYT107").cast(pl.Int64),
            "who_base": frame["WHOBL"],
            "site_dummy": _site_dummy(frame),
        }
    ).write_csv(csv)
    r = _run("polr.R", str(csv))
    result = analyses.who_polr(data)
    assert not result.fallback, result.method
    odds = result.estimate("or")
    assert close(odds.value, r["or"])
    assert close(odds.ci_lower, r["or_lower"])
    assert close(odds.ci_upper, r["or_upper"])
    assert close(result.estimate("p_value").value, r["p_value"])


def test_alc_mixed_model_agrees_with_nlme(trial48: SimulatedTrial, tmp_path: Path) -> None:
    data = trial48.data
    pop = analyses.population(data, "MITT")
    frame = analyses._visits_frame(data, pop, "LYM")
    target = int(data.adlb.filter(pl.col("AVISIT") == "D30")["AVISITN"][0])
    csv = tmp_path / "mmrm.csv"
    pl.DataFrame(
        {
            "subject": frame["USUBJID"],
            "visit": frame["AVISITN"],
            "arm": (frame["ARM"] == "CYT107").cast(pl.Int64),
            "y": frame["AVAL"].log(),
            "base": frame["BASE"].log(),
            "site_dummy": _site_dummy(frame),
        }
    ).write_csv(csv, float_precision=17)
    r = _run("mmrm.R", str(csv), str(target))
    result = analyses.mmrm_result(data, "ALC-MMRM", "ALC", "LYM", True, "4.1.3")
    assert not result.fallback, result.method
    gmr = result.estimate("gmr")
    assert close(math.log(gmr.value or math.nan), r["estimate"])
    se = (math.log(gmr.ci_upper or math.nan) - math.log(gmr.ci_lower or math.nan)) / (2 * 1.959963984540054)
    assert close(se, r["se"])


def test_missing_rscript_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _rscript()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        _rscript()
