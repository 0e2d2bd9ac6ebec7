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


# ---------------------------------------------------------------- data capture (issue 5)


@dataclass(frozen=True)
class Calendar:
    """A participant's visit calendar and dose plan, with the dates that end or shorten follow-up."""

    day0: date | None
    dose1_given: bool
    visits: list[Any]
    doses: list[Any]
    discharge_date: date | None
    death_date: date | None
    withdrawal_date: date | None


def full_calendar(participant: Participant) -> Calendar:
    """The calendar once randomized, from the schedule and the saved stay, death and end-of-study forms.

    Day 0 is the site-local date of dose 1; before dose 1 the calendar is shown
    as if it were given today, and there is no dose plan yet. Dose visits whose
    dose was given are done; other visits are done when a form was saved at them.
    """
    if not participant.usubjid:
        return Calendar(None, False, [], [], None, None, None)
    from iliad7.protocol import load_protocol
    from iliad7.schedule import participant_calendar
    from iliad7.store.actions import doses_given
    from iliad7.store.actions.capture import capture_context
    from iliad7.store.models import ItemValue

    context = capture_context(participant)
    zone = context.zone
    moment = datetime.now(UTC)
    given_rows = doses_given(participant)
    given_at = {d.dose_number: d.given_at for d in given_rows}
    given = {n: at.astimezone(zone).date() for n, at in given_at.items()}
    today = moment.astimezone(zone).date()
    day0 = given.get(1, today)
    protocol = load_protocol()
    schedule = protocol.schedule
    done: dict[str, date] = {v.id: given[v.dose] for v in schedule.visits if v.dose is not None and v.dose in given}
    saved_at = ItemValue.objects.filter(participant=participant).exclude(visit="").values_list("visit", "recorded_at")
    visit_only = {v.id for v in schedule.visits if v.dose is None}
    for visit, at in saved_at:
        if visit not in visit_only:
            continue  # a dose visit is done when its dose is given
        when = at.astimezone(zone).date()
        if visit not in done or when < done[visit]:
            done[visit] = when
    discharge = context.discharge_date if context.discharge_date and context.discharge_date >= day0 else None
    visits = participant_calendar(
        schedule,
        day0=day0,
        today=today,
        done=done,
        discharge_date=discharge,
        death_date=context.death_date,
        withdrawal_date=context.withdrawal_date,
    )
    doses: list[Any] = []
    if 1 in given_at:
        from iliad7.dosing import dose_plan

        doses = dose_plan(
            protocol.dosing,
            given=given_at,
            now=moment,
            tz=zone,
            discharge_date=discharge,
            death_date=context.death_date,
            withdrawal_date=context.withdrawal_date,
        )
    return Calendar(day0, 1 in given_at, visits, doses, discharge, context.death_date, context.withdrawal_date)


def form_entries(participant: Participant, form: str) -> list[tuple[str, int]]:
    """(visit, instance) of every saved entry of one form of the participant, in order."""
    from iliad7.store.models import ItemValue

    rows = ItemValue.objects.filter(participant=participant, form=form).values_list("visit", "instance").distinct()
    return sorted(set(rows))


def saved_forms(participant: Participant) -> dict[str, list[tuple[str, int]]]:
    """Every form of the participant with saved data: {form: [(visit, instance), ...]}."""
    from iliad7.store.models import ItemValue

    found: dict[str, set[tuple[str, int]]] = {}
    rows = ItemValue.objects.filter(participant=participant).values_list("form", "visit", "instance").distinct()
    for form, visit, instance in rows:
        found.setdefault(form, set()).add((visit, instance))
    return {form: sorted(entries) for form, entries in found.items()}


def form_queries(participant: Participant, form: str, visit: str, instance: int) -> dict[str, list[Any]]:
    """The queries on one form entry by item, each with its `steps` (oldest first), in two queries."""
    from iliad7.store.models import DataQuery, QueryEvent

    queries = list(
        DataQuery.objects.filter(participant=participant, form=form, visit=visit, instance=instance)
        .select_related("raised_by")
        .order_by("raised_at", "id")
    )
    steps: dict[int, list[Any]] = {}
    for event in QueryEvent.objects.filter(query__in=queries).select_related("by").order_by("at", "id"):
        steps.setdefault(event.query_id, []).append(event)  # type: ignore[attr-defined]
    by_item: dict[str, list[Any]] = {}
    for query in queries:
        query.steps = steps.get(query.pk, [])  # type: ignore[attr-defined]
        by_item.setdefault(query.item, []).append(query)
    return by_item


def participant_queries(participant: Participant) -> list[Any]:
    """Every query of the participant with its steps, oldest first."""
    from iliad7.store.models import DataQuery, QueryEvent

    queries = list(
        DataQuery.objects.filter(participant=participant).select_related("raised_by").order_by("raised_at", "id")
    )
    steps: dict[int, list[Any]] = {}
    for event in QueryEvent.objects.filter(query__in=queries).select_related("by").order_by("at", "id"):
        steps.setdefault(event.query_id, []).append(event)  # type: ignore[attr-defined]
    for query in queries:
        query.steps = steps.get(query.pk, [])  # type: ignore[attr-defined]
    return queries


def access_query(user: User, query_id: int) -> Any:
    """A query the user may see (through its participant): NotFound alike for missing and other-site."""
    from iliad7.errors import NotFound
    from iliad7.store.models import DataQuery

    query = DataQuery.objects.select_related("participant", "participant__site").filter(pk=query_id).first()
    if query is None:
        raise NotFound(f"query {query_id}")
    access.access_participant(user, query.participant.screening_number)
    return query


def casebook_signatures(participant: Participant) -> list[Any]:
    """The participant's casebook signatures, newest first, each with `verification`: whether it still holds."""
    from iliad7.store.actions.signatures import verify_signature
    from iliad7.store.models import Signature

    rows = list(
        Signature.objects.filter(target_type="participant", target_id=participant.screening_number)
        .select_related("signer")
        .order_by("-signed_at", "-id")
    )
    for row in rows:
        row.verification = verify_signature(row)  # type: ignore[attr-defined]
    return rows
