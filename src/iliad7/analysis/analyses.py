"""The SAP analyses (docs/sap.md section 4), one function per outcome, each returning typed results.

Every function takes the derived datasets (:class:`iliad7.analysis.datasets.AnalysisData`), selects
the outcome's population from the protocol, fits the planned model (:mod:`iliad7.analysis.fit`)
and, when the model cannot be estimated, falls back to the exact or nonparametric method of the
SAP (section 4.9), naming it in ``method``. Results carry descriptive summaries by arm (for the
closed report) and pooled (for the open report). :func:`run_all` runs them in the SAP's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from iliad7.analysis import fit
from iliad7.analysis.datasets import ARMS, AnalysisData
from iliad7.analysis.derive import protocol_days
from iliad7.analysis.fit import NotEstimable
from iliad7.analysis.results import AnalysisResult, Estimate, Summary

POPULATION_FLAGS = {"ITT": "ITTFL", "MITT": "MITTFL", "SAFETY": "SAFFL", "PP": "PPROTFL"}
MMRM_MARKERS: tuple[tuple[str, str, str, bool], ...] = (
    # analysis id, outcome, PARAMCD, log scale
    ("FERRITIN-MMRM", "FERRITIN", "FERRITIN", True),
    ("CRP-MMRM", "CRP", "CRP", True),
    ("D-DIMER-MMRM", "D-DIMER", "DDIMER", True),
)


@dataclass(frozen=True)
class Population:
    """The participants of one analysis population with their arm as analysed."""

    name: str
    adsl: pl.DataFrame  # filtered, sorted by USUBJID, with column ARM

    @property
    def n(self) -> int:
        return self.adsl.height


def population(data: AnalysisData, name: str) -> Population:
    """The population's ADSL rows (SAP 2.2), with ARM = TRT01P (as randomized) or TRT01A (safety, as treated)."""
    flag = POPULATION_FLAGS[name]
    arm = "TRT01A" if name == "SAFETY" else "TRT01P"
    rows = data.adsl.filter(pl.col(flag) == "Y").with_columns(ARM=pl.col(arm)).sort("USUBJID")
    return Population(name, rows)


def _arm(frame: pl.DataFrame) -> np.ndarray:
    return (frame["ARM"] == "CYT107").fill_null(False).to_numpy().astype(float)


def _sites(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    return fit.site_dummies(frame["SITEID"].to_list())


def _quantiles(group: str, values: np.ndarray) -> tuple[Summary, ...]:
    if values.size == 0:
        return (Summary(group, "n", 0.0),)
    q1, med, q3 = (float(v) for v in np.quantile(values, [0.25, 0.5, 0.75]))
    return (
        Summary(group, "n", float(values.size)),
        Summary(group, "median", med),
        Summary(group, "q1", q1),
        Summary(group, "q3", q3),
    )


def _describe(
    frame: pl.DataFrame, column: str, describe: Callable[[str, np.ndarray], tuple[Summary, ...]] = _quantiles
) -> tuple[tuple[Summary, ...], tuple[Summary, ...]]:
    by_arm: list[Summary] = []
    for arm in ARMS:
        by_arm += describe(arm, frame.filter(pl.col("ARM") == arm)[column].drop_nulls().to_numpy().astype(float))
    pooled = describe("pooled", frame[column].drop_nulls().to_numpy().astype(float))
    return tuple(by_arm), tuple(pooled)


def _geometric(group: str, values: np.ndarray) -> tuple[Summary, ...]:
    values = values[values > 0]
    if values.size == 0:
        return (Summary(group, "n", 0.0),)
    logs = np.log(values)
    gm = math.exp(float(logs.mean()))
    if values.size > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.975, values.size - 1)) * float(logs.std(ddof=1)) / math.sqrt(values.size)
        return (
            Summary(group, "n", float(values.size)),
            Summary(group, "gmean", gm, gm * math.exp(-half), gm * math.exp(half)),
        )
    return (Summary(group, "n", float(values.size)), Summary(group, "gmean", gm))


def _rank_sum_fallback(active: np.ndarray, placebo: np.ndarray) -> tuple[str, float | None]:
    try:
        test = fit.wilcoxon_rank_sum(active, placebo)
    except NotEstimable as error:
        return f"not estimable ({error})", None
    return f"Wilcoxon rank-sum test ({test.method})", test.p_value


def _split(frame: pl.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    values = frame[column].to_numpy().astype(float)
    arm = _arm(frame)
    return values[arm == 1], values[arm == 0]


# ------------------------------------------------------------------------------------ primary


def primary_frame(data: AnalysisData, pop: Population) -> pl.DataFrame:
    """The primary analysis rows: one ANL01FL record of LYM per participant of the population, with ARM and SITEID."""
    records = data.adlb.filter((pl.col("PARAMCD") == "LYM") & (pl.col("ANL01FL") == "Y")).select(
        "USUBJID", "AVAL", "BASE", "ADY"
    )
    return (
        pop.adsl.select("USUBJID", "SITEID", "ARM")
        .join(records, on="USUBJID", how="inner")
        .filter(pl.col("AVAL") > 0, pl.col("BASE") > 0)
        .sort("USUBJID")
    )


def alc_ancova(data: AnalysisData, population_name: str = "MITT", analysis_id: str = "ALC-ANCOVA") -> AnalysisResult:
    """SAP 4.1: ANCOVA of log ALC at day 30 or discharge on arm, log baseline ALC and site; GMR with 95% CI."""
    pop = population(data, population_name)
    frame = primary_frame(data, pop)
    y = np.log(frame["AVAL"].to_numpy())
    base = np.log(frame["BASE"].to_numpy())
    arm = _arm(frame)
    by_arm, pooled = _describe(frame, "AVAL", _geometric)
    planned = "ANCOVA (OLS) of log ALC on arm, log baseline ALC and site; t-based 95% CI"
    warnings: list[str] = []
    missing = pop.n - frame.height
    if missing:
        warnings.append(f"{missing} participant(s) of {population_name} without a primary ALC (excluded)")
    try:
        c = fit.ols_contrast(y, arm, {"log_base": base, **_sites(frame)})
    except NotEstimable as error:
        active, placebo = y[arm == 1] - base[arm == 1], y[arm == 0] - base[arm == 0]
        method, p = _rank_sum_fallback(active, placebo)
        hl = None
        if active.size and placebo.size:
            hl = math.exp(float(np.median((active[:, None] - placebo[None, :]).ravel())))
        return AnalysisResult(
            analysis_id,
            "ALC",
            population_name,
            f"ANCOVA not estimable ({error}); fallback: {method} of log ALC change, GMR as exp(Hodges-Lehmann shift)",
            frame.height,
            (Estimate("gmr", hl), Estimate("p_value", p)),
            planned,
            fallback=True,
            warnings=tuple(warnings),
            by_arm=by_arm,
            pooled=pooled,
            sap_section="4.1",
        )
    if c.dropped:
        warnings.append("dropped from the model (no information): " + ", ".join(c.dropped))
    return AnalysisResult(
        analysis_id,
        "ALC",
        population_name,
        planned,
        frame.height,
        (
            Estimate("gmr", math.exp(c.estimate), math.exp(c.ci_lower), math.exp(c.ci_upper)),
            Estimate("p_value", c.p_value),
        ),
        planned,
        warnings=tuple(warnings),
        by_arm=by_arm,
        pooled=pooled,
        sap_section="4.1",
        extra={"log_gmr": c.estimate, "se": c.se, "df": c.df},
    )


def alc_wilcoxon(data: AnalysisData) -> AnalysisResult:
    """SAP 4.1.2: Wilcoxon rank-sum test of the change in ALC from baseline to day 30 or discharge."""
    pop = population(data, "MITT")
    frame = primary_frame(data, pop).with_columns(CHG=pl.col("AVAL") - pl.col("BASE"))
    active, placebo = _split(frame, "CHG")
    by_arm, pooled = _describe(frame, "CHG")
    planned = "Wilcoxon rank-sum test of the change in ALC from baseline"
    try:
        test = fit.wilcoxon_rank_sum(active, placebo)
    except NotEstimable as error:
        return AnalysisResult(
            "ALC-WILCOXON",
            "ALC",
            "MITT",
            f"not estimable ({error})",
            frame.height,
            (Estimate("p_value", None),),
            planned,
            fallback=True,
            by_arm=by_arm,
            pooled=pooled,
            sap_section="4.1.2",
        )
    return AnalysisResult(
        "ALC-WILCOXON",
        "ALC",
        "MITT",
        f"{planned} ({test.method})",
        frame.height,
        (Estimate("p_value", test.p_value), Estimate("hl_shift", test.hodges_lehmann)),
        planned,
        by_arm=by_arm,
        pooled=pooled,
        sap_section="4.1.2",
        extra={"W": test.statistic},
    )


def _visits_frame(data: AnalysisData, pop: Population, paramcd: str) -> pl.DataFrame:
    return (
        data.adlb.filter((pl.col("PARAMCD") == paramcd) & (pl.col("ADY") > 0) & pl.col("BASE").is_not_null())
        .join(pop.adsl.select("USUBJID", "SITEID", "ARM"), on="USUBJID", how="inner")
        .filter(pl.col("AVAL").is_not_null())
        .sort(["USUBJID", "AVISITN"])
    )


def _mmrm(
    data: AnalysisData,
    analysis_id: str,
    outcome: str,
    paramcd: str,
    log_scale: bool,
    sap_section: str,
    statistic_suffix: str = "",
) -> tuple[list[Estimate], str, bool, list[str], int, tuple[Summary, ...], tuple[Summary, ...]]:
    pop = population(data, "MITT")
    frame = _visits_frame(data, pop, paramcd)
    if log_scale:
        frame = frame.filter((pl.col("AVAL") > 0) & (pl.col("BASE") > 0))
    value = pl.col("AVAL").log() if log_scale else pl.col("AVAL") - pl.col("BASE")
    base = pl.col("BASE").log() if log_scale else pl.col("BASE")
    frame = frame.with_columns(Y=value, B=base)
    visits = data.adlb.filter(pl.col("AVISIT") == "D30")["AVISITN"]
    target = int(visits[0]) if visits.len() else -1
    end = frame.filter(pl.col("AVISITN") == target)
    by_arm, pooled = _describe(end, "AVAL", _geometric if log_scale else _quantiles)
    stat = ("gmr" if log_scale else "difference") + statistic_suffix
    p_stat = "p_value" + statistic_suffix
    scale = "log " if log_scale else "change from baseline in "
    planned = (
        f"linear mixed model of {scale}{paramcd} over scheduled visits (visit, arm-by-visit, baseline, site; "
        "random intercept, REML); effect at day 30 or discharge"
    )
    warnings: list[str] = []

    def transform(c: fit.Contrast) -> Estimate:
        if log_scale:
            return Estimate(stat, math.exp(c.estimate), math.exp(c.ci_lower), math.exp(c.ci_upper))
        return Estimate(stat, c.estimate, c.ci_lower, c.ci_upper)

    try:
        c = fit.mixed_model_contrast(
            frame["Y"].to_numpy(),
            _arm(frame),
            frame["AVISITN"].to_numpy(),
            frame["USUBJID"].to_numpy(),
            {"base": frame["B"].to_numpy(), **_sites(frame)},
            target,
        )
        if c.dropped:
            warnings.append("dropped from the model: " + ", ".join(c.dropped))
        warnings += c.notes
        subjects = frame["USUBJID"].n_unique()
        return [transform(c), Estimate(p_stat, c.p_value)], planned, False, warnings, subjects, by_arm, pooled
    except NotEstimable as error:
        reason = str(error)
    try:
        c = fit.ols_contrast(end["Y"].to_numpy(), _arm(end), {"base": end["B"].to_numpy(), **_sites(end)})
        method = f"mixed model not estimable ({reason}); fallback: ANCOVA at day 30 or discharge"
        return [transform(c), Estimate(p_stat, c.p_value)], method, True, warnings, end.height, by_arm, pooled
    except NotEstimable as error:
        active, placebo = _split(end, "Y")
        method, p = _rank_sum_fallback(active, placebo)
        method = f"mixed model and ANCOVA not estimable ({reason}; {error}); fallback: {method}"
        return [Estimate(stat, None), Estimate(p_stat, p)], method, True, warnings, end.height, by_arm, pooled


def mmrm_result(
    data: AnalysisData, analysis_id: str, outcome: str, paramcd: str, log_scale: bool, sap_section: str
) -> AnalysisResult:
    """SAP 4.1.3, 4.3, 4.10: mixed model over scheduled visits, effect at day 30 or discharge (GMR or difference)."""
    estimates, method, fallback, warnings, n, by_arm, pooled = _mmrm(
        data, analysis_id, outcome, paramcd, log_scale, sap_section
    )
    return AnalysisResult(
        analysis_id,
        outcome,
        "MITT",
        method,
        n,
        tuple(estimates),
        method if not fallback else "mixed model",
        fallback=fallback,
        warnings=tuple(warnings),
        by_arm=by_arm,
        pooled=pooled,
        sap_section=sap_section,
    )


def cd4_cd8(data: AnalysisData) -> AnalysisResult:
    """SAP 4.10: CD4+ and CD8+ counts, mixed model of log count, GMR at day 30 or discharge for each."""
    estimates: list[Estimate] = []
    methods: list[str] = []
    warnings: list[str] = []
    fallback = False
    n = 0
    by_arm: tuple[Summary, ...] = ()
    pooled: tuple[Summary, ...] = ()
    for paramcd in ("CD4", "CD8"):
        est, method, fb, warn, n_one, arm_s, pool_s = _mmrm(
            data, "CD4-CD8-MMRM", "CD4-CD8", paramcd, True, "4.10", statistic_suffix=f"_{paramcd.lower()}"
        )
        estimates += est
        methods.append(f"{paramcd}: {method}")
        warnings += warn
        fallback = fallback or fb
        n = max(n, n_one)
        by_arm += tuple(
            Summary(s.group, f"{s.statistic}_{paramcd.lower()}", s.value, s.ci_lower, s.ci_upper) for s in arm_s
        )
        pooled += tuple(
            Summary(s.group, f"{s.statistic}_{paramcd.lower()}", s.value, s.ci_lower, s.ci_upper) for s in pool_s
        )
    return AnalysisResult(
        "CD4-CD8-MMRM",
        "CD4-CD8",
        "MITT",
        "; ".join(methods),
        n,
        tuple(estimates),
        "mixed model",
        fallback=fallback,
        warnings=tuple(warnings),
        by_arm=by_arm,
        pooled=pooled,
        sap_section="4.10",
    )


# ------------------------------------------------------------------------------------ WHO scale


def who_polr(data: AnalysisData) -> AnalysisResult:
    """SAP 4.2: proportional odds model of the WHO scale at day 30 or discharge on arm, baseline score and site."""
    pop = population(data, "MITT")
    frame = pop.adsl.filter(pl.col("WHOD30").is_not_null())
    y = frame["WHOD30"].to_numpy()
    arm = _arm(frame)
    by_arm, pooled = _describe(frame, "WHOD30")
    planned = "proportional odds logistic regression on arm, baseline WHO score and site; Wald 95% CI"
    try:
        c = fit.polr_contrast(y, arm, {"who_base": frame["WHOBL"].to_numpy().astype(float), **_sites(frame)})
    except NotEstimable as error:
        active, placebo = y[arm == 1].astype(float), y[arm == 0].astype(float)
        method, p = _rank_sum_fallback(active, placebo)
        return AnalysisResult(
            "WHO-D30-POLR",
            "WHO-SCALE",
            "MITT",
            f"proportional odds not estimable ({error}); fallback: {method}",
            frame.height,
            (Estimate("or", None), Estimate("p_value", p)),
            planned,
            fallback=True,
            by_arm=by_arm,
            pooled=pooled,
            sap_section="4.2",
        )
    warnings = ("dropped from the model: " + ", ".join(c.dropped),) if c.dropped else ()
    # the model's coefficient is for a higher (worse) score; the reported OR is for a better one
    return AnalysisResult(
        "WHO-D30-POLR",
        "WHO-SCALE",
        "MITT",
        planned,
        frame.height,
        (
            Estimate("or", math.exp(-c.estimate), math.exp(-c.ci_upper), math.exp(-c.ci_lower)),
            Estimate("p_value", c.p_value),
        ),
        planned,
        warnings=warnings,
        by_arm=by_arm,
        pooled=pooled,
        sap_section="4.2",
        extra={"beta_worse": c.estimate, "se": c.se},
    )


def _tte(data: AnalysisData, pop: Population, paramcd: str) -> pl.DataFrame:
    return (
        data.adtte.filter(pl.col("PARAMCD") == paramcd)
        .join(pop.adsl.select("USUBJID", "SITEID", "ARM"), on="USUBJID", how="inner")
        .sort("USUBJID")
    )


def _cif_result(
    data: AnalysisData, analysis_id: str, outcome: str, paramcd: str, day: int, sap_section: str, label: str
) -> AnalysisResult:
    """Aalen-Johansen cumulative incidence by arm at `day` (death competing), cause-specific log-rank test."""
    pop = population(data, "MITT")
    frame = _tte(data, pop, paramcd)
    t = frame["AVAL"].to_numpy()
    code = frame["EVENTCD"].to_numpy()
    arm = _arm(frame)
    by_arm = tuple(
        Summary(name, f"cif_d{day}", fit.cumulative_incidence(t[arm == value], code[arm == value], day))
        for name, value in (("CYT107", 1.0), ("placebo", 0.0))
    )
    pooled = (Summary("pooled", f"cif_d{day}", fit.cumulative_incidence(t, code, day)),)
    planned = f"Aalen-Johansen cumulative incidence of {label} (death competing); cause-specific log-rank test"
    try:
        _, p = fit.log_rank(t, (code == 1).astype(float), arm)
        estimates = (
            Estimate(f"cif_d{day}_cyt107", by_arm[0].value),
            Estimate(f"cif_d{day}_placebo", by_arm[1].value),
            Estimate("p_value", p),
        )
        method, fallback = planned, False
    except NotEstimable as error:
        estimates = (
            Estimate(f"cif_d{day}_cyt107", by_arm[0].value),
            Estimate(f"cif_d{day}_placebo", by_arm[1].value),
            Estimate("p_value", None),
        )
        method, fallback = f"{planned}; test not estimable ({error})", True
    return AnalysisResult(
        analysis_id,
        outcome,
        "MITT",
        method,
        frame.height,
        estimates,
        planned,
        fallback=fallback,
        by_arm=by_arm,
        pooled=pooled,
        sap_section=sap_section,
    )


# ------------------------------------------------------------------------------------ mortality


def mortality(data: AnalysisData) -> list[AnalysisResult]:
    """SAP 4.8: day-45 mortality (ITT): Kaplan-Meier survival at day 45 by arm, log-rank test, Cox model with site."""
    horizon = protocol_days().horizon_day
    pop = population(data, "ITT")
    frame = _tte(data, pop, "TTDTH45")
    t = frame["AVAL"].to_numpy()
    e = (frame["CNSR"] == 0).to_numpy().astype(float)
    arm = _arm(frame)
    points = {}
    by_arm: list[Summary] = []
    for name, value in (("CYT107", 1.0), ("placebo", 0.0)):
        mask = arm == value
        try:
            point = fit.km_at(t[mask], e[mask], horizon)
            points[name] = point
            by_arm += [
                Summary(name, "n", float(mask.sum())),
                Summary(name, "deaths", float(e[mask].sum())),
                Summary(name, f"survival_d{horizon}", point.survival, point.ci_lower, point.ci_upper),
            ]
        except NotEstimable:
            by_arm.append(Summary(name, "n", 0.0))
    try:
        pool: fit.SurvivalPoint | None = fit.km_at(t, e, horizon)
    except NotEstimable:  # nobody yet, or follow-up short of the horizon: no survival at day 45 is claimed
        pool = None
    pooled = (
        Summary("pooled", "n", float(t.size)),
        Summary("pooled", "deaths", float(e.sum())),
        *((Summary("pooled", f"survival_d{horizon}", pool.survival, pool.ci_lower, pool.ci_upper),) if pool else ()),
    )

    def est(name: str) -> Estimate:
        point = points.get(name)
        if point is None:
            return Estimate(f"survival_{name.lower()}", None)
        low = None if math.isnan(point.ci_lower) else point.ci_lower
        high = None if math.isnan(point.ci_upper) else point.ci_upper
        return Estimate(f"survival_{name.lower()}", point.survival, low, high)

    km = AnalysisResult(
        "MORTALITY-D45-KM",
        "MORTALITY-D45",
        "ITT",
        f"Kaplan-Meier survival at day {horizon}, log-log 95% CI",
        frame.height,
        (est("CYT107"), est("placebo")),
        "Kaplan-Meier",
        by_arm=tuple(by_arm),
        pooled=pooled,
        sap_section="4.8",
    )
    try:
        _, p = fit.log_rank(t, e, arm)
        lr = AnalysisResult(
            "MORTALITY-D45-LOGRANK",
            "MORTALITY-D45",
            "ITT",
            "log-rank test",
            frame.height,
            (Estimate("p_value", p),),
            "log-rank test",
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.8",
        )
    except NotEstimable as error:
        lr = AnalysisResult(
            "MORTALITY-D45-LOGRANK",
            "MORTALITY-D45",
            "ITT",
            f"log-rank test not estimable ({error})",
            frame.height,
            (Estimate("p_value", None),),
            "log-rank test",
            fallback=True,
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.8",
        )
    planned = "Cox proportional hazards model (Efron ties) with arm and site; Wald 95% CI"
    try:
        c = fit.cox_contrast(t, e, arm, _sites(frame))
        warnings = ("dropped from the model (no deaths at that level): " + ", ".join(c.dropped),) if c.dropped else ()
        cox = AnalysisResult(
            "MORTALITY-D45-COX",
            "MORTALITY-D45",
            "ITT",
            planned,
            frame.height,
            (
                Estimate("hr", math.exp(c.estimate), math.exp(c.ci_lower), math.exp(c.ci_upper)),
                Estimate("p_value", c.p_value),
            ),
            planned,
            warnings=warnings,
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.8",
            extra={"log_hr": c.estimate, "se": c.se, "dropped": c.dropped},
        )
    except NotEstimable as error:
        deaths_a = int(e[arm == 1].sum())
        deaths_p = int(e[arm == 0].sum())
        try:
            table = fit.fisher_two_by_two(deaths_a, int((arm == 1).sum()), deaths_p, int((arm == 0).sum()))
            p_fb: float | None = table.p_value
            rd = Estimate("risk_difference", table.risk_difference, table.ci_lower, table.ci_upper)
        except NotEstimable:
            p_fb, rd = None, Estimate("risk_difference", None)
        cox = AnalysisResult(
            "MORTALITY-D45-COX",
            "MORTALITY-D45",
            "ITT",
            f"Cox model cannot be estimated ({error}); fallback: Fisher's exact test of death by day {horizon}",
            frame.height,
            (Estimate("hr", None), Estimate("p_value", p_fb), rd),
            planned,
            fallback=True,
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.8",
        )
    return [km, lr, cox]


# ------------------------------------------------------------------------------------ others


def _rank_result(
    data: AnalysisData,
    analysis_id: str,
    outcome: str,
    column: str,
    sap_section: str,
    planned: str,
    frame: pl.DataFrame | None = None,
    describe_column: str | None = None,
    shift: bool = True,
) -> AnalysisResult:
    """Wilcoxon rank-sum test of `column`; the Hodges-Lehmann shift only where `shift` (a real scale)."""
    if frame is None:
        frame = population(data, "MITT").adsl.filter(pl.col(column).is_not_null())
    active, placebo = _split(frame, column)
    by_arm, pooled = _describe(frame, describe_column or column)
    try:
        test = fit.wilcoxon_rank_sum(active, placebo)
    except NotEstimable as error:
        return AnalysisResult(
            analysis_id,
            outcome,
            "MITT",
            f"not estimable ({error})",
            frame.height,
            (Estimate("p_value", None),),
            planned,
            fallback=True,
            by_arm=by_arm,
            pooled=pooled,
            sap_section=sap_section,
        )
    return AnalysisResult(
        analysis_id,
        outcome,
        "MITT",
        f"{planned} ({test.method})",
        frame.height,
        (Estimate("p_value", test.p_value), *((Estimate("hl_shift", test.hodges_lehmann),) if shift else ())),
        planned,
        by_arm=by_arm,
        pooled=pooled,
        sap_section=sap_section,
    )


def osfd(data: AnalysisData) -> list[AnalysisResult]:
    """SAP 4.7: organ-support-free days to day 45 (death -1): Wilcoxon rank-sum and proportional odds."""
    wilcoxon = _rank_result(data, "OSFD-WILCOXON", "OSFD", "OSFD45", "4.7", "Wilcoxon rank-sum test of OSFD45")
    pop = population(data, "MITT")
    frame = pop.adsl.filter(pl.col("OSFD45").is_not_null())  # null: the window is not over at the data cut
    y = frame["OSFD45"].to_numpy()
    arm = _arm(frame)
    planned = "proportional odds logistic regression of OSFD45 on arm and site; Wald 95% CI"
    try:
        c = fit.polr_contrast(y, arm, _sites(frame))
        # more OSFD is better: the OR of a better outcome is exp(beta) for a higher value
        polr = AnalysisResult(
            "OSFD-POLR",
            "OSFD",
            "MITT",
            planned,
            frame.height,
            (
                Estimate("or", math.exp(c.estimate), math.exp(c.ci_lower), math.exp(c.ci_upper)),
                Estimate("p_value", c.p_value),
            ),
            planned,
            by_arm=wilcoxon.by_arm,
            pooled=wilcoxon.pooled,
            sap_section="4.7",
        )
    except NotEstimable as error:
        polr = AnalysisResult(
            "OSFD-POLR",
            "OSFD",
            "MITT",
            f"proportional odds not estimable ({error}); fallback: the Wilcoxon rank-sum test (OSFD-WILCOXON)",
            frame.height,
            (Estimate("or", None), Estimate("p_value", wilcoxon.estimate("p_value").value)),
            planned,
            fallback=True,
            by_arm=wilcoxon.by_arm,
            pooled=wilcoxon.pooled,
            sap_section="4.7",
        )
    return [wilcoxon, polr]


def length_of_stay(data: AnalysisData) -> list[AnalysisResult]:
    """SAP 4.5: hospital and ICU stay, death ranked worst (Wilcoxon); discharge alive as a cumulative incidence."""
    horizon = protocol_days().horizon_day
    pop = population(data, "MITT")
    results = []
    for analysis_id, outcome, paramcd in (
        ("HOSPITAL-LOS-WILCOXON", "HOSPITAL-LOS", "HOSPLOS"),
        ("ICU-LOS-WILCOXON", "ICU-LOS", "ICULOS"),
    ):
        frame = _tte(data, pop, paramcd).with_columns(
            # a death ranks worse than the longest stay (SAP 4.5)
            RANKED=pl.when(pl.col("EVENTCD") == 2).then(pl.lit(float(horizon + 1000))).otherwise(pl.col("AVAL"))
        )
        results.append(
            _rank_result(
                data,
                analysis_id,
                outcome,
                "RANKED",
                "4.5",
                f"Wilcoxon rank-sum test of {paramcd} days, death in hospital ranked worst",
                frame=frame,
                describe_column="AVAL",
                shift=False,
            )
        )
    results.append(_cif_result(data, "HOSPITAL-DISCHARGE-CIF", "HOSPITAL-LOS", "HOSPLOS", 30, "4.5", "discharge alive"))
    return results


def counts(data: AnalysisData) -> list[AnalysisResult]:
    """SAP 4.6: ICU readmissions and rehospitalizations: Poisson rate ratio with site, exact fallback."""
    pop = population(data, "MITT")
    results = []
    for analysis_id, outcome, column, exposure in (
        ("ICU-READMISSIONS-POISSON", "ICU-READMISSIONS", "ICUREADM", "ICUEXPDY"),
        ("REHOSPITALIZATION-POISSON", "REHOSPITALIZATION", "REHOSP", "REHEXPDY"),
    ):
        frame = pop.adsl.filter(pl.col(exposure) > 0)
        count = frame[column].to_numpy().astype(float)
        expo = frame[exposure].to_numpy().astype(float)
        arm = _arm(frame)
        by_arm = []
        for name, value in (("CYT107", 1.0), ("placebo", 0.0)):
            mask = arm == value
            by_arm += [
                Summary(name, "n", float(mask.sum())),
                Summary(name, "events", float(count[mask].sum())),
                Summary(
                    name, "rate_per_100_days", 100 * float(count[mask].sum()) / max(float(expo[mask].sum()), 1e-12)
                ),
            ]
        pooled = (
            Summary("pooled", "n", float(count.size)),
            Summary("pooled", "events", float(count.sum())),
            Summary("pooled", "rate_per_100_days", 100 * float(count.sum()) / max(float(expo.sum()), 1e-12)),
        )
        planned = "Poisson regression of the count on arm and site, log exposure offset; Wald 95% CI"
        try:
            c = fit.poisson_contrast(count, expo, arm, _sites(frame))
            results.append(
                AnalysisResult(
                    analysis_id,
                    outcome,
                    "MITT",
                    planned,
                    frame.height,
                    (
                        Estimate("rate_ratio", math.exp(c.estimate), math.exp(c.ci_lower), math.exp(c.ci_upper)),
                        Estimate("p_value", c.p_value),
                    ),
                    planned,
                    by_arm=tuple(by_arm),
                    pooled=pooled,
                    sap_section="4.6",
                )
            )
        except NotEstimable as error:
            any_a = int((count[arm == 1] > 0).sum())
            any_p = int((count[arm == 0] > 0).sum())
            try:
                table = fit.fisher_two_by_two(any_a, int((arm == 1).sum()), any_p, int((arm == 0).sum()))
                estimates: tuple[Estimate, ...] = (
                    Estimate("rate_ratio", None),
                    Estimate("p_value", table.p_value),
                    Estimate("risk_difference", table.risk_difference, table.ci_lower, table.ci_upper),
                )
            except NotEstimable:
                estimates = (Estimate("rate_ratio", None), Estimate("p_value", None))
            results.append(
                AnalysisResult(
                    analysis_id,
                    outcome,
                    "MITT",
                    f"Poisson model not estimable ({error}); fallback: Fisher's exact test of any event",
                    frame.height,
                    estimates,
                    planned,
                    fallback=True,
                    by_arm=tuple(by_arm),
                    pooled=pooled,
                    sap_section="4.6",
                )
            )
    return results


def secondary_infections(data: AnalysisData) -> list[AnalysisResult]:
    """SAP 4.4: any secondary infection by day 45 (Fisher, risk difference); cumulative incidence, death competing."""
    horizon = protocol_days().horizon_day
    pop = population(data, "MITT")
    frame = _tte(data, pop, "TTSECINF").with_columns(ANY=(pl.col("EVENTCD") == 1).cast(pl.Float64))
    arm = _arm(frame)
    any_ = frame["ANY"].to_numpy()
    by_arm = []
    for name, value in (("CYT107", 1.0), ("placebo", 0.0)):
        mask = arm == value
        by_arm += [Summary(name, "n", float(mask.sum())), Summary(name, "events", float(any_[mask].sum()))]
    pooled = (Summary("pooled", "n", float(any_.size)), Summary("pooled", "events", float(any_.sum())))
    planned = "Fisher's exact test; risk difference with Newcombe score 95% CI"
    try:
        table = fit.fisher_two_by_two(
            int(any_[arm == 1].sum()), int((arm == 1).sum()), int(any_[arm == 0].sum()), int((arm == 0).sum())
        )
        fisher = AnalysisResult(
            "SECONDARY-INFECTIONS-FISHER",
            "SECONDARY-INFECTIONS",
            "MITT",
            planned,
            frame.height,
            (
                Estimate("risk_difference", table.risk_difference, table.ci_lower, table.ci_upper),
                Estimate("p_value", table.p_value),
            ),
            planned,
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.4",
        )
    except NotEstimable as error:
        fisher = AnalysisResult(
            "SECONDARY-INFECTIONS-FISHER",
            "SECONDARY-INFECTIONS",
            "MITT",
            f"not estimable ({error})",
            frame.height,
            (Estimate("risk_difference", None), Estimate("p_value", None)),
            planned,
            fallback=True,
            by_arm=tuple(by_arm),
            pooled=pooled,
            sap_section="4.4",
        )
    cif = _cif_result(
        data, "SECONDARY-INFECTIONS-CIF", "SECONDARY-INFECTIONS", "TTSECINF", horizon, "4.4", "secondary infection"
    )
    return [fisher, cif]


def adverse_events(data: AnalysisData) -> AnalysisResult:
    """SAP 4.11: grade 3-4 adverse events (safety population, as treated): any and by term, Fisher's exact tests."""
    pop = population(data, "SAFETY")
    adae = data.adae.filter(pl.col("AETOXGR").is_in([3, 4])).join(
        pop.adsl.select("USUBJID", "ARM"), on="USUBJID", how="inner"
    )
    n_arm = {arm: int((pop.adsl["ARM"] == arm).sum()) for arm in ARMS}
    by_arm: list[Summary] = []
    pooled: list[Summary] = []
    terms = sorted(set(adae["AEDECOD"].to_list()))
    term_tests: dict[str, dict[str, float | None]] = {}
    for term in ["ANY", *terms]:
        rows = adae if term == "ANY" else adae.filter(pl.col("AEDECOD") == term)
        subjects = {arm: rows.filter(pl.col("ARM") == arm)["USUBJID"].n_unique() for arm in ARMS}
        for arm in ARMS:
            by_arm.append(Summary(arm, f"participants[{term}]", float(subjects[arm])))
        by_arm.append(Summary("CYT107", "n", float(n_arm["CYT107"])))
        pooled.append(Summary("pooled", f"participants[{term}]", float(rows["USUBJID"].n_unique())))
        try:
            table = fit.fisher_two_by_two(subjects["CYT107"], n_arm["CYT107"], subjects["placebo"], n_arm["placebo"])
            term_tests[term] = {
                "p_value": table.p_value,
                "risk_difference": table.risk_difference,
                "ci_lower": table.ci_lower,
                "ci_upper": table.ci_upper,
            }
        except NotEstimable:
            term_tests[term] = {"p_value": None, "risk_difference": None, "ci_lower": None, "ci_upper": None}
    pooled.append(Summary("pooled", "n", float(pop.n)))
    any_test = term_tests["ANY"]
    planned = "Fisher's exact test of any grade 3-4 adverse event; risk difference with Newcombe score 95% CI"
    return AnalysisResult(
        "AE-GRADE-3-4-FISHER",
        "AE-GRADE-3-4",
        "SAFETY",
        planned if any_test["p_value"] is not None else f"{planned}: not estimable (an arm is empty)",
        pop.n,
        (
            Estimate("risk_difference", any_test["risk_difference"], any_test["ci_lower"], any_test["ci_upper"]),
            Estimate("p_value", any_test["p_value"]),
        ),
        planned,
        fallback=any_test["p_value"] is None,
        by_arm=tuple(s for s in by_arm if s.statistic != "n") + tuple(Summary(a, "n", float(n_arm[a])) for a in ARMS),
        pooled=tuple(pooled),
        sap_section="4.11",
        extra={"terms": term_tests},
    )


def run_all(data: AnalysisData) -> list[AnalysisResult]:
    """Every SAP analysis, in the SAP's order (section 4)."""
    days = protocol_days()
    results = [
        alc_ancova(data),
        alc_wilcoxon(data),
        mmrm_result(data, "ALC-MMRM", "ALC", "LYM", True, "4.1.3"),
        alc_ancova(data, "PP", "ALC-ANCOVA-PP"),
        who_polr(data),
        _cif_result(
            data, "WHO-IMP2-CIF", "WHO-SCALE", "TTWHOIMP2", days.endpoint_day, "4.2.2", "a 2-point improvement"
        ),
        mmrm_result(data, "VIRAL-LOAD-MMRM", "VIRAL-LOAD", "VLOAD", False, "4.3"),
        *secondary_infections(data),
        *length_of_stay(data),
        *counts(data),
        *osfd(data),
        *mortality(data),
        cd4_cd8(data),
        *(mmrm_result(data, aid, outcome, code, log, "4.10") for aid, outcome, code, log in MMRM_MARKERS),
        mmrm_result(data, "NEWS2-MMRM", "NEWS2", "NEWS2", False, "4.10"),
        adverse_events(data),
    ]
    return results
