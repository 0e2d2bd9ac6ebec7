"""`iliad7 protocol check FILE` and `iliad7 protocol show [FILE]`: validate and summarise.

`check` is the scriptable gate (exit 0 and one "ok" line, or exit 2 with
`FILE: YAML_PATH (line N): message` on standard error, one line per
problem); `show` prints a summary a clinician can read against the record.
The protocol package and rich are imported inside the commands so that the
other sub-commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from iliad7.protocol import Protocol

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    """Add the `protocol` sub-command group to the `iliad7` command."""
    protocol_app = typer.Typer(
        name="protocol",
        help="Validate and summarise a protocol file (protocols/*.yaml).",
        no_args_is_help=True,
    )
    protocol_app.command("check")(check)
    protocol_app.command("show")(show)
    app.add_typer(protocol_app, name="protocol")


def check(
    file: Annotated[Path, typer.Argument(help="The protocol YAML file to validate.")],
) -> None:
    """Validate FILE: exit 0 with an "ok" line, or exit 2 naming file, YAML path and problem."""
    protocol = _load(file)
    typer.echo(f"ok {protocol.id} version {protocol.version} sha256 {protocol.sha256} ({file})")


def show(
    file: Annotated[
        Path | None,
        typer.Argument(help="The protocol YAML file; default: $ILIAD7_PROTOCOL or the repository's."),
    ] = None,
) -> None:
    """Print a readable summary: identity, sites, arms, dosing, schedule, eligibility, outcomes."""
    from rich.console import Console

    protocol = _load(file)
    _print_summary(Console(), protocol)


def _load(file: Path | None) -> Protocol:
    from iliad7.protocol import ProtocolError, load_protocol

    try:
        return load_protocol(file)
    except ProtocolError as error:
        for problem in error.problems:
            typer.echo(problem.format(error.file), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _mark(source: str) -> str:
    """How a block's provenance reads in the summary: interpretation stands out."""
    return "[yellow](interpretation)[/yellow]" if source == "interpretation" else f"({source})"


def _print_summary(console: Console, p: Protocol) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.rule(f"[bold]{p.id}[/bold] version {escape(p.version)}")
    ids = p.identifiers
    console.print(f"[bold]{escape(p.titles.brief)}[/bold]")
    console.print(escape(p.titles.official))
    design = p.design
    for label, value in (
        ("Registry", f"{ids.nct_id}; other ids: {', '.join(ids.other_ids) or 'none'}"),
        ("Sponsor", f"{p.sponsor.name} (responsible party: {p.sponsor.responsible_party})"),
        (
            "Design",
            f"phase {design.phase} {design.study_type}, {design.allocation}, "
            f"{design.intervention_model}, masking {p.masking.level}",
        ),
        (
            "Dates",
            f"start {p.dates.study_start.date} ({p.dates.study_start.status}), primary completion "
            f"{p.dates.primary_completion.date} ({p.dates.primary_completion.status}); "
            f"status {p.dates.recruitment_status}",
        ),
        (
            "Enrollment",
            f"{p.enrollment.planned} planned"
            + (f", {p.enrollment.actual} actual" if p.enrollment.actual is not None else ""),
        ),
        ("File", f"{p.path} sha256 {p.sha256}"),
    ):
        console.print(f"[bold]{label}:[/bold] {escape(value)}")

    sites = Table(title="Sites", title_justify="left")
    sites.add_column("Code", no_wrap=True)
    sites.add_column("Name")
    sites.add_column("Address")
    sites.add_column("Principal investigators")
    for site in p.sites:
        a = site.address
        sites.add_row(
            site.code,
            escape(site.name),
            escape(f"{a.city}, {a.state} {a.postal_code}, {a.country}"),
            escape(", ".join(i.name for i in site.principal_investigators) or "none named"),
        )
    console.print(sites)

    ratio = p.randomization.allocation.ratio
    arms = Table(title="Arms", title_justify="left")
    arms.add_column("Code", no_wrap=True)
    arms.add_column("Type")
    arms.add_column("Label")
    arms.add_column("Intervention")
    arms.add_column("Ratio", justify="right")
    for arm in p.arms:
        arms.add_row(
            arm.code,
            arm.type,
            escape(arm.label),
            escape(arm.intervention.description),
            str(ratio.get(arm.code, "")),
        )
    console.print(arms)
    blocking = p.randomization.blocking
    console.print(
        f"[bold]Randomization:[/bold] {':'.join(str(ratio[a.code]) for a in p.arms)} "
        f"{_mark(p.randomization.allocation.source)}, stratified by "
        f"{', '.join(p.randomization.stratification.factors)} "
        f"{_mark(p.randomization.stratification.source)}, {blocking.method} of size "
        f"{' or '.join(str(s) for s in blocking.block_sizes)} ({blocking.block_size_choice}) "
        f"{_mark(blocking.source)}"
    )
    console.print(
        f"[bold]Masked:[/bold] {', '.join(p.masking.masked)}. [bold]Unblinded:[/bold] "
        + "; ".join(f"{u.role} {_mark(u.source)}" for u in p.masking.unblinded)
    )

    d = p.dosing
    console.print(f"[bold]Dosing[/bold] (clinical-rules {d.rule}):")
    for line in (
        f"{d.active_arm}: {d.dose_ug_per_kg} ug/kg of {d.weight_basis}, {d.route}; {d.placebo_arm}: {d.placebo}",
        f"target days {', '.join(str(day) for day in d.target_days)} (max {d.max_doses} doses); "
        f"+/- {d.window_days} day from dose {d.window_from_dose}",
        f"dose 2 at least {d.observation_hours_before_dose_2} h after dose 1; "
        f"at least {d.min_hours_between_doses} h between doses",
        f"no dose on or after {', '.join(d.no_dose_on_or_after)}; missed doses made up: "
        f"{'yes' if d.missed_dose_made_up_outside_window else 'no'}",
        f"dose rounded to {d.dose_rounding_ug} ug, volume to {d.volume_rounding_ml} mL "
        f"from the {d.concentration} concentration; prepared by the {d.prepared_by}",
    ):
        console.print(f"  - {escape(line)}")

    schedule = Table(title=f"Schedule of activities {_mark(p.schedule.source)}", title_justify="left")
    schedule.add_column("Visit", no_wrap=True)
    schedule.add_column("Day", justify="right")
    schedule.add_column("Window")
    schedule.add_column("Dose", justify="right")
    schedule.add_column("Assessments")
    for visit in p.schedule.visits:
        schedule.add_row(
            visit.id,
            str(visit.target_day),
            f"-{visit.window_days.before}/+{visit.window_days.after}",
            str(visit.dose or ""),
            escape(", ".join(a.id for a in p.schedule.assessments_at(visit.id))),
        )
    console.print(schedule)
    daily = [a.id for a in p.schedule.assessments if a.daily_while_hospitalized]
    console.print(f"[bold]Daily while hospitalized:[/bold] {', '.join(daily)}")

    criteria = Table(title="Eligibility", title_justify="left")
    criteria.add_column("#", justify="right")
    criteria.add_column("Criterion", no_wrap=True)
    criteria.add_column("Computable rule")
    criteria.add_column("Parameters")
    for number, criterion in enumerate(p.eligibility.criteria, start=1):
        parameters = ", ".join(f"{name}={_parameter(value)}" for name, value in criterion.parameters.items())
        criteria.add_row(str(number), criterion.id, escape(criterion.computable), escape(parameters))
    console.print(criteria)

    outcomes = Table(title="Outcomes (methods: interpretation)", title_justify="left")
    outcomes.add_column("Outcome", no_wrap=True)
    outcomes.add_column("Kind")
    outcomes.add_column("Time frame")
    outcomes.add_column("Population")
    outcomes.add_column("Planned method")
    for outcome in p.outcomes:
        outcomes.add_row(
            outcome.id,
            outcome.kind,
            escape(outcome.time_frame),
            outcome.analysis.population,
            escape(outcome.analysis.method),
        )
    console.print(outcomes)
    console.print(f"[bold]OSFD window:[/bold] {p.osfd_window_days} days")


def _parameter(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
