"""Participant actions: screen a new participant, change their status."""

from __future__ import annotations

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.errors import ActionRefused, InputError
from iliad7.inputs import screening_number as valid_screening_number
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
    """Screen a new participant at `site` (status `screened`); audited as `participant.create`.

    A given screening number must follow the one pattern (`iliad7.inputs.screening_number`: the
    site's code, `-S`, 3 to 6 digits) and is upper-cased; a number already used, in any case, is
    refused. Without one, the site's next number is assigned.
    """
    check_channel(channel)
    if isinstance(site, str):
        code = site.strip().upper()
        found = Site.objects.filter(code=code).first() if code.isascii() and code.isalnum() else None
        if found is None:
            raise InputError("site", f"unknown site {site!r}")
        site = found
    role = access.require(acting_user, Capability.SCREEN_PARTICIPANT, site)
    given = None
    if screening_number is not None and (not isinstance(screening_number, str) or screening_number.strip()):
        given = valid_screening_number(screening_number, site.code)
    with transaction.atomic():
        locked_site = Site.objects.select_for_update().get(pk=site.pk)
        number = given or _next_screening_number(locked_site)
        if Participant.objects.filter(screening_number__iexact=number).exists():
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


# Statuses reached only through their own action, which checks what the status means.
_OWN_ACTION = {
    ParticipantStatus.CONSENTED.value: "recording the consent (record_consent)",
    ParticipantStatus.RANDOMIZED.value: "randomization (randomize_participant)",
}


def transition_participant(
    participant: Participant,
    to: ParticipantStatus | str,
    *,
    acting_user: User,
    channel: str,
    reason: str = "",
) -> Participant:
    """Move a participant along the status state machine; refuses illegal transitions.

    Consent and randomization are not status changes one may simply make: they
    have their own actions (`record_consent`, `randomize_participant`), which
    check the consent form and the eligibility verdict, assign the slot and the
    USUBJID, and are the only way to reach those statuses.
    """
    check_channel(channel)
    role = access.require(acting_user, Capability.CHANGE_STATUS, participant.site)
    if str(to) in _OWN_ACTION:
        raise ActionRefused(f"a participant becomes {to} only through {_OWN_ACTION[str(to)]}")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        target = check_transition(locked.status, to)
        old = {"status": locked.status}
        new: dict[str, str] = {"status": target.value}
        fields = ["status"]
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
