"""One tabulation or analysis dataset: its variables (name, label, type, codelist) and its rows.

Every writer (SAS XPORT, Dataset-JSON, define.xml, CSV, Parquet) and every
conformance check reads this one shape, so a dataset is described once.
Character variables are polars strings with "" for missing (as SAS stores
them); numeric variables are Float64 with null for missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

VarType = Literal["Char", "Num"]


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: VarType = "Char"
    codelist: str | None = None  # a key of `terminology.CODELISTS`
    origin: str = "Collected"  # define.xml def:Origin Type: Collected, Derived, Assigned, Protocol
    role: str = ""  # SDTM role (Identifier, Topic, ...) or "" for ADaM
    source: str = ""  # ADaM traceability note (the SDTM variable it comes from)
    method: str = ""  # how a derived value is computed: define.xml MethodDef
    comment: str = ""  # what a reviewer should know about the values: define.xml CommentDef
    display_format: str = ""  # SAS format of a numeric date (ADaM *DT: DATE9.)


@dataclass(frozen=True)
class Dataset:
    name: str  # upper case: DM, LB, ADSL
    label: str
    klass: str  # define.xml def:Class: SPECIAL PURPOSE, FINDINGS, SUBJECT LEVEL ANALYSIS DATASET, ...
    structure: str  # define.xml def:Structure, e.g. "One record per subject"
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]
    frame: pl.DataFrame
    standard: Literal["SDTM", "ADaM"] = "SDTM"
    notes: tuple[str, ...] = field(default=())
    comment: str = ""  # define.xml CommentDef of the dataset
    # Supplemental qualifiers of the records (SUPP--): (USUBJID, IDVAR, IDVARVAL, QNAM, QLABEL, QVAL, QORIG);
    # IDVAR is the record's --SEQ unless the qualifier names another (a --GRPID), "" for a subject-level one
    qualifiers: tuple[tuple[str, str, str, str, str, str, str], ...] = field(default=())

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)

    @property
    def file_stem(self) -> str:
        return self.name.lower()


def make_dataset(
    name: str,
    label: str,
    *,
    klass: str,
    structure: str,
    keys: Iterable[str],
    variables: Iterable[Variable],
    rows: Iterable[Mapping[str, Any]],
    standard: Literal["SDTM", "ADaM"] = "SDTM",
    comment: str = "",
) -> Dataset:
    """A dataset whose frame has exactly `variables`, in order, typed by each variable's type."""
    variables = tuple(variables)
    rows = list(rows)
    columns: dict[str, pl.Series] = {}
    for variable in variables:
        raw = [row.get(variable.name) for row in rows]
        if variable.type == "Num":
            columns[variable.name] = pl.Series(
                variable.name, [None if v is None or v == "" else float(v) for v in raw], dtype=pl.Float64
            )
        else:
            columns[variable.name] = pl.Series(
                variable.name, ["" if v is None else str(v) for v in raw], dtype=pl.String
            )
    frame = pl.DataFrame(columns) if columns else pl.DataFrame()
    found: dict[tuple[str, str, str, str], tuple[str, str, str, str, str, str, str]] = {}
    for row in rows:
        for qnam, qlabel, qval, qorig, idvar in row.get("_supp", ()):
            if idvar is None:
                idvar = f"{name}SEQ" if f"{name}SEQ" in row else ""
            idvarval = "" if not idvar else str(int(row[idvar]) if isinstance(row[idvar], float) else row[idvar])
            found[(str(row["USUBJID"]), idvar, idvarval, qnam)] = (
                str(row["USUBJID"]),
                idvar,
                idvarval,
                qnam,
                qlabel,
                qval,
                qorig,
            )
    qualifiers = tuple(found.values())
    return Dataset(
        name=name,
        label=label,
        klass=klass,
        structure=structure,
        keys=tuple(keys),
        variables=variables,
        frame=frame,
        standard=standard,
        comment=comment,
        qualifiers=qualifiers,
    )


def with_frame(dataset: Dataset, frame: pl.DataFrame) -> Dataset:
    """The same dataset description over another frame (used by tests that break a frame on purpose)."""
    from dataclasses import replace

    return replace(dataset, frame=frame)
