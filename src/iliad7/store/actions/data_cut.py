"""The data cut of a participant's follow-up (issue 17): set or lift it, and read it.

A data cut says "this participant's follow-up was entered up to this moment": the calendar and
the dose plan are then read at the cut instead of now, so that a visit after it is upcoming, not
missed (a trial part-way through follow-up, as the demo's cohort is). The data manager sets it
(it is the data manager's statement about the database, like a lock); each change is a new row
and one audit record. Nothing here reads the arm.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import InputError
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now, require_aware, require_text
from iliad7.store.models import DataCut, Participant, User


def set_data_cut(
    participant: Participant,
    cut_at: datetime | None,
    *,
    reason: str,
    acting_user: User,
    channel: str,
) -> DataCut:
    """Set the participant's data cut to `cut_at` (None: lift it). Not in the future; audited as `data_cut.set`."""
    check_channel(channel)
    role = access.require(acting_user, Capability.LOCK_DATA, participant.site)
    reason = require_text("reason", reason, "the reason for the data cut")
    moment = now()
    if cut_at is not None:
        cut_at = require_aware("cut_at", cut_at)
        if cut_at > moment:
            raise InputError("cut_at", f"a data cut cannot be in the future ({format_time(cut_at)})")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        previous = DataCut.objects.filter(participant=locked).order_by("-set_at", "-id").first()
        row = DataCut.objects.create(
            participant=locked, cut_at=cut_at, reason=reason, set_by=acting_user, set_at=moment, channel=channel
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="data_cut.set",
            object_type="participant",
            object_id=locked.screening_number,
            old=None if previous is None or previous.cut_at is None else {"cut_at": format_time(previous.cut_at)},
            new={"cut_at": None if cut_at is None else format_time(cut_at)},
            reason=reason,
        )
    return row


def data_cut_history(participant: Participant) -> list[dict[str, str | None]]:
    """Every data cut set or lifted for the participant (access checked by the caller), oldest first."""
    return [
        {
            "cut_at": None if row.cut_at is None else format_time(row.cut_at),
            "set_at": format_time(row.set_at),
            "set_by": row.set_by.username,
            "channel": row.channel,
            "reason": row.reason,
        }
        for row in DataCut.objects.filter(participant=participant).select_related("set_by").order_by("set_at", "id")
    ]


def data_cuts(participants: Iterable[Participant]) -> dict[int, datetime]:
    """{participant id: its data cut} for those that have one in force, in one query (access checked by the caller)."""
    ids = [p.pk for p in participants]
    latest: dict[int, datetime | None] = {}
    for participant_id, cut_at in (
        DataCut.objects.filter(participant_id__in=ids).order_by("set_at", "id").values_list("participant_id", "cut_at")
    ):
        latest[participant_id] = cut_at
    return {pk: cut for pk, cut in latest.items() if cut is not None}
