"""The conformance checks (the IG variable tables and the structural rules) catch each kind of deliberately
broken dataset (no database)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from iliad7.errors import InputError
from iliad7.standards.conformance import check_dataset, errors
from iliad7.standards.dataset import Variable, make_dataset, with_frame
from iliad7.standards.xpt import read_xpt, write_xpt

V = Variable
# SDTMIG 3.4 LB: the Req and Exp variables (LBLOBXFL in place of --BLFL), then the date last.
VARS = (
    V("STUDYID", "Study Identifier"), V("DOMAIN", "Domain Abbreviation"), V("USUBJID", "Unique Subject Identifier"),
    V("LBSEQ", "Sequence Number", "Num"), V("LBTESTCD", "Lab Test or Examination Short Name", codelist="LBTESTCD"),
    V("LBTEST", "Lab Test or Examination Name"), V("LBCAT", "Category for Lab Test"),
    V("LBORRES", "Result or Finding in Original Units"), V("LBORRESU", "Original Units", codelist="UNIT"),
    V("LBORNRLO", "Reference Range Lower Limit in Orig Unit"), V("LBORNRHI", "Reference Range Upper Limit in Orig Unit"),
    V("LBSTRESC", "Character Result/Finding in Std Format"), V("LBSTRESN", "Numeric Result/Finding in Standard Units", "Num"),
    V("LBSTRESU", "Standard Units", codelist="UNIT"), V("LBSTNRLO", "Reference Range Lower Limit-Std Units", "Num"),
    V("LBSTNRHI", "Reference Range Upper Limit-Std Units", "Num"), V("LBNRIND", "Reference Range Indicator", codelist="NRIND"),
    V("LBLOBXFL", "Last Observation Before Exposure Flag", codelist="NY"), V("VISITNUM", "Visit Number", "Num"),
    V("LBDTC", "Date/Time of Specimen Collection"),
)  # fmt: skip
ROWS = [
    {"STUDYID": "S", "DOMAIN": "LB", "USUBJID": "S-1", "LBSEQ": 1, "LBTESTCD": "LYM", "LBTEST": "Lymphocytes",
     "LBCAT": "HEMATOLOGY", "LBORRES": "0.6", "LBORRESU": "10^9/L", "LBORNRLO": "1", "LBSTRESC": "0.6",
     "LBSTRESN": 0.6, "LBSTRESU": "10^9/L", "LBSTNRLO": 1.0, "LBNRIND": "LOW", "LBLOBXFL": "Y", "VISITNUM": 2,
     "LBDTC": "2021-03-05T06:00"},
    {"STUDYID": "S", "DOMAIN": "LB", "USUBJID": "S-1", "LBSEQ": 2, "LBTESTCD": "CRP", "LBTEST": "C Reactive Protein",
     "LBCAT": "CHEMISTRY", "LBORRES": "85", "LBORRESU": "mg/L", "LBSTRESC": "85", "LBSTRESN": 85.0,
     "LBSTRESU": "mg/L", "LBLOBXFL": "", "VISITNUM": 3, "LBDTC": "2021-03-08"},
]  # fmt: skip


def _lb(rows: list[dict[str, object]] | None = None, variables: tuple[Variable, ...] = VARS):  # type: ignore[no-untyped-def]
    return make_dataset("LB", "Laboratory Test Results", klass="FINDINGS", structure="x", keys=("USUBJID", "LBSEQ"),
                        variables=variables, rows=ROWS if rows is None else rows)  # fmt: skip


def _rules(dataset) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(f.rule, f.variable) for f in errors(check_dataset(dataset))}


def test_a_clean_dataset_has_no_errors() -> None:
    assert errors(check_dataset(_lb())) == []


def test_a_long_or_lower_case_name_is_an_error() -> None:
    broken = with_frame(_lb(), _lb().frame.rename({"LBORRES": "LBORRESLONG"}))
    assert ("SD-NAME", "LBORRESLONG") in _rules(broken)
    lower = with_frame(_lb(), _lb().frame.rename({"LBORRES": "lborres"}))
    assert ("SD-NAME", "lborres") in _rules(lower)


def test_a_label_over_40_characters_is_an_error() -> None:
    variables = (*VARS[:-1], V("LBDTC", "Date/Time of Specimen Collection, as written by the laboratory"))
    assert ("SD-LABEL", "LBDTC") in _rules(_lb(variables=variables))


def test_a_value_over_200_bytes_is_an_error_and_xpt_refuses_it(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "LBORRES": "é" * 101}]  # 202 bytes in UTF-8, 101 characters
    dataset = _lb(rows)
    assert ("SD-LEN", "LBORRES") in _rules(dataset)
    with pytest.raises(InputError, match="200"):
        write_xpt(dataset, tmp_path / "lb.xpt")


def test_xpt_refuses_a_long_label_that_pyreadstat_would_truncate(tmp_path: Path) -> None:
    variables = (*VARS[:-1], V("LBDTC", "Date/Time of Specimen Collection, as written by the laboratory"))
    with pytest.raises(InputError, match="40"):
        write_xpt(_lb(variables=variables), tmp_path / "lb.xpt")


@pytest.mark.parametrize("value", ["05/03/2021", "2021-13-01", "2021-03-05 06:00", "2021-03-05T25:00", "yesterday"])
def test_a_date_not_in_iso_8601_is_an_error(value: str) -> None:
    assert ("SD-DTC", "LBDTC") in _rules(_lb([{**ROWS[0], "LBDTC": value}]))


@pytest.mark.parametrize("value", ["2021", "2021-03", "2021-03-05", "2021-03-05T06:00", "2021-03-05T06:00:59"])
def test_iso_8601_dates_of_every_precision_pass(value: str) -> None:
    assert not _rules(_lb([{**ROWS[0], "LBDTC": value}]))


def test_a_duplicate_key_is_an_error() -> None:
    assert ("SD-KEY", "LBSEQ") in _rules(_lb([ROWS[0], {**ROWS[1], "LBSEQ": 1}]))


def test_an_unknown_term_of_a_non_extensible_codelist_is_an_error() -> None:
    assert ("SD-CT", "LBLOBXFL") in _rules(_lb([{**ROWS[0], "LBLOBXFL": "YES"}]))


def test_an_unknown_term_of_an_extensible_codelist_is_a_warning() -> None:
    findings = check_dataset(_lb([{**ROWS[0], "LBTESTCD": "LYMPH"}]))
    assert [(f.severity, f.rule) for f in findings] == [("warning", "SD-CT")]
    # A unit not in UNIT (cells/mm3 is written as its UNIT term, 10^6/L) is found the same way.
    findings = check_dataset(_lb([{**ROWS[0], "LBORRESU": "cells/mm3"}]))
    assert [(f.severity, f.rule, f.variable) for f in findings] == [("warning", "SD-CT", "LBORRESU")]


def test_a_missing_or_blank_required_variable_is_an_error() -> None:
    dataset = _lb()
    assert ("SD-REQ", "LBTEST") in _rules(with_frame(dataset, dataset.frame.drop("LBTEST")))
    assert ("SD-REQ", "LBTESTCD") in _rules(_lb([{**ROWS[0], "LBTESTCD": ""}]))


def test_a_missing_expected_variable_and_a_variable_the_ig_does_not_have_are_errors() -> None:
    dataset = _lb()
    # LBNRIND is Exp in SDTMIG 3.4 LB: it must be there, even if null on a record.
    assert ("SD-REQ", "LBNRIND") in _rules(with_frame(dataset, dataset.frame.drop("LBNRIND")))
    assert not _rules(_lb([{**ROWS[0], "LBNRIND": ""}]))
    # LBTSTDTL is no LB variable, and LBBLFL is not in 3.4's LB either: both belong elsewhere (SUPPLB).
    for extra in ("LBTSTDTL", "LBBLFL"):
        broken = with_frame(dataset, dataset.frame.with_columns(pl.lit("").alias(extra)))
        assert ("IG-VAR", extra) in _rules(broken)


def test_adam_dates_must_be_numeric_with_date9() -> None:
    variables = (V("STUDYID", "Study Identifier"), V("USUBJID", "Unique Subject Identifier"),
                 V("PARAMCD", "Parameter Code"), V("PARAM", "Parameter"), V("ADT", "Analysis Date"))  # fmt: skip
    rows = [{"STUDYID": "S", "USUBJID": "S-1", "PARAMCD": "LYM", "PARAM": "Lymphocytes", "ADT": "2021-03-05"}]
    character = make_dataset("ADLB", "x", klass="BASIC DATA STRUCTURE", structure="x", keys=("USUBJID",),
                             variables=variables, rows=rows, standard="ADaM")  # fmt: skip
    assert ("AD-DATE", "ADT") in _rules(character)


def test_a_wrong_domain_value_is_an_error() -> None:
    assert ("SD-DOM", "DOMAIN") in _rules(_lb([{**ROWS[0], "DOMAIN": "LX"}]))


def test_xpt_round_trip_keeps_values_labels_and_name(tmp_path: Path) -> None:
    dataset = _lb()
    frame, labels, name = read_xpt(write_xpt(dataset, tmp_path / "lb.xpt"))
    assert name == "LB"
    assert labels == {v.name: v.label for v in dataset.variables}
    assert frame.equals(dataset.frame)
    assert frame.schema == pl.Schema({v.name: pl.Float64 if v.type == "Num" else pl.String for v in VARS})
