"""What every database command of `iliad7` shares: exit codes, errors, the acting user.

Exit status 0: done; 1: the command ran and found a problem (a refusal, a broken chain);
2: bad input or usage, with a message naming the field (or option) on standard error.
Django is imported inside the functions, so that importing this module costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from iliad7.store.models import Participant, User

EXIT_PROBLEM = 1
EXIT_BAD_INPUT = 2


def fail(code: int, message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


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


def acting_user(username: str) -> User:
    """The user named by `--as`, held to their roles and sites like the web app holds them."""
    from iliad7.store.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        fail(EXIT_BAD_INPUT, f"--as: no user {username!r}")
    if not user.is_active:
        fail(EXIT_BAD_INPUT, f"--as: user {username!r} is deactivated")
    return user


def participant(user: User, number: str) -> Participant:
    """A participant that `user` may see (not found alike for missing and forbidden)."""
    from iliad7.store.access import access_participant

    return access_participant(user, number.strip())
