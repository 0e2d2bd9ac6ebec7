"""Informed consent: record it (screened -> consented), and the written re-consent after an emergency.

An emergency oral consent (given by the participant or a legally authorized
representative when written consent is not possible) opens a re-consent
task; it stays in `open_reconsent_tasks` until `complete_reconsent` records
the written consent.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.audit.chain import format_time
from iliad7.errors import ActionRefused, InputError
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now, require_aware, require_text
from iliad7.store.models import Consent, Participant, ReconsentTask, User

CONSENT_TYPES = ("written", "emergency_oral")
GIVEN_BY = ("participant", "legally_authorized_representative")


def _checked_fields(
    consent_type: str, given_by: str, obtained_at: datetime, form_version: str, obtained_by: str
) -> tuple[datetime, str, str]:
    if consent_type not in CONSENT_TYPES:
        raise InputError("consent_type", f"one of {', '.join(CONSENT_TYPES)}, not {consent_type!r}")
    if given_by not in GIVEN_BY:
        raise InputError("given_by", f"one of {', '.join(GIVEN_BY)}, not {given_by!r}")
    when = require_aware("obtained_at", obtained_at)
    if when > now():
        raise InputError("obtained_at", f"{when.isoformat()} is in the future")
    return (
        when,
        require_text("form_version", form_version, "the consent form version"),
        require_text("obtained_by", obtained_by, "the name of who obtained consent"),
    )


def _content(consent: Consent) -> dict[str, object]:
    return {
        "consent": consent.pk,
        "consent_type": consent.consent_type,
        "given_by": consent.given_by,
        "obtained_at": format_time(consent.obtained_at),
        "form_version": consent.form_version,
        "obtained_by": consent.obtained_by,
    }


def record_consent(
    participant: Participant,
    *,
    consent_type: str,
    given_by: str,
    obtained_at: datetime,
    form_version: str,
    obtained_by: str,
    acting_user: User,
    channel: str,
) -> Consent:
    """Record the participant's consent and move them from screened to consented; audited as `consent.record`."""
    check_channel(channel)
    when, form_version, obtained_by = _checked_fields(consent_type, given_by, obtained_at, form_version, obtained_by)
    role = access.require(acting_user, Capability.RECORD_CONSENT, participant.site)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        target = check_transition(locked.status, ParticipantStatus.CONSENTED)
        recorded = now()
        consent = Consent.objects.create(
            participant=locked,
            consent_type=consent_type,
            given_by=given_by,
            obtained_at=when,
            form_version=form_version,
            obtained_by=obtained_by,
            recorded_by=acting_user,
            recorded_at=recorded,
            channel=channel,
        )
        task = None
        if consent_type == "emergency_oral":
            task = ReconsentTask.objects.create(participant=locked, opened_by_consent=consent, opened_at=recorded)
        old_status = locked.status
        locked.status = target.value
        locked.save(update_fields=["status"])
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="consent.record",
            object_type="participant",
            object_id=locked.screening_number,
            old={"status": old_status},
            new={**_content(consent), "status": target.value, "reconsent_task": None if task is None else task.pk},
        )
    participant.refresh_from_db()
    return consent


def complete_reconsent(
    participant: Participant,
    *,
    obtained_at: datetime,
    form_version: str,
    obtained_by: str,
    acting_user: User,
    channel: str,
    given_by: str = "participant",
) -> Consent:
    """Record the written re-consent that closes the participant's open re-consent task; audited."""
    check_channel(channel)
    when, form_version, obtained_by = _checked_fields("written", given_by, obtained_at, form_version, obtained_by)
    role = access.require(acting_user, Capability.RECORD_CONSENT, participant.site)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        task = (
            ReconsentTask.objects.select_for_update()
            .filter(participant=locked, completed_at__isnull=True)
            .order_by("opened_at")
            .first()
        )
        if task is None:
            raise ActionRefused(f"participant {locked.screening_number} has no open re-consent task")
        if when < task.opened_by_consent.obtained_at:
            raise InputError("obtained_at", "the re-consent cannot precede the emergency consent")
        recorded = now()
        consent = Consent.objects.create(
            participant=locked,
            consent_type="written",
            given_by=given_by,
            obtained_at=when,
            form_version=form_version,
            obtained_by=obtained_by,
            is_reconsent=True,
            recorded_by=acting_user,
            recorded_at=recorded,
            channel=channel,
        )
        task.completed_by_consent = consent
        task.completed_at = recorded
        task.save(update_fields=["completed_by_consent", "completed_at"])
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="consent.reconsent",
            object_type="participant",
            object_id=locked.screening_number,
            old={"reconsent_task": task.pk, "open": True},
            new={**_content(consent), "reconsent_task": task.pk, "open": False},
        )
    return consent


def consents_of(participant: Participant) -> list[Consent]:
    """The participant's consents, oldest first (the caller has checked access)."""
    return list(Consent.objects.filter(participant=participant).order_by("obtained_at", "id"))


def open_reconsent_tasks(user: User) -> list[ReconsentTask]:
    """Open re-consent tasks of the participants the user may see, oldest first."""
    return list(
        ReconsentTask.objects.filter(
            completed_at__isnull=True, participant__in=access.visible_participants(user)
        ).select_related("participant", "participant__site", "opened_by_consent")
    )
