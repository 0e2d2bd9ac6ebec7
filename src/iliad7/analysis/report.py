"""The DSMB reports (docs/sap.md section 6): HTML with inline figures, and PDF, open or closed.

An *open* report (blinded) shows disposition, pooled baseline characteristics, pooled outcome
summaries, pooled safety and pooled figures: no arm appears anywhere, neither a label nor a
number by arm. A *closed* report (unblinded, only when the caller says the user may see arms)
adds everything by arm: efficacy contrasts, the forest plot, KM curves and geometric means by arm,
adverse events by arm with exact tests. Numbers are formatted here, once. Figures are PNGs
embedded as base64 in the HTML (no external requests) and drawn again on the PDF's pages
(matplotlib ``PdfPages``); both are written without timestamps.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from iliad7.analysis.datasets import ARMS, AnalysisData
from iliad7.analysis.results import AnalysisResult

COLORS = {"CYT107": "#c0392b", "placebo": "#2c7fb8", "pooled": "#444444"}
RATIO_STATISTICS = ("gmr", "hr", "or", "rate_ratio", "gmr_cd4", "gmr_cd8")


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table: significant digits, '—' for none, '<0.001' style for small p-values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.0f}"


def fmt_p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    return "" if low is None and high is None else f"({fmt(low)}, {fmt(high)})"


# ------------------------------------------------------------------------------------ tables


def disposition_table(consort: dict[str, Any]) -> Table:
    rows: list[tuple[str, ...]] = [("Screened", str(consort.get("screened", "—")))]
    for reason, count in consort.get("excluded", {}).items():
        rows.append((f"  excluded: {reason}", str(count)))
    for key, label in (
        ("eligible_not_randomized", "Eligible, awaiting randomization"),
        ("randomized", "Randomized (ITT)"),
        ("treated", "Treated, at least one dose (mITT)"),
        ("analysed_primary", "Analysed, primary ALC"),
        ("analysed_mortality", "Analysed, day-45 mortality"),
    ):
        rows.append((label, str(consort.get(key, "—"))))
    return Table("Disposition", ("", "participants"), tuple(rows))


def _groups(adsl: pl.DataFrame, closed: bool, column: str = "TRT01P") -> list[tuple[str, pl.DataFrame]]:
    if closed:
        return [(arm, adsl.filter(pl.col(column) == arm)) for arm in ARMS] + [("Total", adsl)]
    return [("All participants", adsl)]


def _median_iqr(values: np.ndarray) -> str:
    if values.size == 0:
        return "—"
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return f"{fmt(float(med))} ({fmt(float(q1))}–{fmt(float(q3))})"


def baseline_table(adsl: pl.DataFrame, closed: bool) -> Table:
    groups = _groups(adsl, closed)
    header = ("Characteristic", *(f"{name} (n={g.height})" for name, g in groups))
    rows: list[tuple[str, ...]] = []
    for label, column in (
        ("Age, years, median (IQR)", "AGE"),
        ("Weight, kg, median (IQR)", "WEIGHTBL"),
        ("ALC, cells/mm3, median (IQR)", "ALCBL"),
        ("WHO scale, median (IQR)", "WHOBL"),
    ):
        rows.append((label, *(_median_iqr(g[column].drop_nulls().to_numpy().astype(float)) for _, g in groups)))
    for label, column, levels in (
        ("Sex", "SEX", sorted(set(adsl["SEX"].to_list()))),
        ("Site", "SITEID", sorted(set(adsl["SITEID"].to_list()))),
        ("Baseline support", "SEVERITY", ["o2", "hfno_niv", "mv"]),
    ):
        for level in levels:
            cells = []
            for _, g in groups:
                count = int((g[column] == level).sum())
                cells.append(f"{count} ({100 * count / g.height:.0f}%)" if g.height else "0")
            rows.append((f"{label}: {level}", *cells))
    return Table("Baseline characteristics (ITT)", header, tuple(rows))


def efficacy_table(results: Sequence[AnalysisResult]) -> Table:
    rows = []
    for r in results:
        for e in r.estimates:
            value = fmt_p(e.value) if e.statistic.startswith("p_value") else fmt(e.value)
            rows.append(
                (
                    r.analysis_id,
                    r.population,
                    str(r.n),
                    e.statistic,
                    value,
                    fmt_ci(e.ci_lower, e.ci_upper),
                    r.method + ("" if not r.warnings else " [" + "; ".join(r.warnings) + "]"),
                )
            )
    return Table(
        "Efficacy and safety analyses (CYT107 versus placebo)",
        ("analysis", "population", "n", "statistic", "estimate", "95% CI", "method"),
        tuple(rows),
        "Ratios and differences are CYT107 versus placebo. A method that names a fallback replaced a model that "
        "could not be estimated from these data.",
    )


def summary_table(results: Sequence[AnalysisResult], closed: bool) -> Table:
    rows = []
    for r in results:
        summaries = r.by_arm if closed else r.pooled
        for s in summaries:
            rows.append(
                (r.analysis_id, s.group if closed else "all", s.statistic, fmt(s.value), fmt_ci(s.ci_lower, s.ci_upper))
            )
    title = "Outcome summaries by arm" if closed else "Outcome summaries, all participants pooled (blinded)"
    return Table(title, ("analysis", "group", "statistic", "value", "95% CI"), tuple(rows))


def safety_table(data: AnalysisData, results: Sequence[AnalysisResult], closed: bool) -> Table:
    adsl = data.adsl.filter(pl.col("SAFFL") == "Y")
    adae = data.adae.filter(pl.col("AETOXGR").is_in([3, 4])).join(adsl.select("USUBJID", "TRT01A"), on="USUBJID")
    groups = _groups(adsl, closed, "TRT01A")
    tests: dict[str, Any] = {}
    for r in results:
        if r.analysis_id == "AE-GRADE-3-4-FISHER":
            tests = dict(r.extra.get("terms", {}))  # type: ignore[call-overload]
    header = ("Grade 3-4 adverse event", *(f"{name} (n={g.height})" for name, g in groups))
    if closed:
        header = (*header, "Fisher p")
    rows = []
    for term in ["ANY", *sorted(set(adae["AEDECOD"].to_list()))]:
        rows_term = adae if term == "ANY" else adae.filter(pl.col("AEDECOD") == term)
        cells = []
        for _, g in groups:
            count = rows_term.filter(pl.col("USUBJID").is_in(g["USUBJID"].implode()))["USUBJID"].n_unique()
            cells.append(f"{count} ({100 * count / g.height:.0f}%)" if g.height else "0")
        row = (term.replace("_", " ") if term != "ANY" else "Any grade 3-4 event", *cells)
        if closed:
            row = (*row, fmt_p((tests.get(term) or {}).get("p_value")))
        rows.append(row)
    return Table("Participants with grade 3-4 adverse events (safety population)", header, tuple(rows))


# ------------------------------------------------------------------------------------ figures


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()


def consort_figure(consort: dict[str, Any]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    excluded = consort.get("excluded", {})
    total_excluded = sum(excluded.values())
    boxes = [
        (5, 9.2, f"Screened\nn = {consort.get('screened', '—')}"),
        (5, 6.8, f"Randomized\nn = {consort.get('randomized', '—')}"),
        (5, 4.6, f"Treated (at least one dose)\nn = {consort.get('treated', '—')}"),
        (
            5,
            2.2,
            f"Analysed\nprimary ALC n = {consort.get('analysed_primary', '—')}\n"
            f"day-45 mortality n = {consort.get('analysed_mortality', '—')}",
        ),
    ]
    for x, y, text in boxes:
        ax.text(x, y, text, ha="center", va="center", fontsize=9, bbox={"boxstyle": "round", "fc": "white", "ec": "k"})
    for (_, y0, _), (_, y1, _) in itertools.pairwise(boxes):
        ax.annotate("", xy=(5, y1 + 0.6), xytext=(5, y0 - 0.6), arrowprops={"arrowstyle": "->"})
    ranked = sorted(excluded.items(), key=lambda item: (-item[1], item[0]))
    reasons = "\n".join(f"{k}: {v}" for k, v in ranked[:18])
    if len(ranked) > 18:
        reasons += "\n..."
    ax.text(
        8.2,
        8.0,
        f"Excluded n = {total_excluded}\n{reasons}",
        ha="center",
        va="center",
        fontsize=6.5,
        bbox={"boxstyle": "round", "fc": "#f4f4f4", "ec": "k"},
    )
    ax.set_title("CONSORT flow")
    return fig


def alc_figure(data: AnalysisData, closed: bool) -> Any:
    from matplotlib.figure import Figure

    adlb = data.adlb.filter(pl.col("PARAMCD") == "LYM").join(
        data.adsl.filter(pl.col("MITTFL") == "Y").select("USUBJID", "TRT01P"), on="USUBJID"
    )
    fig = Figure(figsize=(10, 4.2))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    subjects = adlb["USUBJID"].unique(maintain_order=True).to_list()
    if len(subjects) > 200:  # a large trial: draw a fixed sample of participants' lines
        subjects = sorted(subjects)[:: max(1, len(subjects) // 200)]
    per = adlb.filter(pl.col("USUBJID").is_in(subjects)).sort(["USUBJID", "ADY"])
    for _, rows in per.group_by(["USUBJID"], maintain_order=True):
        arm = rows["TRT01P"][0] if closed else "pooled"
        left.plot(rows["ADY"].to_numpy(), rows["AVAL"].to_numpy(), color=COLORS[arm], alpha=0.4, lw=0.8)
    left.set_yscale("log")
    left.set_xlabel("study day")
    left.set_ylabel("ALC (cells/mm3)")
    left.set_title("ALC per participant" + (" (red CYT107, blue placebo)" if closed else ""))
    groups = [(arm, adlb.filter(pl.col("TRT01P") == arm)) for arm in ARMS] if closed else [("pooled", adlb)]
    for offset, (name, rows) in enumerate(groups):
        stats = (
            rows.filter(pl.col("AVAL") > 0)
            .group_by("AVISITN")
            .agg(
                day=pl.col("ADY").median(),
                m=pl.col("AVAL").log().mean(),
                s=pl.col("AVAL").log().std(),
                n=pl.len(),
            )
            .sort("AVISITN")
        )
        from scipy import stats as sstats

        n = stats["n"].to_numpy()
        t = np.where(n > 1, sstats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        half = t * stats["s"].fill_null(0).to_numpy() / np.sqrt(n)
        gm = np.exp(stats["m"].to_numpy())
        day = stats["day"].to_numpy() + 0.3 * offset
        left_err = gm - np.exp(stats["m"].to_numpy() - half)
        right_err = np.exp(stats["m"].to_numpy() + half) - gm
        right.errorbar(
            day,
            gm,
            yerr=np.vstack([np.nan_to_num(left_err), np.nan_to_num(right_err)]),
            color=COLORS[name],
            marker="o",
            capsize=3,
            label=name if closed else "all participants",
        )
    right.set_yscale("log")
    right.set_xlabel("study day (visit median)")
    right.set_ylabel("geometric mean ALC, 95% CI")
    right.set_title("Geometric mean ALC by visit")
    if right.get_legend_handles_labels()[0]:  # nothing to label in a trial with no post-baseline ALC
        right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _km_steps(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [0.0], [1.0]
    s = 1.0
    for u in np.unique(time[event == 1]):
        n = (time >= u).sum()
        d = ((time == u) & (event == 1)).sum()
        s *= 1 - d / n
        xs.append(float(u))
        ys.append(s)
    return np.array(xs), np.array(ys)


def km_reach(times: np.ndarray, horizon: int) -> float:
    """The last day a survival curve is known: the longest follow-up, at most the horizon (day 45)."""
    return float(min(horizon, times.max())) if times.size else 0.0


def km_figure(data: AnalysisData, closed: bool) -> Any:
    from matplotlib.figure import Figure

    from iliad7.analysis.derive import protocol_days

    horizon = protocol_days().horizon_day
    tte = data.adtte.filter(pl.col("PARAMCD") == "TTDTH45").join(
        data.adsl.filter(pl.col("ITTFL") == "Y").select("USUBJID", "TRT01P"), on="USUBJID"
    )
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    groups = [(arm, tte.filter(pl.col("TRT01P") == arm)) for arm in ARMS] if closed else [("pooled", tte)]
    # Each curve stops at its longest follow-up (the data cut of the last randomized), never drawn beyond.
    reach = km_reach(tte["AVAL"].to_numpy(), horizon)
    for name, rows in groups:
        if rows.height == 0:
            continue
        xs, ys = _km_steps(rows["AVAL"].to_numpy(), (rows["CNSR"] == 0).to_numpy().astype(int))
        xs = np.append(xs, km_reach(rows["AVAL"].to_numpy(), horizon))
        ys = np.append(ys, ys[-1])
        ax.step(xs, ys, where="post", color=COLORS[name], label=(name if closed else "all participants"))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(reach, 1))
    ax.set_xlabel("study day")
    ax.set_ylabel("survival probability")
    ax.set_title(f"Kaplan-Meier survival to day {reach:g} (ITT)")
    if ax.get_legend_handles_labels()[0]:  # no curve without a randomized participant
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forest_figure(results: Sequence[AnalysisResult]) -> Any:
    from matplotlib.figure import Figure

    items = []
    for r in results:
        for e in r.estimates:
            if e.statistic in RATIO_STATISTICS and e.value and e.ci_lower and e.ci_upper and e.ci_lower > 0:
                items.append((f"{r.analysis_id} {e.statistic}", e.value, e.ci_lower, e.ci_upper))
    fig = Figure(figsize=(7, 0.35 * max(len(items), 3) + 1.2))
    ax = fig.add_subplot()
    for i, (_label, value, low, high) in enumerate(items):
        y = len(items) - i
        ax.plot([low, high], [y, y], color="k", lw=1)
        ax.plot([value], [y], "s", color="k")
    ax.set_yticks(range(len(items), 0, -1), [label for label, *_ in items], fontsize=7)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio, CYT107 versus placebo (95% CI, log scale)")
    ax.set_title("Forest plot of effects")
    fig.tight_layout()
    return fig


def who_figure(data: AnalysisData, closed: bool) -> Any:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    days = [0, 7, 14, 21, 30]
    adcs = data.adcs.join(data.adsl.filter(pl.col("MITTFL") == "Y").select("USUBJID", "TRT01P", "DTHDY"), on="USUBJID")
    groups = [(arm, adcs.filter(pl.col("TRT01P") == arm)) for arm in ARMS] if closed else [("pooled", adcs)]
    fig = Figure(figsize=(9, 3.8))
    cmap = colormaps["RdYlGn_r"]
    for index, (name, rows) in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), index + 1)
        for x, day in enumerate(days):
            # last score on or before the day (a death carries 10 forward)
            last = rows.filter(pl.col("ADY") <= day).sort("ADY").group_by("USUBJID").agg(pl.col("AVAL").last())
            counts = np.bincount(last["AVAL"].to_numpy().astype(int), minlength=11)
            total = max(int(counts.sum()), 1)
            bottom = 0.0
            for score in range(11):
                share = counts[score] / total
                if share:
                    ax.bar(x, share, bottom=bottom, color=cmap(score / 10), edgecolor="white", width=0.8)
                    bottom += share
        ax.set_xticks(range(len(days)), [f"day {d}" for d in days], fontsize=8)
        ax.set_title("all participants" if not closed else name)
        ax.set_ylabel("share of participants")
    from matplotlib.patches import Patch

    fig.legend(
        handles=[Patch(color=cmap(score / 10), label=str(score)) for score in range(11)],
        title="WHO",
        loc="center right",
        fontsize=7,
        title_fontsize=7,
    )
    fig.suptitle("WHO Clinical Progression Scale by day (last score on or before the day; 10 = dead)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    return fig


# ------------------------------------------------------------------------------------ assembly


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f"<p class='note'>{html.escape(table.note)}</p>" if table.note else ""
    return (
        f"<h2>{html.escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
    )


def _pdf_table_pages(pdf: Any, table: Table, rows_per_page: int = 34) -> None:
    from matplotlib.figure import Figure

    chunks = [table.rows[i : i + rows_per_page] for i in range(0, max(len(table.rows), 1), rows_per_page)] or [()]
    for number, chunk in enumerate(chunks, start=1):
        fig = Figure(figsize=(11.69, 8.27))
        ax = fig.add_subplot()
        ax.set_axis_off()
        suffix = f" ({number}/{len(chunks)})" if len(chunks) > 1 else ""
        ax.set_title(table.title + suffix, fontsize=11, loc="left")
        cells = [[c if len(c) <= 90 else c[:87] + "..." for c in row] for row in chunk] or [["—"] * len(table.header)]
        drawn = ax.table(cellText=cells, colLabels=list(table.header), loc="upper left", cellLoc="left")
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(6.5)
        drawn.auto_set_column_width(list(range(len(table.header))))
        if table.note and number == len(chunks):
            fig.text(0.05, 0.03, table.note, fontsize=7, wrap=True)
        pdf.savefig(fig)


@dataclass(frozen=True)
class Report:
    html: str
    tables: tuple[Table, ...]
    figures: tuple[tuple[str, Any], ...]


def build_report(
    data: AnalysisData,
    results: Sequence[AnalysisResult],
    consort: dict[str, Any],
    provenance: dict[str, str],
    *,
    closed: bool,
    reader: str = "",
) -> Report:
    """Tables, figures and the HTML of an open (pooled) or closed (by arm) DSMB report (`report_title`)."""
    tables: list[Table] = [disposition_table(consort), baseline_table(data.adsl, closed)]
    if closed:
        tables.append(efficacy_table(results))
    tables.append(summary_table(results, closed))
    tables.append(safety_table(data, results, closed))
    figures: list[tuple[str, Any]] = [
        ("CONSORT flow diagram", consort_figure(consort)),
        ("Absolute lymphocyte count over time", alc_figure(data, closed)),
        ("Kaplan-Meier survival", km_figure(data, closed)),
    ]
    if closed:
        figures.append(("Forest plot of effects", forest_figure(results)))
    figures.append(("WHO scale distribution by day", who_figure(data, closed)))
    kind = report_title(closed, reader)
    prov = "".join(f"<li>{html.escape(k)}: <code>{html.escape(v)}</code></li>" for k, v in provenance.items())
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ILIAD-7-US-O {html.escape(kind)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
        "font-size:12px;margin-bottom:1em}td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}"
        ".note{font-size:11px;color:#555}img{max-width:100%}</style></head><body>",
        f"<h1>ILIAD-7-US-O (NCT04426201) — {html.escape(kind)}</h1>",
        "<p>Statistical analysis plan: docs/sap.md. Every number below is computed from the datasets identified "
        "by the snapshot hash.</p>",
        f"<ul>{prov}</ul>",
    ]
    parts += [_html_table(t) for t in tables]
    for title, fig in figures:
        encoded = base64.b64encode(_figure_png(fig)).decode()
        parts.append(
            f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{encoded}'>"
        )
    parts.append("</body></html>\n")
    return Report("".join(parts), tuple(tables), tuple(figures))


def report_title(closed: bool, reader: str = "") -> str:
    """What the report is and whom it was written for: "Closed report (by arm) for the unblinded statistician
    ann" or "Open report (pooled; blinded)"; `reader` (who, in which capacity) is left out when empty."""
    kind = "Closed report (by arm)" if closed else "Open report (pooled; blinded)"
    return f"{kind} for {reader}" if reader else kind


def write_pdf(report: Report, path: Path, title: str, provenance: dict[str, str]) -> None:
    """The report's tables (as drawn tables) and figures, one page each, with no creation date."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    with PdfPages(path, metadata={"Title": title, "CreationDate": None, "Creator": None, "Producer": None}) as pdf:
        cover = Figure(figsize=(11.69, 8.27))
        cover.text(0.05, 0.9, title, fontsize=16)
        cover.text(
            0.05, 0.8, "\n".join(f"{k}: {v}" for k, v in provenance.items()), fontsize=9, va="top", family="monospace"
        )
        pdf.savefig(cover)
        for table in report.tables:
            _pdf_table_pages(pdf, table)
        for _, fig in report.figures:
            pdf.savefig(fig)


def write_report(
    out: Path,
    data: AnalysisData,
    results: Sequence[AnalysisResult],
    consort: dict[str, Any],
    *,
    closed: bool,
    source: str,
    reader: str = "",
) -> dict[str, Path]:
    """Write report.html, report.pdf, ard.json, provenance.json and datasets/*.csv into `out`.

    `reader` names whom the report is for (`report_title`): "the unblinded statistician ann", "the DSMB
    in closed session (bob)"."""
    from iliad7.analysis.ard import ard_rows, dumps, provenance, write_datasets

    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(data, source=source)
    report = build_report(data, results, consort, prov, closed=closed, reader=reader)
    paths = {
        "html": out / "report.html",
        "pdf": out / "report.pdf",
        "ard": out / "ard.json",
        "provenance": out / "provenance.json",
    }
    paths["html"].write_text(report.html, encoding="utf-8")
    title = "ILIAD-7-US-O " + report_title(closed, reader)
    write_pdf(report, paths["pdf"], title, prov)
    paths["ard"].write_bytes(dumps(ard_rows(list(results), closed=closed)))
    paths["provenance"].write_bytes(dumps({**prov, "report": "closed" if closed else "open"}))
    # the open report's datasets carry no arm: the blinded reader must not find it beside the report
    write_datasets(data if closed else blinded(data), out / "datasets")
    return paths


ARM_COLUMNS = ("TRT01P", "TRT01A", "ACTARM")


def blinded(data: AnalysisData) -> AnalysisData:
    """The datasets without any arm column (for the open report's directory)."""
    return AnalysisData(
        **{name: frame.drop([c for c in ARM_COLUMNS if c in frame.columns]) for name, frame in data.frames().items()}
    )


def without_arms(data: AnalysisData) -> AnalysisData:
    """The datasets with every arm column emptied (the open report's analyses: nothing can be by arm)."""
    empty = {c: pl.lit(None, dtype=pl.String) for c in ARM_COLUMNS}
    return AnalysisData(
        **{
            name: frame.with_columns(**{c: value for c, value in empty.items() if c in frame.columns})
            for name, frame in data.frames().items()
        }
    )
