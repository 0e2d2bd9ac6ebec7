"""Security events that change no trial data but must be in the audit trail; security notices.

Login, failed login, lockout, logout, unblinding, export and restore: each is
one call to `record_security_event`, which appends one audit record in its own
transaction (a refused login rolls nothing else back, so it must commit alone).

A lockout also notifies the person whose user name was tried and every
administrator (`notify_lockout`), as identity systems do: a notice on their
home page until they dismiss it, and a WARNING line of the `iliad7.security`
log (the stand-in for an e-mail, which this installation does not send).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.errors import NotFound
from iliad7.store.actions._common import check_channel, now

LOG = logging.getLogger("iliad7.security")

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
    "cli.operator",
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


_GATES = {
    "password": "wrong passwords at sign-in",
    "second factor": "wrong second-factor codes after a correct password (someone may know your password)",
    "signature": "wrong password or code when signing",
    "unblinding": "wrong codes for an emergency unblinding",
}


def notify_lockout(username: str, *, source: str, gate: str, failures: int, wait_seconds: int) -> None:
    """Tell the user (when the name is an account) and the administrators that a pair was locked."""
    from iliad7.store.models import SecurityNotice, User

    what = _GATES.get(gate, gate)
    minutes = max(1, -(-wait_seconds // 60))
    text = (
        f"{failures} failed attempts ({what}) for the user name {username!r} from {source or 'an unknown address'}; "
        f"that address waits {minutes} minute{'s' if minutes != 1 else ''} before it may try again."
    )
    account = User.objects.filter(username=username).first() if username else None
    moment = now()
    with transaction.atomic():
        if account is not None:
            SecurityNotice.objects.create(
                user=account,
                about=username[:150],
                source=source[:64],
                text=text + " If this was not you, tell an administrator and change your password.",
                created_at=moment,
            )
        SecurityNotice.objects.create(user=None, about=username[:150], source=source[:64], text=text, created_at=moment)
    LOG.warning("security notice to %s and the administrators: %s", username if account else "(no account)", text)


def security_notices(user: Any) -> list[Any]:
    """The notices not yet dismissed that `user` should see: their own, and the administrators' if one."""
    from django.db.models import Q

    from iliad7.store import access
    from iliad7.store.models import SecurityNotice

    if not user.is_authenticated:
        return []
    query = Q(user=user)
    if access.can(user, Capability.MANAGE_USERS):
        query |= Q(user__isnull=True)
    return list(SecurityNotice.objects.filter(query, dismissed_at__isnull=True).order_by("-created_at", "-id")[:50])


def dismiss_notice(user: Any, notice_id: int, *, channel: str) -> None:
    """Dismiss one notice addressed to `user` (or, for an administrator, to the administrators); audited."""
    from iliad7.store.models import SecurityNotice

    check_channel(channel)
    found = [n for n in security_notices(user) if n.pk == notice_id]
    if not found:
        raise NotFound(f"no notice {notice_id} for {user.username!r}")
    with transaction.atomic():
        SecurityNotice.objects.filter(pk=notice_id, dismissed_at__isnull=True).update(
            dismissed_at=now(), dismissed_by=user
        )
        trail.append(
            actor=user.username,
            role="",
            channel=channel,
            action="notice.dismissed",
            object_type="user",
            object_id=user.username,
            new={"notice": notice_id},
        )
