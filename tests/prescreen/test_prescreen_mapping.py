"""The OMOP -> screening record mapping on hand-made sources: each rule of docs/prescreen.md, the
three-valued edges (a date without a time, an episode without an end, a year of birth alone), and
bad input named by table, column and row (exit 2)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from omop_builder import T0, T0_NAIVE, Omop
from typer.testing import CliRunner

from conftest import prescreen
from iliad7.prescreen.source import OmopInputError

HOUR = 3600


def screened(omop: Omop, tmp_path: Path, **kwargs: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines, records, _ = prescreen(omop.write(tmp_path / "omop", **kwargs))
    results = [orjson.loads(line) for line in lines.splitlines()]
    return [{c["id"]: c for c in r["criteria"]} for r in results], orjson.loads(records)


def base(person_id: int = 1, **person: Any) -> Omop:
    omop = Omop()
    omop.person(person_id, **person)
    return omop


def at(hours_before: float) -> datetime:
    from datetime import timedelta

    return T0_NAIVE - timedelta(hours=hours_before)


# ---- ALC: units, window, dates without time


def test_alc_units_of_the_spec_and_the_72_hour_window(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.measurement(1, "731-0", at(71), 0.65, unit="10*3/uL")
    omop.measurement(1, "26474-7", at(1), 0.9, unit="10*9/L")
    omop.measurement(1, "731-0", at(2), 1200, unit="/uL")
    omop.measurement(1, "731-0", at(73), 0.2, unit="10*3/uL")  # before the window: not in the record
    omop.measurement(1, "731-0", at(-1), 0.2, unit="10*3/uL")  # after T0
    criteria, records = screened(omop, tmp_path)
    assert [(e["value"], e["unit"]) for e in records[0]["alc"]] == [(0.65, "10^3/uL"), (1200.0, "/uL"), (0.9, "10^9/L")]
    assert criteria[0]["INC-ALC"]["status"] == "pass" and "650 cells/mm3" in criteria[0]["INC-ALC"]["reason"]


def test_no_count_in_the_window_is_an_empty_list_not_a_missing_one(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.measurement(1, "731-0", at(100), 0.3, unit="10*3/uL")
    criteria, records = screened(omop, tmp_path)
    assert records[0]["alc"] == [] and criteria[0]["INC-ALC"]["status"] == "fail"


def test_a_count_with_a_date_but_no_time_is_never_placed_in_the_window(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.measurement(1, "731-0", T0_NAIVE.date(), 0.3, unit="10*3/uL")  # today: maybe after T0
    criteria, records = screened(omop, tmp_path)
    assert records[0]["alc"] == [{"value": 0.3, "unit": "10^3/uL"}]
    assert criteria[0]["INC-ALC"]["status"] == "unknown" and "alc[0].time" in criteria[0]["INC-ALC"]["missing"]


def test_an_unknown_unit_is_bad_input_naming_table_column_and_row(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.measurement(1, "731-0", at(1), 0.3, unit="10*3/uL")
    row = omop.measurement(1, "731-0", at(2), 0.3, unit="mg/dL")
    with pytest.raises(OmopInputError) as caught:
        screened(omop, tmp_path)
    assert (caught.value.table, caught.value.column, caught.value.row) == (
        "measurement",
        "unit_concept_id",
        f"measurement_id={row}",
    )
    assert "unknown unit 'mg/dL'" in str(caught.value)


def test_a_negative_count_is_refused_as_the_record_would(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    row = omop.measurement(1, "731-0", at(1), -3, unit="/uL")
    with pytest.raises(OmopInputError, match=rf"measurement.value_as_number \(row measurement_id={row}\)"):
        screened(omop, tmp_path)


# ---- hospitalization


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (datetime(2021, 1, 10, 8), None, True),  # under way: no end
        (datetime(2021, 1, 10, 8), datetime(2021, 1, 15, 13), True),
        (datetime(2021, 1, 10, 8), datetime(2021, 1, 15, 11), False),  # discharged before T0
        (datetime(2021, 1, 15, 13), None, False),  # admitted after T0
    ],
)
def test_hospitalized_is_an_inpatient_stay_under_way_at_t0(
    tmp_path: Path, start: datetime, end: datetime | None, expected: bool
) -> None:
    omop = base()
    omop.inpatient(1, start, end)
    _, records = screened(omop, tmp_path)
    assert records[0]["hospitalized"] is expected


def test_a_stay_ending_on_t0s_date_without_a_time_leaves_hospitalized_missing(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1, end_date=T0_NAIVE.date())
    omop.add(
        "visit_occurrence",
        person_id=2,
        visit_concept_id=omop.concept("Visit", "OP"),
        visit_start_date=date(2021, 1, 15),
    )
    omop.person(2)
    criteria, records = screened(omop, tmp_path)
    assert "hospitalized" not in records[0] and records[1]["hospitalized"] is False
    assert criteria[1]["INC-ALC"]["status"] == "fail"  # not hospitalized
    assert "hospitalized" in criteria[0]["INC-HYPOXEMIA"]["missing"]


def test_an_er_and_inpatient_visit_counts(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1, code="ERIP")
    _, records = screened(omop, tmp_path)
    assert records[0]["hospitalized"] is True


# ---- age from a year of birth alone


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (1960, "pass"),  # 60 or 61 at T0: both within 25-80
        (1940, None),  # 80 or 81: the ages disagree, so the age is missing
        (1930, "fail"),  # 90 or 91
    ],
)
def test_a_year_of_birth_alone_decides_age_only_where_both_ages_agree(
    tmp_path: Path, year: int, expected: str | None
) -> None:
    omop = Omop()
    omop.person(1, born=None, year=year)
    criteria, records = screened(omop, tmp_path)
    if expected is None:
        assert "birth_date" not in records[0] and criteria[0]["INC-AGE"]["status"] == "unknown"
    else:
        assert criteria[0]["INC-AGE"]["status"] == expected
        assert records[0]["birth_date"] == f"{year}-12-31"


# ---- COVID-19: a diagnosis or a detected PCR, never a negative


def test_covid_is_confirmed_by_a_diagnosis_or_a_detected_test_and_never_ruled_out(tmp_path: Path) -> None:
    omop = Omop()
    for pid in (1, 2, 3, 4):
        omop.person(pid)
    omop.condition(1, "840539006", at(30))
    omop.measurement(2, "94500-6", at(5), value_concept=("SNOMED", "260373001"))
    omop.measurement(3, "94500-6", at(5), value_concept=("SNOMED", "260415000"))  # not detected
    omop.condition(4, "840539006", at(-2))  # after T0
    criteria, records = screened(omop, tmp_path)
    assert [r.get("covid_confirmed") for r in records] == [True, True, None, None]
    assert [c["INC-COVID"]["status"] for c in criteria] == ["pass", "pass", "unknown", "unknown"]


# ---- respiratory support, ventilation


def test_the_highest_support_under_way_and_its_flow(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.device(1, "336623009", at(40), at(10))  # a cannula that ended
    omop.device(1, "427591007", at(10))  # a non-rebreather mask: a descendant of oxygen mask
    omop.descendant(("SNOMED", "336602003"), ("SNOMED", "427591007"))
    omop.measurement(1, "3151-8", at(12), 3, unit="L/min")  # charted for the cannula: not this mask's
    omop.measurement(1, "3151-8", at(2), 8, unit="L/min")
    criteria, records = screened(omop, tmp_path)
    assert records[0]["respiratory_support"] == {"device": "mask", "oxygen_flow_lpm": 8.0}
    assert criteria[0]["INC-HYPOXEMIA"]["status"] == "pass"
    assert criteria[0]["EXC-PROLONGED-MV"]["status"] == "pass"


def test_a_flow_charted_before_the_device_started_is_not_its_flow(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.device(1, "336623009", at(3))
    omop.measurement(1, "3151-8", at(5), 6, unit="L/min")
    criteria, records = screened(omop, tmp_path)
    assert records[0]["respiratory_support"] == {"device": "nasal_cannula"}
    assert criteria[0]["INC-HYPOXEMIA"]["missing"] == ["respiratory_support.oxygen_flow_lpm"]


def test_a_higher_support_that_may_be_under_way_leaves_the_device_missing(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.device(1, "336623009", at(20))
    omop.procedure(1, "182686001", at(30), T0_NAIVE.date())  # ended on T0's date, time unknown
    criteria, records = screened(omop, tmp_path)
    assert "respiratory_support" not in records[0]
    assert criteria[0]["INC-HYPOXEMIA"]["status"] == "unknown"


def test_ventilation_charted_day_by_day_is_one_episode(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    for day in range(9, 0, -1):  # nine daily records, the last under way
        omop.procedure(1, "182686001", at(24 * day), at(24 * (day - 1)) if day > 1 else None)
    criteria, records = screened(omop, tmp_path)
    assert records[0]["respiratory_support"] == {"device": "mechanical_ventilation"}
    assert records[0]["mechanical_ventilation_start"] == "2021-01-06T12:00:00+00:00"
    assert criteria[0]["EXC-PROLONGED-MV"]["status"] == "fail"


def test_a_ventilation_start_known_only_as_a_date_is_missing(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.procedure(1, "182686001", date(2021, 1, 8))
    criteria, records = screened(omop, tmp_path)
    assert records[0]["respiratory_support"] == {"device": "mechanical_ventilation"}
    assert "mechanical_ventilation_start" not in records[0]
    assert criteria[0]["EXC-PROLONGED-MV"]["missing"] == ["mechanical_ventilation_start"]


def test_no_support_recorded_is_missing_not_room_air(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    criteria, records = screened(omop, tmp_path)
    assert "respiratory_support" not in records[0] and "mechanical_ventilation_start" not in records[0]
    assert criteria[0]["INC-HYPOXEMIA"]["status"] == "unknown"
    assert criteria[0]["EXC-PROLONGED-MV"]["status"] == "unknown"


# ---- latest values, history, therapy


def test_latest_liver_tests_with_their_uln_and_a_same_day_dateless_one(tmp_path: Path) -> None:
    omop = Omop()
    omop.person(1)
    omop.person(2)
    omop.measurement(1, "1742-6", at(200), 500, unit="U/L", range_high=40)
    omop.measurement(1, "1742-6", at(20), 200, unit="U/L", range_high=40)  # the latest: exactly 5 x ULN
    omop.measurement(1, "1920-8", at(20), 30, unit="U/L", range_high=40)
    omop.measurement(2, "1742-6", at(20), 30, unit="U/L", range_high=40)
    omop.measurement(2, "1742-6", T0_NAIVE.date(), 500, unit="U/L", range_high=40)  # maybe the latest
    omop.measurement(2, "1920-8", at(20), 30, unit="U/L", range_high=40)
    criteria, records = screened(omop, tmp_path)
    assert records[0]["alt"]["value"] == 200.0 and records[0]["alt"]["uln"] == 40.0
    assert criteria[0]["EXC-LIVER"]["status"] == "pass"
    assert "alt" not in records[1] and criteria[1]["EXC-LIVER"]["status"] == "unknown"


def test_weight_and_height_must_be_in_kg_and_cm(tmp_path: Path) -> None:
    omop = base()
    omop.measurement(1, "29463-7", at(5), 150, unit="[lb_av]")
    with pytest.raises(OmopInputError, match="unknown unit"):
        screened(omop, tmp_path)


def test_history_and_therapy_are_true_or_missing(tmp_path: Path) -> None:
    omop = Omop()
    for pid in (1, 2, 3):
        omop.person(pid)
    omop.descendant(("SNOMED", "118600007"), ("SNOMED", "118601006"))
    omop.condition(1, "118601006", date(2015, 3, 1))  # a non-Hodgkin lymphoma: a lymphoid malignancy
    omop.procedure(1, "70536003", date(2010, 1, 1))
    omop.descendant(("ATC", "L01"), ("RxNorm", "40048"))
    omop.descendant(("ATC", "L02"), ("RxNorm", "10324"))
    omop.drug(2, "RxNorm", "40048", date(2020, 12, 1))  # within 6 months
    omop.drug(2, "RxNorm", "10324", date(2020, 6, 1), date(2021, 6, 1))  # covers T0's date
    omop.drug(3, "RxNorm", "40048", date(2020, 3, 1))  # older than 6 months: not "the last" as far as we know
    criteria, records = screened(omop, tmp_path)
    assert records[0]["lymphoid_malignancy_history"] is True and records[0]["solid_organ_transplant_history"] is True
    assert criteria[0]["EXC-LYMPHOID-MALIGNANCY"]["status"] == "fail"
    assert records[1]["oncology"] == {"last_chemo_or_immunotherapy_date": "2020-12-01", "on_hormonal_therapy": True}
    assert criteria[1]["INC-ONCOLOGY"]["status"] == "pass"
    assert "oncology" not in records[2] and criteria[2]["INC-ONCOLOGY"]["status"] == "unknown"
    for name in ("lymphoid_malignancy_history", "chronic_dialysis", "solid_organ_transplant_history"):
        assert name not in records[2]


def test_without_concept_ancestor_only_the_named_codes_match(tmp_path: Path) -> None:
    omop = Omop()
    omop.person(1)
    omop.descendant(("SNOMED", "118600007"), ("SNOMED", "118601006"))
    omop.condition(1, "118601006", date(2015, 3, 1))
    _, records = screened(omop, tmp_path, skip=("concept_ancestor",))
    assert "lymphoid_malignancy_history" not in records[0]


# ---- bad input, exit 2


def _cli(*args: str) -> Any:
    from iliad7.cli import app

    return CliRunner().invoke(app, ["prescreen", *args])


def test_a_missing_table_exits_2_naming_it(tmp_path: Path) -> None:
    folder = base().write(tmp_path / "omop", skip=("measurement",))
    result = _cli("--omop", str(folder), "--as-of", T0)
    assert result.exit_code == 2 and result.stdout == ""
    assert "measurement: table missing" in result.stderr


def test_a_missing_column_exits_2_naming_it(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folder = base().write(tmp_path / "omop")
    table = pq.read_table(folder / "person.parquet").drop_columns(["year_of_birth"])
    pq.write_table(table, folder / "person.parquet")
    result = _cli("--omop", str(folder), "--as-of", T0)
    assert result.exit_code == 2 and "person.year_of_birth: column missing" in result.stderr


def test_a_column_of_the_wrong_type_names_its_first_bad_row(tmp_path: Path) -> None:
    omop = base()
    omop.measurement(1, "731-0", at(1), 0.5, unit="10*3/uL")
    folder = omop.write(tmp_path / "omop", csv=True)
    text = (folder / "measurement.csv").read_text().replace(",0.5,", ",about half,")
    (folder / "measurement.csv").write_text(text)
    result = _cli("--omop", str(folder), "--as-of", T0)
    assert result.exit_code == 2 and result.stdout == ""
    assert "measurement.value_as_number (row measurement_id=1): 'about half' is not a number" in result.stderr


def test_csv_tables_read_like_parquet_ones(tmp_path: Path) -> None:
    omop = base()
    omop.inpatient(1)
    omop.measurement(1, "731-0", at(1), 0.5, unit="10*3/uL")
    parquet = prescreen(omop.write(tmp_path / "p"))
    csv = prescreen(omop.write(tmp_path / "c", csv=True))
    assert parquet[:2] == csv[:2]


@pytest.mark.parametrize("as_of", ["2021-01-15T12:00:00", "yesterday"])
def test_as_of_needs_an_iso_time_with_its_offset(tmp_path: Path, as_of: str) -> None:
    result = _cli("--omop", str(base().write(tmp_path / "omop")), "--as-of", as_of)
    assert result.exit_code == 2 and "--as-of" in result.stderr


def test_output_is_json_lines_in_person_order_with_a_summary(tmp_path: Path) -> None:
    omop = Omop()
    for pid in (30, 4, 17):
        omop.person(pid)
    folder = omop.write(tmp_path / "omop")
    result = _cli("--omop", str(folder), "--as-of", T0, "--json")
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [line["person_id"] for line in lines] == [4, 17, 30]
    assert all(set(line) == {"person_id", "verdict", "criteria"} and len(line["criteria"]) == 24 for line in lines)
    assert orjson.loads(result.stderr)["persons"] == 3


def test_observation_fields_reads_a_fhir_observation_with_the_same_mapping() -> None:
    from iliad7.prescreen.mapping import BadValue, observation_fields

    when = datetime(2021, 1, 15, 6)
    assert observation_fields("http://loinc.org", "731-0", 0.65, "10*3/uL", when) == (
        "alc",
        {"time": datetime.fromisoformat("2021-01-15T06:00:00+00:00"), "value": 0.65, "unit": "10^3/uL"},
    )
    assert observation_fields("http://loinc.org", "29463-7", 70.5, "kg", when) == ("weight_kg", 70.5)
    assert observation_fields("http://loinc.org", "1742-6", 30, "U/L", None, uln=40) == (
        "alt",
        {"value": 30, "uln": 40, "unit": "U/L"},
    )
    assert observation_fields("http://loinc.org", "2160-0", 1.0, "mg/dL", when) is None  # creatinine: no field
    with pytest.raises(BadValue, match=r"alc\.unit: unknown unit"):
        observation_fields("http://loinc.org", "731-0", 650, "mm[Hg]", when)
    with pytest.raises(BadValue, match="weight_kg: 800 is above 700"):
        observation_fields("http://loinc.org", "29463-7", 800, "kg", when)
