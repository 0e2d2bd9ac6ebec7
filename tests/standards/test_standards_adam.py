"""ADaM from the SDTM datasets: the interface's names, the analysis derivations, traceability to SDTM, files."""

from __future__ import annotations

import math
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
    assert adsl.height == 4 and set(adsl["TRT01P"]) <= {"CYT107", "placebo"}
    assert set(adsl["ITTFL"]) == {"Y"}
    # At most one primary-analysis record per participant, always an ALC (LYM) record after baseline.
    flagged = adlb.filter(adlb["ANL01FL"] == "Y")
    assert flagged["USUBJID"].n_unique() == flagged.height and set(flagged["PARAMCD"]) <= {"LYM"}
    assert all(day > 0 for day in flagged["ADY"])
    assert set(adtte["PARAMCD"]) == {"TTDTH45"} and set(adtte["CNSR"]) <= {0.0, 1.0}
    # Traceability: each ADLB record's SRCSEQ is the LB record it came from.
    lb = {(r["USUBJID"], r["LBSEQ"]): r for r in sdtm["LB"].frame.to_dicts()}
    for record in adlb.to_dicts():
        source = lb[(record["USUBJID"], record["SRCSEQ"])]
        assert record["SRCDOM"] == "LB" and record["PARAMCD"] == source["LBTESTCD"]
        assert math.isclose(record["AVAL"], source["LBSTRESN"])
    # A death in the database is DTHFL Y and scores OSFD45 -1 (clinical-rules 2.5).
    died = set(adsl.filter(adsl["DTHFL"] == "Y")["USUBJID"])
    assert died == {r["USUBJID"] for r in sdtm["DM"].frame.to_dicts() if r["DTHFL"] == "Y"}
    assert all(v == -1 for v in adsl.filter(adsl["DTHFL"] == "Y")["OSFD45"])
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
    assert set(pl.read_parquet(tmp_path / "pq" / "adsl.parquet")["TRT01P"]) <= {"CYT107", "placebo"}
