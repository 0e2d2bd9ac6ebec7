"""Randomize one participant: the next free slot of their site's stratum, atomically.

Preconditions, each refused with its reason (`RandomizationRefused`) and
nothing written: the investigator role at the participant's site, the
investigator's confirmation, status `consented` with a consent on file, an
`eligible` verdict on the latest screening version, an active allocation list
with a free slot in the stratum.

Concurrency: the action locks the participant row and then the active list
row (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the IMMEDIATE
transaction holds the database write lock from BEGIN), so randomizations are
serialized: two requests never take the same slot and none is skipped. The
list row, not the slot row, is locked on purpose: PostgreSQL re-checks a
locked row's WHERE after the wait, and `... FOR UPDATE LIMIT 1` on "the first
free slot" can then return no row although later slots are free.

USUBJID = `{protocol id}-{randomization number}`, e.g. `ILIAD-7-US-O-MSKCC-001`
(CDISC: study, site, subject). The audit record holds the slot id,
randomization number and kit code, never the arm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.errors import InputError, RandomizationRefused
from iliad7.store import access
from iliad7.store.actions._common import check_channel, current_protocol, now
from iliad7.store.models import AllocationList, AllocationSlot, Consent, Participant, ScreeningVersion, User


@dataclass(frozen=True)
class RandomizationResult:
    """What randomization tells everyone: no arm."""

    usubjid: str
    randomization_number: str
    kit_code: str

    def as_dict(self) -> dict[str, str]:
        return {"usubjid": self.usubjid, "randomization_number": self.randomization_number, "kit_code": self.kit_code}


def usubjid_for(randomization_number: str) -> str:
    return f"{current_protocol().id}-{randomization_number}"


def randomize_participant(
    participant: Participant,
    *,
    acting_user: User,
    confirmation: bool,
    channel: str,
    randomized_at: datetime | None = None,
) -> RandomizationResult:
    """Assign the participant the next free slot of their site's stratum; audited as `participant.randomize`.

    `randomized_at` is the moment of randomization (T0) when it is entered after the fact
    (the simulated cohort replays 2021 dates; a site recovering from an outage enters the
    real time); it must be aware and not in the future. The audit record keeps both it and
    the moment of entry.
    """
    check_channel(channel)
    if randomized_at is not None:
        if randomized_at.tzinfo is None:
            raise InputError("randomized_at", "give the time with its UTC offset")
        if randomized_at > now():
            raise InputError("randomized_at", "randomization cannot be dated in the future")
    role = access.require(acting_user, Capability.RANDOMIZE, participant.site)
    if confirmation is not True:
        raise RandomizationRefused("the investigator has not confirmed the randomization")
    usubjid_prefix = f"{current_protocol().id}-"
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        number = locked.screening_number
        if locked.status == ParticipantStatus.RANDOMIZED.value or locked.usubjid:
            raise RandomizationRefused(f"participant {number} is already randomized ({locked.usubjid})")
        if locked.status != ParticipantStatus.CONSENTED.value:
            raise RandomizationRefused(
                f"participant {number} is {locked.status}: only a consented participant can be randomized"
            )
        if not Consent.objects.filter(participant=locked).exists():
            raise RandomizationRefused(f"participant {number} has no consent on file")
        screening = ScreeningVersion.objects.filter(participant=locked).order_by("-version").first()
        if screening is None:
            raise RandomizationRefused(f"participant {number} has no screening record")
        if screening.verdict != "eligible":
            detail = {
                "ineligible": "failed: " + ", ".join(screening.failed),
                "incomplete": "unknown: " + ", ".join(screening.unknown),
            }.get(screening.verdict, "")
            raise RandomizationRefused(
                f"participant {number}'s screening verdict is {screening.verdict} ({detail}), not eligible"
            )
        target = check_transition(locked.status, ParticipantStatus.RANDOMIZED)
        active = AllocationList.objects.select_for_update().filter(active=True).first()
        if active is None:
            raise RandomizationRefused("no allocation list has been generated")
        stratum = locked.site.code
        slot = (
            AllocationSlot.objects.filter(allocation_list=active, stratum=stratum, participant__isnull=True)
            .only("pk", "sequence", "randomization_number", "kit_code")
            .order_by("sequence")
            .first()
        )
        if slot is None:
            raise RandomizationRefused(
                f"the allocation list has no free slot left in stratum {stratum}; "
                "the unblinded statistician must extend it"
            )
        usubjid = f"{usubjid_prefix}{slot.randomization_number}"
        assigned_at = randomized_at or now()
        taken = AllocationSlot.objects.filter(pk=slot.pk, participant__isnull=True).update(
            participant=locked, assigned_at=assigned_at
        )
        if taken != 1:  # cannot happen under the list lock; never hand out a slot twice if it does
            raise RuntimeError(f"allocation slot {slot.pk} was taken concurrently")
        old_status = locked.status
        locked.status = target.value
        locked.usubjid = usubjid
        locked.save(update_fields=["status", "usubjid"])
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="participant.randomize",
            object_type="participant",
            object_id=number,
            old={"status": old_status},
            new={
                "status": target.value,
                "usubjid": usubjid,
                "randomization_number": slot.randomization_number,
                "kit_code": slot.kit_code,
                "slot": slot.pk,
                "allocation_list": active.pk,
                "screening_version": screening.version,
                "confirmed": True,
                "randomized_at": assigned_at.isoformat(),
            },
        )
    participant.refresh_from_db()
    return RandomizationResult(usubjid, slot.randomization_number, slot.kit_code)


def randomization_of(participant: Participant) -> RandomizationResult | None:
    """The participant's randomization number and kit code (blinded-safe), or None if not randomized."""
    row = AllocationSlot.objects.filter(participant=participant).values_list("randomization_number", "kit_code").first()
    if row is None or not participant.usubjid:
        return None
    return RandomizationResult(participant.usubjid, row[0], row[1])


def randomized_at(participant: Participant) -> datetime | None:
    """When the participant was randomized (T0), or None if not randomized (blinded-safe: no arm)."""
    return AllocationSlot.objects.filter(participant=participant).values_list("assigned_at", flat=True).first()


def randomization_times(participants: Iterable[Participant]) -> dict[int, datetime]:
    """{participant id: when randomized (T0)} of those randomized, in one query (blinded-safe: no arm).

    The participants were reached through `access` by the caller.
    """
    ids = [p.pk for p in participants]
    return {
        pk: at
        for pk, at in AllocationSlot.objects.filter(participant_id__in=ids, assigned_at__isnull=False).values_list(
            "participant_id", "assigned_at"
        )
    }
