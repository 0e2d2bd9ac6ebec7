"""Item-level trial data: record a value, correct it; every version is kept."""

from __future__ import annotations

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.errors import InputError
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now
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
    form = _required("form", form)
    item = _required("item", item)
    if instance < 1:
        raise InputError("instance", "instance numbers start at 1")
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
            recorded_at=now(),
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
