"""Shared pieces of the write actions: the acting identity and the current time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iliad7.errors import InputError

if TYPE_CHECKING:
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
