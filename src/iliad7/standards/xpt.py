"""SAS XPORT version 5 (the FDA's transport format) through pyreadstat, with the v5 limits guarded.

pyreadstat writes version 8 unless told (`file_format_version=5`), rejects
names over 8 characters itself, but silently truncates labels over 40
characters and accepts values over 200 bytes: both are refused here first.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from iliad7.errors import InputError
from iliad7.standards.dataset import Dataset

MAX_NAME, MAX_LABEL, MAX_VALUE_BYTES = 8, 40, 200


def guard(dataset: Dataset) -> None:
    """Refuse a dataset that XPORT v5 cannot hold exactly (InputError naming the variable)."""
    if len(dataset.name) > MAX_NAME or len(dataset.label) > MAX_LABEL:
        raise InputError(dataset.name, "a dataset name is at most 8 characters and its label at most 40")
    for variable in dataset.variables:
        where = f"{dataset.name}.{variable.name}"
        if len(variable.name) > MAX_NAME or not variable.name.isascii():
            raise InputError(where, "a variable name is at most 8 ASCII characters")
        if len(variable.label) > MAX_LABEL:
            raise InputError(where, f"label {variable.label!r} is longer than 40 characters")
        if variable.type == "Char" and dataset.frame.height:
            longest = int(dataset.frame[variable.name].str.len_bytes().max() or 0)  # type: ignore[arg-type]
            if longest > MAX_VALUE_BYTES:
                raise InputError(where, f"a value is {longest} bytes; XPORT v5 holds 200")


def write_xpt(dataset: Dataset, path: Path) -> Path:
    import pyreadstat

    guard(dataset)
    import pandas as pd

    # Column by column (polars' to_pandas needs pyarrow, which this project does not otherwise need).
    frame = pd.DataFrame(
        {
            v.name: pd.Series(dataset.frame[v.name].to_list(), dtype=object if v.type == "Char" else "float64")
            for v in dataset.variables
        }
    )
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=dataset.label,
        table_name=dataset.name,
        column_labels=[v.label for v in dataset.variables],
        file_format_version=5,
        variable_format={v.name: v.display_format for v in dataset.variables if v.display_format} or None,
    )
    return path


def read_xpt(path: Path) -> tuple[pl.DataFrame, dict[str, str], str]:
    """(frame, labels by column, table name) as stored; missing character values read back as ""."""
    import pyreadstat

    frame, meta = pyreadstat.read_xport(str(path))
    labels = {name: label or "" for name, label in zip(meta.column_names, meta.column_labels, strict=True)}
    columns = {}
    for name in meta.column_names:
        values = frame[name].tolist()
        if frame[name].dtype == object:
            columns[name] = pl.Series(name, ["" if v is None else str(v) for v in values], dtype=pl.String)
        else:
            columns[name] = pl.Series(name, [None if v != v else float(v) for v in values], dtype=pl.Float64)
    return pl.DataFrame(columns), labels, meta.table_name or ""
