"""DSMB closed sessions: scheduled by the unblinded statistician, for named members, in a time window.

The Data and Safety Monitoring Board sees results by arm only in closed session. A member's own
statement that the board sits closed is not enough: the unblinded statistician schedules each
session (`schedule_closed_session`: the DSMB members admitted, when it opens and closes, what it
is for; audited as `dsmb.closed_session`), and `iliad7.store.access.may_read_arm` lets a DSMB
member read the arm (the closed report) only while a session admitting them is open. A session
lasts at most `MAX_SESSION` and cannot be scheduled in the past; sessions are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import InputError
from iliad7.inputs import clean_text
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now, require_aware
from iliad7.store.models import ClosedSession, User

MAX_SESSION = timedelta(hours=12)  # one meeting day; a longer window would be a standing permission
DSMB_ROLE = "dsmb-member"


def schedule_closed_session(
    *,
    members: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    purpose: str,
    acting_user: User,
    channel: str,
) -> ClosedSession:
    """Schedule a DSMB closed session (unblinded statistician); audited as `dsmb.closed_session`."""
    check_channel(channel)
    role = access.require(acting_user, Capability.SCHEDULE_CLOSED_SESSION)
    purpose = clean_text("purpose", purpose, max_length=200, single_line=True)
    if not purpose:
        raise InputError("purpose", "say what the closed session is for (e.g. the interim safety review)")
    start = require_aware("starts_at", starts_at)
    end = require_aware("ends_at", ends_at)
    if end <= start:
        raise InputError("ends_at", "the session must end after it starts")
    if end - start > MAX_SESSION:
        raise InputError("ends_at", f"a closed session lasts at most {int(MAX_SESSION.total_seconds() // 3600)} hours")
    if end <= now():
        raise InputError("ends_at", "the session would already be over")
    names = sorted({clean_text("members", m, max_length=150, single_line=True) for m in members if str(m).strip()})
    if not names:
        raise InputError("members", "name the DSMB members admitted to the closed session")
    users = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    for name in names:
        user = users.get(name)
        if user is None or DSMB_ROLE not in access.roles_of(user):
            raise InputError("members", f"{name!r} is not an active DSMB member")
    with transaction.atomic():
        session = ClosedSession.objects.create(
            opened_by=acting_user,
            purpose=purpose,
            starts_at=start,
            ends_at=end,
            members=[users[n].pk for n in names],
            created_at=now(),
            channel=channel,
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="dsmb.closed_session",
            object_type="closed_session",
            object_id=str(session.pk),
            new={"members": names, "starts_at": format_time(start), "ends_at": format_time(end), "purpose": purpose},
        )
    return session


def closed_sessions(user: User) -> list[dict[str, Any]]:
    """The scheduled sessions: all for the statistician, a member's own for a DSMB member; newest first."""
    scheduler = access.can(user, Capability.SCHEDULE_CLOSED_SESSION)
    if not scheduler:
        access.require(user, Capability.VIEW_ALLOCATION_CLOSED_SESSION)
    moment = now()
    rows = []
    names = dict(User.objects.values_list("pk", "username"))
    for s in ClosedSession.objects.select_related("opened_by").order_by("-starts_at", "-id"):
        if not scheduler and user.pk not in s.members:
            continue
        rows.append(
            {
                "id": s.pk,
                "purpose": s.purpose,
                "starts_at": format_time(s.starts_at),
                "ends_at": format_time(s.ends_at),
                "members": sorted(names.get(m, str(m)) for m in s.members),
                "scheduled_by": s.opened_by.username,
                "open": s.starts_at <= moment < s.ends_at,
            }
        )
    return rows
