"""Units (clinical-rules 1) and BMI (2.5): exact conversions, unknown units refused, exact boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iliad7.errors import InputError
from iliad7.scores import BmiInput, Quantity, bmi, bmi_above, from_canonical, to_canonical
from iliad7.scores.units import UNIT_TABLE, accepted_units


@pytest.mark.parametrize(
    ("quantity", "value", "unit", "canonical"),
    [
        (Quantity.CELL_COUNT, "1.0", "10^9/L", "1000"),
        (Quantity.CELL_COUNT, "0.42", "x10^9/L", "420"),
        (Quantity.CELL_COUNT, "0.65", "10^3/uL", "650"),
        (Quantity.CELL_COUNT, "650", "cells/µL", "650"),
        (Quantity.CELL_COUNT, "650", "CELLS/UL", "650"),
        (Quantity.CELL_COUNT, "650", "/μL", "650"),
        (Quantity.CELL_COUNT, "650", "/mm3", "650"),
        (Quantity.HEMOGLOBIN, "95", "g/L", "9.5"),
        (Quantity.BILIRUBIN, "20.52", "µmol/L", "1.2"),
        (Quantity.CREATININE, "442", "umol/l", "5"),
    ],
)
def test_conversion_to_canonical_is_exact(quantity: Quantity, value: str, unit: str, canonical: str) -> None:
    assert to_canonical(quantity, Decimal(value), unit) == Decimal(canonical)


@pytest.mark.parametrize("unit", ["mg/dL", "cells/L", "10^6/L", "", " 10^9/L", "k/uL"])
def test_unknown_count_unit_is_refused_naming_it(unit: str) -> None:
    with pytest.raises(InputError) as caught:
        to_canonical(Quantity.CELL_COUNT, Decimal(1), unit, field="alc[0].unit")
    assert caught.value.field == "alc[0].unit"
    assert repr(unit) in str(caught.value)


@given(
    quantity=st.sampled_from(list(Quantity)),
    value=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    data=st.data(),
)
def test_conversions_round_trip(quantity: Quantity, value: Decimal, data: st.DataObject) -> None:
    unit = data.draw(st.sampled_from(accepted_units(quantity)))
    back = from_canonical(quantity, to_canonical(quantity, value, unit), unit)
    assert abs(back - value) <= Decimal("1e-20") * max(Decimal(1), value)


def test_every_quantity_lists_its_canonical_unit_first() -> None:
    assert [rows[0][1] for rows in UNIT_TABLE.values()] == [Decimal(1)] * len(UNIT_TABLE)


def test_spec_example_bmi_is_unrounded() -> None:
    assert bmi(BmiInput(weight_kg=62, height_cm=158)).as_contract() == {"bmi": 24.83576349943919}


def test_bmi_exactly_40_is_not_above_40() -> None:
    assert not bmi_above(Decimal("115.6"), Decimal(170), Decimal(40))
    assert bmi_above(Decimal("115.61"), Decimal(170), Decimal(40))


def test_bmi_missing_height_is_null() -> None:
    result = bmi(BmiInput(weight_kg=70))
    assert (result.bmi, result.missing) == (None, ["height_cm"])
