"""Data-capture commands: save a form, queries, source-data verification, locks, the casebook signature.

    iliad7 form save SN FORM --visit V --input FILE --as USER [--instance N] [--reason TEXT] [--json]
    iliad7 form show SN FORM --visit V --as USER [--json]
    iliad7 query raise SN --form F --item I --visit V --text TEXT --as USER
    iliad7 query answer ID --text TEXT --as USER
    iliad7 query close ID --as USER [--text TEXT]
    iliad7 query reopen ID --text TEXT --as USER
    iliad7 query list --as USER [--json]
    iliad7 sdv SN FORM --visit V --as USER [--clear]
    iliad7 lock form SN FORM --visit V --reason TEXT --as USER [--unlock]
    iliad7 lock casebook SN --reason TEXT --as USER [--unlock]
    iliad7 casebook sign SN --as USER --otp CODE --password-stdin
    iliad7 sae clocks --as USER [--json]
    iliad7 data-cut set SN (--at TIME | --lift) --reason TEXT --as USER
    iliad7 data-cut show SN --as USER [--json]

`--input FILE` holds one JSON object: item id -> value as typed (a unit under
`ITEM.unit`). Every command acts as `--as USER` with that user's roles and
sites. Exit status: 0 done; 1 refused (rules, role, lock, not found); 2 bad
input: a rejected form prints one line per field, `error: FIELD: message`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, database
from iliad7.cli._common import acting_user as _acting_user
from iliad7.cli._common import aware_datetime as _datetime
from iliad7.cli._common import fail as _fail
from iliad7.cli._common import participant as _participant
from iliad7.cli._common import print_json as _print_json

if TYPE_CHECKING:
    from iliad7.store.models import DataQuery, User


AsUser = Annotated[str, typer.Option("--as", help="Act as this user: their roles and sites apply.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")]
Number = Annotated[str, typer.Argument(help="The participant's screening number.")]
FormId = Annotated[str, typer.Argument(help="The form id in the protocol (VITALS, LAB, ADVERSE-EVENT...).")]
VisitOpt = Annotated[str, typer.Option("--visit", help="The visit id (blank for event and daily forms).")]
InstanceOpt = Annotated[int, typer.Option("--instance", help="Which record of a repeating form (1, 2, ...).")]


def register(app: typer.Typer) -> None:
    """Add the data-capture commands to the `iliad7` command."""
    form_app = typer.Typer(name="form", help="Case report forms (eCRFs).", no_args_is_help=True)
    form_app.command("save")(form_save)
    form_app.command("show")(form_show)
    app.add_typer(form_app, name="form")

    query_app = typer.Typer(name="query", help="Data queries: raise, answer, close, reopen.", no_args_is_help=True)
    query_app.command("raise")(query_raise)
    query_app.command("answer")(query_answer)
    query_app.command("close")(query_close)
    query_app.command("reopen")(query_reopen)
    query_app.command("list")(query_list)
    app.add_typer(query_app, name="query")

    app.command("sdv")(sdv)

    lock_app = typer.Typer(name="lock", help="Lock or unlock a form or a casebook.", no_args_is_help=True)
    lock_app.command("form")(lock_form_command)
    lock_app.command("casebook")(lock_casebook_command)
    app.add_typer(lock_app, name="lock")

    casebook_app = typer.Typer(name="casebook", help="The investigator's casebook signature.", no_args_is_help=True)
    casebook_app.command("sign")(casebook_sign)
    app.add_typer(casebook_app, name="casebook")

    sae_app = typer.Typer(name="sae", help="Serious adverse events.", no_args_is_help=True)
    sae_app.command("clocks")(sae_clocks_command)
    app.add_typer(sae_app, name="sae")

    cut_app = typer.Typer(
        name="data-cut", help="A participant's data cut: follow-up entered up to then.", no_args_is_help=True
    )
    cut_app.command("set")(data_cut_set)
    cut_app.command("show")(data_cut_show)
    app.add_typer(cut_app, name="data-cut")


def _database() -> Any:
    return database(lambda field: f"--{field.replace('_', '-')}")


def _query(user: User, query_id: int) -> DataQuery:
    from iliad7.errors import NotFound
    from iliad7.store import access
    from iliad7.store.models import DataQuery

    query = (
        DataQuery.objects.filter(pk=query_id, participant__in=access.visible_participants(user))
        .select_related("participant__site")
        .first()
    )
    if query is None:
        raise NotFound(f"no query {query_id} visible to {user.username!r}")
    return query


def _read_values(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(EXIT_BAD_INPUT, f"error: --input: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        _fail(EXIT_BAD_INPUT, f"error: --input: {path} is not JSON ({exc.msg}, line {exc.lineno})")
    if not isinstance(value, dict):
        _fail(EXIT_BAD_INPUT, f"error: --input: {path} must hold one JSON object (item id: value)")
    return value


def _query_dict(query: DataQuery) -> dict[str, Any]:
    return {
        "id": query.pk,
        "participant": query.participant.screening_number,
        "form": query.form,
        "visit": query.visit,
        "instance": query.instance,
        "item": query.item,
        "status": query.status,
        "raised_at": query.raised_at.isoformat(),
    }


def form_save(
    number: Number,
    form: FormId,
    input_file: Annotated[Path, typer.Option("--input", help="JSON object: item id -> value as typed.")],
    as_user: AsUser,
    visit: VisitOpt = "",
    instance: InstanceOpt = 1,
    reason: Annotated[str, typer.Option("--reason", help="Reason for change (needed to correct a value).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Check and save one form; nothing is stored if any field is wrong."""
    values = _read_values(input_file)
    with _database():
        from iliad7.store.actions.capture import save_form

        user = _acting_user(as_user)
        result = save_form(
            _participant(user, number), form.strip().upper(), values, visit=visit.strip().upper(), instance=instance,
            acting_user=user, channel="cli", reason=reason,
        )  # fmt: skip
        summary: dict[str, Any] = {
            "form": result.form,
            "visit": result.visit,
            "instance": result.instance,
            "written": [v.item for v in result.written],
            "derived": {name: d.value for name, d in result.derived.items()},
            "warnings": [m.as_dict() for m in result.warnings],
            "sdv_cleared": result.sdv_cleared,
        }
    if as_json:
        _print_json(summary)
        return
    typer.echo(f"saved {result.form} {result.visit or '-'} #{result.instance}: {len(result.written)} value(s) written")
    for name, value in summary["derived"].items():
        typer.echo(f"  {name} = {value or '(incomplete)'}")
    for message in result.warnings:
        typer.echo(f"  warning: {message.field}: {message.message}")


def form_show(
    number: Number,
    form: FormId,
    as_user: AsUser,
    visit: VisitOpt = "",
    instance: InstanceOpt = 1,
    as_json: JsonFlag = False,
) -> None:
    """A form's current values, derived values, and its verification and lock flags."""
    with _database():
        from iliad7.store.actions.queries import saved_form

        user = _acting_user(as_user)
        saved = saved_form(_participant(user, number), form.strip().upper(), visit.strip().upper(), instance)
        shown: dict[str, Any] = {
            "form": saved.form,
            "visit": saved.visit,
            "instance": saved.instance,
            "values": {k: {"value": v.value, "unit": v.unit, "version": v.version} for k, v in saved.values.items()},
            "derived": {
                k: {"value": v.value, "derivation": json.loads(v.derivation or "{}")} for k, v in saved.derived.items()
            },
            "source_verified": saved.source_verified,
            "locked": saved.locked,
        }
    if as_json:
        _print_json(shown)
        return
    for name, value in shown["values"].items():
        typer.echo(f"{name}: {value['value']} {value['unit']}".rstrip() + f"  (v{value['version']})")
    for name, value in shown["derived"].items():
        typer.echo(f"{name} (derived): {value['value'] or '(incomplete)'}")
    typer.echo(
        f"source verified: {'yes' if saved.source_verified else 'no'}; locked: {'yes' if saved.locked else 'no'}"
    )


def query_raise(
    number: Number,
    form: Annotated[str, typer.Option("--form", help="The form id.")],
    item: Annotated[str, typer.Option("--item", help="The item id.")],
    text: Annotated[str, typer.Option("--text", help="The question.")],
    as_user: AsUser,
    visit: VisitOpt = "",
    instance: InstanceOpt = 1,
) -> None:
    """Raise a query on one item (monitor or data manager)."""
    with _database():
        from iliad7.store.actions.capture import raise_query

        user = _acting_user(as_user)
        query = raise_query(
            _participant(user, number), form=form.strip().upper(), item=item.strip(), visit=visit.strip().upper(),
            instance=instance, text=text, acting_user=user, channel="cli",
        )  # fmt: skip
    typer.echo(f"query {query.pk} open")


def query_answer(
    query_id: Annotated[int, typer.Argument(help="The query id.")],
    text: Annotated[str, typer.Option("--text", help="The answer.")],
    as_user: AsUser,
) -> None:
    """Answer an open query (site staff)."""
    with _database():
        from iliad7.store.actions.capture import answer_query

        user = _acting_user(as_user)
        query = answer_query(_query(user, query_id), text=text, acting_user=user, channel="cli")
    typer.echo(f"query {query.pk} {query.status}")


def query_close(
    query_id: Annotated[int, typer.Argument(help="The query id.")],
    as_user: AsUser,
    text: Annotated[str, typer.Option("--text", help="An optional closing note.")] = "",
) -> None:
    """Close an open or answered query (monitor or data manager)."""
    with _database():
        from iliad7.store.actions.capture import close_query

        user = _acting_user(as_user)
        query = close_query(_query(user, query_id), acting_user=user, channel="cli", text=text)
    typer.echo(f"query {query.pk} {query.status}")


def query_reopen(
    query_id: Annotated[int, typer.Argument(help="The query id.")],
    text: Annotated[str, typer.Option("--text", help="Why it is reopened.")],
    as_user: AsUser,
) -> None:
    """Reopen an answered or closed query (monitor or data manager)."""
    with _database():
        from iliad7.store.actions.capture import reopen_query

        user = _acting_user(as_user)
        query = reopen_query(_query(user, query_id), text=text, acting_user=user, channel="cli")
    typer.echo(f"query {query.pk} {query.status}")


def query_list(as_user: AsUser, as_json: JsonFlag = False) -> None:
    """The queries not yet closed that the user may see."""
    with _database():
        from iliad7.store.actions.queries import open_queries

        rows = [_query_dict(q) for q in open_queries(_acting_user(as_user))]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']}\t{row['status']}\t{row['participant']}\t{row['form']}\t{row['visit']}\t{row['item']}")


def sdv(
    number: Number,
    form: FormId,
    as_user: AsUser,
    visit: VisitOpt = "",
    instance: InstanceOpt = 1,
    clear: Annotated[bool, typer.Option("--clear", help="Clear the flag instead of setting it.")] = False,
) -> None:
    """Mark a saved form's source data verified (monitor), or clear the mark."""
    with _database():
        from iliad7.store.actions.capture import set_sdv

        user = _acting_user(as_user)
        set_sdv(
            _participant(user, number), form.strip().upper(), visit.strip().upper(), verified=not clear,
            instance=instance, acting_user=user, channel="cli",
        )  # fmt: skip
    typer.echo(f"{form} {'not ' if clear else ''}verified")


def lock_form_command(
    number: Number,
    form: FormId,
    reason: Annotated[str, typer.Option("--reason", help="Why the lock changes.")],
    as_user: AsUser,
    visit: VisitOpt = "",
    instance: InstanceOpt = 1,
    unlock: Annotated[bool, typer.Option("--unlock", help="Unlock instead.")] = False,
) -> None:
    """Lock a saved form against changes (data manager), or unlock it."""
    with _database():
        from iliad7.store.actions.capture import lock_form, unlock_form

        user = _acting_user(as_user)
        action = unlock_form if unlock else lock_form
        action(
            _participant(user, number), form.strip().upper(), visit.strip().upper(), instance=instance,
            acting_user=user, channel="cli", reason=reason,
        )  # fmt: skip
    typer.echo(f"{form} {'unlocked' if unlock else 'locked'}")


def lock_casebook_command(
    number: Number,
    reason: Annotated[str, typer.Option("--reason", help="Why the lock changes.")],
    as_user: AsUser,
    unlock: Annotated[bool, typer.Option("--unlock", help="Unlock instead.")] = False,
) -> None:
    """Lock a participant's whole casebook (data manager), or unlock it."""
    with _database():
        from iliad7.store.actions.capture import lock_casebook, unlock_casebook

        user = _acting_user(as_user)
        action = unlock_casebook if unlock else lock_casebook
        action(_participant(user, number), acting_user=user, channel="cli", reason=reason)
    typer.echo(f"casebook {'unlocked' if unlock else 'locked'}")


def casebook_sign(
    number: Number,
    as_user: AsUser,
    otp: Annotated[str, typer.Option("--otp", help="The investigator's current TOTP code.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Sign the casebook: "I approve this casebook" (investigator; password and second factor)."""
    if not password_stdin:
        _fail(EXIT_BAD_INPUT, "error: --password-stdin: give the password on standard input")
    password = sys.stdin.read().rstrip("\r\n")
    with _database():
        from iliad7.store.actions.capture import sign_casebook

        user = _acting_user(as_user)
        signature = sign_casebook(
            _participant(user, number), acting_user=user, password=password, otp_token=otp, channel="cli"
        )
    typer.echo(f"signed by {signature.printed_name} at {signature.signed_at.isoformat()}: {signature.meaning}")


def sae_clocks_command(as_user: AsUser, as_json: JsonFlag = False) -> None:
    """Serious adverse events with their 24-hour reporting deadlines."""
    with _database():
        from iliad7.store.actions.queries import sae_clocks

        clocks = sae_clocks(_acting_user(as_user))
    rows = [
        {
            "participant": c.screening_number,
            "instance": c.instance,
            "term": c.term,
            "awareness_at": c.awareness_at.isoformat(),
            "deadline": c.deadline.isoformat(),
            "reported_at": None if c.reported_at is None else c.reported_at.isoformat(),
            "overdue": c.overdue,
        }
        for c in clocks
    ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = "OVERDUE" if row["overdue"] else "reported" if row["reported_at"] else "open"
        typer.echo(f"{row['participant']} AE#{row['instance']} {row['term']}: due {row['deadline']} ({state})")


def data_cut_set(
    number: Number,
    reason: Annotated[str, typer.Option("--reason", help="Why the data cut is set or lifted.")],
    as_user: AsUser,
    at: Annotated[str, typer.Option("--at", help="ISO 8601 date and time with offset; not in the future.")] = "",
    lift: Annotated[bool, typer.Option("--lift", help="Lift the data cut: follow-up entry resumed.")] = False,
) -> None:
    """Set a participant's data cut (data manager): the calendar is then read at it, not now. Or lift it."""
    if bool(at) == lift:
        _fail(EXIT_BAD_INPUT, "error: --at: give either --at TIME or --lift")
    cut_at = None if lift else _datetime("--at", at)
    with database(lambda field: "--at" if field == "cut_at" else f"--{field.replace('_', '-')}"):
        from iliad7.store.actions.data_cut import set_data_cut

        user = _acting_user(as_user)
        set_data_cut(_participant(user, number), cut_at, reason=reason, acting_user=user, channel="cli")
    typer.echo(f"data cut of {number.strip().upper()} {'lifted' if lift else 'set to ' + cut_at.isoformat()}")


def data_cut_show(number: Number, as_user: AsUser, as_json: JsonFlag = False) -> None:
    """The participant's data cut in force, and who set each one and why."""
    with _database():
        from iliad7.store.actions.data_cut import data_cut_history

        user = _acting_user(as_user)
        history = data_cut_history(_participant(user, number))
    if as_json:
        _print_json(history)
        return
    if not history:
        typer.echo("no data cut: the calendar is read now")
    for row in history:
        cut = row["cut_at"] or "lifted"
        typer.echo(f"{row['set_at']}  {cut}  by {row['set_by']} ({row['channel']}): {row['reason']}")
