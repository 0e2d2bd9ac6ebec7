"""What the pages and the API read, each a fixed number of queries, over participants already checked.

Callers first get a participant through `iliad7.store.access.access_participant`
(NotFound alike for missing and forbidden); the functions here only shape what
the store holds about that participant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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


def syringes(participant: Participant) -> list[dict[str, Any]]:
    """The prepared syringes as the ward sees them, then the next dose as "pending pharmacy".

    Only what is the same for both arms: dose number, label, volume, when prepared. A preparation is
    refused alike for both arms (a stock-out holds up every participant), so which doses are pending
    says nothing about the arm.
    """
    from iliad7.store.models import DoseAdministration, Preparation

    given = set(DoseAdministration.objects.filter(participant=participant).values_list("dose_number", flat=True))
    rows: list[dict[str, Any]] = [
        {"dose_number": n, "label": label, "volume_ml": volume, "prepared_at": at, "given": n in given}
        for n, label, volume, at in Preparation.objects.filter(participant=participant)
        .order_by("dose_number")
        .values_list("dose_number", "label", "volume_ml", "prepared_at")
    ]
    following = max([r["dose_number"] for r in rows] + list(given) + [0]) + 1
    from iliad7.protocol import load_protocol

    if following <= load_protocol().dosing.max_doses and participant.status in ("randomized", "on_treatment"):
        rows.append({"dose_number": following, "label": "", "volume_ml": None, "prepared_at": None, "given": False})
    return rows


def doses_to_prepare(participant: Participant) -> list[int]:
    """The dose numbers the pharmacy may prepare next: not prepared yet, and due or upcoming in the dose
    plan (dose 1 before it is given); a missed dose, or one after discharge or death, is not offered."""
    from iliad7.dosing import DoseStatus
    from iliad7.protocol import load_protocol
    from iliad7.store.models import Preparation

    if not participant.usubjid or participant.status not in ("randomized", "on_treatment"):
        return []
    prepared = set(Preparation.objects.filter(participant=participant).values_list("dose_number", flat=True))
    plan = full_calendar(participant).doses
    if not plan:  # dose 1 not given yet: the plan starts with it
        return [n for n in range(1, load_protocol().dosing.max_doses + 1) if n not in prepared][:1]
    open_statuses = (DoseStatus.DUE, DoseStatus.UPCOMING)
    return [d.dose for d in plan if d.status in open_statuses and d.dose not in prepared]


# Actions whose audit records follow the arm (drug stock); only the unblinded pharmacist reads them.
def _pharmacy_only_actions() -> tuple[str, ...]:
    from iliad7.store.actions.pharmacy import PHARMACY_ONLY_AUDIT_ACTIONS

    return PHARMACY_ONLY_AUDIT_ACTIONS


@dataclass(frozen=True)
class AuditFilter:
    """What the audit trail page and API narrow the records to (every field optional)."""

    participant: str = ""  # a screening number: its records and its item values' ("NUMBER/...")
    actor: str = ""  # a user name, exactly (case-insensitive)
    action: str = ""  # an action ("dose.given") or a family ending in a dot ("dose.")
    since: date | None = None  # first day, inclusive (UTC)
    until: date | None = None  # last day, inclusive (UTC)


def audit_query(user: User, filters: AuditFilter | None = None) -> Any:
    """The audit records the user may read, newest first, as a query: all for a data manager, their sites'
    participants' for a monitor; never the drug stock's (receipts, wastage, returns:
    `PHARMACY_ONLY_AUDIT_ACTIONS`), whose counts and timing follow the arm (the readers are blinded);
    the preparation and dose records, the same for both arms, are read.
    """
    from django.db.models import Q

    from iliad7.store.models import AuditRecord

    roles = access.roles_of(user)
    if not (AUDIT_READERS & roles):
        from iliad7.errors import AccessDenied

        raise AccessDenied(f"user {user.username!r} may not read the audit trail")
    records = AuditRecord.objects.exclude(action__in=_pharmacy_only_actions()).order_by("-id")
    if "data-manager" not in roles:
        numbers = list(access.visible_participants(user).values_list("screening_number", flat=True))
        if not numbers:
            return records.none()
        # Participant records are keyed by screening number; item values by "NUMBER/...".
        query = Q(object_id__in=numbers)
        for n in numbers:
            query |= Q(object_id__startswith=f"{n}/")
        records = records.filter(query)
    f = filters or AuditFilter()
    if f.participant:
        number = f.participant.strip().upper()
        records = records.filter(Q(object_id=number) | Q(object_id__startswith=f"{number}/"))
    if f.actor:
        records = records.filter(actor__iexact=f.actor.strip())
    if f.action:
        action = f.action.strip()
        records = records.filter(action__startswith=action) if action.endswith(".") else records.filter(action=action)
    if f.since is not None:
        records = records.filter(at__gte=datetime.combine(f.since, datetime.min.time(), tzinfo=UTC))
    if f.until is not None:
        records = records.filter(at__lt=datetime.combine(f.until + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
    return records


def audit_records(user: User, *, limit: int = 500, filters: AuditFilter | None = None, offset: int = 0) -> list[Any]:
    """The latest audit records the user may read (`audit_query`), `limit` of them from `offset`."""
    return list(audit_query(user, filters)[offset : offset + limit])


def audit_actions(user: User) -> list[str]:
    """The actions that occur in the records the user may read, for the page's filter."""
    return sorted(set(audit_query(user).order_by().values_list("action", flat=True).distinct()))


def audit_changes(old_value: str, new_value: str) -> list[dict[str, Any]]:
    """The old and new values of an audit record (canonical JSON) as rows: field, old, new, changed.

    Nested values are shown as compact JSON, moments as ``YYYY-MM-DD HH:MM:SS UTC``; a value that is
    not a JSON object (a list, a number) is one row named ``value``.
    """
    old, new = _json_object(old_value), _json_object(new_value)
    keys = list(new) + [k for k in old if k not in new]
    return [
        {
            "field": key,
            "old": _shown(old[key]) if key in old else "",
            "new": _shown(new[key]) if key in new else "",
            "changed": bool(old) and (key not in old or key not in new or old[key] != new[key]),
        }
        for key in keys
    ]


def _json_object(text: str) -> dict[str, Any]:
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    return value if isinstance(value, dict) else {"value": value}


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _shown(value: Any) -> str:
    import json

    from iliad7.web.templatetags.iliad7_format import moment_text

    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return moment_text(value, seconds=True) if _MOMENT.match(value) else value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


# ---------------------------------------------------------------- data capture (issue 5)


@dataclass(frozen=True)
class Calendar:
    """A participant's visit calendar and dose plan, with the dates that end or shorten follow-up.

    `progress` holds each visit's forms and those saved (`iliad7.schedule.completion`); `data_cut`
    the moment follow-up was entered up to, when one is set: the calendar is then read at it.
    """

    day0: date | None
    dose1_given: bool
    visits: list[Any]
    doses: list[Any]
    discharge_date: date | None
    death_date: date | None
    withdrawal_date: date | None
    progress: dict[str, Any] = field(default_factory=dict)
    data_cut: datetime | None = None


def full_calendar(participant: Participant) -> Calendar:
    """The calendar of one participant (see `calendars`)."""
    return calendars([participant])[participant.pk]


def calendars(participants: list[Participant], *, moment: datetime | None = None) -> dict[int, Calendar]:
    """Each randomized participant's calendar, in a fixed number of queries however many there are.

    Day 0 is the site-local date of dose 1; before dose 1 the calendar is shown as if it were given
    today, and there is no dose plan yet. A visit is done when its forms are saved, the screening of
    a randomized participant by its screening record (`iliad7.schedule.completion`). Statuses are
    read on the site's today, or at the participant's data cut when one is set and earlier. The
    participants were reached through `access` by the caller; nothing here reads the arm.
    """
    from django.db.models import Max, Min

    from iliad7.protocol import load_protocol
    from iliad7.schedule import visit_forms
    from iliad7.store.actions.capture import FOLLOW_UP_FORMS
    from iliad7.store.actions.data_cut import data_cuts
    from iliad7.store.actions.pharmacy import site_zone
    from iliad7.store.models import DoseAdministration, DoseCorrection, ItemValue, ScreeningVersion

    empty = Calendar(None, False, [], [], None, None, None)
    randomized = [p for p in participants if p.usubjid]
    result = {p.pk: empty for p in participants if not p.usubjid}
    if not randomized:
        return result
    ids = [p.pk for p in randomized]
    now_ = moment or datetime.now(UTC)
    protocol = load_protocol()
    forms = visit_forms(protocol)
    # Doses given, each as its latest version (as `doses_given` reads them).
    given_at: dict[int, dict[int, datetime]] = {}
    dose_keys: dict[int, tuple[int, int]] = {}
    for pk, participant_id, number, at in DoseAdministration.objects.filter(participant_id__in=ids).values_list(
        "pk", "participant_id", "dose_number", "given_at"
    ):
        given_at.setdefault(participant_id, {})[number] = at
        dose_keys[pk] = (participant_id, number)
    corrections = DoseCorrection.objects.filter(dose_id__in=list(dose_keys)).order_by("version")
    for dose_id, at in corrections.values_list("dose_id", "given_at"):
        participant_id, number = dose_keys[dose_id]
        given_at[participant_id][number] = at
    saved: dict[int, dict[str, dict[str, datetime]]] = {}
    for participant_id, visit, form, first in (
        ItemValue.objects.filter(participant_id__in=ids)
        .exclude(visit="")
        .values_list("participant_id", "visit", "form")
        .annotate(first=Min("recorded_at"))
        .values_list("participant_id", "visit", "form", "first")
    ):
        saved.setdefault(participant_id, {}).setdefault(visit, {})[form] = first
    current: dict[int, dict[str, dict[tuple[int, str], str]]] = {}
    for participant_id, form, instance, item, value in (
        ItemValue.objects.filter(participant_id__in=ids, form__in=FOLLOW_UP_FORMS)
        .order_by("participant_id", "form", "instance", "item", "version")
        .values_list("participant_id", "form", "instance", "item", "value")
    ):
        current.setdefault(participant_id, {}).setdefault(form, {})[(instance, item)] = value
    screened = dict(
        ScreeningVersion.objects.filter(participant_id__in=ids)
        .values_list("participant_id")
        .annotate(last=Max("recorded_at"))
        .values_list("participant_id", "last")
    )
    cuts = data_cuts(randomized)
    for participant in randomized:
        result[participant.pk] = _calendar(
            protocol, forms, participant, site_zone(participant.site), now_, given_at.get(participant.pk, {}),
            saved.get(participant.pk, {}), current.get(participant.pk, {}), screened.get(participant.pk),
            cuts.get(participant.pk),
        )  # fmt: skip
    return result


def _calendar(
    protocol: Any, forms: dict[str, tuple[str, ...]], participant: Participant, zone: Any, now_: datetime,
    given_at: dict[int, datetime], saved: dict[str, dict[str, datetime]], current: Any, screened: datetime | None,
    cut: datetime | None,
) -> Calendar:  # fmt: skip
    """One participant's calendar from what `calendars` read."""
    from iliad7.dosing import dose_plan
    from iliad7.schedule import calendar_inputs, participant_calendar, visit_progress
    from iliad7.store.actions.capture import follow_up_dates

    moment = min(now_, cut) if cut is not None else now_
    given = {n: at.astimezone(zone).date() for n, at in given_at.items()}
    today = moment.astimezone(zone).date()
    day0 = given.get(1, today)
    saved_on = {visit: {f: at.astimezone(zone).date() for f, at in by_form.items()} for visit, by_form in saved.items()}
    progress = visit_progress(
        forms, saved_on, screening_done_on=screened.astimezone(zone).date() if screened is not None else day0
    )
    done, started = calendar_inputs(progress)
    discharge, death, withdrawal = follow_up_dates(current, zone)
    discharge = discharge if discharge and discharge >= day0 else None
    visits = participant_calendar(
        protocol.schedule,
        day0=day0,
        today=today,
        done=done,
        started=started,
        discharge_date=discharge,
        death_date=death,
        withdrawal_date=withdrawal,
    )
    doses: list[Any] = []
    if 1 in given_at:
        doses = dose_plan(
            protocol.dosing,
            given=given_at,
            now=moment,
            tz=zone,
            discharge_date=discharge,
            death_date=death,
            withdrawal_date=withdrawal,
        )
    return Calendar(day0, 1 in given_at, visits, doses, discharge, death, withdrawal, progress, cut)


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
