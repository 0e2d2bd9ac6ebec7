"""Typed results of the SAP analyses, read alike by the ARD, tables, figures, the R cross-check and tests.

An :class:`AnalysisResult` carries the estimates (each with its confidence interval where there
is one), the method actually used (naming the fallback when the planned model could not be
estimated), the population, the number analysed, warnings, and descriptive summaries per arm
(closed report) and pooled (open report). Nothing here formats a number: that happens once, in
:mod:`iliad7.analysis.ard` and :mod:`iliad7.analysis.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Estimate:
    """One reported statistic (``gmr``, ``p_value``, ``hr``, ...), CYT107 versus placebo for contrasts."""

    statistic: str
    value: float | None
    ci_lower: float | None = None
    ci_upper: float | None = None


@dataclass(frozen=True)
class Summary:
    """A descriptive statistic of one group (an arm, or ``pooled``)."""

    group: str
    statistic: str  # n, median, q1, q3, events, survival_d45, gmean, ...
    value: float | None
    ci_lower: float | None = None
    ci_upper: float | None = None


@dataclass(frozen=True)
class AnalysisResult:
    """The outcome of one SAP analysis (docs/sap.md section 4)."""

    analysis_id: str
    outcome: str
    population: str
    method: str
    n: int
    estimates: tuple[Estimate, ...]
    planned_method: str
    fallback: bool = False
    warnings: tuple[str, ...] = ()
    by_arm: tuple[Summary, ...] = ()
    pooled: tuple[Summary, ...] = ()
    sap_section: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def estimate(self, statistic: str) -> Estimate:
        for item in self.estimates:
            if item.statistic == statistic:
                return item
        raise KeyError(f"{self.analysis_id} has no statistic {statistic}")
