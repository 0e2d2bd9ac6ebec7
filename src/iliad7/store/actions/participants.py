"""Participant actions: screen a new participant, change their status."""

from __future__ import annotations

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.errors import InputError
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now
from iliad7.store.models import Participant, Site, User


def _next_screening_number(site: Site) -> str:
    # Called with the site row locked, so two screenings cannot take the same number.
    prefix = f"{site.code}-S"
    n = Participant.objects.filter(screening_number__startswith=prefix).count() + 1
    while Participant.objects.filter(screening_number=f"{prefix}{n:03d}").exists():
        n += 1
    return f"{prefix}{n:03d}"


def create_participant(
    *,
    site: Site | str,
    acting_user: User,
    channel: str,
    screening_number: str | None = None,
) -> Participant:
    """Screen a new participant at `site` (status `screened`); audited as `participant.create`."""
    check_channel(channel)
    if isinstance(site, str):
        found = Site.objects.filter(code=site.strip().upper()).first()
        if found is None:
            raise InputError("site", f"unknown site {site!r}")
        site = found
    role = access.require(acting_user, Capability.SCREEN_PARTICIPANT, site)
    with transaction.atomic():
        locked_site = Site.objects.select_for_update().get(pk=site.pk)
        number = (screening_number or "").strip() or _next_screening_number(locked_site)
        if Participant.objects.filter(screening_number=number).exists():
            raise InputError("screening_number", f"screening number {number!r} is already used")
        participant = Participant.objects.create(
            screening_number=number,
            site=locked_site,
            status=ParticipantStatus.SCREENED.value,
            created_at=now(),
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="participant.create",
            object_type="participant",
            object_id=number,
            new={"screening_number": number, "site": locked_site.code, "status": "screened"},
        )
    return participant


def transition_participant(
    participant: Participant,
    to: ParticipantStatus | str,
    *,
    acting_user: User,
    channel: str,
    reason: str = "",
    usubjid: str | None = None,
) -> Participant:
    """Move a participant along the status state machine; refuses illegal transitions.

    `usubjid` is given exactly when the participant becomes `randomized`
    (the randomization action assigns it).
    """
    check_channel(channel)
    role = access.require(acting_user, Capability.CHANGE_STATUS, participant.site)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        target = check_transition(locked.status, to)
        old = {"status": locked.status}
        new: dict[str, str] = {"status": target.value}
        fields = ["status"]
        if usubjid is not None:
            if target is not ParticipantStatus.RANDOMIZED:
                raise InputError("usubjid", "a USUBJID is assigned only at randomization")
            if Participant.objects.filter(usubjid=usubjid).exists():
                raise InputError("usubjid", f"USUBJID {usubjid!r} is already assigned")
            locked.usubjid = usubjid
            new["usubjid"] = usubjid
            fields.append("usubjid")
        locked.status = target.value
        locked.save(update_fields=fields)
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="participant.transition",
            object_type="participant",
            object_id=locked.screening_number,
            old=old,
            new=new,
            reason=reason,
        )
    participant.refresh_from_db()
    return participant
