"""SDTM/ADaM conformance checks as code: the variable-level checks against the published IG tables
(`ig_tables`) and the structural rules every validator applies. CDISC CORE runs beside them on the
SDTM export (tests/standards/test_standards_core.py); docs/standards.md says which rules each covers.

Each check returns `Finding`s (severity, rule id, dataset, variable, row, message):

- SD-REQ   the IG's Req and Exp variables present, Req never null (IG conditions: `NULL_WHEN`)
- IG-VAR   every variable is one of the IG's variables for its dataset (otherwise it belongs in SUPP--)
- AD-DATE  ADaM dates numeric with DATE9. (datetimes DATETIME20.)
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

# Req variables that may be null on some records, and why (the IG's own conditions):
# ADSL: a screen failure (RANDFL = N) has no arm, planned or actual, and no treatment dates.
NULL_WHEN: dict[tuple[str, str], tuple[str, str]] = {
    (dataset, name): ("RANDFL", "N")
    for dataset in ("ADSL",)
    for name in ("ARM", "ACTARM", "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", "ITTFL", "SAFFL")
}
# A blinded user's export holds no arm: these are blank on every record (docs/standards.md, blinding).
BLINDED_BLANK = frozenset({"TRT01P", "TRT01A", "TRTP", "TRTA", "TRT01PN", "TRT01AN", "TRTPN", "TRTAN"})

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


def check_required(dataset: Dataset, *, blinded: bool = False) -> list[Finding]:
    """The IG's variable table (`ig_tables`): Req and Exp variables present, Req never null, nothing else."""
    from iliad7.standards.ig_tables import table

    found: list[Finding] = []
    variables = table(dataset.standard, dataset.name)
    if variables is None:
        return [_error("IG-DOMAIN", dataset, "", f"{dataset.name} is not a dataset of the carried IG tables")]
    frame = dataset.frame
    for name, core in variables.items():
        if core in ("Req", "Exp") and name not in frame.columns:
            found.append(_error("SD-REQ", dataset, name, f"{core} variable {name} is missing"))
    for name in frame.columns:
        if name not in variables:
            found.append(_error("IG-VAR", dataset, name, f"{name} is not a {dataset.name} variable of the IG"))
            continue
        if variables[name] != "Req" or (blinded and name in BLINDED_BLANK):
            continue
        column = frame[name]
        blank = column.is_null() | (column.cast(pl.String) == "") if column.dtype == pl.String else column.is_null()
        condition = NULL_WHEN.get((dataset.name, name))
        if condition is not None and condition[0] in frame.columns:
            blank = blank & (frame[condition[0]] != condition[1])
        for row in blank.arg_true().to_list()[:5]:
            found.append(_error("SD-REQ", dataset, name, f"required variable {name} is blank", row + 1))
    return found


def check_adam_dates(dataset: Dataset) -> list[Finding]:
    """ADaM dates are numeric SAS dates with a DATE9. format (*DT), datetimes DATETIME20. (*DTM)."""
    if dataset.standard != "ADaM":
        return []
    found = []
    for variable in dataset.variables:
        for suffix, fmt in (("DTM", "DATETIME20."), ("DT", "DATE9.")):
            if variable.name.endswith(suffix):
                if variable.type != "Num" or variable.display_format != fmt:
                    found.append(
                        _error("AD-DATE", dataset, variable.name, f"{variable.name} is not numeric with {fmt}")
                    )
                break
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


CHECKS = (check_names_and_labels, check_lengths, check_dates, check_terms, check_keys, check_adam_dates)


def check_dataset(dataset: Dataset, *, blinded: bool = False) -> list[Finding]:
    found = check_required(dataset, blinded=blinded)
    return found + [finding for check in CHECKS for finding in check(dataset)]


def check_datasets(datasets: Iterable[Dataset], *, blinded: bool = False) -> list[Finding]:
    return [finding for dataset in datasets for finding in check_dataset(dataset, blinded=blinded)]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
