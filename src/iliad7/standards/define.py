"""define.xml 2.1 for the SDTM or ADaM datasets written beside it, validated against the Define-XML 2.1 XSD.

One ItemGroupDef per dataset (its def:leaf the XPT file), one ItemDef per
variable (OID `IT.{DATASET}.{VARIABLE}`, the same OIDs Dataset-JSON's
columns carry), one CodeList per codelist a variable uses, restricted to the
terms the data contain plus the ones listed in `terminology` (NCI codes as
`nci:ExtCodeID` aliases).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from iliad7 import __version__ as ILIAD7_VERSION
from iliad7.standards.dataset import Dataset
from iliad7.standards.dataset_json import item_oid
from iliad7.standards.terminology import CODELISTS

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CT_VERSION = "2024-09-27"  # the CDISC CT package the codelist subsets follow
STANDARDS = {"SDTM": ("SDTMIG", "3.3"), "ADaM": ("ADaMIG", "1.1")}

ET.register_namespace("", ODM_NS)
ET.register_namespace("def", DEF_NS)
ET.register_namespace("xlink", XLINK_NS)


def _o(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _description(parent: ET.Element, text: str) -> None:
    description = ET.SubElement(parent, _o("Description"))
    ET.SubElement(description, _o("TranslatedText"), {XML_LANG: "en"}).text = text


def _data_type(dataset: Dataset, name: str) -> tuple[str, int | None]:
    variable = dataset.variable(name)
    column = dataset.frame[name]
    if variable.type == "Num":
        values = column.drop_nulls()
        if values.len() == 0 or bool((values == values.round(0)).all()):
            longest = max((len(str(int(v))) for v in values), default=1)
            return "integer", longest
        return "float", 16
    if name.endswith("DTC"):
        return "datetime", None
    longest = int(column.str.len_bytes().max() or 1) if column.len() else 1  # type: ignore[arg-type]
    return "text", max(longest, 1)


def build_define(datasets: list[Dataset], *, study_id: str, study_name: str, created: datetime) -> ET.ElementTree:
    standard = datasets[0].standard if datasets else "SDTM"
    ig_name, ig_version = STANDARDS[standard]
    root = ET.Element(
        _o("ODM"),
        {
            "FileType": "Snapshot",
            "FileOID": f"DEFINE.{study_id}.{standard}",
            "ODMVersion": "1.3.2",
            "CreationDateTime": created.replace(microsecond=0).isoformat(),
            "Originator": "iliad7",
            "SourceSystem": "iliad7",
            "SourceSystemVersion": ILIAD7_VERSION,
            _d("Context"): "Submission",
        },
    )
    study = ET.SubElement(root, _o("Study"), {"OID": study_id})
    globals_ = ET.SubElement(study, _o("GlobalVariables"))
    ET.SubElement(globals_, _o("StudyName")).text = study_id
    ET.SubElement(globals_, _o("StudyDescription")).text = study_name
    ET.SubElement(globals_, _o("ProtocolName")).text = study_id
    mdv = ET.SubElement(
        study,
        _o("MetaDataVersion"),
        {"OID": f"MDV.{standard}", "Name": f"{study_id} {standard}", _d("DefineVersion"): "2.1.0"},
    )
    standards = ET.SubElement(mdv, _d("Standards"))
    ET.SubElement(
        standards,
        _d("Standard"),
        {"OID": "STD.IG", "Name": ig_name, "Type": "IG", "Version": ig_version, "Status": "Final"},
    )
    ET.SubElement(
        standards,
        _d("Standard"),
        {
            "OID": "STD.CT",
            "Name": "CDISC/NCI",
            "Type": "CT",
            "PublishingSet": standard,
            "Version": CT_VERSION,
            "Status": "Final",
        },
    )
    used: dict[str, set[str]] = {}
    for dataset in datasets:
        group = ET.SubElement(
            mdv,
            _o("ItemGroupDef"),
            {
                "OID": f"IG.{dataset.name}",
                "Name": dataset.name,
                "Repeating": "No" if dataset.name in ("DM", "ADSL") else "Yes",
                "IsReferenceData": "Yes" if dataset.klass == "TRIAL DESIGN" else "No",
                "SASDatasetName": dataset.name,
                "Purpose": "Tabulation" if standard == "SDTM" else "Analysis",
                _d("Structure"): dataset.structure,
                _d("StandardOID"): "STD.IG",
                _d("ArchiveLocationID"): f"LF.{dataset.name}",
                **({"Domain": dataset.name} if standard == "SDTM" else {}),
            },
        )
        _description(group, dataset.label)
        for order, variable in enumerate(dataset.variables, start=1):
            attributes = {"ItemOID": item_oid(dataset, variable.name), "OrderNumber": str(order)}
            attributes["Mandatory"] = (
                "Yes" if variable.name in dataset.keys or variable.name in ("STUDYID", "DOMAIN", "USUBJID") else "No"
            )
            if variable.name in dataset.keys:
                attributes["KeySequence"] = str(dataset.keys.index(variable.name) + 1)
            if variable.role and standard == "SDTM":
                attributes["Role"] = variable.role
            ET.SubElement(group, _o("ItemRef"), attributes)
        ET.SubElement(group, _d("Class"), {"Name": dataset.klass})
        leaf = ET.SubElement(
            group, _d("leaf"), {"ID": f"LF.{dataset.name}", f"{{{XLINK_NS}}}href": f"{dataset.file_stem}.xpt"}
        )
        ET.SubElement(leaf, _d("title")).text = f"{dataset.file_stem}.xpt"
    for dataset in datasets:
        for variable in dataset.variables:
            data_type, length = _data_type(dataset, variable.name)
            attributes = {
                "OID": item_oid(dataset, variable.name),
                "Name": variable.name,
                "DataType": data_type,
                "SASFieldName": variable.name,
            }
            if length is not None:
                attributes["Length"] = str(length)
            if data_type == "float":
                attributes["SignificantDigits"] = "6"
            item = ET.SubElement(mdv, _o("ItemDef"), attributes)
            _description(item, variable.label)
            if variable.codelist:
                ET.SubElement(item, _o("CodeListRef"), {"CodeListOID": f"CL.{variable.codelist}"})
                values = {str(v) for v in dataset.frame[variable.name].drop_nulls().to_list() if v != ""}
                used.setdefault(variable.codelist, set()).update(values)
            origin_type = variable.origin
            origin = ET.SubElement(
                item,
                _d("Origin"),
                {"Type": origin_type, **({"Source": "Investigator"} if origin_type == "Collected" else {})},
            )
            if variable.source:
                _description(origin, variable.source)
    for name in sorted(used):
        codelist = CODELISTS[name]
        element = ET.SubElement(
            mdv,
            _o("CodeList"),
            {
                "OID": f"CL.{name}",
                "Name": name,
                "DataType": "text",
                **({"def:StandardOID".replace("def:", f"{{{DEF_NS}}}"): "STD.CT"} if codelist.nci_code else {}),
                **({_d("IsNonStandard"): "Yes"} if not codelist.nci_code else {}),
            },
        )
        terms = [t for t in codelist.terms if t in used[name]] or list(codelist.terms)
        for order, term in enumerate(terms, start=1):
            entry = ET.SubElement(element, _o("CodeListItem"), {"CodedValue": term, "OrderNumber": str(order)})
            decode = ET.SubElement(entry, _o("Decode"))
            ET.SubElement(decode, _o("TranslatedText"), {XML_LANG: "en"}).text = codelist.terms[term]
        if codelist.nci_code:
            ET.SubElement(element, _o("Alias"), {"Context": "nci:ExtCodeID", "Name": codelist.nci_code})
    ET.indent(root)
    return ET.ElementTree(root)


def write_define(datasets: list[Dataset], path: Path, *, study_id: str, study_name: str, created: datetime) -> Path:
    tree = build_define(datasets, study_id=study_id, study_name=study_name, created=created)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return path


def validate_define(path: Path) -> list[str]:
    """The Define-XML 2.1 XSD's complaints about `path` (empty when valid), offline via odmlib's schemas."""
    return _schema_errors(path, "define", "2.1")


def _schema_errors(path: Path, standard: str, version: str) -> list[str]:
    import xmlschema
    from odmlib.schema_manager import get_schema_path

    schema = xmlschema.XMLSchema(str(get_schema_path(standard, version)))
    return [str(error.reason or error)[:500] for error in schema.iter_errors(str(path))]
