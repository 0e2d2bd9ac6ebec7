"""Shared pieces of the write actions: the acting identity and the current time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iliad7.errors import InputError

if TYPE_CHECKING:
    from iliad7.protocol import Protocol
    from iliad7.store.models import User

CHANNELS = ("cli", "web", "api", "system")

# Who acts when nobody is logged in: the operator running `iliad7 init` or
# `iliad7 user add` on the server, whose access to the database file is
# already complete. Audit records name them "system".
SYSTEM_ACTOR = "system"


def now() -> datetime:
    return datetime.now(UTC)


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise InputError("channel", f"unknown channel {channel!r}; one of: {', '.join(CHANNELS)}")
    return channel


@dataclass(frozen=True)
class Actor:
    """The name and roles an audit record attributes a change to."""

    name: str
    role: str

    @classmethod
    def of(cls, user: User | None, role: str = "") -> Actor:
        return cls(SYSTEM_ACTOR, "") if user is None else cls(user.username, role)


def current_protocol() -> Protocol:
    """The protocol in force (the default protocol file, or $ILIAD7_PROTOCOL), validated and cached."""
    from iliad7.protocol import load_protocol

    return load_protocol()


def require_text(field: str, value: str, what: str) -> str:
    """`value` stripped, or an InputError naming `field` when it is blank."""
    value = (value or "").strip()
    if not value:
        raise InputError(field, f"{what} is required")
    return value


def require_aware(field: str, value: datetime) -> datetime:
    """`value` as UTC, or an InputError when it is not an aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InputError(field, f"give an aware date and time (with its UTC offset), not {value!r}")
    return value.astimezone(UTC)


def require_instance(instance: int) -> int:
    """A repeating form's instance number: 1 to MAX_INSTANCE, or an InputError naming `instance`."""
    from iliad7.inputs import MAX_INSTANCE, bounded_int

    return bounded_int("instance", instance, 1, MAX_INSTANCE)


def require_visit(visit: str) -> str:
    """A visit id as typed (stripped): plain text of at most 64 characters (the column), or an InputError."""
    from iliad7.inputs import clean_text

    return clean_text("visit", visit or "", max_length=64, single_line=True)
