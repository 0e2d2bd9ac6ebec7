"""What every database command of `iliad7` shares: exit codes, errors, the acting user.

Exit status 0: done; 1: the command ran and found a problem (a refusal, a broken chain);
2: bad input or usage, with a message naming the field (or option) on standard error.
Django is imported inside the functions, so that importing this module costs nothing.

`--as USER` asks for no password: the command line is the installation's operator's tool.
So only the operator may use it: the operating-system user who owns `ILIAD7_HOME` (where the
database, the secret key and the reports live, and who can read them all anyway); any other
account of the machine is refused. Each use is recorded in the audit trail as the security
event `cli.operator` (the operator's system account, the user acted as, the command), so the
trail tells a change made at the server's console from one made by that user in the web app.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from iliad7.store.models import Participant, User

EXIT_PROBLEM = 1
EXIT_BAD_INPUT = 2


def fail(code: int, message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def aware_datetime(option: str, text: str) -> datetime:
    """`text` as an ISO 8601 date and time with its UTC offset; exit 2 naming `option` otherwise."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(EXIT_BAD_INPUT, f"error: {option}: not an ISO 8601 date and time: {text!r}")
    if value.tzinfo is None:
        fail(EXIT_BAD_INPUT, f"error: {option}: give the UTC offset (e.g. 2026-11-25T09:30:00-05:00)")
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@contextmanager
def database(option_of: Callable[[str], str] = lambda field: field) -> Iterator[None]:
    """Start Django and turn iliad7's refusals into exit codes and one-line messages.

    `option_of` names a field as the command's user knows it (`--role`, `--input: alc[0].value`).
    A rejected form prints one line per form item, by the item's id.
    """
    from iliad7.store import runtime

    runtime.setup()
    from django.db import DatabaseError

    from iliad7.errors import Iliad7Error, InputError, ReauthenticationFailed
    from iliad7.store.actions.capture import FormRejected

    try:
        yield
    except FormRejected as exc:
        for message in exc.messages:
            typer.echo(f"error: {message.field}: {message.message}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except InputError as exc:
        fail(EXIT_BAD_INPUT, f"error: {option_of(exc.field)}: {exc.message}")
    except ReauthenticationFailed as exc:
        fail(EXIT_PROBLEM, f"error: {option_of(exc.field)}: {str(exc).removeprefix(exc.field + ': ')}")
    except Iliad7Error as exc:  # refused: rules, access, transition, not found, backup tool
        fail(EXIT_PROBLEM, f"error: {exc}")
    except DatabaseError as exc:
        fail(EXIT_PROBLEM, f"database error: {exc} (has `iliad7 init` been run?)")


def _os_account(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def operator_account() -> tuple[int, str] | None:
    """(uid, name) of the operating-system user running the command, when it is the installation's operator.

    The operator owns ILIAD7_HOME (created here, and so owned, by whoever runs first where it does not
    exist yet). Anyone else is refused: exit 1. Where the system has no user ids (Windows), None.
    """
    from django.conf import settings

    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # pragma: no cover - not a POSIX system
        return None
    home = settings.ILIAD7_HOME
    home.mkdir(parents=True, exist_ok=True)
    uid, owner = geteuid(), home.stat().st_uid
    if uid != owner:
        fail(
            EXIT_PROBLEM,
            f"error: --as: only the operator of this installation ({_os_account(owner)}, who owns {home}) acts as a "
            f"user from the command line; {_os_account(uid)} may not (sign in to the web app instead)",
        )
    return uid, _os_account(uid)


def _command_path() -> str:
    """The command being run ("iliad7 pharmacy prepare"), as click knows it (typer may vendor click)."""
    import importlib

    for module in ("typer._click.globals", "click"):
        try:
            getter = importlib.import_module(module).get_current_context
        except (ImportError, AttributeError):
            continue
        context = getter(silent=True)
        if context is not None:
            return str(context.command_path)
    return " ".join(w for w in sys.argv[1:3] if not w.startswith("-"))


def acting_user(username: str) -> User:
    """The user named by `--as`, held to their roles and sites like the web app holds them.

    Only the installation's operator may act as a user (`operator_account`); each use is audited
    as `cli.operator`.
    """
    from iliad7.accounts.roles import role_names
    from iliad7.store.access import roles_of
    from iliad7.store.actions.security import record_security_event
    from iliad7.store.models import User

    operator = operator_account()
    user = User.objects.filter(username=username).first()
    if user is None:
        fail(EXIT_BAD_INPUT, f"--as: no user {username!r}")
    if not user.is_active:
        fail(EXIT_BAD_INPUT, f"--as: user {username!r} is deactivated")
    command = _command_path()
    record_security_event(
        "cli.operator",
        actor=user.username,
        role=role_names(roles_of(user)),
        channel="cli",
        object_type="user",
        object_id=user.username,
        detail={
            "os_user": operator[1] if operator else "",
            "uid": operator[0] if operator else None,
            "command": command[:200],
        },
    )
    return user


def participant(user: User, number: str) -> Participant:
    """A participant that `user` may see (not found alike for missing and forbidden)."""
    from iliad7.store.access import access_participant

    return access_participant(user, number.strip())
