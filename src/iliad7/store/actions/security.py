"""Security events that change no trial data but must be in the audit trail.

Login, failed login, lockout, logout, unblinding, export and restore: each is
one call to `record_security_event`, which appends one audit record in its own
transaction (a refused login rolls nothing else back, so it must commit alone).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from iliad7.audit import trail
from iliad7.store.actions._common import check_channel

SECURITY_EVENTS = (
    "auth.login",
    "auth.login_failed",
    "auth.lockout",
    "auth.logout",
    "auth.second_factor_passed",
    "auth.second_factor_failed",
    "unblinding",
    "unblinding.refused",
    "export",
    "signature.refused",
    "backup.create",
    "backup.restore",
)


def record_security_event(
    event: str,
    *,
    actor: str,
    role: str = "",
    channel: str,
    object_type: str = "",
    object_id: str = "",
    detail: Any = None,
    reason: str = "",
) -> None:
    """Append one security event to the audit chain, committed on its own."""
    if event not in SECURITY_EVENTS:
        raise ValueError(f"unknown security event {event!r}")
    check_channel(channel)
    with transaction.atomic():
        trail.append(
            actor=actor,
            role=role,
            channel=channel,
            action=event,
            object_type=object_type,
            object_id=object_id,
            new=detail,
            reason=reason,
        )
