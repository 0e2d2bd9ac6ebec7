"""The statistical engines of the SAP (docs/sap.md section 4), on plain numpy arrays.

Each function fits one model or test and returns its numbers, or raises :class:`NotEstimable`
with the reason (separation, no events in an arm, singular design, non-convergence) so that the
analysis in :mod:`iliad7.analysis.analyses` can fall back to an exact or nonparametric method and
say so. The R programs in tests/analysis/r fit the same models independently; the conventions
that both sides must share are stated here (Wald intervals, log-log KM intervals, Efron ties,
exact Wilcoxon only without ties and with fewer than 50 per group, as R's ``wilcox.test``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

Z975 = float(stats.norm.ppf(0.975))
FloatArray = NDArray[np.float64]


class NotEstimable(Exception):
    """The planned model cannot be estimated from these data; the message says why."""


@dataclass(frozen=True)
class Contrast:
    """A model coefficient for CYT107 versus placebo on its natural (log or linear) scale."""

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    df: float | None  # residual degrees of freedom for t-based inference, None for z
    dropped: tuple[str, ...] = ()  # covariates left out because the design could not hold them
    notes: tuple[str, ...] = ()  # anything the reader of the estimate should know (a boundary fit)


def _design(columns: dict[str, FloatArray]) -> tuple[FloatArray, list[str]]:
    names = list(columns)
    return np.column_stack([columns[name] for name in names]).astype(float), names


def site_dummies(site: list[str] | NDArray[np.str_]) -> dict[str, FloatArray]:
    """Treatment-coded indicators of every site but the first in sorted order (R's default contrasts)."""
    values = np.asarray(site, dtype=str)
    levels = sorted(set(values.tolist()))
    return {f"site[{level}]": (values == level).astype(float) for level in levels[1:]}


def ols_contrast(y: FloatArray, arm: FloatArray, covariates: dict[str, FloatArray]) -> Contrast:
    """OLS of y on an intercept, arm (1 CYT107) and covariates; the arm coefficient with a t interval.

    A covariate that makes the design singular (a site with no participants left, a constant) is
    dropped and named; if the arm itself cannot be estimated, or no residual degree of freedom is
    left, :class:`NotEstimable` is raised.
    """
    import statsmodels.api as sm

    kept: dict[str, FloatArray] = {"const": np.ones_like(y), "arm": arm}
    dropped: list[str] = []
    for name, column in covariates.items():
        trial = np.column_stack([*kept.values(), column])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept[name] = column
        else:
            dropped.append(name)
    x, names = _design(kept)
    if np.linalg.matrix_rank(x[:, :2]) < 2 or len(set(arm.tolist())) < 2:
        raise NotEstimable("only one arm among the participants analysed")
    if y.size - x.shape[1] < 1:
        raise NotEstimable(f"no residual degrees of freedom ({y.size} participants, {x.shape[1]} parameters)")
    fit = sm.OLS(y, x).fit()
    i = names.index("arm")
    low, high = fit.conf_int(0.05)[i]
    return Contrast(
        float(fit.params[i]),
        float(fit.bse[i]),
        float(low),
        float(high),
        float(fit.pvalues[i]),
        float(fit.df_resid),
        tuple(dropped),
    )


@dataclass(frozen=True)
class RankSum:
    p_value: float
    method: str  # "exact" or "normal approximation with continuity correction"
    hodges_lehmann: float  # median of CYT107 - placebo differences
    statistic: float  # W of R's wilcox.test: the rank sum of CYT107 minus n1(n1+1)/2


def wilcoxon_rank_sum(active: FloatArray, placebo: FloatArray) -> RankSum:
    """Two-sided Wilcoxon rank-sum (Mann-Whitney) test, exact exactly when R's ``wilcox.test`` is exact.

    Exact when both groups have fewer than 50 values and there are no ties; otherwise the normal
    approximation with tie correction and continuity correction (R's defaults).
    """
    a = np.asarray(active, dtype=float)
    b = np.asarray(placebo, dtype=float)
    if a.size == 0 or b.size == 0:
        raise NotEstimable("an arm has no values")
    pooled = np.concatenate([a, b])
    ties = np.unique(pooled).size < pooled.size
    exact = a.size < 50 and b.size < 50 and not ties
    result = stats.mannwhitneyu(
        a, b, alternative="two-sided", method="exact" if exact else "asymptotic", use_continuity=True
    )
    if a.size * b.size <= 250_000:
        diffs = (a[:, None] - b[None, :]).ravel()
        hl = float(np.median(diffs))
    else:  # a large trial: the shift from a subsample of pairs is plenty for a descriptive figure
        rng = np.random.default_rng(0)
        hl = float(np.median(rng.choice(a, 250_000) - rng.choice(b, 250_000)))
    return RankSum(
        float(result.pvalue),
        "exact" if exact else "normal approximation with continuity correction",
        hl,
        float(result.statistic),
    )


@dataclass(frozen=True)
class SurvivalPoint:
    survival: float
    ci_lower: float
    ci_upper: float
    at_risk: int
    events: int


def km_at(time: FloatArray, event: FloatArray, day: float) -> SurvivalPoint:
    """Kaplan-Meier survival at `day` with a log-log (R ``conf.type = "log-log"``) Greenwood 95% CI."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if t.size == 0:
        raise NotEstimable("no participants")
    # Beyond the longest follow-up the curve is unknown (R's summary.survfit gives nothing there), unless
    # everyone has died by then.
    if t.max() < day and not bool((e[t == t.max()] == 1).all()):
        raise NotEstimable(f"follow-up reaches day {t.max():g} only, not day {day:g}")
    s, var_sum = 1.0, 0.0
    for u in np.unique(t[(e == 1) & (t <= day)]):
        n = int((t >= u).sum())
        d = int(((t == u) & (e == 1)).sum())
        s *= 1 - d / n
        if n > d:
            var_sum += d / (n * (n - d))
    if s <= 0.0 or s >= 1.0:  # no deaths, or nobody left: the log-log interval is undefined (R gives NA)
        return SurvivalPoint(
            s,
            math.nan,
            math.nan,
            int((t >= day).sum()),
            int(((e == 1) & (t <= day)).sum()),
        )
    log_s = math.log(s)
    half = Z975 * math.sqrt(var_sum) / abs(log_s)
    low = s ** math.exp(half)
    high = s ** math.exp(-half)
    return SurvivalPoint(s, low, high, int((t >= day).sum()), int(((e == 1) & (t <= day)).sum()))


def log_rank(time: FloatArray, event: FloatArray, arm: FloatArray) -> tuple[float, float]:
    """Two-group log-rank test (R ``survdiff``): chi-square statistic and p-value."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    g = np.asarray(arm, dtype=float)
    if e.sum() == 0:
        raise NotEstimable("no events")
    observed = expected = variance = 0.0
    for u in np.unique(t[e == 1]):
        at_risk = t >= u
        n = at_risk.sum()
        n1 = (at_risk & (g == 1)).sum()
        d = ((t == u) & (e == 1)).sum()
        d1 = ((t == u) & (e == 1) & (g == 1)).sum()
        observed += d1
        expected += d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    if variance <= 0:
        raise NotEstimable("no variance (one arm only at every event time)")
    chi2 = (observed - expected) ** 2 / variance
    return float(chi2), float(stats.chi2.sf(chi2, 1))


def cox_contrast(time: FloatArray, event: FloatArray, arm: FloatArray, covariates: dict[str, FloatArray]) -> Contrast:
    """Cox model (Efron ties) with arm and covariates; the arm's log hazard ratio with a Wald interval.

    Not estimable (monotone likelihood: the hazard ratio runs off to 0 or infinity) when an arm
    has no events; a covariate level without events is dropped and named.
    """
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    a = np.asarray(arm, dtype=float)
    for value, label in ((1.0, "CYT107"), (0.0, "placebo")):
        if e[a == value].sum() == 0:
            raise NotEstimable(f"no events in the {label} arm (monotone likelihood)")
    kept: dict[str, FloatArray] = {"arm": a}
    dropped: list[str] = []
    for name, column in covariates.items():
        with_it = column == 1
        if e[with_it].sum() == 0 or e[~with_it].sum() == 0:
            dropped.append(name)
        else:
            kept[name] = column
    frame = pd.DataFrame({**kept, "T": t, "E": e})
    fitter = CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fitter.fit(frame, "T", "E", fit_options={"precision": 1e-12, "max_steps": 200})
        except (ConvergenceError, ConvergenceWarning, np.linalg.LinAlgError) as error:
            raise NotEstimable(f"Cox model did not converge: {str(error).splitlines()[0]}") from None
    coef = float(fitter.params_["arm"])
    se = float(fitter.standard_errors_["arm"])
    if not math.isfinite(se) or se > 50:
        raise NotEstimable("Cox model arm coefficient unbounded (near-monotone likelihood)")
    z = coef / se
    return Contrast(
        coef, se, coef - Z975 * se, coef + Z975 * se, float(2 * stats.norm.sf(abs(z))), None, tuple(dropped)
    )


def polr_contrast(y: NDArray[np.int64], arm: FloatArray, covariates: dict[str, FloatArray]) -> Contrast:
    """Proportional odds logistic regression (R ``MASS::polr``/``ordinal::clm`` parametrization).

    logit P(Y <= j) = theta_j - (beta_arm * arm + ...). The returned contrast is beta_arm on the
    log-odds scale of a *higher* score; the odds ratio of a better (lower) score is exp(-beta).
    Wald interval. Only observed levels are used. Not estimable with fewer than 2 observed levels,
    separation, or non-convergence.
    """
    yy = np.asarray(y)
    levels = np.unique(yy)
    if levels.size < 2:
        raise NotEstimable("fewer than two observed categories")
    a = np.asarray(arm, dtype=float)
    kept: dict[str, FloatArray] = {"arm": a}
    dropped: list[str] = []
    for name, column in covariates.items():
        trial = np.column_stack([np.ones_like(a), *kept.values(), column])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept[name] = column
        else:
            dropped.append(name)
    codes = np.searchsorted(levels, yy)
    # separation of arm: every CYT107 value on one side of every placebo value
    ya, yp = yy[a == 1], yy[a == 0]
    if ya.size == 0 or yp.size == 0:
        raise NotEstimable("only one arm among the participants analysed")
    if ya.max() < yp.min() or yp.max() < ya.min():
        raise NotEstimable("complete separation of the arms on the ordinal scale")
    x, names = _design(kept)
    params, cov = _polr_fit(codes, x, levels.size)
    i = levels.size - 1 + names.index("arm")
    se = math.sqrt(cov[i, i]) if cov[i, i] > 0 else math.nan
    if not (math.isfinite(params[i]) and math.isfinite(se)) or se > 20 or abs(params[i]) > 20:
        raise NotEstimable("proportional odds arm coefficient unbounded (quasi-separation)")
    coef = float(params[i])
    z = coef / se
    return Contrast(
        coef, se, coef - Z975 * se, coef + Z975 * se, float(2 * stats.norm.sf(abs(z))), None, tuple(dropped)
    )


def _polr_loglik(theta_beta: FloatArray, codes: NDArray[np.int64], x: FloatArray, k: int) -> tuple[float, FloatArray]:
    """Log-likelihood and its gradient in (thresholds, beta) of the cumulative logit model."""
    theta = theta_beta[: k - 1]
    beta = theta_beta[k - 1 :]
    eta = x @ beta
    upper = np.concatenate([theta, [np.inf]])[codes] - eta
    lower = np.concatenate([[-np.inf], theta])[codes] - eta
    fu = special.expit(upper)
    fl = special.expit(lower)
    prob = np.clip(fu - fl, 1e-300, None)
    du = np.where(np.isfinite(upper), fu * (1 - fu), 0.0)
    dl = np.where(np.isfinite(lower), fl * (1 - fl), 0.0)
    grad_theta = np.zeros(k - 1)
    np.add.at(grad_theta, codes[codes < k - 1], (du / prob)[codes < k - 1])
    np.add.at(grad_theta, codes[codes > 0] - 1, -(dl / prob)[codes > 0])
    grad_beta = -x.T @ ((du - dl) / prob)
    return float(np.log(prob).sum()), np.concatenate([grad_theta, grad_beta])


def _polr_hessian(params: FloatArray, codes: NDArray[np.int64], x: FloatArray, k: int) -> FloatArray:
    """The Hessian by central differences of the exact gradient (symmetrized)."""
    size = params.size
    h = np.empty((size, size))
    for j in range(size):
        step = 1e-5 * max(1.0, abs(params[j]))
        e = np.zeros(size)
        e[j] = step
        h[:, j] = (_polr_loglik(params + e, codes, x, k)[1] - _polr_loglik(params - e, codes, x, k)[1]) / (2 * step)
    return (h + h.T) / 2


def _polr_fit(codes: NDArray[np.int64], x: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """Maximum likelihood of the proportional odds model and the inverse information.

    Quasi-Newton in an order-keeping parametrization (theta_1, log increments), then Newton steps
    on the Hessian from central differences of the exact gradient, so that estimates and Wald
    SEs agree with R's ``ordinal::clm`` to far better than 1e-6.
    """
    from scipy import optimize

    n = codes.size
    cumulative = np.cumsum(np.bincount(codes, minlength=k))[:-1] / n
    theta0 = special.logit(np.clip(cumulative, 1e-6, 1 - 1e-6))
    u0 = np.concatenate([[theta0[0]], np.log(np.maximum(np.diff(theta0), 1e-3)), np.zeros(x.shape[1])])

    def to_theta(u: FloatArray) -> FloatArray:
        return np.concatenate([np.cumsum(np.concatenate([[u[0]], np.exp(u[1 : k - 1])])), u[k - 1 :]])

    def objective(u: FloatArray) -> tuple[float, FloatArray]:
        value, grad = _polr_loglik(to_theta(u), codes, x, k)
        tail = np.cumsum(grad[: k - 1][::-1])[::-1]  # d theta_j / d u_m is 1 (m = 0) or exp(u_m) (1 <= m <= j)
        return -value, -np.concatenate([[tail[0]], tail[1:] * np.exp(u[1 : k - 1]), grad[k - 1 :]])

    result = optimize.minimize(objective, u0, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 10_000})
    params = to_theta(result.x)
    for _ in range(8):
        grad = _polr_loglik(params, codes, x, k)[1]
        try:
            step = np.linalg.solve(_polr_hessian(params, codes, x, k), grad)
        except np.linalg.LinAlgError:
            raise NotEstimable("proportional odds information matrix is singular") from None
        params = params - step
        if not np.all(np.isfinite(params)):
            raise NotEstimable("proportional odds model did not converge")
        if np.max(np.abs(step)) < 1e-11:
            break
    if k > 2 and not np.all(np.diff(params[: k - 1]) > 0):
        raise NotEstimable("proportional odds thresholds not ordered (did not converge)")
    try:
        cov = np.linalg.inv(-_polr_hessian(params, codes, x, k))
    except np.linalg.LinAlgError:
        raise NotEstimable("proportional odds information matrix is singular") from None
    return params, cov


def poisson_contrast(
    count: FloatArray, exposure: FloatArray, arm: FloatArray, covariates: dict[str, FloatArray]
) -> Contrast:
    """Poisson regression of counts with log exposure offset; the arm's log rate ratio with a Wald interval.

    Not estimable when an arm has no events (the rate ratio is 0 or infinite) or exposure is 0.
    """
    import statsmodels.api as sm

    c = np.asarray(count, dtype=float)
    x_exp = np.asarray(exposure, dtype=float)
    a = np.asarray(arm, dtype=float)
    keep = x_exp > 0
    c, x_exp, a = c[keep], x_exp[keep], a[keep]
    covariates = {k: v[keep] for k, v in covariates.items()}
    for value, label in ((1.0, "CYT107"), (0.0, "placebo")):
        if c[a == value].sum() == 0:
            raise NotEstimable(f"no events in the {label} arm")
    kept: dict[str, FloatArray] = {"const": np.ones_like(a), "arm": a}
    dropped = []
    for name, column in covariates.items():
        if c[column == 1].sum() == 0 or c[column == 0].sum() == 0:
            dropped.append(name)
        else:
            kept[name] = column
    x, names = _design(kept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(c, x, family=sm.families.Poisson(), offset=np.log(x_exp)).fit()
    i = names.index("arm")
    coef, se = float(fit.params[i]), float(fit.bse[i])
    if not (math.isfinite(coef) and math.isfinite(se)) or se > 20 or not fit.converged:
        raise NotEstimable("Poisson rate ratio unbounded (too few events)")
    return Contrast(coef, se, coef - Z975 * se, coef + Z975 * se, float(fit.pvalues[i]), None, tuple(dropped))


@dataclass(frozen=True)
class TwoByTwo:
    """Fisher's exact test and the risk difference (Newcombe hybrid score 95% CI) of CYT107 vs placebo."""

    events_active: int
    n_active: int
    events_placebo: int
    n_placebo: int
    p_value: float
    risk_difference: float
    ci_lower: float
    ci_upper: float


def _wilson(x: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = x / n
    z2 = Z975**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z975 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def fisher_two_by_two(events_active: int, n_active: int, events_placebo: int, n_placebo: int) -> TwoByTwo:
    """Two-sided Fisher's exact test; risk difference with Newcombe's (1998, method 10) score interval."""
    if n_active == 0 or n_placebo == 0:
        raise NotEstimable("an arm has no participants")
    table = [[events_active, n_active - events_active], [events_placebo, n_placebo - events_placebo]]
    p = float(stats.fisher_exact(table).pvalue)
    p1, p2 = events_active / n_active, events_placebo / n_placebo
    l1, u1 = _wilson(events_active, n_active)
    l2, u2 = _wilson(events_placebo, n_placebo)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return TwoByTwo(events_active, n_active, events_placebo, n_placebo, p, d, low, high)


def cumulative_incidence(time: FloatArray, eventcode: NDArray[np.int64], day: float, cause: int = 1) -> float:
    """Aalen-Johansen cumulative incidence of `cause` by `day`, the other causes competing (EVENTCD 0 censored)."""
    t = np.asarray(time, dtype=float)
    c = np.asarray(eventcode)
    survival, cif = 1.0, 0.0
    for u in np.unique(t[(c != 0) & (t <= day)]):
        n = (t >= u).sum()
        d_all = ((t == u) & (c != 0)).sum()
        d_cause = ((t == u) & (c == cause)).sum()
        cif += survival * d_cause / n
        survival *= 1 - d_all / n
    return float(cif)


def _random_intercept_reml(
    y: FloatArray, x: FloatArray, groups: NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, float, float]:
    """REML fit of y = X beta + b_group + e with b ~ N(0, tau^2), e ~ N(0, sigma^2), vectorized.

    With lambda = tau^2 / sigma^2 each group's covariance is sigma^2 (I + lambda J), whose inverse
    is (I - w J) / sigma^2 with w = lambda / (1 + n lambda); so the GLS normal equations and the
    REML likelihood need only per-group sums. sigma^2 and beta are profiled out and the REML
    log-likelihood is maximized over log lambda (Brent), lambda = 0 (the boundary) included.
    Returns (beta, covariance of beta, lambda, sigma^2).
    """
    from scipy import optimize

    size = int(np.max(groups)) + 1
    counts = np.bincount(groups, minlength=size).astype(float)
    sums_x = np.zeros((size, x.shape[1]))
    np.add.at(sums_x, groups, x)
    sums_y = np.bincount(groups, weights=y, minlength=size)
    xtx, xty, yty = x.T @ x, x.T @ y, float(y @ y)
    n_obs, p = x.shape

    def solve(lam: float) -> tuple[float, FloatArray, FloatArray, float]:
        w = lam / (1 + counts * lam)
        a = xtx - (sums_x * w[:, None]).T @ sums_x
        c = xty - (sums_x * w[:, None]).T @ sums_y
        beta = np.linalg.solve(a, c)
        quad = yty - 2 * beta @ xty + beta @ xtx @ beta
        group_resid = sums_y - sums_x @ beta
        quad -= float((w * group_resid**2).sum())
        sigma2 = quad / (n_obs - p)
        _, logdet = np.linalg.slogdet(a)
        value = -0.5 * ((n_obs - p) * math.log(sigma2) + float(np.log1p(counts * lam).sum()) + logdet)
        return value, beta, a, sigma2

    result = optimize.minimize_scalar(
        lambda t: -solve(math.exp(t))[0], bounds=(-25.0, 12.0), method="bounded", options={"xatol": 1e-11}
    )
    lam = math.exp(float(result.x))
    if solve(0.0)[0] >= -float(result.fun):
        lam = 0.0
    _, beta, a, sigma2 = solve(lam)
    return beta, sigma2 * np.linalg.inv(a), lam, sigma2


def mixed_model_contrast(
    y: FloatArray,
    arm: FloatArray,
    visit: NDArray[np.int64],
    subject: NDArray[np.str_],
    covariates: dict[str, FloatArray],
    target_visit: int,
) -> Contrast:
    """Linear mixed model over scheduled visits (random intercept per participant), the arm effect at `target_visit`.

    Fixed effects: visit, arm-by-visit, and covariates (log baseline, site). statsmodels has no
    unstructured-covariance MMRM, so the within-participant correlation is compound symmetry
    (random intercept, REML, fitted by :func:`_random_intercept_reml`, which is vectorized over
    participants so that a 20,000-participant trial takes a second); the R cross-check uses
    ``nlme::lme`` with the same structure. Not estimable when the design is singular or the fit
    fails; a random-intercept variance on the boundary (0) is reported as a note.
    """
    v = np.asarray(visit)
    levels = np.unique(v)
    if target_visit not in set(levels.tolist()):
        raise NotEstimable("no values at the target visit")
    columns: dict[str, FloatArray] = {}
    for level in levels:
        columns[f"visit[{level}]"] = (v == level).astype(float)
    for level in levels:
        columns[f"arm:visit[{level}]"] = ((v == level) & (arm == 1)).astype(float)
    kept = dict(columns)
    dropped = []
    for name, column in covariates.items():
        trial = np.column_stack([*kept.values(), column])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept[name] = column
        else:
            dropped.append(name)
    x, names = _design(kept)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise NotEstimable("singular design (a visit without one of the arms)")
    if y.size - x.shape[1] < 2:
        raise NotEstimable("too few observations for the mixed model")
    _, codes = np.unique(np.asarray(subject), return_inverse=True)
    try:
        beta, cov, lam, _ = _random_intercept_reml(np.asarray(y, dtype=float), x, codes.astype(np.int64))
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as error:
        raise NotEstimable(f"mixed model could not be fitted: {error}") from None
    i = names.index(f"arm:visit[{target_visit}]")
    coef, se = float(beta[i]), math.sqrt(float(cov[i, i])) if cov[i, i] > 0 else math.nan
    if not (math.isfinite(coef) and math.isfinite(se)):
        raise NotEstimable("mixed model standard error undefined")
    notes: tuple[str, ...] = ()
    if lam == 0.0:
        notes = ("random-intercept variance estimated at the boundary (0): the fit is ordinary least squares",)
    z = coef / se
    return Contrast(
        coef, se, coef - Z975 * se, coef + Z975 * se, float(2 * stats.norm.sf(abs(z))), None, tuple(dropped), notes
    )
