"""Item-level trial data: record a value, correct it; every version is kept.

`record_form_item` is the public single-value write (the generic item page
and `POST /api/participants/{sn}/items`): it checks the value against the
protocol's form first (`iliad7.capture.validate_item`: the form and item
exist, the visit is one of the form's, the type, choice, unit and physical
range), then saves it as part of its form through `save_form(only=...)`: the
form's cross-field checks run on the whole form as stored with the new value,
and every value derived from the form (NEWS2 of VITALS, SOFA, the WHO scale,
CTCAE grades) is recomputed in the same transaction. Nothing is stored when a
check fails.

`record_item_value` writes one version without any of those checks; no
application code calls it (imports go through `save_form` too; a test greps
the sources): it remains for the tests of item versioning itself.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.errors import InputError, NotFound
from iliad7.store import access
from iliad7.store.actions._common import check_channel, current_protocol, now, require_instance, require_visit
from iliad7.store.models import ItemValue, Participant, User


def item_key(participant: Participant, form: str, visit: str, instance: int, item: str) -> str:
    """The audit object id of one item: SCREENING/FORM/VISIT/INSTANCE/ITEM."""
    return f"{participant.screening_number}/{form}/{visit}/{instance}/{item}"


def _required(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InputError(field, f"{field} is required")
    return value


def record_item_value(
    participant: Participant,
    *,
    form: str,
    item: str,
    value: str,
    unit: str = "",
    visit: str = "",
    instance: int = 1,
    acting_user: User,
    channel: str,
    reason: str = "",
    derivation: str | None = None,
) -> ItemValue:
    """Add a version of one item value (the first entry, or a correction with a reason).

    Nothing is updated in place: a correction is a new row with the next
    version number, and the previous versions stay as they were. `derivation`
    (canonical JSON) marks a value derived on save from other items. A locked
    form or casebook refuses the write (`ActionRefused`).
    """
    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    form = _required("form", form)
    item = _required("item", item)
    role = access.require(acting_user, Capability.RECORD_DATA, participant.site)
    with transaction.atomic():
        # Lock the participant so two corrections cannot claim the same version number.
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        from iliad7.store.actions.capture import refuse_if_locked

        refuse_if_locked(locked, form=form, visit=visit, instance=instance)
        latest = (
            ItemValue.objects.filter(participant=locked, form=form, visit=visit, instance=instance, item=item)
            .order_by("-version")
            .first()
        )
        if latest is not None and not reason.strip():
            raise InputError("reason", "a correction needs a reason for change")
        return write_version(
            locked, form=form, item=item, value=value, unit=unit, visit=visit, instance=instance, latest=latest,
            acting_user=acting_user, role=role, channel=channel, reason=reason, derivation=derivation,
        )  # fmt: skip


def write_version(
    locked: Participant,
    *,
    form: str,
    item: str,
    value: str,
    unit: str,
    visit: str,
    instance: int,
    latest: ItemValue | None,
    acting_user: User,
    role: str,
    channel: str,
    reason: str,
    derivation: str | None,
    at: datetime | None = None,
) -> ItemValue:
    """Write the next version of one item and its audit record.

    For callers that hold the participant's row lock inside their transaction, have checked the
    role and the form and casebook locks, and pass the item's `latest` version (None for a first
    entry): `record_item_value`, and `save_form`, which does those once for the whole form.
    """
    if latest is not None and (latest.value, latest.unit, latest.derivation) == (value, unit, derivation):
        raise InputError("value", "the correction does not change the value or unit")
    version = ItemValue.objects.create(
        participant=locked,
        form=form,
        visit=visit,
        instance=instance,
        item=item,
        version=1 if latest is None else latest.version + 1,
        value=value,
        unit=unit,
        recorded_by=acting_user,
        recorded_at=at or now(),
        reason=reason,
        channel=channel,
        derivation=derivation,
    )
    trail.append(
        actor=acting_user.username,
        role=role,
        channel=channel,
        action="item.record" if latest is None else "item.correct",
        object_type="item_value",
        object_id=item_key(locked, form, visit, instance, item),
        old=None if latest is None else {"value": latest.value, "unit": latest.unit, "version": latest.version},
        new={"value": value, "unit": unit, "version": version.version}
        if derivation is None
        else {"value": value, "unit": unit, "version": version.version, "derived": True},
        reason=reason,
    )
    return version


#: Forms the single-value write does not touch: the dose form is written by recording the dose.
_NOT_SINGLY = {"STUDY-DRUG": "a dose given is recorded on the dose page (record_dose_given), which fills STUDY-DRUG; "
               "a dose not given is recorded by saving the whole STUDY-DRUG form"}  # fmt: skip


def _public_field(field: str, item: str, kind: str) -> str:
    """The request's field a capture message is about: `value`, `unit`, `item` or `visit`."""
    if kind == "unknown":
        return "item"
    if field == f"{item}.unit":
        return "unit"
    if field == item:
        return "value"
    return field


def record_form_item(
    participant: Participant,
    *,
    form: str,
    item: str,
    value: str,
    unit: str = "",
    visit: str = "",
    instance: int = 1,
    acting_user: User,
    channel: str,
    reason: str = "",
) -> ItemValue:
    """Record or correct one value of a protocol form, checked against the form first (site staff).

    Refused, naming the field (`form`, `item`, `value`, `unit`, `visit`) and
    storing nothing, for a form or item the protocol does not have, a visit the
    form is not filled at, a value that is not of the item's type or not one of
    its choices, a unit the item does not accept, and a value outside its
    physical range. The value is stored as the form would store it (a date and
    time in UTC, yes/no as true/false) with the unit spelt as the form lists it.
    The form-level cross-field checks need the whole form: `save_form` applies
    them. STUDY-DRUG is not written here (see `record_dose_given`).
    """
    from iliad7.capture import form_spec, validate_item
    from iliad7.store.actions.capture import capture_context

    check_channel(channel)
    instance = require_instance(instance)
    visit = require_visit(visit)
    form = _required("form", form)
    item = _required("item", item)
    access.require(acting_user, Capability.RECORD_DATA, participant.site)
    protocol = current_protocol()
    try:
        spec = form_spec(protocol, form)
    except NotFound:
        known = ", ".join(f.id for f in protocol.forms)
        raise InputError("form", f"no form {form!r} in protocol {protocol.id} (forms: {known})") from None
    if spec.id in _NOT_SINGLY:
        raise InputError("form", f"{spec.id} is not written one value at a time: {_NOT_SINGLY[spec.id]}")
    check = validate_item(spec, item, value, unit, context=capture_context(participant, visit=visit))
    if not check.ok:
        first = check.errors[0]
        field = _public_field(first.field, item, first.kind)
        raise InputError(
            field, "; ".join(m.message if m.field == field else f"{m.field}: {m.message}" for m in check.errors)
        )
    result = check.items[item]
    from iliad7.capture.spec import unit_key
    from iliad7.store.actions.capture import FormRejected, save_form

    given = {item: result.stored, unit_key(item): result.unit if result.value is not None else ""}
    try:
        saved = save_form(
            participant, spec.id, given, visit=visit, instance=instance, acting_user=acting_user, channel=channel,
            reason=reason, only={item},
        )  # fmt: skip
    except FormRejected as exc:
        first = exc.messages[0]
        field = _public_field(first.field, item, first.kind)
        raise InputError(field, "; ".join(f"{m.field}: {m.message}" for m in exc.messages)) from None
    return next(v for v in saved.written if v.item == item)


def item_history(
    participant: Participant, *, form: str, item: str, visit: str = "", instance: int = 1
) -> list[ItemValue]:
    """Every version of one item, oldest first (the caller has checked access)."""
    return list(
        ItemValue.objects.filter(
            participant=participant, form=form, visit=visit, instance=instance, item=item
        ).order_by("version")
    )


def current_values(participant: Participant) -> list[ItemValue]:
    """The latest version of each item of a participant, in a stable order."""
    latest: dict[tuple[str, str, int, str], ItemValue] = {}
    for v in ItemValue.objects.filter(participant=participant).order_by("form", "visit", "instance", "item", "version"):
        latest[(v.form, v.visit, v.instance, v.item)] = v
    return list(latest.values())
