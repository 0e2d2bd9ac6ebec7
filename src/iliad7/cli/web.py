"""Web commands: `iliad7 serve` (the web app under gunicorn) and `iliad7 web demo-users`.

Django is imported inside the commands, so that the rest of `iliad7` starts
without it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from typing import Annotated

import typer

from iliad7.cli._common import EXIT_BAD_INPUT
from iliad7.cli._common import fail as _fail
from iliad7.cli.store import _database  # names fields as the account commands do (--password-stdin, ...)

# The demo's accounts: site roles get one user per site, so that site isolation can be shown.
DEMO_SITE_ROLES = ("investigator", "coordinator", "unblinded-pharmacist", "monitor")
DEMO_TRIAL_ROLES = (
    "data-manager",
    "infection-adjudicator",
    "dsmb-member",
    "blinded-statistician",
    "unblinded-statistician",
    "sponsor-viewer",
    "administrator",
)
# Investigators sign in with a password only, but unblinding asks them for a TOTP code.
DEMO_TOTP_ALSO_FOR = frozenset({"investigator"})


def register(app: typer.Typer) -> None:
    """Add `serve` and the `web` sub-commands to the `iliad7` command."""
    app.command("serve")(serve)
    web_app = typer.Typer(name="web", help="The web app: demo accounts.", no_args_is_help=True)
    web_app.command("demo-users")(demo_users)
    app.add_typer(web_app, name="web")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes.", min=1, max=32)] = 2,
) -> None:
    """Run the web app and the API under gunicorn with production settings (debug off)."""
    if os.environ.get("ILIAD7_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}:
        _fail(EXIT_BAD_INPUT, "ILIAD7_DEBUG: unset it; `iliad7 serve` runs with production settings only")
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iliad7.settings")
    # The port is taken here, before the address is printed: a port in use is said plainly (exit 2), not as
    # gunicorn's traceback after a URL that does not answer. gunicorn inherits the listening socket.
    listener = _listen(host, port)
    typer.echo(f"iliad7 web app on http://{bind}/ (sign in at /accounts/login/; Ctrl-C to stop)", err=True)
    # exec: gunicorn becomes this process, so signals (Ctrl-C, SIGTERM) reach its arbiter directly.
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "iliad7.wsgi:application",
        "--bind",
        f"fd://{listener.fileno()}",
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        "127.0.0.1",
    ]
    os.execv(sys.executable, command)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that survives exec, or exit 2 saying why (port in use, bad host)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        _fail(EXIT_BAD_INPUT, f"--host: cannot listen on {host!r}: {error.strerror}")
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            _fail(
                EXIT_BAD_INPUT,
                f"--port: port {port} on {host} is already in use (another server is listening there); stop it, "
                f"or choose another port: `PORT={port + 1} make run` or `iliad7 serve --port {port + 1}`",
            )
        _fail(EXIT_BAD_INPUT, f"--host/--port: cannot listen on {host}:{port}: {error.strerror}")
    listener.set_inheritable(True)
    return listener


def demo_users(
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the one password of every demo user from standard input.")
    ] = False,
    prefix: Annotated[str, typer.Option(help="User names start with this.")] = "demo-",
    json_out: Annotated[bool, typer.Option("--json", help="Print the accounts as JSON.")] = False,
) -> None:
    """Create one demo user per role (site roles: one per site), with TOTP enrolled where needed.

    Prints each account and, for those with an authenticator, its otpauth://
    URL (the TOTP secret): a demo aid, never for a server holding real data.
    Users that already exist are left as they are.
    """
    if not password_stdin:
        _fail(EXIT_BAD_INPUT, "--password-stdin: give the password on standard input")
    password = sys.stdin.read().rstrip("\r\n")
    rows = []
    with _database():
        from iliad7.accounts.roles import needs_totp
        from iliad7.store.actions import add_totp_device, add_user
        from iliad7.store.models import Site, User

        sites = list(Site.objects.order_by("id").values_list("code", flat=True))
        if not sites:
            _fail(EXIT_BAD_INPUT, "no sites: run `iliad7 init` first")
        wanted = [(f"{prefix}{r}-{s.lower()}", r, [s]) for r in DEMO_SITE_ROLES for s in sites]
        wanted += [(f"{prefix}{r}", r, []) for r in DEMO_TRIAL_ROLES]
        for username, role, user_sites in wanted:
            row: dict[str, object] = {"username": username, "role": role, "sites": user_sites, "totp": None}
            if User.objects.filter(username=username).exists():
                row["created"] = False
                rows.append(row)
                continue
            user = add_user(
                username,
                password=password,
                roles=[role],
                sites=user_sites,
                full_name=f"Demo {role.replace('-', ' ')}" + (f" ({user_sites[0]})" if user_sites else ""),
                acting_user=None,
                channel="cli",
            )
            if needs_totp([role]) or role in DEMO_TOTP_ALSO_FOR:
                row["totp"] = add_totp_device(user, acting_user=None, channel="cli", name="demo")
            row["created"] = True
            rows.append(row)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "created" if row["created"] else "exists, unchanged"
        sites_text = ",".join(row["sites"]) or "all sites"  # type: ignore[arg-type]
        typer.echo(f"{row['username']}\t{row['role']}\t{sites_text}\t{state}")
        if row["totp"]:
            typer.echo(f"    TOTP: {row['totp']}")
