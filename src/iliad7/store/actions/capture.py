"""Data capture writes (issue 5): save a form, queries, source-data verification, locks, the casebook signature.

`save_form` checks the whole form with `iliad7.capture` first: on any error it
stores nothing and raises `FormRejected` carrying every field's message (and
what was typed). Otherwise, in one transaction, each changed item becomes a
new `ItemValue` version through `record_item_value` (one audit row each), the
values derived on save (NEWS2, SOFA, WHO scale, CTCAE grades) are written the
same way marked with their derivation, and one `form.save` audit row
summarises the save. Correcting a saved value needs a reason. A locked form
or casebook refuses every write. A change to a form whose source data were
verified clears its verification (audited as `form.sdv` with the reason):
the monitor verifies the new value again.

STUDY-DRUG follows the dose record: `record_dose_given` (pharmacy) writes it
through `write_form` in the dose's transaction; `save_form` refuses it with
`given` true, or at a visit whose dose is recorded, and saves only a dose not
given.

Queries: a monitor or data manager raises one on an item (`open`), the site
answers it (`answered`), the monitor closes it (`closed`) or reopens it
(`open`). Each step is an append-only `QueryEvent` and an audit row.

Casebook signature rule (`sign_casebook`): the investigator may sign when no
query of the participant is open or answered (all are closed) and the
END-OF-STUDY form has been saved (follow-up has ended, so nothing more is
expected); the signature uses `sign_record` with the meaning "I approve this
casebook" and is bound to the casebook's content, so any later correction
breaks it.

Nothing here reads or writes the arm.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.audit.chain import canonical_json
from iliad7.capture import CaptureContext, Derived, FieldMessage, FormCheck, derive, form_spec, validate_form
from iliad7.capture.checks import Raw
from iliad7.errors import ActionRefused, InputError, NotFound
from iliad7.store import access
from iliad7.store.actions._common import (
    check_channel,
    current_protocol,
    now,
    require_instance,
    require_text,
    require_visit,
)
from iliad7.store.models import DataQuery, ItemValue, Participant, QueryEvent, ReviewEvent, Signature, User

CASEBOOK_MEANING = "I approve this casebook"
# The derivation stored when a derived value's inputs were all cleared by a correction.
_CLEARED = canonical_json({"rule": "", "inputs": {}, "result": {"cleared": "its inputs were cleared"}})


class FormRejected(InputError):
    """A form with errors: nothing was stored. `check` holds every field's messages and typed text."""

    def __init__(self, check: FormCheck) -> None:
        first = check.errors[0]
        super().__init__(first.field, "; ".join(f"{m.field}: {m.message}" for m in check.errors))
        self.check = check
        self.messages = check.errors


@dataclass(frozen=True)
class FormSave:
    """What one save wrote: the new item versions, the derived values, the warnings kept."""

    form: str
    visit: str
    instance: int
    written: list[ItemValue]
    derived: dict[str, Derived]
    warnings: tuple[FieldMessage, ...]
    check: FormCheck
    sdv_cleared: bool = False
    unchanged: list[str] = field(default_factory=list)


# ---- reading what the checks need -------------------------------------------------------------


def _current(
    participant: Participant, form: str, visit: str = "", instance: int | None = None
) -> dict[tuple[int, str], ItemValue]:
    rows = ItemValue.objects.filter(participant=participant, form=form, visit=visit)
    if instance is not None:
        rows = rows.filter(instance=instance)
    latest: dict[tuple[int, str], ItemValue] = {}
    for row in rows.order_by("instance", "item", "version"):
        latest[(row.instance, row.item)] = row
    return latest


def _date_of(text: str, zone: Any) -> date | None:
    if not text:
        return None
    try:
        if "T" in text:
            return datetime.fromisoformat(text).astimezone(zone).date()
        return date.fromisoformat(text)
    except ValueError:
        return None


# The forms whose current values end or shorten follow-up (`follow_up_dates`).
FOLLOW_UP_FORMS = ("HOSPITAL-STAY", "DEATH", "END-OF-STUDY")


def follow_up_dates(
    current: Mapping[str, Mapping[tuple[int, str], str]], zone: Any
) -> tuple[date | None, date | None, date | None]:
    """(discharge, death, withdrawal) site-local dates from the current values of FOLLOW_UP_FORMS.

    `current` maps each form to {(instance, item): value}. Discharge is the end of the index
    hospitalisation (the first hospital stay that is not a readmission).
    """
    discharge: date | None = None
    stays: dict[int, dict[str, str]] = {}
    for (instance, item), value in current.get("HOSPITAL-STAY", {}).items():
        stays.setdefault(instance, {})[item] = value
    for instance in sorted(stays):
        stay = stays[instance]
        if stay.get("stay_type") == "hospital" and stay.get("readmission") == "false":
            discharge = _date_of(stay.get("discharged_at", ""), zone)
            break
    death = next((_date_of(v, zone) for (_, i), v in current.get("DEATH", {}).items() if i == "death_date"), None)
    ending = {i: v for (_, i), v in current.get("END-OF-STUDY", {}).items()}
    withdrawal = (
        _date_of(ending.get("end_date", ""), zone)
        if ending.get("end_status") in ("withdrew_consent", "withdrawn_by_investigator")
        else None
    )
    return discharge, death, withdrawal


def capture_context(participant: Participant, *, visit: str = "", at: datetime | None = None) -> CaptureContext:
    """The participant's T0, day 0 (date of dose 1 at the site), discharge, death and withdrawal, for the checks."""
    from iliad7.store.actions.pharmacy import dose_given, site_zone
    from iliad7.store.actions.randomization import randomized_at

    zone = site_zone(participant.site)
    first_dose = dose_given(participant, 1)  # as corrected
    day0 = first_dose.given_at.astimezone(zone).date() if first_dose is not None else None
    current: dict[str, dict[tuple[int, str], str]] = {}
    for form in FOLLOW_UP_FORMS:
        current[form] = {key: row.value for key, row in _current(participant, form).items()}
    discharge, death, withdrawal = follow_up_dates(current, zone)
    return CaptureContext(
        now=at or now(),
        randomized_at=randomized_at(participant),
        day0=day0,
        zone=zone,
        visit=visit,
        discharge_date=discharge,
        death_date=death,
        withdrawal_date=withdrawal,
    )


def _lab_baselines(participant: Participant) -> dict[str, tuple[str, str]]:
    return {item: (row.value, row.unit) for (_, item), row in _current(participant, "LAB", "BASELINE", 1).items()}


# ---- locks and verification ---------------------------------------------------------------------


def _latest_flag(participant: Participant, kind: str, form: str = "", visit: str = "", instance: int = 1) -> bool:
    event = (
        ReviewEvent.objects.filter(participant=participant, kind=kind, form=form, visit=visit, instance=instance)
        .order_by("-at", "-id")
        .first()
    )
    return bool(event is not None and event.value)


def casebook_locked(participant: Participant) -> bool:
    return _latest_flag(participant, "casebook_lock")


def form_locked(participant: Participant, form: str, visit: str = "", instance: int = 1) -> bool:
    return _latest_flag(participant, "form_lock", form, visit, instance)


def source_verified(participant: Participant, form: str, visit: str = "", instance: int = 1) -> bool:
    return _latest_flag(participant, "sdv", form, visit, instance)


def refuse_if_locked(participant: Participant, *, form: str, visit: str = "", instance: int = 1) -> None:
    """ActionRefused when the participant's casebook, or this form, is locked."""
    if casebook_locked(participant):
        raise ActionRefused(f"the casebook of {participant.screening_number} is locked: no data can be changed")
    if form_locked(participant, form, visit, instance):
        where = f" at {visit}" if visit else ""
        raise ActionRefused(f"form {form}{where} (instance {instance}) of {participant.screening_number} is locked")


def _review(
    participant: Participant,
    *,
    kind: str,
    value: bool,
    form: str,
    visit: str,
    instance: int,
    acting_user: User,
    role: str,
    channel: str,
    reason: str,
    action: str,
) -> ReviewEvent:
    event = ReviewEvent.objects.create(
        participant=participant,
        form=form,
        visit=visit,
        instance=instance,
        kind=kind,
        value=value,
        by=acting_user,
        at=now(),
        reason=reason,
        channel=channel,
    )
    trail.append(
        actor=acting_user.username,
        role=role,
        channel=channel,
        action=action,
        object_type="casebook" if not form else "form",
        object_id=participant.screening_number
        if not form
        else f"{participant.screening_number}/{form}/{visit}/{instance}",
        old={kind: not value},
        new={kind: value},
        reason=reason,
    )
    return event


# ---- saving a form ---------------------------------------------------------------------------


def save_form(
    participant: Participant,
    form_id: str,
    values: Mapping[str, Raw],
    *,
    visit: str = "",
    instance: int = 1,
    acting_user: User,
    channel: str,
    reason: str = "",
    only: Collection[str] | None = None,
    item_reasons: Mapping[str, str] | None = None,
) -> FormSave:
    """Check and save one form; raises FormRejected (nothing stored) when any item or check fails.

    Only changed items are written; a changed item that was saved before is a
    correction and needs `reason`. Derived values are written after the items
    they come from, in the same transaction; one `form.save` audit row lists
    what changed.

    `only` saves part of a form (the single-value write, an import): `values`
    gives those items, the form's stored values complete what the checks see
    (read under the participant's lock), every check runs on that whole form,
    `required` is enforced for the items given only (a form may be filled one
    value at a time), and every derived value of the form is recomputed.
    `item_reasons` gives some items a reason of their own (where an imported
    value came from), kept on their versions even when they are first entries.

    STUDY-DRUG follows the dose record (`record_dose_given` writes it): saving
    it here with `given` true, or at a visit whose dose is recorded, is refused
    (InputError naming `given`) with a pointer to the dose page; a dose not
    given (`given` false, with its reason) is saved here.
    """
    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    role = access.require(acting_user, Capability.RECORD_DATA, participant.site)
    if form_id == DOSE_FORM:
        _refuse_dose_given(participant, values, visit)
    return write_form(
        participant, form_id, values, visit=visit, instance=instance, acting_user=acting_user, role=role,
        channel=channel, reason=reason, only=only, item_reasons=item_reasons,
    )  # fmt: skip


#: The form a dose given fills; `record_dose_given` writes it, `save_form` only for a dose not given.
DOSE_FORM = "STUDY-DRUG"
DOSE_PAGE = (
    "record the dose given on the participant's page (Record a dose given) or with POST "
    "/api/participants/{sn}/doses, which fills the STUDY-DRUG form"
)


def dose_visit(dose_number: int) -> str:
    """The schedule visit of dose `dose_number` (BASELINE for dose 1, DOSE2 ... DOSE7)."""
    for visit in current_protocol().schedule.visits:
        if visit.dose == dose_number:
            return visit.id
    raise InputError("dose_number", f"no visit of the schedule gives dose {dose_number!r}")


def _refuse_dose_given(participant: Participant, values: Mapping[str, Raw], visit: str) -> None:
    from iliad7.store.actions.pharmacy import dose_given

    given = values.get("given")
    if given is True or (isinstance(given, str) and given.strip().lower() in ("true", "yes")):
        raise InputError("given", "a dose given is not entered on this form: " + DOSE_PAGE)
    dose = next((v.dose for v in current_protocol().schedule.visits if v.id == visit), None)
    if dose is not None:
        recorded = dose_given(participant, dose)
        if recorded is not None:
            raise InputError(
                "given",
                f"dose {dose} was recorded as given at {recorded.given_at.isoformat()}; this form follows that record "
                "(correct the dose itself: correct_dose)",
            )


def _merged(spec: Any, existing: Mapping[str, ItemValue], values: Mapping[str, Raw], only: set[str]) -> dict[str, Raw]:
    """The whole form for the checks: the stored (entered) values, with the items of `only` as given."""
    from iliad7.capture.spec import unit_key

    items = {i.id: i for i in spec.items}
    merged: dict[str, Raw] = {}
    for name, row in existing.items():
        if row.derivation is None and name in items and name not in only:
            merged[name] = row.value
            if row.unit and items[name].units:  # an LLN keeps its analyte's unit, it has no unit of its own
                merged[unit_key(name)] = row.unit
    for name in only:
        merged[name] = values.get(name)
        if unit_key(name) in values and (name not in items or items[name].units):
            merged[unit_key(name)] = values[unit_key(name)]
    for key, value in values.items():  # anything else given is checked too (an unknown key is an error)
        if key not in merged and not (key.endswith(".unit") and key.removesuffix(".unit") in only):
            merged[key] = value
    return merged


def _required_of_given_only(check: FormCheck, only: set[str]) -> FormCheck:
    """The check without `required` errors of the items not being saved (a form filled one value at a time)."""
    kept = tuple(m for m in check.messages if not (m.kind == "required" and m.field not in only))
    return FormCheck(check.form, check.visit, check.items, kept)


def write_form(
    participant: Participant,
    form_id: str,
    values: Mapping[str, Raw],
    *,
    visit: str = "",
    instance: int = 1,
    acting_user: User,
    role: str,
    channel: str,
    reason: str = "",
    only: Collection[str] | None = None,
    item_reasons: Mapping[str, str] | None = None,
) -> FormSave:
    """`save_form` after its access check, for actions that have checked the acting user's role themselves
    (`record_dose_given` writing STUDY-DRUG). Not for views: they call `save_form`."""
    spec = form_spec(current_protocol(), form_id)
    given = None if only is None else set(only)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("site").get(pk=participant.pk)
        # Checked once for the form, under the participant's row lock (a lock set meanwhile waits for it).
        refuse_if_locked(locked, form=form_id, visit=visit, instance=instance)
        existing = {item: row for (_, item), row in _current(locked, form_id, visit, instance).items()}
        if given is not None:
            values = _merged(spec, existing, values, given)
        check = validate_form(spec, values, context=capture_context(locked, visit=visit))
        if given is not None:
            check = _required_of_given_only(check, given)
        if not check.ok:
            raise FormRejected(check)
        baselines: dict[str, object] = {}
        if form_id == "LAB" and visit != "BASELINE":
            for analyte, (text, unit) in _lab_baselines(locked).items():
                result = check.items.get(analyte)
                if result is not None and result.unit and result.unit == unit and text:
                    baselines[analyte] = _decimal(text)
        derived = derive(form_id, check.parsed, baselines=baselines)
        planned: list[tuple[str, str, str, str | None]] = []  # item, value, unit, derivation
        for item in spec.items:
            result = check.items[item.id]
            new_value, new_unit = result.stored, result.unit if result.value is not None else ""
            old = existing.get(item.id)
            if old is None and not new_value:
                continue
            if old is not None and (old.value, old.unit) == (new_value, new_unit):
                continue
            planned.append((item.id, new_value, new_unit, None))
        if given is not None and not any(name in given for name, *_ in planned):
            raise InputError(sorted(given)[0] if len(given) == 1 else "values",
                             "the correction does not change the value or unit")  # fmt: skip
        for name, found in derived.items():
            derivation = canonical_json(found.derivation())
            old = existing.get(name)
            if old is not None and (old.value, old.unit, old.derivation) == (found.value, "", derivation):
                continue
            planned.append((name, found.value, "", derivation))
        for name, old in existing.items():
            # A derived value whose inputs were cleared is cleared too, never left stale.
            if old.derivation is not None and name not in derived and (old.value, old.derivation) != ("", _CLEARED):
                planned.append((name, "", "", _CLEARED))
        own = {name: text for name, text in (item_reasons or {}).items() if text.strip()}
        # A derived value follows its inputs: recomputing it is a correction only when an entered value is.
        corrections = [
            name for name, _, _, derived_json in planned
            if name in existing and name not in own and derived_json is None
        ]  # fmt: skip
        if corrections and not reason.strip():
            raise InputError("reason", f"correcting saved value(s) {', '.join(corrections)} needs a reason for change")
        written: list[ItemValue] = []
        from iliad7.store.actions.items import write_version

        saved_at = now()  # one save, one moment: every version it writes carries the same time
        for name, value, unit, derived_json in planned:
            item_reason = own.get(name) or (reason if name in existing else "")
            if derived_json is not None and name in existing:
                item_reason = f"recomputed on save: {reason}" if reason.strip() else "recomputed on save"
            written.append(
                write_version(
                    locked, form=form_id, item=name, value=value, unit=unit, visit=visit, instance=instance,
                    latest=existing.get(name), acting_user=acting_user, role=role, channel=channel,
                    reason=item_reason, derivation=derived_json, at=saved_at,
                )
            )  # fmt: skip
        sdv_cleared = False
        if written and source_verified(locked, form_id, visit, instance):
            _review(
                locked, kind="sdv", value=False, form=form_id, visit=visit, instance=instance, acting_user=acting_user,
                role=role, channel=channel, reason="data changed after source-data verification", action="form.sdv",
            )  # fmt: skip
            sdv_cleared = True
        summary: dict[str, Any] = {
            "written": [name for name, *_ in planned],
            "derived": {name: found.value for name, found in derived.items()},
            "warnings": [m.as_dict() for m in check.warnings],
        }
        if given is not None:
            summary["items"] = sorted(given)
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="form.save",
            object_type="form",
            object_id=f"{locked.screening_number}/{form_id}/{visit}/{instance}",
            new=summary,
            reason=reason,
        )
        if written and form_id in _STATUS_FORMS:
            _follow_status(locked, form_id, check.parsed, acting_user=acting_user, channel=channel)
    unchanged = [i.id for i in spec.items if i.id in existing and i.id not in {p[0] for p in planned}]
    return FormSave(form_id, visit, instance, written, derived, check.warnings, check, sdv_cleared, unchanged)


# Forms whose saving ends the participant's follow-up: the status follows the form.
_STATUS_FORMS = {"DEATH", "END-OF-STUDY"}
_END_STATUS = {
    "completed": "completed",
    "withdrew_consent": "withdrawn",
    "withdrawn_by_investigator": "withdrawn",
    "lost_to_follow_up": "lost_to_follow_up",
    "died": "died",
}


def _follow_status(
    participant: Participant, form_id: str, parsed: Mapping[str, object], *, acting_user: User, channel: str
) -> None:
    """Move the participant to the status a saved DEATH or END-OF-STUDY form records, when the
    state machine allows it from where they are (a form saved twice, or for a screen failure,
    changes nothing)."""
    from iliad7.accounts.status import allowed_next
    from iliad7.store.actions.participants import transition_participant

    target = "died" if form_id == "DEATH" else _END_STATUS.get(str(parsed.get("end_status", "")))
    if target is None or target not in {status.value for status in allowed_next(participant.status)}:
        return
    transition_participant(
        participant, target, acting_user=acting_user, channel=channel, reason=f"{form_id} form saved"
    )


def _decimal(text: str) -> object:
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# ---- queries ---------------------------------------------------------------------------------


def _query_event(query: DataQuery, kind: str, text: str, user: User, channel: str) -> QueryEvent:
    return QueryEvent.objects.create(
        query=query, kind=kind, text=text, status_after=query.status, by=user, at=now(), channel=channel
    )


def _query_audit(
    query: DataQuery, *, action: str, old: str | None, user: User, role: str, channel: str, text: str
) -> None:
    trail.append(
        actor=user.username,
        role=role,
        channel=channel,
        action=action,
        object_type="query",
        object_id=str(query.pk),
        old=None if old is None else {"status": old},
        new={
            "status": query.status,
            "participant": query.participant.screening_number,
            "form": query.form,
            "visit": query.visit,
            "instance": query.instance,
            "item": query.item,
            "text": text,
        },
    )


def raise_query(
    participant: Participant,
    *,
    form: str,
    item: str,
    visit: str = "",
    instance: int = 1,
    text: str,
    acting_user: User,
    channel: str,
) -> DataQuery:
    """Open a query on one item of a form (monitor at the site, or data manager); audited as `query.raise`."""
    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    role = access.require(acting_user, Capability.RAISE_QUERY, participant.site)
    text = require_text("text", text, "the query's question")
    spec = form_spec(current_protocol(), form)
    if item not in {i.id for i in spec.items}:
        raise InputError("item", f"form {form} has no item {item!r}")
    with transaction.atomic():
        query = DataQuery.objects.create(
            participant=participant, form=form, visit=visit, instance=instance, item=item, status="open",
            raised_by=acting_user, raised_at=now(),
        )  # fmt: skip
        _query_event(query, "raise", text, acting_user, channel)
        _query_audit(query, action="query.raise", old=None, user=acting_user, role=role, channel=channel, text=text)
    return query


def _move_query(
    query: DataQuery,
    *,
    capability: Capability,
    kind: str,
    allowed_from: tuple[str, ...],
    to: str,
    text: str,
    acting_user: User,
    channel: str,
) -> DataQuery:
    check_channel(channel)
    role = access.require(acting_user, capability, query.participant.site)
    with transaction.atomic():
        locked = DataQuery.objects.select_for_update().select_related("participant__site").get(pk=query.pk)
        if locked.status not in allowed_from:
            raise ActionRefused(
                f"query {locked.pk} is {locked.status}: it cannot be {kind}ed (only when {' or '.join(allowed_from)})"
            )
        old = locked.status
        locked.status = to
        locked.save(update_fields=["status"])
        _query_event(locked, kind, text, acting_user, channel)
        _query_audit(locked, action=f"query.{kind}", old=old, user=acting_user, role=role, channel=channel, text=text)
    query.refresh_from_db()
    return locked


def answer_query(query: DataQuery, *, text: str, acting_user: User, channel: str) -> DataQuery:
    """The site's answer to an open query (site staff); audited as `query.answer`."""
    text = require_text("text", text, "the answer")
    return _move_query(
        query, capability=Capability.ANSWER_QUERY, kind="answer", allowed_from=("open",), to="answered", text=text,
        acting_user=acting_user, channel=channel,
    )  # fmt: skip


def close_query(query: DataQuery, *, acting_user: User, channel: str, text: str = "") -> DataQuery:
    """Close an open or answered query (monitor or data manager); audited as `query.close`."""
    return _move_query(
        query, capability=Capability.RAISE_QUERY, kind="close", allowed_from=("open", "answered"), to="closed",
        text=text.strip(), acting_user=acting_user, channel=channel,
    )  # fmt: skip


def reopen_query(query: DataQuery, *, text: str, acting_user: User, channel: str) -> DataQuery:
    """Reopen an answered or closed query with a reason (monitor or data manager); audited as `query.reopen`."""
    text = require_text("text", text, "the reason to reopen")
    return _move_query(
        query, capability=Capability.RAISE_QUERY, kind="reopen", allowed_from=("answered", "closed"), to="open",
        text=text, acting_user=acting_user, channel=channel,
    )  # fmt: skip


# ---- source-data verification and locks ---------------------------------------------------------


def _form_saved(participant: Participant, form: str, visit: str, instance: int) -> None:
    if not ItemValue.objects.filter(participant=participant, form=form, visit=visit, instance=instance).exists():
        where = f" at {visit}" if visit else ""
        raise NotFound(f"no saved form {form}{where} (instance {instance}) for {participant.screening_number}")


def set_sdv(
    participant: Participant,
    form: str,
    visit: str = "",
    *,
    verified: bool,
    instance: int = 1,
    acting_user: User,
    channel: str,
) -> ReviewEvent:
    """Set or clear a saved form's source-data-verification flag (monitor); audited as `form.sdv`."""
    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    role = access.require(acting_user, Capability.VERIFY_SOURCE, participant.site)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        _form_saved(locked, form, visit, instance)
        if source_verified(locked, form, visit, instance) == verified:
            raise ActionRefused(f"form {form} is already {'verified' if verified else 'not verified'}")
        return _review(
            locked, kind="sdv", value=verified, form=form, visit=visit, instance=instance, acting_user=acting_user,
            role=role, channel=channel, reason="", action="form.sdv",
        )  # fmt: skip


def _set_lock(
    participant: Participant, *, kind: str, value: bool, form: str, visit: str, instance: int, acting_user: User,
    channel: str, reason: str,
) -> ReviewEvent:  # fmt: skip
    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    role = access.require(acting_user, Capability.LOCK_DATA, participant.site)
    reason = require_text("reason", reason, "the reason for the lock change")
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if kind == "form_lock":
            _form_saved(locked, form, visit, instance)
        if _latest_flag(locked, kind, form, visit, instance) == value:
            raise ActionRefused(
                f"{'form ' + form if form else 'the casebook'} is already {'locked' if value else 'unlocked'}"
            )
        action = ("form." if kind == "form_lock" else "casebook.") + ("lock" if value else "unlock")
        return _review(
            locked, kind=kind, value=value, form=form, visit=visit, instance=instance, acting_user=acting_user,
            role=role, channel=channel, reason=reason, action=action,
        )  # fmt: skip


def lock_form(
    participant: Participant,
    form: str,
    visit: str = "",
    *,
    instance: int = 1,
    acting_user: User,
    channel: str,
    reason: str,
) -> ReviewEvent:
    """Lock a saved form against any change (data manager); audited as `form.lock`."""
    return _set_lock(
        participant,
        kind="form_lock",
        value=True,
        form=form,
        visit=visit,
        instance=instance,
        acting_user=acting_user,
        channel=channel,
        reason=reason,
    )


def unlock_form(
    participant: Participant,
    form: str,
    visit: str = "",
    *,
    instance: int = 1,
    acting_user: User,
    channel: str,
    reason: str,
) -> ReviewEvent:
    """Unlock a form (data manager, with the reason); audited as `form.unlock`."""
    return _set_lock(
        participant,
        kind="form_lock",
        value=False,
        form=form,
        visit=visit,
        instance=instance,
        acting_user=acting_user,
        channel=channel,
        reason=reason,
    )


def lock_casebook(participant: Participant, *, acting_user: User, channel: str, reason: str) -> ReviewEvent:
    """Lock every form of the participant (data manager); audited as `casebook.lock`."""
    return _set_lock(
        participant,
        kind="casebook_lock",
        value=True,
        form="",
        visit="",
        instance=1,
        acting_user=acting_user,
        channel=channel,
        reason=reason,
    )


def unlock_casebook(participant: Participant, *, acting_user: User, channel: str, reason: str) -> ReviewEvent:
    """Unlock the casebook (data manager, with the reason); audited as `casebook.unlock`."""
    return _set_lock(
        participant,
        kind="casebook_lock",
        value=False,
        form="",
        visit="",
        instance=1,
        acting_user=acting_user,
        channel=channel,
        reason=reason,
    )


# ---- the investigator's signature ---------------------------------------------------------------


def casebook_problems(participant: Participant) -> list[str]:
    """Why the casebook cannot be signed yet (empty: it can): unclosed queries, follow-up not ended."""
    problems: list[str] = []
    unclosed = DataQuery.objects.filter(participant=participant).exclude(status="closed").count()
    if unclosed:
        problems.append(f"{unclosed} query(ies) not closed")
    if not ItemValue.objects.filter(participant=participant, form="END-OF-STUDY").exists():
        problems.append("the END-OF-STUDY form is not saved (follow-up has not ended)")
    return problems


def sign_casebook(
    participant: Participant,
    *,
    acting_user: User,
    password: str,
    otp_token: str,
    channel: str = "web",
    source: Any = None,
) -> Signature:
    """The investigator's signature of the casebook, "I approve this casebook" (see the module's rule)."""
    from iliad7.store.actions.signatures import sign_record

    check_channel(channel)
    access.require(acting_user, Capability.SIGN_CASEBOOK, participant.site)
    problems = casebook_problems(participant)
    if problems:
        raise ActionRefused(f"the casebook of {participant.screening_number} cannot be signed: {'; '.join(problems)}")
    return sign_record(acting_user, participant, CASEBOOK_MEANING, password, otp_token, channel=channel, source=source)
