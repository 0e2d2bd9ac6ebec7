"""CDISC Dataset-JSON 1.1: one JSON document per dataset, its columns pointing at define.xml's ItemDefs."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from iliad7 import __version__ as ILIAD7_VERSION
from iliad7.standards.dataset import Dataset

DATASET_JSON_VERSION = "1.1.0"
SAS_EPOCH = date(1960, 1, 1)


def item_oid(dataset: Dataset, variable_name: str) -> str:
    return f"IT.{dataset.name}.{variable_name}"


def _data_type(dataset: Dataset, name: str) -> str:
    variable = dataset.variable(name)
    if variable.type == "Num":
        integer = name.endswith(("SEQ", "DY", "NUM")) or name in ("AGE", "TAETORD", "CNSR")
        return "integer" if integer else "double"
    return "datetime" if name.endswith("DTC") else "string"


def to_dataset_json(dataset: Dataset, *, study_oid: str, created: datetime, originator: str) -> dict[str, Any]:
    columns = []
    for variable in dataset.variables:
        column: dict[str, Any] = {
            "itemOID": item_oid(dataset, variable.name),
            "name": variable.name,
            "label": variable.label,
            "dataType": _data_type(dataset, variable.name),
        }
        if variable.display_format == "DATE9.":
            # A numeric SAS date: an ISO 8601 date in JSON, an integer (days since 1960) in SAS.
            column |= {"dataType": "date", "targetDataType": "integer", "displayFormat": "DATE9."}
        if variable.type == "Char":
            longest = dataset.frame[variable.name].str.len_bytes().max() if dataset.frame.height else 0
            column["length"] = max(int(longest or 0), 1)  # type: ignore[arg-type]
        if variable.name in dataset.keys:
            column["keySequence"] = dataset.keys.index(variable.name) + 1
        columns.append(column)
    rows = []
    for record in dataset.frame.iter_rows():
        row: list[Any] = []
        for variable, value in zip(dataset.variables, record, strict=True):
            if variable.type == "Num" and value is not None and columns[len(row)]["dataType"] == "integer":
                value = int(value)
            elif value is not None and columns[len(row)]["dataType"] == "date":
                value = (SAS_EPOCH + timedelta(days=int(value))).isoformat()
            row.append(value)
        rows.append(row)
    return {
        "datasetJSONCreationDateTime": created.replace(microsecond=0).isoformat(),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{study_oid}.{dataset.name}",
        "originator": originator,
        "sourceSystem": {"name": "iliad7", "version": ILIAD7_VERSION},
        "studyOID": study_oid,
        "metaDataVersionOID": f"MDV.{dataset.standard}",
        "metaDataRef": "define.xml",
        "itemGroupOID": f"IG.{dataset.name}",
        "records": dataset.frame.height,
        "name": dataset.name,
        "label": dataset.label,
        "columns": columns,
        "rows": rows,
    }


def write_dataset_json(dataset: Dataset, path: Path, *, study_oid: str, created: datetime, originator: str) -> Path:
    document = to_dataset_json(dataset, study_oid=study_oid, created=created, originator=originator)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
