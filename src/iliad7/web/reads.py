"""What the pages and the API read, each a fixed number of queries, over participants already checked.

Callers first get a participant through `iliad7.store.access.access_participant`
(NotFound alike for missing and forbidden); the functions here only shape what
the store holds about that participant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from iliad7.accounts.roles import ROLES
from iliad7.store import access

if TYPE_CHECKING:
    from iliad7.store.models import ItemValue, Participant, User

# Who may read the audit trail (read-only): the store has no capability for it
# yet, so the web app names the roles the brief gives: monitors (their sites'
# records) and data managers (all).
AUDIT_READERS = frozenset({"monitor", "data-manager"})


def role_titles(user: User) -> list[str]:
    return [ROLES[r].title for r in sorted(access.roles_of(user))]


def may_read_audit(user: User) -> bool:
    return bool(AUDIT_READERS & access.roles_of(user))


@dataclass(frozen=True)
class ItemRow:
    """One item with its current value and every version (oldest first)."""

    form: str
    visit: str
    instance: int
    item: str
    current: ItemValue
    versions: tuple[ItemValue, ...]


def items_with_history(participant: Participant) -> list[ItemRow]:
    """Every item of the participant with all its versions, in one query."""
    from iliad7.store.models import ItemValue

    grouped: dict[tuple[str, str, int, str], list[ItemValue]] = {}
    rows = (
        ItemValue.objects.filter(participant=participant)
        .select_related("recorded_by")
        .order_by("form", "visit", "instance", "item", "version")
    )
    for v in rows:
        grouped.setdefault((v.form, v.visit, v.instance, v.item), []).append(v)
    return [
        ItemRow(form, visit, instance, item, versions[-1], tuple(versions))
        for (form, visit, instance, item), versions in grouped.items()
    ]


def screening_data(participant: Participant) -> tuple[dict[str, Any] | None, Any]:
    """(record dict, the saved version) of the latest saved screening, or (None, None)."""
    from iliad7.store.actions import latest_screening

    version = latest_screening(participant)
    if version is None:
        return None, None
    return dict(version.data), version


def saved_verdict(version: Any) -> dict[str, Any] | None:
    """The verdict stored with a screening version, as `screen(...).as_contract()` gave it when saved."""
    if version is None:
        return None
    return {
        "verdict": version.verdict,
        "criteria": list(version.criteria),
        "failed": list(version.failed),
        "unknown": list(version.unknown),
    }


def calendar(participant: Participant) -> tuple[date | None, list[Any]]:
    """(day 0, the visit calendar) once randomized.

    Day 0 is the site-local date of dose 1 (`iliad7.dosing`); before dose 1 is
    given, the calendar is shown as if it were given today. Dose visits whose
    dose was given are done.
    """
    if not participant.usubjid:
        return None, []
    from iliad7.protocol import load_protocol
    from iliad7.schedule import participant_calendar
    from iliad7.store.actions import doses_given
    from iliad7.store.actions.pharmacy import site_zone

    zone = site_zone(participant.site)
    given = {d.dose_number: d.given_at.astimezone(zone).date() for d in doses_given(participant)}
    today = datetime.now(UTC).astimezone(zone).date()
    day0 = given.get(1, today)
    schedule = load_protocol().schedule
    done = {v.id: given[v.dose] for v in schedule.visits if v.dose is not None and v.dose in given}
    return day0, participant_calendar(schedule, day0=day0, today=today, done=done)


def audit_records(user: User, *, limit: int = 500) -> list[Any]:
    """The latest audit records the user may read: all for a data manager, their sites' for a monitor."""
    from django.db.models import Q

    from iliad7.store.models import AuditRecord

    roles = access.roles_of(user)
    if not (AUDIT_READERS & roles):
        from iliad7.errors import AccessDenied

        raise AccessDenied(f"user {user.username!r} may not read the audit trail")
    records = AuditRecord.objects.order_by("-id")
    if "data-manager" not in roles:
        numbers = list(access.visible_participants(user).values_list("screening_number", flat=True))
        if not numbers:
            return []
        # Participant records are keyed by screening number; item values by "NUMBER/...".
        query = Q(object_id__in=numbers)
        for n in numbers:
            query |= Q(object_id__startswith=f"{n}/")
        records = records.filter(query)
    return list(records[:limit])
