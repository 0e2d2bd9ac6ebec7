"""The Secondary Infections Committee's commands: list reported infections, record a decision.

    iliad7 infection list --as USER [--json]
    iliad7 infection adjudicate SN INSTANCE --decision confirmed|not_confirmed --rationale TEXT --as USER [--json]

Every command acts as `--as USER` with that user's roles and sites. Exit status: 0 done;
1 refused (role, no such infection); 2 bad input naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from iliad7.cli._common import acting_user, database, print_json

AsUser = Annotated[str, typer.Option("--as", help="Act as this user: their roles and sites apply.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")]


def register(app: typer.Typer) -> None:
    """Add `infection list` and `infection adjudicate` to the `iliad7` command."""
    infection_app = typer.Typer(
        name="infection", help="Secondary infections: blind adjudication.", no_args_is_help=True
    )
    infection_app.command("list")(infection_list)
    infection_app.command("adjudicate")(infection_adjudicate)
    app.add_typer(infection_app, name="infection")


def _row(infection: Any) -> dict[str, Any]:
    return {
        "screening_number": infection.screening_number,
        "usubjid": infection.usubjid,
        "site": infection.site,
        "instance": infection.instance,
        "reported": infection.reported,
        "decision": infection.decision,
        "version": infection.version,
        "rationale": infection.rationale,
        "adjudicated_by": infection.adjudicated_by,
        "adjudicated_at": infection.adjudicated_at.isoformat() if infection.adjudicated_at else None,
    }


def infection_list(as_user: AsUser, json_out: JsonFlag = False) -> None:
    """Every reported infection the user may see, with the committee's current decision."""
    with database():
        from iliad7.store.actions.adjudication import reported_infections

        rows = [_row(i) for i in reported_infections(acting_user(as_user))]
    if json_out:
        print_json(rows)
        return
    for r in rows:
        onset = r["reported"].get("onset_date", "")
        typer.echo(f"{r['screening_number']}\t#{r['instance']}\t{onset}\t{r['decision'] or 'pending'}")


def infection_adjudicate(
    screening_number: Annotated[str, typer.Argument(help="The participant's screening number.")],
    instance: Annotated[int, typer.Argument(help="The SECONDARY-INFECTION form's instance (1, 2, ...).")],
    decision: Annotated[str, typer.Option("--decision", help="confirmed or not_confirmed.")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why the committee decided so.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """Record the committee's decision on one reported infection (a new version; audited)."""
    with database():
        from iliad7.store.actions.adjudication import adjudicate_infection

        user = acting_user(as_user)
        from iliad7.accounts.roles import Capability
        from iliad7.store.access import access_participant

        row = adjudicate_infection(
            access_participant(user, screening_number.strip(), Capability.ADJUDICATE_INFECTION),
            instance,
            decision=decision.strip(),
            rationale=rationale,
            acting_user=user,
            channel="cli",
        )
        result = {"screening_number": screening_number, "instance": instance, "decision": row.decision,
                  "version": row.version}  # fmt: skip
    if json_out:
        print_json(result)
    else:
        typer.echo(f"{screening_number} infection #{instance}: {row.decision} (version {row.version})")
