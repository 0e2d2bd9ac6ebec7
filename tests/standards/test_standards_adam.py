"""ADaM from the SDTM datasets: the interface's names, the analysis derivations, traceability to SDTM, files."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

INTERFACE = {
    "ADSL": ("USUBJID", "SITEID", "TRT01P", "TRT01A", "ITTFL", "SAFFL", "MITTFL", "PPROTFL", "DTHFL", "OSFD45"),
    "ADLB": ("USUBJID", "PARAMCD", "AVAL", "BASE", "ADY", "AVISIT", "ABLFL", "ANL01FL"),
    "ADTTE": ("USUBJID", "PARAMCD", "AVAL", "CNSR"),
}


def test_adam_has_the_interface_names_and_traces_to_sdtm(cohort: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.standards.adam import build_adam
    from iliad7.standards.define import validate_define
    from iliad7.standards.exports import export_adam
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot
    from iliad7.standards.xpt import read_xpt

    snapshot = read_snapshot(cohort["stat"])
    sdtm = build_sdtm(snapshot)
    adam = build_adam(snapshot, sdtm)
    for name, columns in INTERFACE.items():
        assert set(columns) <= set(adam[name].frame.columns), name
    adsl, adlb, adtte = (adam[n].frame for n in ("ADSL", "ADLB", "ADTTE"))
    randomized = adsl.filter(adsl["RANDFL"] == "Y")
    assert randomized.height == 4 and set(randomized["TRT01P"]) <= {"CYT107", "placebo"}
    assert set(randomized["ITTFL"]) == {"Y"} and randomized["ARM"].to_list() == randomized["TRT01P"].to_list()
    # Screen failures are in ADSL, out of every analysis population, with no arm.
    failures = adsl.filter(adsl["RANDFL"] == "N")
    assert failures.height == adsl.height - 4 > 0
    for flag in ("ITTFL", "SAFFL", "MITTFL", "PPROTFL"):
        assert set(failures[flag]) == {"N"}
    assert set(failures["TRT01P"]) == set(failures["ARM"]) == {""}
    # Dates are numeric SAS dates: TRTSDT is the day of dose 1 (DM.RFXSTDTC) counted from 1960-01-01.
    dm = {r["USUBJID"]: r for r in sdtm["DM"].frame.to_dicts()}
    for row in randomized.to_dicts():
        first = date.fromisoformat(dm[row["USUBJID"]]["RFXSTDTC"][:10])
        assert row["TRTSDT"] == (first - date(1960, 1, 1)).days
    assert {v.name: v.display_format for v in adam["ADTTE"].variables}["STARTDT"] == "DATE9."
    assert all(adt == start + aval for adt, start, aval in adtte.select("ADT", "STARTDT", "AVAL").rows())
    # Traceability: each ADLB record's SRCSEQ is the LB (or CP) record it came from.
    lb = {(r["USUBJID"], r["LBSEQ"]): r for r in sdtm["LB"].frame.to_dicts()}
    cp = {(r["USUBJID"], r["CPSEQ"]): r for r in sdtm["CP"].frame.to_dicts()}
    for record in adlb.to_dicts():
        if record["SRCDOM"] == "CP":
            source = cp[(record["USUBJID"], record["SRCSEQ"])]
            assert {"TLYH": "CD4", "TLC": "CD8"}[source["CPTESTCD"]] == record["PARAMCD"]
            assert math.isclose(record["AVAL"], source["CPSTRESN"])
            continue
        source = lb[(record["USUBJID"], record["SRCSEQ"])]
        assert record["SRCDOM"] == "LB" and record["PARAMCD"] == source["LBTESTCD"]
        assert math.isclose(record["AVAL"], source["LBSTRESN"])
    # A death in the database is DTHFL Y and scores OSFD45 -1 (clinical-rules 2.5).
    # Treatment-emergent: an event starting on or after the date of dose 1, and no other.
    if "ADAE" in adam:
        for row in adam["ADAE"].frame.to_dicts():
            first = randomized.filter(randomized["USUBJID"] == row["USUBJID"])["TRTSDT"][0]
            assert (row["TRTEMFL"] == "Y") == (row["ASTDT"] is not None and row["ASTDT"] >= first)
    died = set(adsl.filter(adsl["DTHFL"] == "Y")["USUBJID"])
    assert died == {r["USUBJID"] for r in sdtm["DM"].frame.to_dicts() if r["DTHFL"] == "Y"}
    assert all(v == -1 for v in adsl.filter(adsl["DTHFL"] == "Y")["OSFD45"])
    # Never beyond follow-up (issue 17): alive and followed short of day 45 at the data cut, no OSFD45 yet and
    # death censored at the last day known alive; the 46 free days of a whole window only for one followed to 45.
    alive = randomized.filter(randomized["DTHFL"] == "N")
    assert alive.height > 0
    for row in alive.to_dicts():
        assert (row["OSFD45"] is None) == (row["LSTALVDY"] < 45 - 3), row  # the D45 visit: day 45 - 3 days
    ttdth = adtte.filter(adtte["PARAMCD"] == "TTDTH45")
    last_alive = dict(zip(adsl["USUBJID"], adsl["LSTALVDY"], strict=True))
    for row in ttdth.filter(ttdth["CNSR"] == 1).to_dicts():
        assert row["AVAL"] == min(45, last_alive[row["USUBJID"]])
    result = export_adam(cohort["stat"], tmp_path)
    assert result.as_dict()["errors"] == 0
    datasets = [f"{name}.{ext}" for name in ("adsl", "adlb", "adtte", "adae") for ext in ("xpt", "json")]
    assert sorted(result.files) == sorted([*datasets, "define.xml", "conformance.json"])
    frame, _, name = read_xpt(tmp_path / "adsl.xpt")
    assert name == "ADSL" and frame["USUBJID"].to_list() == adsl["USUBJID"].to_list()
    assert validate_define(tmp_path / "define.xml") == []


def test_analyst_files_csv_and_parquet(cohort: dict[str, Any], tmp_path: Path) -> None:
    import polars as pl

    from iliad7.standards.exports import export_tables

    export_tables(cohort["stat"], tmp_path / "csv", fmt="csv")
    export_tables(cohort["stat"], tmp_path / "pq", fmt="parquet")
    for name in ("adsl", "adlb", "adtte"):
        from_csv = pl.read_csv(tmp_path / "csv" / f"{name}.csv", infer_schema=False)
        from_parquet = pl.read_parquet(tmp_path / "pq" / f"{name}.parquet")
        assert from_csv.columns == from_parquet.columns and from_csv.height == from_parquet.height
    assert set(pl.read_parquet(tmp_path / "pq" / "adsl.parquet")["TRT01P"]) <= {"CYT107", "placebo", ""}
