"""Times and dates of the screening record are ISO 8601 text, never a number read as Unix seconds."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from iliad7.eligibility.record import SCREENING_RECORD


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("baseline_time", "2020"),  # digits: pydantic would read 1970-01-01T00:33:40Z
        ("baseline_time", "0"),
        ("baseline_time", "1700000000.5"),
        ("baseline_time", 1700000000),
        ("baseline_time", "2021-03-05"),  # a date is not a time
        ("birth_date", "0"),
        ("birth_date", "1960-02-29T00:00:00"),  # a date and time is not a date
        ("mechanical_ventilation_start", "12"),
    ],
)
def test_a_time_or_date_that_is_not_iso_8601_text_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        SCREENING_RECORD.validate_json(json.dumps({field: value}))
    assert refused.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("baseline_time", "2021-03-05T06:00:00-05:00"),
        ("baseline_time", "2021-03-05T11:00Z"),
        ("birth_date", "1960-02-29"),
        ("mechanical_ventilation_start", "2021-03-01T08:00:00+00:00"),
    ],
)
def test_iso_8601_times_and_dates_are_read(field: str, value: str) -> None:
    assert SCREENING_RECORD.validate_json(json.dumps({field: value}))[field] is not None  # type: ignore[literal-required]


def test_a_numeric_time_in_a_nested_list_is_refused_with_its_path() -> None:
    with pytest.raises(ValidationError) as refused:
        SCREENING_RECORD.validate_json(json.dumps({"alc": [{"time": "2020", "value": 800, "unit": "cells/mm3"}]}))
    assert refused.value.errors()[0]["loc"][:3] == ("alc", 0, "time")
