"""A single-value write goes through its form: the whole form's checks, and every derived value recomputed.

Before issue 16, changing one VITALS value through the item endpoint left NEWS2
as it was (a stale score beside a changed input). Now `record_form_item` saves
the value as part of its form (`save_form(only=...)`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iliad7.errors import InputError

pytestmark = pytest.mark.django_db

VITALS = {
    "assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "16", "spo2": "97", "spo2_scale": "1",
    "on_supplemental_oxygen": "no", "systolic_bp": "120", "pulse": "80", "consciousness": "A",
    "temperature": "37.0",
}  # fmt: skip
LAB = {
    "collected_at": "2026-11-20T06:00:00-05:00", "alc": "650", "alc.unit": "cells/uL", "alc_lln": "1000",
    "alt": "200", "alt_uln": "40",
}  # fmt: skip


def _current(participant: Any, form: str, item: str, visit: str = "") -> Any:
    from iliad7.store.models import ItemValue

    return (
        ItemValue.objects.filter(participant=participant, form=form, visit=visit, item=item)
        .order_by("-version")
        .first()
    )


def test_a_single_vitals_change_recomputes_news2(save: Any, staff: dict[str, Any], participant: Any) -> None:
    from iliad7.scores import News2Input, news2
    from iliad7.store.actions.items import record_form_item

    save("VITALS", VITALS)
    assert _current(participant, "VITALS", "news2").value == "0"
    record_form_item(
        participant, form="VITALS", item="respiratory_rate", value="26", acting_user=staff["coord"], channel="api",
        reason="transcription: 26, not 16",
    )  # fmt: skip
    score = _current(participant, "VITALS", "news2")
    expected = news2(
        News2Input(respiratory_rate=26, spo2=97, spo2_scale=1, on_supplemental_oxygen=False, systolic_bp=120,
                   pulse=80, consciousness="A", temperature=37.0)
    )  # fmt: skip
    assert score.version == 2 and score.value == str(expected.score) == "3"
    assert json.loads(score.derivation)["inputs"]["respiratory_rate"] == 26
    assert (
        score.reason.startswith("recomputed on save")
        and score.recorded_at == _current(participant, "VITALS", "respiratory_rate").recorded_at
    )


def test_a_single_lab_value_regrades_ctcae(save: Any, staff: dict[str, Any], participant: Any) -> None:
    from iliad7.store.actions.items import record_form_item

    save("LAB", LAB, visit="BASELINE")
    before = _current(participant, "LAB", "ctcae_alt_increased", "BASELINE")
    record_form_item(
        participant, form="LAB", item="alt", value="40", visit="BASELINE", acting_user=staff["coord"], channel="web",
        reason="wrong patient's value",
    )  # fmt: skip
    after = _current(participant, "LAB", "ctcae_alt_increased", "BASELINE")
    assert after.version == before.version + 1 and after.value != before.value


def test_a_first_single_value_needs_no_other_required_item_but_a_correction_needs_a_reason(
    staff: dict[str, Any], participant: Any
) -> None:
    from iliad7.store.actions.items import record_form_item
    from iliad7.store.models import ItemValue

    record_form_item(participant, form="VITALS", item="pulse", value="88", acting_user=staff["coord"], channel="api")
    assert _current(participant, "VITALS", "pulse").value == "88"
    assert _current(participant, "VITALS", "news2") is not None  # incomplete: blank, with what was missing
    count = ItemValue.objects.count()
    with pytest.raises(InputError) as raised:
        record_form_item(
            participant, form="VITALS", item="pulse", value="90", acting_user=staff["coord"], channel="api"
        )
    assert raised.value.field == "reason" and ItemValue.objects.count() == count
    with pytest.raises(InputError) as raised:
        record_form_item(
            participant, form="VITALS", item="pulse", value="88", acting_user=staff["coord"], channel="api",
            reason="same again",
        )  # fmt: skip
    assert raised.value.field == "pulse" and "does not change" in raised.value.message


def test_a_new_record_entered_one_value_at_a_time_needs_no_reason(staff: dict[str, Any], participant: Any) -> None:
    """The second value of a new VITALS record changes the (incomplete) NEWS2 saved with the first; that is
    the score following its inputs, not a correction of anything the user entered (the load run found it)."""
    from iliad7.store.actions.items import record_form_item

    for item, value in (("pulse", "88"), ("respiratory_rate", "26")):
        record_form_item(participant, form="VITALS", item=item, value=value, acting_user=staff["coord"], channel="api")
    score = _current(participant, "VITALS", "news2")
    assert score.version == 2 and score.reason == "recomputed on save"
    assert json.loads(score.derivation)["inputs"]["respiratory_rate"] == 26


def test_no_application_code_writes_item_values_around_the_form_checks() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "iliad7"
    callers = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "record_item_value(" in path.read_text() and path.name != "items.py"
    ]
    assert callers == []
