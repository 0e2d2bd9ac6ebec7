"""`iliad7 report`: the SAP analyses and the DSMB report (HTML, PDF, ard.json) for what a user may see.

Until the trial database holds visit data (issue 5), the analyses run only on a simulated trial
(``--simulated --n N --seed S``); without ``--simulated`` the command says so and exits 2. The
closed report (by arm) is written only with ``--closed``, the caller's statement that the user is
unblinded (a DSMB closed session or the unblinded statistician); the default is the open, pooled
report. numpy, polars, statsmodels and matplotlib are imported inside the command so that the
other sub-commands start fast.
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    """Add the `report` command to the `iliad7` command."""
    app.command("report")(report)


def _progress(message: str) -> AbstractContextManager[object]:
    """A spinner on a terminal (interfaces.md: long work shows progress there), nothing otherwise."""
    if not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def report(
    out: Annotated[Path, typer.Option("--out", help="Directory for report.html, report.pdf and ard.json.")],
    as_user: Annotated[str | None, typer.Option("--as", help="The user the report is for.")] = None,
    simulated: Annotated[
        bool, typer.Option("--simulated", help="Analyse a simulated trial instead of the database.")
    ] = False,
    n: Annotated[int, typer.Option("--n", help="Participants of the simulated trial.")] = 48,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated trial.")] = 20201220,
    closed: Annotated[bool, typer.Option("--closed", help="Closed report by arm (unblinded users only).")] = False,
) -> None:
    """Run the SAP analyses and write the DSMB report (open by default; closed with --closed)."""
    if not simulated:
        typer.echo(
            "error: the trial database does not yet hold visit data (issue 5); "
            "use --simulated --n N --seed S to analyse a simulated trial",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if n < 2:
        typer.echo("error: --n: a trial needs at least 2 participants", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    from iliad7.analysis.analyses import run_all
    from iliad7.analysis.from_simulation import simulated_trial
    from iliad7.analysis.report import write_report

    started = time.perf_counter()
    with _progress("simulating, deriving, analysing, reporting") as _:
        trial = simulated_trial(n, seed)
        results = run_all(trial.data)
        source = f"simulated trial n={n} seed={seed}" + (f" for {as_user}" if as_user else "")
        paths = write_report(out, trial.data, results, trial.consort, closed=closed, source=source)
    fallbacks = [r.analysis_id for r in results if r.fallback]
    typer.echo(f"{'closed' if closed else 'open'} report: {paths['html']}, {paths['pdf']}, {paths['ard']}", err=True)
    if fallbacks:
        typer.echo(f"analyses that fell back to an exact or nonparametric method: {', '.join(fallbacks)}", err=True)
    typer.echo(f"done in {time.perf_counter() - started:.1f} s", err=True)
