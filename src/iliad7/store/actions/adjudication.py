"""Blind adjudication of secondary infections by the Secondary Infections Committee (SIC).

Site staff report each suspected infection on a SECONDARY-INFECTION form (site, organism,
onset, culture). An infection adjudicator (trial-wide, blinded) reads every reported infection
with what the form says and nothing about the treatment, and records a decision — `confirmed`
or `not_confirmed` — with a rationale. A changed decision is a new version with its reason;
nothing is overwritten. The SAP's secondary-infection outcomes count confirmed infections only
(docs/sap.md 3.5.5); an infection not yet adjudicated is listed as pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.errors import InputError, NotFound
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now, require_instance, require_text
from iliad7.store.models import InfectionAdjudication, ItemValue, Participant, User

FORM = "SECONDARY-INFECTION"
DECISIONS = InfectionAdjudication.DECISIONS
# What the committee reads of each report: the form's items (none of them can reveal the arm).
REPORTED_ITEMS = ("onset_date", "infection_site", "organism_type", "organism", "culture_confirmed", "description")


@dataclass(frozen=True)
class ReportedInfection:
    """One SECONDARY-INFECTION form with the committee's current decision (None: pending)."""

    screening_number: str
    usubjid: str
    site: str
    instance: int
    reported: dict[str, str]
    decision: str | None
    rationale: str
    adjudicated_by: str
    adjudicated_at: datetime | None
    version: int


def _reported(participant: Participant) -> dict[int, dict[str, str]]:
    latest: dict[tuple[int, str], ItemValue] = {}
    for value in ItemValue.objects.filter(participant=participant, form=FORM).order_by("instance", "item", "version"):
        latest[(value.instance, value.item)] = value
    forms: dict[int, dict[str, str]] = {}
    for (instance, item), value in latest.items():
        if item in REPORTED_ITEMS:
            forms.setdefault(instance, {})[item] = value.value
    return forms


def reported_infections(user: User, participant: Participant | None = None) -> list[ReportedInfection]:
    """Every reported infection the user may see (one participant's, or all), with its current decision.

    The committee reaches participants through ADJUDICATE_INFECTION (it cannot view them otherwise);
    other roles through VIEW_PARTICIPANTS.
    """
    capability = (
        Capability.ADJUDICATE_INFECTION
        if access.can(user, Capability.ADJUDICATE_INFECTION)
        else Capability.VIEW_PARTICIPANTS
    )
    if participant is not None:
        access.require(user, capability, participant.site)
        participants = [participant]
    else:
        participants = list(access.visible_participants(user, capability).select_related("site"))
    found: list[ReportedInfection] = []
    for p in sorted(participants, key=lambda p: p.screening_number):
        decisions: dict[int, InfectionAdjudication] = {}
        for row in InfectionAdjudication.objects.filter(participant=p).select_related("by").order_by("version"):
            decisions[row.instance] = row
        for instance, reported in sorted(_reported(p).items()):
            current = decisions.get(instance)
            found.append(
                ReportedInfection(
                    screening_number=p.screening_number,
                    usubjid=p.usubjid or "",
                    site=p.site.code,
                    instance=instance,
                    reported=reported,
                    decision=current.decision if current else None,
                    rationale=current.rationale if current else "",
                    adjudicated_by=current.by.username if current else "",
                    adjudicated_at=current.at if current else None,
                    version=current.version if current else 0,
                )
            )
    return found


def adjudicate_infection(
    participant: Participant,
    instance: int,
    *,
    decision: str,
    rationale: str,
    acting_user: User,
    channel: str,
) -> InfectionAdjudication:
    """Record the committee's decision on one reported infection (a new version; audited)."""
    check_channel(channel)
    instance = require_instance(instance)
    role = access.require(acting_user, Capability.ADJUDICATE_INFECTION, participant.site)
    if decision not in DECISIONS:
        raise InputError("decision", f"one of {', '.join(DECISIONS)}, not {decision!r}")
    rationale = require_text("rationale", rationale, "the committee's rationale")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if instance not in _reported(locked):
            raise NotFound(f"participant {locked.screening_number} has no reported infection #{instance}")
        previous = InfectionAdjudication.objects.filter(participant=locked, instance=instance).aggregate(
            last=Max("version")
        )["last"]
        row = InfectionAdjudication.objects.create(
            participant=locked,
            instance=instance,
            version=(previous or 0) + 1,
            decision=decision,
            rationale=rationale,
            by=acting_user,
            at=now(),
            channel=channel,
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="infection.adjudicated",
            object_type="infection",
            object_id=f"{locked.screening_number}#{instance}",
            new={"decision": decision, "version": row.version},
            reason=rationale,
        )
    return row
