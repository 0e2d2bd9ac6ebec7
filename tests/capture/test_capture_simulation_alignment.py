"""The simulated cohort records its laboratory values on the protocol's forms, with their item ids and units."""

from __future__ import annotations

from iliad7.protocol import load_protocol
from iliad7.scores.units import normalize_unit


def test_simulated_lab_items_are_items_of_their_forms_in_accepted_units() -> None:
    from iliad7.store.simulation import LAB_FORMS, LAB_ITEMS

    protocol = load_protocol()
    for assessment, items in LAB_ITEMS.items():
        form = protocol.form(LAB_FORMS[assessment])
        assert assessment in form.assessments
        for item_id, _series, unit in items:
            item = form.item(item_id)
            assert normalize_unit(unit) in {normalize_unit(u) for u in item.units}, (item_id, unit)
