"""`iliad7 simulate power`, `screening` and `cohort`: the in-silico trial from the command line.

`power` runs the vectorized operating-characteristics simulation of the primary analysis
(iliad7.simulate.power) for each n and effect, prints a table, and can write the JSON rows of
shared/spec/interfaces.md and a plot. `screening` writes simulated screening records in the
clinical-rules section 3 contract (a JSON array that `iliad7 screen --input FILE` judges).
`cohort` fills the trial database through its own actions (iliad7.store.simulation).
numpy, the simulator, Django and rich are imported inside the commands so that the other sub-commands
start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from iliad7.simulate.parameters import Parameters
    from iliad7.simulate.power import OperatingCharacteristics

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    """Add the `simulate` sub-command group to the `iliad7` command."""
    simulate_app = typer.Typer(
        name="simulate",
        help="Simulated participants and the operating characteristics of the primary analysis.",
        no_args_is_help=True,
    )
    simulate_app.command("power")(power)
    simulate_app.command("screening")(screening)
    simulate_app.command("cohort")(cohort)
    app.add_typer(simulate_app, name="simulate")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _numbers(text: str, option: str, kind: type[int] | type[float]) -> list[float] | list[int]:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _fail(f"{option}: give comma-separated numbers, not {text!r}") from None
    if not values:
        raise _fail(f"{option}: give at least one number")
    return values


def _parameters(path: Path | None) -> Parameters:
    from iliad7.errors import InputError
    from iliad7.simulate.parameters import load_parameters

    try:
        return load_parameters(path)
    except InputError as error:
        raise _fail(str(error)) from None


def power(
    n: Annotated[str, typer.Option("--n", help="Participants per trial, comma-separated (e.g. 10,24,48,96).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation (results are a function of it).")],
    trials: Annotated[int, typer.Option("--trials", help="Simulated trials per n and scenario.")] = 10_000,
    effect: Annotated[
        str | None,
        typer.Option("--effect", help="ALC geometric mean ratio(s) at full response; default: the parameter file's."),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the result rows as JSON to this file.")
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a power plot (PNG) to this file.")] = None,
    params_file: Annotated[Path | None, typer.Option("--params", help="Another parameter file.")] = None,
) -> None:
    """Power, type I error, bias and 95 % CI coverage of the primary ANCOVA, with Monte Carlo SEs."""
    ns = [int(x) for x in _numbers(n, "--n", int)]
    if any(x < 6 for x in ns):
        raise _fail("--n: at least 6 participants per trial (the model has 4 coefficients)")
    if trials < 2:
        raise _fail("--trials: at least 2")
    if seed < 0:
        raise _fail("--seed: must not be negative")
    params = _parameters(params_file)
    effects = (
        [params.effect.alc_gmr.value] if effect is None else [float(x) for x in _numbers(effect, "--effect", float)]
    )
    if any(x <= 0 for x in effects):
        raise _fail("--effect: a ratio must be positive")

    from iliad7.simulate.power import operating_characteristics, total_trials

    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("simulating trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
        ) as bar:
            task = bar.add_task("trials", total=total_trials(ns, effects, trials))
            results = operating_characteristics(
                params, ns=ns, effects=effects, trials=trials, seed=seed, progress=lambda k: bar.advance(task, k)
            )
    else:
        results = operating_characteristics(params, ns=ns, effects=effects, trials=trials, seed=seed)

    _print_table(results, seed)
    if json_file is not None:
        import orjson

        json_file.write_bytes(orjson.dumps([r.as_row() for r in results], option=orjson.OPT_INDENT_2) + b"\n")
    if plot is not None:
        _plot(results, plot)


def _print_table(results: list[OperatingCharacteristics], seed: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Primary ANCOVA of log ALC at day 30 or discharge (seed {seed}; ± Monte Carlo SE)")
    for heading in ("n", "GMR", "trials", "power", "type I error", "bias (log GMR)", "95% CI coverage"):
        table.add_column(heading, justify="right")
    for r in results:
        table.add_row(
            str(r.n),
            f"{r.effect:g}",
            f"{r.trials:,}",
            f"{r.power:.3f} ± {r.mcse.power:.3f}",
            f"{r.type1_error:.3f} ± {r.mcse.type1_error:.3f}",
            f"{r.bias:+.4f} ± {r.mcse.bias:.4f}",
            f"{r.coverage:.3f} ± {r.mcse.coverage:.3f}",
        )
    Console(width=max(120, Console().width)).print(table)


def _plot(results: list[OperatingCharacteristics], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for effect in sorted({r.effect for r in results}):
        rows = [r for r in results if r.effect == effect]
        axis.errorbar(
            [r.n for r in rows],
            [r.power for r in rows],
            yerr=[1.96 * r.mcse.power for r in rows],
            marker="o",
            capsize=3,
            label=f"power, GMR {effect:g}",
        )
    first = [r for r in results if r.effect == results[0].effect]
    axis.errorbar(
        [r.n for r in first],
        [r.type1_error for r in first],
        yerr=[1.96 * r.mcse.type1_error for r in first],
        marker="s",
        capsize=3,
        color="grey",
        label="type I error (no effect)",
    )
    axis.axhline(0.05, color="grey", linestyle=":", linewidth=1)
    axis.axhline(0.8, color="black", linestyle="--", linewidth=0.8)
    axis.set_xlabel("participants per trial (1:1, stratified by site)")
    axis.set_ylabel("share of trials")
    axis.set_ylim(0, 1)
    axis.set_title(
        f"ILIAD-7 primary ANCOVA, {results[0].trials:,} trials per point (bars: 95% MC interval)", fontsize=9
    )
    axis.legend(loc="center right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def screening(
    n: Annotated[int, typer.Option("--n", help="Number of screening records.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON array of records.")],
    params_file: Annotated[Path | None, typer.Option("--params", help="Another parameter file.")] = None,
) -> None:
    """Write N simulated screening records (clinical-rules section 3 contract) to OUT."""
    if n < 0:
        raise _fail("--n: must not be negative")
    if seed < 0:
        raise _fail("--seed: must not be negative")
    params = _parameters(params_file)
    import orjson

    from iliad7.simulate.population import screen_population

    patients = screen_population(params, seed, n)
    out.write_bytes(orjson.dumps([p.record for p in patients], option=orjson.OPT_INDENT_2) + b"\n")
    counts: dict[str, int] = {}
    for patient in patients:
        counts[patient.screening.verdict] = counts.get(patient.screening.verdict, 0) + 1
    summary = ", ".join(f"{verdict} {counts.get(verdict, 0)}" for verdict in ("eligible", "ineligible", "incomplete"))
    typer.echo(f"wrote {n} screening records to {out} ({summary})")


def cohort(
    n: Annotated[int, typer.Option("--n", help="Number of participants to randomize (more are screened).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation and of the allocation list.")],
    stop_before: Annotated[
        str | None,
        typer.Option("--stop-before", help="'randomization': leave N eligible, consented participants waiting."),
    ] = None,
    as_of: Annotated[
        int | None, typer.Option("--as-of", help="Stop each participant's follow-up on this study day (0-45).")
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the database already holds participants.")
    ] = False,
) -> None:
    """Fill the trial database with a simulated cohort, through the same actions as the web pages."""
    if n < 1:
        raise _fail("--n: must be at least 1")
    if seed < 0:
        raise _fail("--seed: must not be negative")
    if stop_before not in (None, "randomization"):
        raise _fail(f"--stop-before: only 'randomization' is accepted, not {stop_before!r}")
    if as_of is not None and not 0 <= as_of <= 45:
        raise _fail("--as-of: a study day from 0 to 45")
    from iliad7.store import runtime

    runtime.setup()
    runtime.migrate()
    from rich.console import Console
    from rich.progress import Progress

    from iliad7.errors import Iliad7Error
    from iliad7.store.actions import default_protocol_file, load_protocol_version
    from iliad7.store.simulation import run_simulated_cohort

    load_protocol_version(default_protocol_file(), channel="cli")
    from iliad7.store.models import Participant

    if Participant.objects.exists():
        if if_empty:
            typer.echo("the database already holds participants: no simulated cohort added")
            return
        raise _fail("the database already holds participants: simulate into a new ILIAD7_HOME or database")
    try:
        if sys.stderr.isatty():
            with Progress(console=Console(stderr=True)) as bar:
                task = bar.add_task("screening and following participants", total=None)
                run = run_simulated_cohort(
                    n=n, seed=seed, stop_before=stop_before, as_of=as_of,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )  # fmt: skip
        else:  # a log, not a terminal: a line every tenth of the way, on standard error
            shown: set[int] = set()

            def report(done: int, total: int) -> None:
                tenth = done * 10 // max(total, 1)
                if tenth not in shown:
                    shown.add(tenth)
                    typer.echo(f"simulating: {done}/{total} screened patients entered", err=True)

            run = run_simulated_cohort(n=n, seed=seed, stop_before=stop_before, as_of=as_of, progress=report)
    except Iliad7Error as error:
        # The run is one transaction: nothing of it was written (iliad7.store.simulation).
        typer.echo(f"error: {error} (nothing of this simulated cohort was written)", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"screened {run.screened}, screen failures {run.screen_failed}, randomized {run.randomized}, "
        f"doses {run.doses}, item values {run.values}, deaths {run.deaths}, completed {run.completed}"
    )
    if run.forms:
        typer.echo("forms saved: " + ", ".join(f"{form} {count}" for form, count in sorted(run.forms.items())))
    if run.queries:
        typer.echo("queries: " + ", ".join(f"{status} {count}" for status, count in sorted(run.queries.items())))
    if run.not_entered:
        typer.echo(
            "not entered (the form cannot take them honestly): "
            + ", ".join(f"{form} {count}" for form, count in sorted(run.not_entered.items()))
        )
