"""Emergency unblinding: an investigator reveals one participant's arm, with a reason and the second factor.

The event (who, when, why, which participant) is stored and audited as the
security event `unblinding`, never with the arm; the arm is returned to that
investigator only, and `access_allocation` lets them read it again later, for
that participant alone. Sponsor viewers, DSMB members and data managers list
the events with `unblinding_events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import AccessDenied
from iliad7.store import access, throttle
from iliad7.store.actions._common import check_channel, now, require_text
from iliad7.store.actions.security import record_security_event
from iliad7.store.actions.signatures import CREDENTIALS, check_secrets
from iliad7.store.models import AllocationSlot, Participant, UnblindingEvent, User

if TYPE_CHECKING:
    from django.http import HttpRequest


def unblind_participant(
    participant: Participant,
    *,
    acting_user: User,
    reason: str,
    otp_token: str,
    channel: str,
    source: HttpRequest | None = None,
) -> str:
    """The participant's arm, for the investigator at their site who gives a reason and a valid TOTP code.

    Wrong codes count against (user, source) like failed sign-ins (`iliad7.store.throttle`).
    """
    check_channel(channel)
    role = access.require(acting_user, Capability.UNBLIND, participant.site)
    reason = require_text("reason", reason, "the reason for the emergency unblinding")
    number = participant.screening_number
    if not AllocationSlot.objects.filter(participant=participant).exists():
        # Worded as access_allocation words it: nothing to say about a participant's allocation.
        raise AccessDenied(f"no allocation of participant {number!r} visible to {acting_user.username!r}")

    def refused() -> None:
        # Committed on its own: a failed attempt stays in the trail.
        record_security_event(
            "unblinding.refused",
            actor=acting_user.username,
            role=role,
            channel=channel,
            object_type="participant",
            object_id=number,
            detail={"failed": CREDENTIALS, "ip": throttle.source_text(source)},
            reason=reason,
        )

    check_secrets(acting_user, password=None, otp_token=otp_token, gate="unblinding", source=source, on_refusal=refused)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        event = UnblindingEvent.objects.create(
            participant=locked, unblinded_by=acting_user, unblinded_at=now(), reason=reason, channel=channel
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="unblinding",
            object_type="participant",
            object_id=number,
            new={"unblinding_event": event.pk, "participant": number, "usubjid": locked.usubjid},
            reason=reason,
        )
        arm = access.access_allocation(acting_user, locked)
    return arm


def unblinding_events(user: User, *, channel: str = "cli") -> list[dict[str, Any]]:
    """Every emergency unblinding (who, when, why, which participant; never the arm), oldest first.

    For sponsor viewers, DSMB members and data managers; others are refused. The read is audited
    (`read.unblinding_events`).
    """
    from iliad7.store.actions.reads import audit_read

    role = access.require(user, Capability.VIEW_UNBLINDING_EVENTS)
    audit_read(user, "unblinding_events", channel=channel, role=role)
    return [
        {
            "id": e.pk,
            "screening_number": e.participant.screening_number,
            "usubjid": e.participant.usubjid,
            "site": e.participant.site.code,
            "unblinded_by": e.unblinded_by.username,
            "unblinded_at": format_time(e.unblinded_at),
            "reason": e.reason,
            "channel": e.channel,
        }
        for e in UnblindingEvent.objects.select_related("participant__site", "unblinded_by").order_by(
            "unblinded_at", "id"
        )
    ]
