"""`iliad7 report --out DIR --as USER`: the SAP analyses and the DSMB report (HTML, PDF, ard.json).

The report is of the trial database as USER may see it (`iliad7.store.actions.reports`): the
closed report (by arm) for a user who may read the arm — the unblinded statistician, or a DSMB
member with ``--closed-session`` — and the open, pooled report for everyone else; ``--open``
asks an unblinded user for the open one, ``--closed`` by a blinded user is refused (exit 1).
``--simulated --n N --seed S`` analyses a simulated trial instead (no database; ``--closed``
then gives the closed report). numpy, polars, statsmodels and matplotlib are imported inside
the command so that the other sub-commands start fast.
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, acting_user, database, fail


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
    as_user: Annotated[
        str | None, typer.Option("--as", help="Act as this user: their roles, sites and blinding.")
    ] = None,
    simulated: Annotated[
        bool, typer.Option("--simulated", help="Analyse a simulated trial instead of the database.")
    ] = False,
    n: Annotated[int, typer.Option("--n", help="Participants of the simulated trial.")] = 48,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated trial.")] = 20201220,
    closed: Annotated[
        bool | None,
        typer.Option(
            "--closed/--open",
            help="Closed report by arm (unblinded users; DSMB with --closed-session) or open pooled report. "
            "Default: what the user may see.",
        ),
    ] = None,
    closed_session: Annotated[
        bool, typer.Option("--closed-session", help="The DSMB sits in closed session (audited).")
    ] = False,
) -> None:
    """Run the SAP analyses and write the DSMB report for what the user may see."""
    started = time.perf_counter()
    if simulated:
        _simulated_report(out, n, seed, bool(closed), as_user)
    else:
        if as_user is None:
            fail(EXIT_BAD_INPUT, "error: --as: the report of the trial database is written for a named user")
        with database():
            from iliad7.store.actions.reports import write_trial_report

            with _progress("reading the database, deriving, analysing, reporting") as _:
                written = write_trial_report(
                    acting_user(as_user), out, closed=closed, closed_session=closed_session, channel="cli"
                )
        kind = "closed" if written.closed else "open"
        paths = written.paths
        typer.echo(
            f"{kind} report of {written.participants} randomized participants: "
            f"{paths['html']}, {paths['pdf']}, {paths['ard']}",
            err=True,
        )
        if written.fallbacks:
            typer.echo(
                f"analyses that fell back to an exact or nonparametric method: {', '.join(written.fallbacks)}",
                err=True,
            )
    typer.echo(f"done in {time.perf_counter() - started:.1f} s", err=True)


def _simulated_report(out: Path, n: int, seed: int, closed: bool, as_user: str | None) -> None:
    if n < 2:
        fail(EXIT_BAD_INPUT, "error: --n: a trial needs at least 2 participants")
    from iliad7.analysis.analyses import run_all
    from iliad7.analysis.from_simulation import simulated_trial
    from iliad7.analysis.report import write_report

    with _progress("simulating, deriving, analysing, reporting") as _:
        trial = simulated_trial(n, seed)
        results = run_all(trial.data)
        source = f"simulated trial n={n} seed={seed}" + (f" for {as_user}" if as_user else "")
        paths = write_report(out, trial.data, results, trial.consort, closed=closed, source=source)
    fallbacks = [r.analysis_id for r in results if r.fallback]
    typer.echo(f"{'closed' if closed else 'open'} report: {paths['html']}, {paths['pdf']}, {paths['ard']}", err=True)
    if fallbacks:
        typer.echo(f"analyses that fell back to an exact or nonparametric method: {', '.join(fallbacks)}", err=True)
