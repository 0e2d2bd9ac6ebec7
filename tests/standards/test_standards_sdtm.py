"""SDTM from the trial database: conformance, XPT and Dataset-JSON round trips, define.xml, blinding, site scoping."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

ARM_VALUES = {"CYT107", "placebo", "PLACEBO", "CYT107 Treatment", "Saline control"}

SUBJECT_LEVEL = ("DM", "DS", "SV", "EX", "LB", "MB", "VS", "RS", "HO", "PR", "AE")


def _randomized() -> set[str]:
    from iliad7.store.models import Participant

    return set(Participant.objects.filter(usubjid__isnull=False).values_list("usubjid", flat=True))


def _equal_frames(left: Any, right: Any) -> None:
    assert left.columns == right.columns
    for name in left.columns:
        for a, b in zip(left[name].to_list(), right[name].to_list(), strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12), (name, a, b)
            else:
                assert a == b, (name, a, b)


def test_sdtm_export_conforms_and_every_file_round_trips(cohort: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.standards.define import validate_define
    from iliad7.standards.exports import export_sdtm, sdtm_datasets
    from iliad7.standards.xpt import read_xpt

    result = export_sdtm(cohort["stat"], tmp_path)
    assert result.as_dict()["errors"] == 0
    assert {"TS", "TA", "TE", "TV", "TI", "DM", "SE", "DS", "IE", "SV", "EX", "LB", "CP", "MB"} <= set(result.datasets)
    from iliad7.store.models import Participant

    # DM: the randomized participants and the screen failures, each once.
    assert result.datasets["DM"] == 4 + Participant.objects.filter(status="screen_failed").count()
    _, datasets = sdtm_datasets(cohort["stat"])
    for dataset in datasets:
        frame, labels, name = read_xpt(tmp_path / f"{dataset.file_stem}.xpt")
        assert name == dataset.name
        assert labels == {v.name: v.label for v in dataset.variables}
        _equal_frames(frame, dataset.frame)
        document = json.loads((tmp_path / f"{dataset.file_stem}.json").read_text())
        assert document["datasetJSONVersion"] == "1.1.0"
        assert document["itemGroupOID"] == f"IG.{dataset.name}" and document["name"] == dataset.name
        assert document["records"] == len(document["rows"]) == dataset.frame.height
        assert [c["name"] for c in document["columns"]] == list(dataset.frame.columns)
        assert all(c["itemOID"] == f"IT.{dataset.name}.{c['name']}" for c in document["columns"])
        for row, expected in zip(document["rows"], dataset.frame.iter_rows(), strict=True):
            assert [None if v is None else float(v) if isinstance(v, int) else v for v in row] == list(expected)
    # define.xml: well formed, valid against the Define-XML 2.1 schema, one ItemGroupDef per dataset.
    assert validate_define(tmp_path / "define.xml") == []
    root = ET.parse(tmp_path / "define.xml").getroot()
    groups = [g.get("Name") for g in root.iter("{http://www.cdisc.org/ns/odm/v1.3}ItemGroupDef")]
    assert groups == [d.name for d in datasets]
    assert json.loads((tmp_path / "conformance.json").read_text())["errors"] == 0


def test_sdtm_values_follow_the_database(cohort: dict[str, Any]) -> None:
    from iliad7.standards.exports import sdtm_datasets
    from iliad7.store.models import DoseAdministration, ItemValue

    _, datasets = sdtm_datasets(cohort["stat"])
    by = {d.name: d.frame for d in datasets}
    assert by["EX"].height == DoseAdministration.objects.count()
    alc = ItemValue.objects.filter(form="LAB", item="alc").count()
    lym = by["LB"].filter((by["LB"]["LBTESTCD"] == "LYM") & by["LB"]["LBSPID"].str.starts_with("LAB-"))
    assert lym.height == alc and set(lym["LBLOINC"]) == {"731-0"}
    # cells/mm3 is written as its UNIT term 10^6/L (the same number); every unit is a UNIT term
    assert set(lym["LBORRESU"]) == {"10^6/L"}
    from iliad7.standards.terminology import CODELISTS

    for name in ("LB", "VS", "CP"):
        units = set(by[name][f"{name}ORRESU"]) | set(by[name][f"{name}STRESU"])
        assert units - {""} <= set(CODELISTS["UNIT"].terms), name
    # cells/mm3 entered, 10^9/L standard
    first = lym.row(0, named=True)
    assert math.isclose(first["LBSTRESN"], float(first["LBORRES"]) / 1000) and first["LBSTRESU"] == "10^9/L"
    randomized = by["DM"].filter(by["DM"]["ARMNRS"] != "SCREEN FAILURE")
    assert set(randomized["ARMCD"]) <= {"CYT107", "PLACEBO"} and set(randomized["USUBJID"]) == _randomized()
    # DM.ARM is ADSL.TRT01P's value (spec/interfaces.md): CYT107 or placebo
    assert set(randomized["ARM"]) <= {"CYT107", "placebo"}
    for name in ("DS", "EX", "LB", "MB"):  # --SEQ runs 1..n within each subject
        frame = by[name]
        for _, group in frame.group_by("USUBJID"):
            assert sorted(group[f"{name}SEQ"].to_list()) == list(range(1, group.height + 1))


def _files_text(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in folder.iterdir() if p.suffix in (".json", ".csv")}


def test_a_blinded_export_contains_no_arm(cohort: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.standards.exports import export_adam, export_sdtm, export_tables
    from iliad7.standards.xpt import read_xpt

    for user, folder in ((cohort["dm"], tmp_path / "dm"), (cohort["coord"], tmp_path / "coord")):
        sdtm = export_sdtm(user, folder / "sdtm")
        adam = export_adam(user, folder / "adam")
        export_tables(user, folder / "csv", fmt="csv")
        assert sdtm.blinded and adam.blinded
        dm, _, _ = read_xpt(folder / "sdtm" / "dm.xpt")
        randomized = dm.filter(dm["ARMNRS"] != "SCREEN FAILURE")
        assert set(randomized["ARMCD"]) == set(randomized["ACTARMCD"]) == {"BLINDED"}
        assert set(randomized["ARM"]) == set(randomized["ACTARM"]) == {"Blinded"}
        # A screen failure has no arm in any export; SE (whose treatment element is the arm) is not written.
        assert set(dm.filter(dm["ARMNRS"] == "SCREEN FAILURE")["ARMCD"]) == {""}
        assert not (folder / "sdtm" / "se.xpt").exists()
        ex, _, _ = read_xpt(folder / "sdtm" / "ex.xpt")
        assert set(ex["EXTRT"]) == {"CYT107 OR PLACEBO"} and set(ex["EXDOSU"]) == {"mL"}
        adsl, _, _ = read_xpt(folder / "adam" / "adsl.xpt")
        assert set(adsl["TRT01P"]) == set(adsl["TRT01A"]) == {""}
        assert set(adsl["TRT01PN"].to_list()) == {None}
        # No subject-level value anywhere is an arm (the trial design datasets name the protocol's arms).
        for sub in ("sdtm", "adam"):
            for path in (folder / sub).glob("*.xpt"):
                if path.stem.upper() in ("TA", "TS", "TE", "TV", "TI"):
                    continue
                frame, _, _ = read_xpt(path)
                for column in frame.columns:
                    assert not (set(map(str, frame[column].to_list())) & ARM_VALUES), (path.name, column)
        for name, text in _files_text(folder / "csv").items():
            assert not any(f",{arm}," in text or f",{arm}\n" in text for arm in ARM_VALUES), name
        for name, text in _files_text(folder / "sdtm").items():
            if name[:2] not in ("ta", "ts", "te", "tv", "ti", "co"):
                assert not any(f'"{arm}"' in text for arm in ARM_VALUES), name
    # The same check finds the arms in an unblinded export (the test can fail).
    export_sdtm(cohort["stat"], tmp_path / "stat")
    dm, _, _ = read_xpt(tmp_path / "stat" / "dm.xpt")
    assert set(dm["ARMCD"]) <= {"CYT107", "PLACEBO", ""} and "BLINDED" not in set(dm["ARMCD"])
    se, _, _ = read_xpt(tmp_path / "stat" / "se.xpt")
    assert {"CYT107", "PBO"} & set(se["ETCD"])


def test_a_site_role_exports_its_sites_only(cohort: dict[str, Any]) -> None:
    from iliad7.standards.exports import sdtm_datasets
    from iliad7.store.models import Participant

    _, datasets = sdtm_datasets(cohort["coord"])
    dm = next(d for d in datasets if d.name == "DM").frame
    expected = set(
        Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).values_list("usubjid", flat=True)
    ) | {
        f"ILIAD-7-US-O-{number}"
        for number in Participant.objects.filter(site__code="MSKCC", status="screen_failed").values_list(
            "screening_number", flat=True
        )
    }
    assert set(dm["USUBJID"]) == expected and set(dm["SITEID"]) <= {"MSKCC"}
    for dataset in datasets:
        if "USUBJID" in dataset.frame.columns:
            assert set(dataset.frame["USUBJID"]) <= expected


def test_forms_fill_vs_rs_ho_pr_ae_and_dated_lb(cohort: dict[str, Any]) -> None:
    """Forms saved through save_form (values as in the capture tests) land in their domains and conform."""
    from iliad7.standards.conformance import check_datasets, errors
    from iliad7.standards.exports import sdtm_datasets
    from iliad7.store.actions import save_form
    from iliad7.store.models import Participant

    person = Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).order_by("usubjid").first()
    coord = cohort["coord"]
    forms = {
        "VITALS": ("", {"assessed_at": "2024-01-10T10:00:00-05:00", "respiratory_rate": "22", "spo2": "93",
                        "spo2_scale": "1", "on_supplemental_oxygen": "yes", "oxygen_flow_lpm": "4",
                        "systolic_bp": "105", "pulse": "112", "consciousness": "A", "temperature": "38.4"}),
        "CLINICAL-STATUS": ("", {"assessed_on": "2024-01-10", "dead": "no", "hospitalized": "yes",
                                 "oxygen_support": "niv_or_high_flow"}),
        "HOSPITAL-STAY": ("", {"stay_type": "icu", "readmission": "false", "admitted_at": "2024-01-09T10:00:00-05:00",
                               "discharged_at": "2024-01-12T10:00:00-05:00", "discharge_destination": "ward"}),
        "ORGAN-SUPPORT": ("", {"support_type": "niv", "started_at": "2024-01-09T10:00:00-05:00",
                               "stopped_at": "2024-01-11T08:00:00-05:00"}),
        "ADVERSE-EVENT": ("", {"term": "Lymphocyte count decreased", "grade": "3", "onset_date": "2024-01-11",
                               "serious": "no", "relatedness": "possible", "expected": "no", "outcome": "recovering"}),
    }  # fmt: skip
    from iliad7.store.models import ItemValue

    for form, (visit, values) in forms.items():
        # the simulated cohort may already hold instances of event forms (hospital stays): add one more
        taken = ItemValue.objects.filter(participant=person, form=form, visit=visit).values_list("instance", flat=True)
        save_form(
            person, form, values, visit=visit, instance=max(taken, default=0) + 1, acting_user=coord, channel="cli"
        )
    _, datasets = sdtm_datasets(cohort["stat"])
    by = {d.name: d for d in datasets}
    assert {"VS", "RS", "HO", "PR", "AE"} <= set(by)

    def mine(name: str, dtc: str) -> Any:
        # The simulated cohort fills these domains too: read this test's participant and 2024 dates only.
        frame = by[name].frame
        return frame.filter((frame["USUBJID"] == person.usubjid) & frame[dtc].str.starts_with("2024-"))

    vs = mine("VS", "VSDTC")
    assert set(vs["VSTESTCD"]) == {"RESP", "OXYSAT", "SYSBP", "PULSE", "TEMP"}
    assert set(vs["VSDTC"]) == {"2024-01-10T10:00:00"}  # New York local time
    assert set(mine("RS", "RSDTC")["RSTESTCD"]) == {"NEWS2TOT", "WHOCPS"}
    stays = by["HO"].frame.filter(by["HO"].frame["USUBJID"] == person.usubjid)
    assert "INTENSIVE CARE UNIT" in stays["HOTERM"].to_list()  # beside the simulated cohort's own stays
    assert "HOSPITAL" in set(by["HO"].frame["HOTERM"])
    assert mine("PR", "PRSTDTC")["PRTRT"].to_list() == ["NON-INVASIVE VENTILATION"]
    ae = mine("AE", "AESTDTC")
    assert ae.select("AETOXGR", "AESER", "AEOUT").row(0) == ("3", "N", "RECOVERING/RESOLVING")
    assert errors(check_datasets(datasets)) == []
    # ADAE follows AE: the event started after dose 1, so it is treatment-emergent.
    from iliad7.standards.exports import adam_datasets

    _, analysis = adam_datasets(cohort["stat"])
    adae = next(d for d in analysis if d.name == "ADAE").frame
    adae = adae.filter((adae["USUBJID"] == person.usubjid) & (adae["AETERM"] == "Lymphocyte count decreased"))
    assert (3.0, "Y", "AE") in adae.select("ATOXGRN", "TRTEMFL", "SRCDOM").rows()
    assert errors(check_datasets(analysis)) == []
