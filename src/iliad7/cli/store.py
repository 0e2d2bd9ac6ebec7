"""Trial-database commands: init, user, site, participant, audit, backup, restore.

Django is imported inside each command, so that `iliad7 score` and the other
pure sub-commands start without it. Exit status: 0 done, 1 a problem found
(broken audit chain), 2 bad input with a message naming the field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, EXIT_PROBLEM, database
from iliad7.cli._common import acting_user as _acting_user
from iliad7.cli._common import fail as _fail
from iliad7.cli._common import print_json as _print_json

if TYPE_CHECKING:
    pass


AsUser = Annotated[str, typer.Option("--as", help="Act as this user: their roles and sites apply.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")]


def register(app: typer.Typer) -> None:
    """Add the trial-database commands to the `iliad7` command."""
    app.command("init")(init)
    app.command("backup")(backup)
    app.command("restore")(restore)

    user_app = typer.Typer(name="user", help="Accounts and their roles.", no_args_is_help=True)
    user_app.command("add")(user_add)
    user_app.command("roles")(user_roles)
    user_app.command("totp")(user_totp)
    app.add_typer(user_app, name="user")

    site_app = typer.Typer(name="site", help="The protocol's sites.", no_args_is_help=True)
    site_app.command("list")(site_list)
    app.add_typer(site_app, name="site")

    participant_app = typer.Typer(
        name="participant",
        help="Participants, as the acting user may see them.",
        no_args_is_help=True,
    )
    participant_app.command("list")(participant_list)
    app.add_typer(participant_app, name="participant")

    audit_app = typer.Typer(name="audit", help="The tamper-evident audit trail.", no_args_is_help=True)
    audit_app.command("verify")(audit_verify)
    checkpoint_app = typer.Typer(
        name="checkpoint", help="Signed heads of the audit chain, kept outside the database.", no_args_is_help=True
    )
    checkpoint_app.command("export")(audit_checkpoint_export)
    audit_app.add_typer(checkpoint_app, name="checkpoint")
    app.add_typer(audit_app, name="audit")


# The command-line spelling of the fields the actions name in their errors.
_OPTION_OF_FIELD = {
    "role": "--role",
    "site": "--site",
    "password": "--password-stdin",
    "username": "NAME",
    "protocol": "--protocol",
    "reason": "--reason",
}


def _database() -> Any:
    return database(lambda field: _OPTION_OF_FIELD.get(field, field))


def init(
    protocol: Annotated[
        Path | None,
        typer.Option(help="Protocol file to load (default: $ILIAD7_PROTOCOL or the repository's)."),
    ] = None,
) -> None:
    """Create or migrate the database, load the protocol (a new version if amended), add sites."""
    with _database():
        from django.db import connection

        from iliad7.store import runtime
        from iliad7.store.actions import default_protocol_file, load_protocol_version

        runtime.migrate()
        loaded = load_protocol_version(protocol or default_protocol_file(), channel="cli")
        pv = loaded.version
        state = "loaded" if loaded.created else "already loaded, unchanged"
        typer.echo(f"database ready ({connection.vendor}: {connection.settings_dict['NAME']})")
        typer.echo(f"protocol version {pv.version} sha256 {pv.sha256} ({state})")
        if loaded.sites_added:
            typer.echo(f"sites added: {', '.join(loaded.sites_added)}")
        if loaded.sites_renamed:
            typer.echo(f"sites renamed: {', '.join(loaded.sites_renamed)}")


def user_add(
    name: Annotated[str, typer.Argument(help="User name (login).")],
    role: Annotated[
        list[str],
        typer.Option("--role", help="Role in kebab case, e.g. coordinator; repeat for several."),
    ],
    site: Annotated[list[str] | None, typer.Option("--site", help="Site code; repeat for several.")] = None,
    full_name: Annotated[str, typer.Option(help="Printed name shown on signatures.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account with its roles and sites (acts as the server operator)."""
    if not password_stdin:
        _fail(EXIT_BAD_INPUT, "--password-stdin: give the password on standard input")
    password = sys.stdin.read().rstrip("\r\n")
    with _database():
        from iliad7.store.actions import add_user

        user = add_user(
            name,
            password=password,
            roles=role,
            sites=site or [],
            full_name=full_name,
            email=email,
            acting_user=None,
            channel="cli",
        )
        typer.echo(f"user {user.username} created")


def user_roles(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[list[str], typer.Option("--role", help="The user's roles after the change.")],
    reason: Annotated[str, typer.Option(help="Why the roles change (kept in the audit trail).")],
    site: Annotated[list[str] | None, typer.Option("--site", help="The user's sites.")] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Administrator making the change.")] = None,
) -> None:
    """Replace a user's roles and sites (audited with old and new values and the reason)."""
    with _database():
        from iliad7.store.access import find_user
        from iliad7.store.actions import set_user_roles

        acting = _acting_user(as_user) if as_user else None
        set_user_roles(
            find_user(name),
            roles=role,
            sites=site or [],
            acting_user=acting,
            channel="cli",
            reason=reason,
        )
        typer.echo(f"roles of {name} updated")


def user_totp(
    name: Annotated[str, typer.Argument(help="User name.")],
    qr: Annotated[bool, typer.Option("--qr", help="Also draw the URL as a QR code to scan.")] = False,
) -> None:
    """Enrol a TOTP authenticator for a user and print its otpauth:// URL (shown once)."""
    with _database():
        from iliad7.store.access import find_user
        from iliad7.store.actions import add_totp_device

        url = add_totp_device(find_user(name), acting_user=None, channel="cli")
    typer.echo(url)
    if qr:
        import io

        import qrcode

        code = qrcode.QRCode(border=1)
        code.add_data(url)
        drawing = io.StringIO()
        code.print_ascii(out=drawing)
        typer.echo(drawing.getvalue())


def site_list(json_out: JsonFlag = False) -> None:
    """The protocol's sites."""
    with _database():
        from iliad7.store.models import Site

        rows = [{"code": s.code, "name": s.name} for s in Site.objects.order_by("id")]
        if json_out:
            _print_json(rows)
        else:
            for row in rows:
                typer.echo(f"{row['code']}\t{row['name']}")


def participant_list(as_user: AsUser, json_out: JsonFlag = False) -> None:
    """The participants the acting user may see, by role and site."""
    with _database():
        from iliad7.store.access import visible_participants

        user = _acting_user(as_user)
        rows = [
            {
                "screening_number": p.screening_number,
                "usubjid": p.usubjid,
                "site": p.site.code,
                "status": p.status,
            }
            for p in visible_participants(user).order_by("screening_number")
        ]
        if json_out:
            _print_json(rows)
        else:
            for row in rows:
                cells = (row["screening_number"], row["usubjid"] or "-", row["site"], row["status"])
                typer.echo("\t".join(str(c) for c in cells))


def audit_verify(
    json_out: JsonFlag = False,
    head: Annotated[
        Path | None, typer.Option("--head", help="Also check a head exported by `iliad7 audit checkpoint export`.")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The sponsor's copy of the public key that signed --head.")
    ] = None,
) -> None:
    """Recompute the audit chain, check it against the signed checkpoints and reconcile the trial tables with it.

    Exit 1 naming the first broken record or the rows the trail does not account for.
    """
    if head is not None and not head.is_file():
        _fail(EXIT_BAD_INPUT, f"error: --head: {head} is not a file")
    if public_key is not None and not public_key.is_file():
        _fail(EXIT_BAD_INPUT, f"error: --public-key: {public_key} is not a file")
    with _database():
        from iliad7.audit import anchor, reconcile, trail

        result = anchor.with_checkpoints(trail.verify(), head_file=head, public_key_file=public_key)
        reconciled = reconcile.reconcile()  # rows the trail does not account for (iliad7.audit.reconcile)
    anchored_ok = bool(result["ok"])
    result["ok"] = anchored_ok and reconciled.ok
    result["reconciliation"] = reconciled.as_dict()
    if json_out:
        _print_json(result)
    else:
        _print_verify({**result, "ok": anchored_ok})
        typer.echo("\n".join(reconciled.lines()))
    if not result["ok"]:
        raise typer.Exit(EXIT_PROBLEM)


def _print_verify(result: dict[str, Any]) -> None:
    broken = result["first_broken"]
    if broken is None and result["ok"]:
        typer.echo(f"ok: {result['records']} audit records, chain intact")
    elif broken is not None:
        typer.echo(f"BROKEN at record {broken['id']}: {broken['reason']} ({result['records']} records read)")
    else:
        typer.echo(f"NOT OK: {result['records']} audit records; the checkpoints below do not verify")
    anchored = result["checkpoints"]
    latest = anchored["latest"]
    where = f", latest: record {latest['last_id']} at {latest['at']}" if latest else ""
    typer.echo(f"checkpoints: {anchored['checked']} in force{where}; {anchored['superseded']} superseded by restores")
    for bad in anchored["bad_signatures"]:
        typer.echo(f"BAD CHECKPOINT {bad['origin']}: {bad['problem']}")
    for problem in anchored["problems"]:
        typer.echo(f"PROBLEM: {problem}")
    if anchored["unreadable"]:
        typer.echo(f"note: {len(anchored['unreadable'])} unreadable checkpoint line(s) (a write cut short?)")
    exported = result.get("exported_head")
    if exported is not None:
        state = "held by the chain" if exported["ok"] else f"NOT held: {exported['problem'] or 'see above'}"
        typer.echo(f"exported head {exported['file']} (record {exported.get('last_id')}): {state}")


def audit_checkpoint_export(
    out: Annotated[Path | None, typer.Option("--out", help="Also write the head to this file.")] = None,
) -> None:
    """Sign the current head of the audit chain and print it (JSON, with the public key) for a sponsor to keep."""
    with _database():
        from iliad7.audit import anchor

        try:
            head = anchor.export_head()
        except ValueError as exc:
            _fail(EXIT_PROBLEM, f"error: {exc}")
    _print_json(head)
    if out is not None:
        out.write_text(json.dumps(head, indent=2) + "\n")


def backup(
    file: Annotated[Path, typer.Argument(help="Backup file to write (must not exist).")],
) -> None:
    """Write a consistent backup of the whole database (SQLite backup API, or pg_dump) and its signed checkpoint."""
    with _database():
        from iliad7.store.backup import backup_database, sidecar_of

        written = backup_database(file)
        typer.echo(f"backup written to {written}; its signed checkpoint to {sidecar_of(written)}")


def restore(
    file: Annotated[Path, typer.Argument(help="Backup file made by `iliad7 backup`.")],
    acknowledge_rollback: Annotated[
        str,
        typer.Option(
            "--acknowledge-rollback",
            help="Restore a backup older than the latest checkpoint anyway, for this reason (audited).",
        ),
    ] = "",
) -> None:
    """Replace the database with a backup, then verify the audit chain (exit 1 if broken).

    A backup that does not hold the chain up to the latest signed checkpoint
    (restoring it would roll back audited writes) is refused unless
    --acknowledge-rollback gives the reason.
    """
    with _database():
        from iliad7.store.backup import restore_database

        result = restore_database(file, acknowledge_rollback=acknowledge_rollback)
    chain = result.chain
    if result.rollback is not None:
        typer.echo(
            f"rolled back: audit records {result.rollback['from']} to {result.rollback['to']} of the old chain are "
            f"gone; acknowledged ({result.rollback['reason']}) in the audit trail and the checkpoint log"
        )
    if chain.first_broken is None:
        typer.echo(f"restored from {file}; audit chain intact ({chain.records} records)")
    else:
        typer.echo(
            f"restored from {file}; audit chain BROKEN at record {chain.first_broken.id}: {chain.first_broken.reason}",
            err=True,
        )
        raise typer.Exit(EXIT_PROBLEM)
