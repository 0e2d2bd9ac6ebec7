"""Issue 20: the SDTM and ADaM exports checked variable by variable against the SDTMIG 3.4 / ADaMIG 1.3 tables
(Req and Exp variables present, Req never null, no variable the IG does not have, CT values valid, numeric ADaM
dates), and the content a reviewer needs: screen failures, dispositions, seriousness, units, ranges, trial design."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def _datasets(user: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from iliad7.standards.exports import adam_datasets, sdtm_datasets

    snapshot, sdtm = sdtm_datasets(user)
    _, adam = adam_datasets(user)
    return snapshot, {d.name: d for d in sdtm}, {d.name: d for d in adam}


def test_every_dataset_of_every_exporting_role_has_zero_findings(cohort: dict[str, Any]) -> None:
    from iliad7.standards.conformance import check_datasets

    for role in ("stat", "dm", "coord"):
        snapshot, sdtm, adam = _datasets(cohort[role])
        findings = check_datasets([*sdtm.values(), *adam.values()], blinded=snapshot.blinded)
        assert [f.as_dict() for f in findings] == [], role
        assert {"DM", "DS", "IE", "EX", "AE", "LB", "CP", "MB", "VS", "RS", "RELREC"} <= set(sdtm)
        assert {"ADSL", "ADLB", "ADTTE", "ADAE"} <= set(adam)


def test_the_check_finds_what_the_ig_asks_for(cohort: dict[str, Any]) -> None:
    """The same check, on the real export with one thing broken at a time, reports it (the test can fail)."""
    from dataclasses import replace

    import polars as pl

    from iliad7.standards.conformance import check_dataset

    _, sdtm, adam = _datasets(cohort["stat"])
    dm = sdtm["DM"]
    no_race = replace(dm, frame=dm.frame.drop("RACE"), variables=tuple(v for v in dm.variables if v.name != "RACE"))
    assert ("SD-REQ", "RACE") in {(f.rule, f.variable) for f in check_dataset(no_race)}
    bad_race = replace(dm, frame=dm.frame.with_columns(pl.lit("CAUCASIAN").alias("RACE")))
    assert ("SD-CT", "RACE") in {(f.rule, f.variable) for f in check_dataset(bad_race)}
    adsl = adam["ADSL"]
    text_date = replace(adsl, variables=tuple(replace(v, display_format="") if v.name == "TRTSDT" else v
                                              for v in adsl.variables))  # fmt: skip
    assert ("AD-DATE", "TRTSDT") in {(f.rule, f.variable) for f in check_dataset(text_date)}
    no_arm = replace(adsl, frame=adsl.frame.with_columns(pl.lit("").alias("ARM")))
    assert ("SD-REQ", "ARM") in {(f.rule, f.variable) for f in check_dataset(no_arm)}


def test_screen_failures_dispositions_and_ie(cohort: dict[str, Any]) -> None:
    from iliad7.standards.sdtm_design import ie_test_codes
    from iliad7.store.actions import latest_screening
    from iliad7.store.models import Participant

    snapshot, sdtm, _ = _datasets(cohort["stat"])
    dm, ds, ie = (sdtm[n].frame for n in ("DM", "DS", "IE"))
    codes = ie_test_codes(snapshot)
    failures = Participant.objects.filter(status="screen_failed")
    assert failures.exists()
    for participant in failures:
        usubjid = f"ILIAD-7-US-O-{participant.screening_number}"
        row = dm.filter(dm["USUBJID"] == usubjid).row(0, named=True)
        assert (row["ARMNRS"], row["ARMCD"], row["RFSTDTC"], row["RFENDTC"]) == ("SCREEN FAILURE", "", "", "")
        assert ds.filter(ds["USUBJID"] == usubjid)["DSDECOD"].to_list() == ["SCREEN FAILURE"]
        failed = latest_screening(participant).failed
        assert sorted(ie.filter(ie["USUBJID"] == usubjid)["IETESTCD"]) == sorted(codes[c] for c in failed)
    assert set(ie.filter(ie["IECAT"] == "INCLUSION")["IEORRES"]) <= {"N"}
    assert set(ie.filter(ie["IECAT"] == "EXCLUSION")["IEORRES"]) <= {"Y"}
    # Every randomized participant followed to day 45: consent, randomization, end of treatment, end of study.
    for participant in Participant.objects.filter(usubjid__isnull=False):
        mine = ds.filter(ds["USUBJID"] == participant.usubjid)
        assert set(mine["DSSCAT"]) == {"", "STUDY TREATMENT", "STUDY PARTICIPATION"}
        study = mine.filter(mine["DSSCAT"] == "STUDY PARTICIPATION")["DSDECOD"].to_list()
        assert study == (["DEATH"] if participant.status == "died" else ["COMPLETED"])


def test_trial_summary_and_design_are_whole(cohort: dict[str, Any]) -> None:
    snapshot, sdtm, _ = _datasets(cohort["stat"])
    ts = sdtm["TS"].frame
    title = ts.filter(ts["TSPARMCD"] == "TITLE").row(0, named=True)
    assert " ".join(t for t in (title["TSVAL"], title.get("TSVAL1", "")) if t) == " ".join(
        snapshot.protocol.titles.official.split()
    )
    assert not any(str(v).endswith("...") for column in ts.columns for v in ts[column].to_list())
    parameters = set(ts["TSPARMCD"])
    for code in ("ADDON", "AGEMIN", "AGEMAX", "SEXPOP", "HLTSUBJI", "TDIGRP", "OBJPRIM", "OUTMSPRI", "STOPRULE",
                 "PCLAS", "FCNTRY", "SDMDUR", "SDTIGVER"):  # fmt: skip
        assert code in parameters, code
    blank = ts.filter(ts["TSVAL"] == "")
    assert set(blank["TSVALNF"]) <= {"NA", "UNK", "NI"} and "" not in set(blank["TSVALNF"])
    assert ts.filter(ts["TSPARMCD"] == "SDTIGVER")["TSVAL"].to_list() == ["3.4"]
    ti = sdtm["TI"].frame
    assert ti.height == len(snapshot.protocol.eligibility.criteria)
    assert all(len(t.encode()) <= 200 and not t.endswith("...") for t in ti["IETEST"])
    assert set(sdtm["TA"].frame["TATRANS"]) != {""} and "ARMCD" in sdtm["TV"].frame.columns


def _report_and_adjudicate_an_infection(cohort: dict[str, Any]) -> None:
    """A secondary infection reported by the site and confirmed by the committee, through the actions."""
    from iliad7.store.actions import add_user, save_form
    from iliad7.store.actions.adjudication import adjudicate_infection
    from iliad7.store.models import Participant

    person = Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).order_by("usubjid").first()
    values = {"onset_date": "2024-01-11", "infection_site": "bloodstream", "organism_type": "bacterial",
              "organism": "Escherichia coli", "culture_confirmed": "true"}  # fmt: skip
    save_form(person, "SECONDARY-INFECTION", values, instance=9, acting_user=cohort["coord"], channel="cli")
    committee = add_user("committee", password="correct-horse-battery-staple", roles=["infection-adjudicator"],
                         sites=[], full_name="Committee", acting_user=None, channel="system")  # fmt: skip
    adjudicate_infection(person, 9, decision="confirmed", acting_user=committee, channel="cli",
                         rationale="blood culture")  # fmt: skip


def test_collected_values_keep_their_meaning(cohort: dict[str, Any]) -> None:
    """Seriousness, units, ranges, MB tests, EX location, secondary infections with their adjudication."""
    _report_and_adjudicate_an_infection(cohort)
    _, sdtm, _ = _datasets(cohort["stat"])
    ae = sdtm["AE"].frame
    criteria = ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE")
    for row in ae.to_dicts():
        assert (row["AESER"] == "Y") == any(row[c] == "Y" for c in criteria), row
        assert row["AEDECOD"] != row["AETERM"].upper()  # never the CTCAE term upper-cased
    ex = sdtm["EX"].frame
    assert set(zip(ex["EXLOC"], ex["EXLAT"], strict=True)) <= {("DELTOID MUSCLE", "LEFT"), ("DELTOID MUSCLE", "RIGHT"),
                                                                ("THIGH", "LEFT"), ("THIGH", "RIGHT")}  # fmt: skip
    mb = sdtm["MB"].frame
    assert "MBTSTDTL" not in mb.columns and {"SARSCOV2", "SCV2VLD"} <= set(mb["MBTESTCD"])
    assert set(mb.filter(mb["MBTESTCD"] == "SARSCOV2")["MBORRES"]) <= {"POSITIVE", "NEGATIVE"}
    assert set(mb["MBSPEC"]) == {"SWABBED MATERIAL"} and set(mb.filter(mb["MBTESTCD"] == "SARSCOV2")["MBLOINC"]) == {
        "94500-6"
    }
    lb = sdtm["LB"].frame
    assert "LBTSTDTL" not in lb.columns and "LBBLFL" not in lb.columns
    # ranges: the screening record's ALT and AST with their ULN, the LAB form's LLN/ULN items
    ranged = lb.filter(lb["LBSTNRLO"].is_not_null() | lb["LBSTNRHI"].is_not_null())
    assert ranged.height and set(ranged["LBNRIND"]) <= {"LOW", "NORMAL", "HIGH"} and "" not in set(ranged["LBNRIND"])
    for row in ranged.to_dicts():
        low, high, value = row["LBSTNRLO"], row["LBSTNRHI"], row["LBSTRESN"]
        expected = (
            "LOW" if low is not None and value < low else "HIGH" if high is not None and value > high else "NORMAL"
        )
        assert row["LBNRIND"] == expected
    # one last-before-exposure result per subject and test
    flagged = lb.filter(lb["LBLOBXFL"] == "Y")
    assert flagged.select("USUBJID", "LBTESTCD", "LBSPEC").is_duplicated().sum() == 0 and flagged.height
    vs = sdtm["VS"].frame
    assert {"WEIGHT", "HEIGHT"} <= set(vs["VSTESTCD"]) and set(vs["VSCAT"]) - {""}
    ce, fa = sdtm["CE"].frame, sdtm["FA"].frame
    assert ce.height == fa.height >= 1 and set(fa["FAORRES"]) <= {"CONFIRMED", "NOT CONFIRMED"}
    assert "CONFIRMED" in set(fa["FAORRES"]) and "BLOODSTREAM" in set(ce["CESCAT"])
    suppce = sdtm["SUPPCE"].frame
    assert "Escherichia coli" in set(suppce.filter(suppce["QNAM"] == "CEORGNSM")["QVAL"])
    assert set(zip(ce["USUBJID"], ce["CESPID"], strict=True)) == set(zip(fa["USUBJID"], fa["FASPID"], strict=True))
    assert set(sdtm["DM"].frame["RACE"]) - {""} <= {"UNKNOWN", "NOT REPORTED", "WHITE", "ASIAN", "MULTIPLE",
                                                    "BLACK OR AFRICAN AMERICAN", "AMERICAN INDIAN OR ALASKA NATIVE",
                                                    "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER"}  # fmt: skip
    supp = sdtm["SUPPAE"].frame
    serious = ae.filter(ae["AESER"] == "Y")
    aware = supp.filter(supp["QNAM"] == "AEAWARDT")
    assert aware.height == serious.height  # the SAE clock's start is kept, not dropped


def test_every_form_item_has_its_sdtm_destination_in_the_acrf(tmp_path: Any) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.standards.acrf import annotation, write_acrf

    protocol = load_protocol()
    missing = [(f.id, i.id) for f in protocol.forms for i in f.items if annotation(f.id, i.id) is None]
    assert missing == []
    text = write_acrf(protocol, tmp_path / "acrf.html").read_text()
    assert "NOT ANNOTATED" not in text and "id='ADVERSE-EVENT'" in text


def test_meddra_coding_with_and_without_the_sponsor_dictionary(cohort: dict[str, Any], tmp_path: Any) -> None:
    from iliad7.errors import InputError
    from iliad7.standards.meddra import COLUMNS, load_dictionary
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot

    snapshot = read_snapshot(cohort["stat"])
    ae = build_sdtm(snapshot, domains=("AE",), dictionary=load_dictionary(tmp_path / "none.csv"))["AE"].frame
    assert set(ae["AEDECOD"]) == {"UNCODED"} and set(ae["AEBODSYS"]) == {""} and ae["AEPTCD"].null_count() == ae.height
    # A sponsor's table (made up here: the codes are not MedDRA's) codes the terms it holds, and only those.
    term = ae["AETERM"][0]
    table = tmp_path / "meddra.csv"
    table.write_text(
        ",".join(COLUMNS) + "\n" + f"99.0,{term.upper()},1,Test LLT,2,Test PT,3,Test HLT,4,Test HLGT,5,Test SOC\n"
    )
    coded = build_sdtm(snapshot, domains=("AE",), dictionary=load_dictionary(table))["AE"].frame
    mine = coded.filter(coded["AETERM"] == term)
    assert (
        set(mine["AEDECOD"]) == {"Test PT"} and set(mine["AESOCCD"]) == {5.0} and set(mine["AEBODSYS"]) == {"Test SOC"}
    )
    assert set(coded.filter(coded["AETERM"] != term)["AEDECOD"]) <= {"UNCODED"}
    table.write_text("term,pt\nFever,Pyrexia\n")
    with pytest.raises(InputError, match="lacks the column"):
        load_dictionary(table)
