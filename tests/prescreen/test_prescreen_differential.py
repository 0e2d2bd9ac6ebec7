"""One definition, every engine: the same synthetic OMOP population pre-screened on DuckDB, PostgreSQL
and Spark gives byte-identical JSON Lines, and `iliad7 screen` on the records written beside them gives
the same verdicts, statuses, reasons and missing fields, line for line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import prescreen
from iliad7.eligibility import parse_record

IILIAD7 = Path(sys.executable).with_name("iliad7")


@pytest.fixture(scope="module")
def on_duckdb(synthetic_omop: Path) -> tuple[bytes, bytes]:
    lines, records, summary = prescreen(synthetic_omop, "duckdb")
    assert summary.persons == 300
    return lines, records


def test_the_population_reaches_every_path(on_duckdb: tuple[bytes, bytes]) -> None:
    """Not a test of the engines: a guard that the differential below compares something."""
    lines, records = on_duckdb
    results = [orjson.loads(line) for line in lines.splitlines()]
    built = orjson.loads(records)
    statuses = {(c["id"], c["status"]) for r in results for c in r["criteria"]}
    for cid in ("INC-ALC", "INC-HYPOXEMIA", "INC-AGE", "EXC-LIVER", "EXC-BMI", "EXC-PROLONGED-MV"):
        assert {(cid, "pass"), (cid, "fail")} <= statuses, cid
    # what the EHR cannot show is missing, never false: these are never failed from it
    assert {(cid, "unknown") for cid in ("INC-COVID", "INC-ONCOLOGY", "EXC-LYMPHOID-MALIGNANCY")} <= statuses
    assert ("INC-ONCOLOGY", "pass") in statuses and ("INC-ONCOLOGY", "fail") not in statuses
    devices = {r.get("respiratory_support", {}).get("device") for r in built}
    assert {"nasal_cannula", "mask", "high_flow", "niv", "mechanical_ventilation", "ecmo"} <= devices
    units = {e["unit"] for r in built for e in r["alc"]}
    assert units == {"10^3/uL", "10^9/L", "/uL"}
    assert any("time" not in e for r in built for e in r["alc"]), "a count with a date only"
    assert sum(r["verdict"] != "ineligible" for r in results) >= 5


def test_records_are_what_the_contract_validator_makes_of_their_json(on_duckdb: tuple[bytes, bytes]) -> None:
    from iliad7.eligibility.record import SCREENING_RECORDS

    _, records = on_duckdb
    parsed = SCREENING_RECORDS.validate_json(records)
    assert [parse_record(orjson.dumps(r)) for r in parsed] == parsed


def test_iliad7_screen_on_the_records_gives_the_same_lines(on_duckdb: tuple[bytes, bytes], tmp_path: Path) -> None:
    lines, records = on_duckdb
    path = tmp_path / "records.json"
    path.write_bytes(records)
    done = subprocess.run([str(IILIAD7), "screen", "--input", str(path)], capture_output=True, check=True)
    screened = orjson.loads(done.stdout)
    prescreened = [orjson.loads(line) for line in lines.splitlines()]
    assert len(screened) == len(prescreened) == 300
    assert [p["person_id"] for p in prescreened] == sorted(p["person_id"] for p in prescreened)
    for mine, theirs in zip(prescreened, screened, strict=True):
        assert mine["verdict"] == theirs["verdict"]
        assert mine["criteria"] == theirs["criteria"]


@pytest.mark.postgres
def test_postgresql_gives_the_same_bytes(on_duckdb: tuple[bytes, bytes], synthetic_postgresql: str) -> None:
    lines, records, summary = prescreen(synthetic_postgresql, "postgresql")
    assert summary.engine == "postgresql"
    assert (lines, records) == on_duckdb


@pytest.mark.spark
@pytest.mark.skipif(
    shutil.which("java") is None, reason="Apache Spark needs Java (present on the project's machines and CI)"
)
def test_spark_gives_the_same_bytes(on_duckdb: tuple[bytes, bytes], synthetic_omop: Path) -> None:
    lines, records, summary = prescreen(synthetic_omop, "spark")
    assert summary.engine == "spark"
    assert (lines, records) == on_duckdb
    # A cluster's OMOP lives in its catalog: the same tables as views of the session's database.
    from iliad7.prescreen.source import spark_session

    session = spark_session()
    for path in synthetic_omop.glob("*.parquet"):
        session.read.parquet(str(path)).createOrReplaceTempView(path.stem)
    lines, records, summary = prescreen("spark:", "spark")
    assert "Spark catalog" in summary.source
    assert (lines, records) == on_duckdb


def test_parallel_parts_give_the_same_bytes(
    synthetic_omop: Path, on_duckdb: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iliad7.prescreen import run

    monkeypatch.setattr(run, "PARALLEL_FROM", 10)
    lines, records, _ = prescreen(synthetic_omop, "duckdb", jobs=2)
    assert (lines, records) == on_duckdb


def test_the_shared_fragments_are_exactly_orjsons_bytes(on_duckdb: tuple[bytes, bytes]) -> None:
    from iliad7.eligibility import SCREENING_RECORDS, screen
    from iliad7.eligibility.contract_json import ResultJson

    _, records = on_duckdb
    writer = ResultJson(bound=50)  # small: the cache is cleared and refilled along the way
    for index, record in enumerate(SCREENING_RECORDS.validate_json(records)):
        result = screen(record)
        assert writer.screening(result) == orjson.dumps(result)
        assert writer.line(index, result) == orjson.dumps(
            {"person_id": index, "verdict": result.verdict, "criteria": result.criteria}
        )
