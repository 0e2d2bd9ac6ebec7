"""Structural SDTM/ADaM conformance checks, as code (CDISC CORE cannot run here: docs/standards.md).

Each check returns `Finding`s (severity, rule id, dataset, variable, row,
message). The rules are the structural ones every validator applies:

- SD-REQ   required variables present (SDTMIG "Req" variables of each domain) and non-blank
- SD-NAME  variable and dataset names upper-case ASCII, letter first, at most 8 characters
- SD-LABEL labels at most 40 characters
- SD-LEN   character values at most 200 bytes (XPORT v5)
- SD-DTC   --DTC values ISO 8601 (date, or date and time to minutes or seconds)
- SD-CT    values of a variable with a codelist in that codelist (non-extensible: error; extensible: warning)
- SD-KEY   (USUBJID, --SEQ) unique, and the dataset's natural keys unique
- SD-DOM   DOMAIN equals the dataset name
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from iliad7.standards.dataset import Dataset
from iliad7.standards.terminology import CODELISTS

# SDTMIG 3.3 "Req" variables of the domains written here (beyond STUDYID, DOMAIN, USUBJID, --SEQ).
REQUIRED: dict[str, tuple[str, ...]] = {
    "DM": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY"),
    "DS": ("STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD"),
    "AE": ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"),
    "HO": ("STUDYID", "DOMAIN", "USUBJID", "HOSEQ", "HOTERM"),
    "EX": ("STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT"),
    "PR": ("STUDYID", "DOMAIN", "USUBJID", "PRSEQ", "PRTRT"),
    "LB": ("STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"),
    "MB": ("STUDYID", "DOMAIN", "USUBJID", "MBSEQ", "MBTESTCD", "MBTEST"),
    "VS": ("STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST"),
    "RS": ("STUDYID", "DOMAIN", "USUBJID", "RSSEQ", "RSTESTCD", "RSTEST"),
    "SV": ("STUDYID", "DOMAIN", "USUBJID", "VISITNUM"),
    "TS": ("STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM", "TSVAL"),
    "TA": ("STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD", "EPOCH"),
    "TE": ("STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL"),
    "TV": ("STUDYID", "DOMAIN", "VISITNUM"),
    "TI": ("STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT"),
    "ADSL": ("STUDYID", "USUBJID", "SUBJID", "SITEID", "TRT01P", "TRT01A", "ITTFL", "SAFFL"),
    "ADLB": ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL"),
    "ADTTE": ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "STARTDT"),
    "ADAE": ("STUDYID", "USUBJID", "AETERM", "AEDECOD"),
}
# Required variables that may be blank on a record (ADaM's TRT01P/TRT01A in a blinded export, ...).
MAY_BE_BLANK = {"TRT01P", "TRT01A", "STARTDT"}

_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_ISO8601 = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    rule: str
    dataset: str
    variable: str
    row: int | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "rule": self.rule,
            "dataset": self.dataset,
            "variable": self.variable,
            "row": self.row,
            "message": self.message,
        }


def _error(rule: str, dataset: Dataset, variable: str, message: str, row: int | None = None) -> Finding:
    return Finding("error", rule, dataset.name, variable, row, message)


def check_names_and_labels(dataset: Dataset) -> list[Finding]:
    found = []
    if not _NAME.match(dataset.name):
        found.append(_error("SD-NAME", dataset, "", f"dataset name {dataset.name!r} is not upper-case ASCII <= 8"))
    if len(dataset.label) > 40:
        found.append(_error("SD-LABEL", dataset, "", f"dataset label is {len(dataset.label)} characters"))
    for name in dataset.frame.columns:
        if not _NAME.match(name):
            found.append(_error("SD-NAME", dataset, name, f"variable name {name!r} is not upper-case ASCII <= 8"))
    for variable in dataset.variables:
        if len(variable.label) > 40:
            found.append(_error("SD-LABEL", dataset, variable.name, f"label is {len(variable.label)} characters"))
    return found


def check_required(dataset: Dataset) -> list[Finding]:
    found = []
    for name in REQUIRED.get(dataset.name, ()):
        if name not in dataset.frame.columns:
            found.append(_error("SD-REQ", dataset, name, f"required variable {name} is missing"))
            continue
        if name in MAY_BE_BLANK:
            continue
        column = dataset.frame[name]
        blank = column.is_null() | (column.cast(pl.String) == "") if column.dtype == pl.String else column.is_null()
        for row in blank.arg_true().to_list()[:5]:
            found.append(_error("SD-REQ", dataset, name, f"required variable {name} is blank", row + 1))
    return found


def check_lengths(dataset: Dataset) -> list[Finding]:
    found = []
    for name, dtype in dataset.frame.schema.items():
        if dtype != pl.String:
            continue
        lengths = dataset.frame[name].str.len_bytes()
        for row in (lengths > 200).arg_true().to_list()[:5]:
            found.append(_error("SD-LEN", dataset, name, f"value is {lengths[row]} bytes (> 200)", row + 1))
    return found


def check_dates(dataset: Dataset) -> list[Finding]:
    found = []
    for name in dataset.frame.columns:
        if not (name.endswith("DTC") or name.endswith("DTC_")) or dataset.frame.schema[name] != pl.String:
            continue
        for row, value in enumerate(dataset.frame[name].to_list(), start=1):
            if value and not _ISO8601.match(value):
                found.append(_error("SD-DTC", dataset, name, f"{value!r} is not ISO 8601", row))
    return found


# Value-level codelists: (dataset, variable) -> (the variable that selects, {its value: codelist}).
VALUE_LEVEL: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("DS", "DSDECOD"): ("DSCAT", {"PROTOCOL MILESTONE": "PROTMLST"}),
}


def check_terms(dataset: Dataset) -> list[Finding]:
    found = []
    for variable in dataset.variables:
        if not variable.codelist or variable.name not in dataset.frame.columns:
            continue
        selector, by_value = VALUE_LEVEL.get((dataset.name, variable.name), ("", {}))
        selectors = dataset.frame[selector].to_list() if selector else [""] * dataset.frame.height
        values = dataset.frame[variable.name].to_list()
        for row, (value, chosen) in enumerate(zip(values, selectors, strict=True), start=1):
            if value is None:
                continue
            codelist = CODELISTS[by_value.get(chosen, variable.codelist)]
            text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            if text and text not in codelist.terms:
                severity: Literal["error", "warning"] = "warning" if codelist.extensible else "error"
                found.append(
                    Finding(
                        severity,
                        "SD-CT",
                        dataset.name,
                        variable.name,
                        row,
                        f"{text!r} is not in codelist {codelist.name} ({codelist.nci_code or 'sponsor'})",
                    )
                )
    return found


def check_keys(dataset: Dataset) -> list[Finding]:
    found = []
    frame = dataset.frame
    seq = f"{dataset.name}SEQ"
    if "USUBJID" in frame.columns and seq in frame.columns and frame.height:
        duplicated = frame.select("USUBJID", seq).is_duplicated()
        for row in duplicated.arg_true().to_list()[:5]:
            found.append(_error("SD-KEY", dataset, seq, f"(USUBJID, {seq}) is not unique", row + 1))
    elif dataset.keys and all(k in frame.columns for k in dataset.keys) and frame.height:
        duplicated = frame.select(list(dataset.keys)).is_duplicated()
        for row in duplicated.arg_true().to_list()[:5]:
            found.append(
                _error("SD-KEY", dataset, ",".join(dataset.keys), "the dataset's keys are not unique", row + 1)
            )
    if "DOMAIN" in frame.columns and frame.height:
        wrong = (frame["DOMAIN"] != dataset.name).arg_true().to_list()
        for row in wrong[:5]:
            found.append(_error("SD-DOM", dataset, "DOMAIN", f"DOMAIN is not {dataset.name}", row + 1))
    return found


CHECKS = (check_names_and_labels, check_required, check_lengths, check_dates, check_terms, check_keys)


def check_dataset(dataset: Dataset) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(dataset)]


def check_datasets(datasets: Iterable[Dataset]) -> list[Finding]:
    return [finding for dataset in datasets for finding in check_dataset(dataset)]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
