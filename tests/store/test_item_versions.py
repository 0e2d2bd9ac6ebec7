"""Item values are versions: a correction adds one, nothing is updated or deleted."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction

from iliad7.errors import InputError

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(make_user):  # type: ignore[no-untyped-def]
    return make_user("ann", ["coordinator"], ["MSKCC"])


@pytest.fixture
def participant(ann):  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant

    return create_participant(site="MSKCC", acting_user=ann, channel="web")


def _record(participant, ann, value: str, reason: str = "", unit: str = "cells/uL"):  # type: ignore[no-untyped-def]
    from iliad7.store.actions import record_item_value

    return record_item_value(
        participant,
        form="LB",
        item="LYMPH",
        visit="D1",
        value=value,
        unit=unit,
        acting_user=ann,
        channel="web",
        reason=reason,
    )


def test_value_corrected_three_times_keeps_all_four_versions(participant, ann) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import current_values, item_history

    _record(participant, ann, "640")
    _record(participant, ann, "460", reason="transcription error: digits swapped")
    _record(participant, ann, "0.46", reason="unit per lab report", unit="10^9/L")
    _record(participant, ann, "0.47", reason="lab amended report", unit="10^9/L")
    history = item_history(participant, form="LB", item="LYMPH", visit="D1")
    assert [(v.version, v.value, v.unit) for v in history] == [
        (1, "640", "cells/uL"),
        (2, "460", "cells/uL"),
        (3, "0.46", "10^9/L"),
        (4, "0.47", "10^9/L"),
    ]
    assert [v.reason for v in history][1:] == [
        "transcription error: digits swapped",
        "unit per lab report",
        "lab amended report",
    ]
    assert all(v.recorded_by == ann and v.channel == "web" for v in history)
    assert [v.value for v in current_values(participant)] == ["0.47"]


def test_each_version_has_its_audit_record_with_old_and_new_value(participant, ann) -> None:  # type: ignore[no-untyped-def]
    from iliad7.audit import trail
    from iliad7.store.models import AuditRecord

    _record(participant, ann, "640")
    _record(participant, ann, "460", reason="digits swapped")
    first, second = AuditRecord.objects.filter(object_type="item_value").order_by("id")
    assert (first.action, first.old_value) == ("item.record", "")
    assert second.action == "item.correct"
    assert json.loads(second.old_value) == {"value": "640", "unit": "cells/uL", "version": 1}
    assert json.loads(second.new_value) == {"value": "460", "unit": "cells/uL", "version": 2}
    assert (second.actor, second.role, second.channel, second.reason) == (
        "ann",
        "coordinator",
        "web",
        "digits swapped",
    )
    assert second.object_id == f"{participant.screening_number}/LB/D1/1/LYMPH"
    assert trail.verify().ok


def test_correction_without_a_reason_is_refused(participant, ann) -> None:  # type: ignore[no-untyped-def]
    _record(participant, ann, "640")
    with pytest.raises(InputError) as refused:
        _record(participant, ann, "460")
    assert refused.value.field == "reason"


def test_correction_that_changes_nothing_is_refused(participant, ann) -> None:  # type: ignore[no-untyped-def]
    _record(participant, ann, "640")
    with pytest.raises(InputError) as refused:
        _record(participant, ann, "640", reason="again")
    assert refused.value.field == "value"


def test_database_rejects_update_and_delete_of_value_versions(participant, ann) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import ItemValue

    _record(participant, ann, "640")
    for statement in ("UPDATE store_itemvalue SET value = '9999'", "DELETE FROM store_itemvalue"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ItemValue.objects.update(value="1")
    assert ItemValue.objects.get().value == "640"


def test_missing_form_or_item_names_the_field(participant, ann) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import record_item_value

    with pytest.raises(InputError) as bad:
        record_item_value(participant, form=" ", item="X", value="1", acting_user=ann, channel="web")
    assert bad.value.field == "form"
