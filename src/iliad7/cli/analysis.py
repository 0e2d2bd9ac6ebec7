"""`iliad7 report --out DIR --as USER`: the SAP analyses and the DSMB report (HTML, PDF, ard.json).

The report is of the trial database as USER may see it (`iliad7.store.actions.reports`): the
closed report (by arm) for a user who may read the arm — the unblinded statistician, or a DSMB
member with ``--closed-session`` while a closed session scheduled for them is open — and the
open, pooled report for everyone else; ``--open``
asks an unblinded user for the open one, ``--closed`` by a blinded user is refused (exit 1).
``--simulated --n N --seed S`` analyses a simulated trial instead (no database; ``--closed``
then gives the closed report). numpy, polars, statsmodels and matplotlib are imported inside
the command so that the other sub-commands start fast.

`iliad7 dsmb schedule --member NAME ... --start T --end T --purpose TEXT --as STATISTICIAN`
schedules a DSMB closed session (`iliad7.store.actions.dsmb`); `iliad7 dsmb sessions --as USER`
lists them.
"""

from __future__ import annotations

import sys
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, acting_user, database, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the `report` and `dsmb` commands to the `iliad7` command."""
    app.command("report")(report)
    dsmb_app = typer.Typer(name="dsmb", help="DSMB closed sessions.", no_args_is_help=True)
    dsmb_app.command("schedule")(dsmb_schedule)
    dsmb_app.command("sessions")(dsmb_sessions)
    app.add_typer(dsmb_app, name="dsmb")


def _moment(option: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(EXIT_BAD_INPUT, f"error: {option}: give a date and time, e.g. 2026-12-01T14:00Z")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def dsmb_schedule(
    member: Annotated[list[str], typer.Option("--member", help="A DSMB member admitted (repeat for each).")],
    start: Annotated[str, typer.Option("--start", help="When the session opens (ISO 8601; UTC without a zone).")],
    end: Annotated[str, typer.Option("--end", help="When it closes (at most 12 hours later).")],
    purpose: Annotated[str, typer.Option("--purpose", help="What the closed session is for.")],
    as_user: Annotated[str, typer.Option("--as", help="The unblinded statistician who schedules it.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")] = False,
) -> None:
    """Schedule a DSMB closed session: the members, the window in which they may see results by arm."""
    starts_at, ends_at = _moment("--start", start), _moment("--end", end)
    options = {"members": "--member", "starts_at": "--start", "ends_at": "--end", "purpose": "--purpose"}
    with database(lambda field: options.get(field, field)):
        from iliad7.store.actions.dsmb import schedule_closed_session

        session = schedule_closed_session(
            members=member, starts_at=starts_at, ends_at=ends_at, purpose=purpose,
            acting_user=acting_user(as_user), channel="cli",
        )  # fmt: skip
        result = {"id": session.pk, "starts_at": session.starts_at.isoformat(), "ends_at": session.ends_at.isoformat()}
    if json_out:
        print_json(result)
    else:
        typer.echo(f"closed session {result['id']}: {result['starts_at']} to {result['ends_at']}")


def dsmb_sessions(
    as_user: Annotated[str, typer.Option("--as", help="The unblinded statistician, or a DSMB member.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")] = False,
) -> None:
    """The scheduled DSMB closed sessions (a member sees the ones that admit them)."""
    with database():
        from iliad7.store.actions.dsmb import closed_sessions

        rows = closed_sessions(acting_user(as_user))
    if json_out:
        print_json(rows)
        return
    for r in rows:
        state = "open" if r["open"] else ""
        typer.echo(f"{r['id']}\t{r['starts_at']}\t{r['ends_at']}\t{','.join(r['members'])}\t{r['purpose']}\t{state}")


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
        bool,
        typer.Option(
            "--closed-session",
            help="As a DSMB member in the closed session open now (scheduled by the unblinded statistician).",
        ),
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
