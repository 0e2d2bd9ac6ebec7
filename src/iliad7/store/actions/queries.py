"""Data-capture reads (issue 5): a form's saved values and flags, open queries, serious-AE clocks.

Each read goes through `iliad7.store.access` (site scoping); none touches the arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from iliad7.accounts.roles import Capability
from iliad7.capture import sae_deadline
from iliad7.store import access
from iliad7.store.actions._common import now
from iliad7.store.actions.capture import casebook_locked, form_locked, source_verified
from iliad7.store.models import DataQuery, ItemValue, Participant, QueryEvent, User


@dataclass(frozen=True)
class SavedForm:
    """A form's latest values, its entered and derived items, and its review flags."""

    form: str
    visit: str
    instance: int
    values: dict[str, ItemValue]  # entered items
    derived: dict[str, ItemValue]  # values derived on save (their `derivation` says from what)
    source_verified: bool
    locked: bool


def saved_form(participant: Participant, form: str, visit: str = "", instance: int = 1) -> SavedForm:
    """The latest version of each item of one form (the caller has checked access to the participant)."""
    latest: dict[str, ItemValue] = {}
    for row in ItemValue.objects.filter(participant=participant, form=form, visit=visit, instance=instance).order_by(
        "item", "version"
    ):
        latest[row.item] = row
    return SavedForm(
        form=form,
        visit=visit,
        instance=instance,
        values={k: v for k, v in latest.items() if v.derivation is None},
        derived={k: v for k, v in latest.items() if v.derivation is not None},
        source_verified=source_verified(participant, form, visit, instance),
        locked=form_locked(participant, form, visit, instance) or casebook_locked(participant),
    )


def open_queries(user: User) -> list[DataQuery]:
    """Queries not yet closed (open or answered) of the participants `user` may see with query rights."""
    sites = access.visible_sites(user, Capability.VIEW_QUERIES)
    return list(
        DataQuery.objects.filter(participant__site__in=sites)
        .exclude(status="closed")
        .select_related("participant", "participant__site")
        .order_by("raised_at", "id")
    )


def query_history(query: DataQuery) -> list[QueryEvent]:
    """Every step of a query, oldest first."""
    return list(QueryEvent.objects.filter(query=query).select_related("by").order_by("at", "id"))


@dataclass(frozen=True)
class SaeClock:
    """One serious adverse event's 24-hour reporting clock."""

    screening_number: str
    instance: int
    term: str
    awareness_at: datetime
    deadline: datetime
    reported_at: datetime | None
    overdue: bool

    @property
    def open(self) -> bool:
        return self.reported_at is None


def sae_clocks(user: User, *, at: datetime | None = None) -> list[SaeClock]:
    """The serious adverse events of the participants `user` sees, with their reporting deadlines, soonest first.

    A clock is `overdue` when the event was not reported by its deadline (reported late, or
    still unreported at `at`, default now).
    """
    moment = at or now()
    participants = access.visible_participants(user)
    events: dict[tuple[int, int], dict[str, str]] = {}
    numbers: dict[int, str] = {}
    rows = (
        ItemValue.objects.filter(participant__in=participants, form="ADVERSE-EVENT")
        .order_by("participant_id", "instance", "item", "version")
        .values_list("participant_id", "instance", "item", "value")
    )
    for participant_id, instance, item, value in rows:
        events.setdefault((participant_id, instance), {})[item] = value
        numbers[participant_id] = ""
    for participant in Participant.objects.filter(pk__in=numbers):
        numbers[participant.pk] = participant.screening_number
    clocks: list[SaeClock] = []
    for (participant_id, instance), values in events.items():
        if values.get("serious") != "true" or not values.get("awareness_at"):
            continue
        aware = datetime.fromisoformat(values["awareness_at"])
        deadline = sae_deadline({"serious": True, "awareness_at": aware})
        reported = datetime.fromisoformat(values["sae_reported_at"]) if values.get("sae_reported_at") else None
        overdue = (reported or moment) > deadline
        clocks.append(
            SaeClock(numbers[participant_id], instance, values.get("term", ""), aware, deadline, reported, overdue)
        )
    return sorted(clocks, key=lambda c: (c.deadline, c.screening_number, c.instance))
