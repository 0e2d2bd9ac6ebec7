"""Operating characteristics of the primary analysis, by simulating many trials at once.

The fast path of issue 6 item 3: numpy arrays of shape ``(trials, n)``, no database and no
per-participant Python. Each simulated trial

1. allocates n participants 1:1 within site: sites are drawn with the configured shares and,
   inside each site, a random order alternates the arms from a random start (a permuted block the
   size of the site's enrolment: the protocol's blocks of 2 and 4 give the same balance to within
   one participant per site, which is all the analysis sees);
2. draws each participant's course with :func:`iliad7.simulate.course.draw_courses`, the same
   model the cohort simulator uses;
3. runs the primary analysis, :func:`ancova`: ordinary least squares of log ALC at day 30 or
   discharge (whichever first; see :mod:`iliad7.simulate.course` for deaths) on arm, log baseline
   ALC and site, solved in closed form for the whole stack (normal equations with
   ``numpy.linalg``), giving the geometric mean ratio ``exp(beta_arm)``, its 95 % t interval and the
   two-sided t-test p-value.

Definitions (per n and effect, over the simulated trials):

- power: the share of trials with p < 0.05 *and* an estimated GMR above 1 (CYT107 raises ALC);
  a significant result in the wrong direction is not a success.
- type I error: the share of trials with p < 0.05 in either direction when CYT107 has no effect at
  all (ALC GMR 1, mortality HR 1, infection rate ratio 1): the nominal two-sided 0.05.
- bias: the mean of (estimated log GMR - true log GMR). The truth is the analysis' estimand, the
  difference between the arms in mean log ALC change to the endpoint, computed from the model with
  a large common-random-numbers draw; it is smaller than log(effect) because the IL-7 effect is
  still rising at early discharges and deaths (the onset parameter) and because infections, which
  CYT107 makes rarer, lengthen stays.
- coverage: the share of 95 % intervals that hold the true log GMR.
- Monte Carlo standard errors: sqrt(p (1 - p) / trials) for the rates, sd / sqrt(trials) for bias.

A trial whose model cannot be fitted (one arm empty among the analysable, or no residual degrees
of freedom) counts as not rejecting and is left out of bias and coverage; a site with no
analysable participant is dropped from that trial's model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from iliad7.simulate.course import (
    BoolArray,
    Calendar,
    Courses,
    FloatArray,
    IntArray,
    draw_courses,
    effect_shape,
    recovery_shape,
)
from iliad7.simulate.parameters import Parameters

ALPHA = 0.05
CHUNK_TRIALS = 1000  # trials simulated per batch; fixed so results do not depend on batching
TRUTH_DRAWS = 200_000
NULL, ALTERNATIVE = 0, 1  # scenario numbers in the seed


@dataclass(frozen=True)
class AncovaBatch:
    """The primary analysis of each trial of a stack (arrays of shape ``(trials,)``)."""

    log_gmr: FloatArray
    se: FloatArray
    df: FloatArray
    p_value: FloatArray
    ci_lower: FloatArray  # log scale
    ci_upper: FloatArray
    estimable: BoolArray
    n_analysed: IntArray

    @property
    def gmr(self) -> FloatArray:
        return np.exp(self.log_gmr)


@dataclass(frozen=True)
class TrialStack:
    """Simulated trials: the courses of ``(trials, n)`` participants and the analysis outcome y."""

    courses: Courses

    @property
    def y(self) -> FloatArray:
        return self.courses.log_alc_endpoint


@dataclass(frozen=True)
class MonteCarloErrors:
    power: float
    type1_error: float
    bias: float
    coverage: float


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Power, type I error, bias and coverage of the primary analysis for one n and effect."""

    n: int
    effect: float  # the ALC GMR at full response
    trials: int
    power: float
    type1_error: float
    bias: float
    coverage: float
    mcse: MonteCarloErrors
    true_log_gmr: float  # the estimand the bias and coverage refer to
    estimable: float  # share of trials whose model could be fitted

    def as_row(self) -> dict[str, object]:
        """The `iliad7 simulate power --json` row (interfaces.md), figures rounded to 6 decimals."""
        return {
            "n": self.n,
            "effect": self.effect,
            "trials": self.trials,
            "power": round(self.power, 6),
            "type1_error": round(self.type1_error, 6),
            "bias": round(self.bias, 6),
            "coverage": round(self.coverage, 6),
            "mcse": {
                "power": round(self.mcse.power, 6),
                "type1_error": round(self.mcse.type1_error, 6),
                "bias": round(self.mcse.bias, 6),
                "coverage": round(self.mcse.coverage, 6),
            },
        }


def allocate(rng: np.random.Generator, trials: int, n: int, site_shares: Sequence[float]) -> tuple[IntArray, IntArray]:
    """Sites and arms of ``(trials, n)`` participants, 1:1 within site (balanced to within one)."""
    sites = len(site_shares)
    site = rng.choice(sites, size=(trials, n), p=np.asarray(site_shares)).astype(np.int64)
    order = np.argsort(site + rng.random((trials, n)), axis=1, kind="stable")
    sorted_site = np.take_along_axis(site, order, axis=1)
    counts = np.stack([(site == k).sum(axis=1) for k in range(sites)], axis=1)
    starts = np.concatenate([np.zeros((trials, 1), dtype=np.int64), np.cumsum(counts, axis=1)[:, :-1]], axis=1)
    rank = np.arange(n)[None, :] - np.take_along_axis(starts, sorted_site, axis=1)
    first_arm = rng.integers(0, 2, size=(trials, sites))
    sorted_arm = (rank + np.take_along_axis(first_arm, sorted_site, axis=1)) % 2
    arm = np.empty_like(sorted_arm)
    np.put_along_axis(arm, order, sorted_arm, axis=1)
    return arm.astype(np.int64), site


def simulate_trials(
    params: Parameters, rng: np.random.Generator, *, trials: int, n: int, calendar: Calendar | None = None
) -> TrialStack:
    """Simulate `trials` trials of `n` participants each (arrays of shape ``(trials, n)``)."""
    shares = list(params.population.site_share.value.values())
    arm, site = allocate(rng, trials, n, shares)
    return TrialStack(draw_courses(params, rng, arm=arm, site=site, calendar=calendar))


def design_matrix(courses: Courses, sites: int) -> FloatArray:
    """Columns: intercept, arm (1 CYT107), log baseline ALC, one indicator per site after the first."""
    columns = [np.ones_like(courses.log_alc0), courses.arm.astype(float), courses.log_alc0]
    columns += [(courses.site == k).astype(float) for k in range(1, sites)]
    return np.stack(columns, axis=-1)


def ancova(stack: TrialStack, sites: int = 2) -> AncovaBatch:
    """The primary ANCOVA of every trial in the stack, in closed form."""
    courses = stack.courses
    mask = courses.analysable.astype(float)
    x = design_matrix(courses, sites) * mask[..., None]
    y = stack.y * mask
    k = x.shape[-1]
    n_analysed = mask.sum(axis=-1)
    # A site indicator that is all 0 or all 1 among the analysable cannot be estimated: drop it.
    column_sums = x.sum(axis=-2)
    dropped = np.zeros((*x.shape[:-2], k), dtype=bool)
    dropped[..., 3:] = (column_sums[..., 3:] == 0) | (column_sums[..., 3:] == n_analysed[..., None])
    x = np.where(dropped[..., None, :], 0.0, x)
    treated = column_sums[..., 1]
    df = n_analysed - (k - dropped.sum(axis=-1))
    estimable = (treated > 0) & (treated < n_analysed) & (df > 0)

    xtx = np.einsum("...ij,...ik->...jk", x, x)
    xtx = xtx + np.where(dropped, 1.0, 0.0)[..., None, :] * np.eye(k)  # identity on dropped columns
    xtx = np.where(estimable[..., None, None], xtx, np.eye(k))
    xty = np.einsum("...ij,...i->...j", x, y)
    inverse = np.linalg.inv(xtx)
    beta = np.einsum("...jk,...k->...j", inverse, xty)
    residual = (y - np.einsum("...ij,...j->...i", x, beta)) * mask
    safe_df = np.where(estimable, df, 1.0)
    sigma2 = (residual**2).sum(axis=-1) / safe_df
    se = np.sqrt(sigma2 * inverse[..., 1, 1])
    estimate = beta[..., 1]
    t = estimate / np.where(se > 0, se, np.nan)
    p_value = 2.0 * special.stdtr(safe_df, -np.abs(t))
    q = special.stdtrit(safe_df, 1.0 - ALPHA / 2)
    nan = np.full_like(estimate, np.nan)
    return AncovaBatch(
        log_gmr=np.where(estimable, estimate, nan),
        se=np.where(estimable, se, nan),
        df=np.where(estimable, df, nan),
        p_value=np.where(estimable, p_value, nan),
        ci_lower=np.where(estimable, estimate - q * se, nan),
        ci_upper=np.where(estimable, estimate + q * se, nan),
        estimable=estimable,
        n_analysed=n_analysed.astype(np.int64),
    )


def has_no_il7_effect(params: Parameters) -> bool:
    effect = params.effect
    return effect.alc_gmr.value == 1.0 and effect.mortality_hr.value == 1.0 and effect.hai_rate_ratio.value == 1.0


def true_log_gmr(params: Parameters, *, draws: int = TRUTH_DRAWS, seed: int = 0) -> float:
    """The estimand: the CYT107 - placebo difference in mean log ALC change to the endpoint.

    Exactly 0 without any IL-7 effect. Otherwise computed from `draws` participants per arm with
    common random numbers, using the conditional means of recovery and noise (so the figure has a
    Monte Carlo error well under 1e-3).
    """
    if has_no_il7_effect(params):
        return 0.0
    means = []
    for arm in (1, 0):
        rng = np.random.default_rng([seed, 7])
        shape = (draws,)
        courses = draw_courses(
            params, rng, arm=np.full(shape, arm, dtype=np.int64), site=np.zeros(shape, dtype=np.int64)
        )
        ratio = params.alc.placebo_ratio_d29.value
        mean_r = np.where(courses.dies, math.log(params.alc.decedent_ratio_d29.value), math.log(ratio["median"]))
        change = mean_r * recovery_shape(courses.endpoint_day, params) + arm * math.log(
            params.effect.alc_gmr.value
        ) * effect_shape(courses.endpoint_day, params)
        means.append(float(change[courses.analysable].mean()))
    return means[0] - means[1]


def _analyse(
    params: Parameters, seed: int, n: int, trials: int, scenario: int, progress: Callable[[int], None]
) -> AncovaBatch:
    parts: list[AncovaBatch] = []
    for chunk, start in enumerate(range(0, trials, CHUNK_TRIALS)):
        size = min(CHUNK_TRIALS, trials - start)
        rng = np.random.default_rng([seed, n, scenario, chunk])
        parts.append(ancova(simulate_trials(params, rng, trials=size, n=n), len(params.population.site_share.value)))
        progress(size)
    return AncovaBatch(
        **{name: np.concatenate([getattr(p, name) for p in parts]) for name in AncovaBatch.__dataclass_fields__}
    )


def _rate(hits: BoolArray) -> tuple[float, float]:
    rate = float(hits.mean())
    return rate, math.sqrt(rate * (1.0 - rate) / hits.size)


def operating_characteristics(
    params: Parameters,
    *,
    ns: Sequence[int],
    effects: Sequence[float] | None = None,
    trials: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[OperatingCharacteristics]:
    """One result per (n, effect): power at the effect, type I error under no IL-7 effect.

    `effects` are ALC GMRs at full response (default: the parameter file's). Trials are drawn from
    ``numpy.random.default_rng([seed, n, scenario, chunk])``, so a figure for one n does not depend
    on which other n are asked for. `progress` is called with the number of trials just finished.
    """
    if trials < 1:
        raise ValueError("trials must be at least 1")
    tick = progress or (lambda _: None)
    effects = [params.effect.alc_gmr.value] if effects is None else list(effects)
    null = params.without_il7_effect()
    scenarios = {effect: params.with_overrides({"effect.alc_gmr": effect}) for effect in effects}
    truths = {effect: true_log_gmr(scenario) for effect, scenario in scenarios.items()}
    results: list[OperatingCharacteristics] = []
    for n in ns:
        under_null = _analyse(null, seed, n, trials, NULL, tick)
        type1, type1_se = _rate(under_null.estimable & (under_null.p_value < ALPHA))
        for effect in effects:
            # the same stream for every effect (common random numbers): effects compare cleanly, and
            # a row does not depend on which other effects are asked for
            batch = _analyse(scenarios[effect], seed, n, trials, ALTERNATIVE, tick)
            truth = truths[effect]
            power, power_se = _rate(batch.estimable & (batch.p_value < ALPHA) & (batch.log_gmr > 0))
            fitted = batch.estimable
            errors = batch.log_gmr[fitted] - truth
            bias = float(errors.mean()) if errors.size else math.nan
            bias_se = float(errors.std(ddof=1) / math.sqrt(errors.size)) if errors.size > 1 else math.nan
            covered = (batch.ci_lower[fitted] <= truth) & (truth <= batch.ci_upper[fitted])
            coverage, coverage_se = _rate(covered) if covered.size else (math.nan, math.nan)
            results.append(
                OperatingCharacteristics(
                    n=n,
                    effect=effect,
                    trials=trials,
                    power=power,
                    type1_error=type1,
                    bias=bias,
                    coverage=coverage,
                    mcse=MonteCarloErrors(power=power_se, type1_error=type1_se, bias=bias_se, coverage=coverage_se),
                    true_log_gmr=truth,
                    estimable=float(fitted.mean()),
                )
            )
    return results


def total_trials(ns: Sequence[int], effects: Sequence[float], trials: int) -> int:
    """How many trials :func:`operating_characteristics` simulates (for a progress bar)."""
    return len(ns) * (1 + len(effects)) * trials
