"""One value checked on its own against its form (the generic item write): form, item, visit, type, unit, range."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from iliad7.capture import CaptureContext, form_spec, validate_item
from iliad7.protocol import load_protocol

PROTOCOL = load_protocol()
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def one(form: str, item: str, value: object, unit: str = "", visit: str = "BASELINE") -> object:
    return validate_item(form_spec(PROTOCOL, form), item, value, unit, context=CaptureContext(now=NOW, visit=visit))  # type: ignore[arg-type]


def errors(result: object) -> list[tuple[str, str]]:
    return [(m.field, m.kind) for m in result.errors]  # type: ignore[attr-defined]


def test_an_alc_in_an_accepted_unit_is_stored_as_the_form_spells_the_unit() -> None:
    result = one("LAB", "alc", "650", "cells/µL")
    assert errors(result) == []
    assert result.items["alc"].stored == "650" and result.items["alc"].unit == "cells/uL"  # type: ignore[attr-defined]


def test_an_alc_at_its_physical_bounds_is_accepted_and_beyond_them_refused() -> None:
    assert errors(one("LAB", "alc", "0", "cells/uL")) == []
    assert errors(one("LAB", "alc", "500000", "cells/uL")) == []
    assert errors(one("LAB", "alc", "500001", "cells/uL")) == [("alc", "range")]
    assert errors(one("LAB", "alc", "-5", "cells/uL")) == [("alc", "range")]


def test_a_value_that_is_not_a_number_is_refused_in_a_decimal_item() -> None:
    assert errors(one("LAB", "alc", "abc", "cells/uL")) == [("alc", "type")]


def test_a_unit_the_item_does_not_take_is_refused() -> None:
    assert errors(one("LAB", "alc", "650", "kg")) == [("alc.unit", "unit")]


def test_an_item_with_several_units_needs_its_unit() -> None:
    assert errors(one("LAB", "alc", "650")) == [("alc.unit", "unit")]


def test_a_unit_for_an_item_that_takes_none_is_refused() -> None:
    assert errors(one("VIRAL-LOAD", "ct_value", "24.5", "cycles")) == [("ct_value.unit", "unit")]
    assert errors(one("VIRAL-LOAD", "ct_value", "24.5")) == []


def test_an_lln_takes_a_unit_of_its_analyte() -> None:
    result = one("LAB", "alc_lln", "1000", "cells/uL")
    assert errors(result) == [] and result.items["alc_lln"].unit == "cells/uL"  # type: ignore[attr-defined]
    assert errors(one("LAB", "alc_lln", "1000", "mmol/L")) == [("alc_lln.unit", "unit")]
    assert errors(one("LAB", "alc_lln", "1000")) == [("alc_lln.unit", "unit")]


def test_an_item_the_form_does_not_have_is_unknown() -> None:
    assert errors(one("LAB", "no_such_item", "1")) == [("no_such_item", "unknown")]
    assert errors(one("LAB", "ctcae_anemia", "2")) == [("ctcae_anemia", "unknown")]  # a derived value is not typed


def test_the_visit_must_be_one_of_the_form() -> None:
    assert errors(one("LAB", "alc", "650", "cells/uL", visit="D99")) == [("visit", "visit")]
    assert errors(one("LAB", "alc", "650", "cells/uL", visit="")) == [("visit", "visit")]


def test_a_single_unit_may_be_left_implicit_or_given() -> None:
    assert one("VITALS", "pulse", "88", visit="").items["pulse"].unit == "/min"  # type: ignore[attr-defined]
    assert errors(one("VITALS", "pulse", "88", "/min", visit="")) == []
    assert errors(one("VITALS", "pulse", "88", "bpm", visit="")) == [("pulse.unit", "unit")]


@pytest.mark.parametrize(("value", "stored"), [("yes", "true"), ("no", "false"), (True, "true")])
def test_a_yes_no_item_is_stored_as_true_or_false(value: object, stored: str) -> None:
    result = one("VIRAL-LOAD", "detected", value)
    assert errors(result) == [] and result.items["detected"].stored == stored  # type: ignore[attr-defined]


def test_a_choice_outside_the_list_is_refused() -> None:
    assert errors(one("VIRAL-LOAD", "specimen", "saliva")) == [("specimen", "choice")]
