"""define.xml 2.1 for the SDTM or ADaM datasets written beside it, validated against the Define-XML 2.1 XSD.

One ItemGroupDef per dataset (its def:leaf the XPT file), one ItemDef per
variable (OID `IT.{DATASET}.{VARIABLE}`, the same OIDs Dataset-JSON's
columns carry) with its origin, MethodDef (a derivation) and CommentDef;
value-level metadata (ValueListDef with WhereClauseDef) for each test of a
findings domain (--ORRES, --STRESN with their units), each SUPP-- qualifier
(QVAL by QNAM), each TS parameter and each ADaM parameter; one CodeList per
codelist a variable uses, restricted to the terms the data contain (NCI codes
as `nci:ExtCodeID` aliases, the sponsor's terms in a CDISC codelist marked
def:ExtendedValue); and, for SDTM, the annotated CRF (def:AnnotatedCRF).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

from iliad7 import __version__ as ILIAD7_VERSION
from iliad7.standards.dataset import Dataset
from iliad7.standards.dataset_json import item_oid
from iliad7.standards.terminology import CODELISTS, CT_VERSION

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STANDARDS = {"SDTM": ("SDTMIG", "3.4"), "ADaM": ("ADaMIG", "1.3")}

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
    if variable.display_format == "DATE9.":
        return "integer", 8
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


def _comment(comments: dict[str, str], text: str) -> str:
    """The OID of the CommentDef holding `text` (one per distinct text)."""
    if text not in comments:
        comments[text] = f"COM.{len(comments) + 1}"
    return comments[text]


def _value_level(dataset: Dataset) -> list[tuple[str, str, str, list[str]]]:
    """(variable, selector variable, selector value, [units]) of the value-level metadata of a dataset:
    the results of each test of a findings domain, the value of each qualifier of a SUPP-- dataset."""
    frame = dataset.frame
    if not frame.height:
        return []
    found: list[tuple[str, str, str, list[str]]] = []
    d = dataset.name
    if dataset.standard == "SDTM" and f"{d}TESTCD" in frame.columns and f"{d}ORRES" in frame.columns:
        for test in sorted(set(frame[f"{d}TESTCD"].to_list())):
            rows = frame.filter(frame[f"{d}TESTCD"] == test)
            units = sorted({u for u in rows[f"{d}ORRESU"].to_list() if u}) if f"{d}ORRESU" in frame.columns else []
            found.append((f"{d}ORRES", f"{d}TESTCD", test, units))
            if f"{d}STRESN" in frame.columns and rows[f"{d}STRESN"].drop_nulls().len():
                std = sorted({u for u in rows[f"{d}STRESU"].to_list() if u}) if f"{d}STRESU" in frame.columns else []
                found.append((f"{d}STRESN", f"{d}TESTCD", test, std))
    elif d.startswith("SUPP") and "QNAM" in frame.columns:
        found += [("QVAL", "QNAM", qnam, []) for qnam in sorted(set(frame["QNAM"].to_list()))]
    elif d == "TS":
        found += [("TSVAL", "TSPARMCD", code, []) for code in dict.fromkeys(frame["TSPARMCD"].to_list())]
    elif dataset.standard == "ADaM" and "PARAMCD" in frame.columns:
        found += [("AVAL", "PARAMCD", code, []) for code in sorted(set(frame["PARAMCD"].to_list()))]
    return found


def build_define(
    datasets: list[Dataset], *, study_id: str, study_name: str, created: datetime, acrf: str | None = None
) -> ET.ElementTree:
    """define.xml 2.1: datasets, variables (with origin, method and comment), value-level metadata
    (ValueListDef/WhereClauseDef), codelists, and the annotated CRF `acrf` (a file beside it) when given."""
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
        {"OID": "STD.CT", "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": standard, "Version": CT_VERSION,
         "Status": "Final"},
    )  # fmt: skip
    if acrf:
        annotated = ET.SubElement(mdv, _d("AnnotatedCRF"))
        ET.SubElement(annotated, _d("DocumentRef"), {"leafID": "LF.ACRF"})
    comments: dict[str, str] = {}
    methods: dict[str, tuple[str, str]] = {}  # text -> (OID, name)
    value_lists = {d.name: _value_level(d) for d in datasets}
    # ---- value-level metadata --------------------------------------------------------------------------
    where: dict[str, tuple[str, str, str]] = {}  # OID -> (dataset, selector, value)
    for dataset in datasets:
        by_variable: dict[str, list[tuple[str, str, list[str]]]] = {}
        for var_name, selector, value, units in value_lists[dataset.name]:
            by_variable.setdefault(var_name, []).append((selector, value, units))
        for var_name, entries in by_variable.items():
            vl = ET.SubElement(mdv, _d("ValueListDef"), {"OID": f"VL.{dataset.name}.{var_name}"})
            for order, (selector, value, _) in enumerate(entries, start=1):
                wc_oid = f"WC.{dataset.name}.{selector}.{value}"
                where[wc_oid] = (dataset.name, selector, value)
                vl_ref = ET.SubElement(
                    vl, _o("ItemRef"),
                    {"ItemOID": f"{item_oid(dataset, var_name)}.{value}", "OrderNumber": str(order), "Mandatory": "No"},
                )  # fmt: skip
                ET.SubElement(vl_ref, _d("WhereClauseRef"), {"WhereClauseOID": wc_oid})
    for oid, (name, selector, value) in where.items():
        clause = ET.SubElement(mdv, _d("WhereClauseDef"), {"OID": oid})
        check = ET.SubElement(
            clause, _o("RangeCheck"), {"Comparator": "EQ", "SoftHard": "Soft", _d("ItemOID"): f"IT.{name}.{selector}"}
        )
        ET.SubElement(check, _o("CheckValue")).text = value
    # ---- datasets ------------------------------------------------------------------------------------------
    used: dict[str, set[str]] = {}
    for dataset in datasets:
        attributes = {
            "OID": f"IG.{dataset.name}",
            "Name": dataset.name,
            "Repeating": "No" if dataset.name in ("DM", "ADSL") else "Yes",
            "IsReferenceData": "Yes" if dataset.klass == "TRIAL DESIGN" else "No",
            "SASDatasetName": dataset.name,
            "Purpose": "Tabulation" if standard == "SDTM" else "Analysis",
            _d("Structure"): dataset.structure,
            _d("StandardOID"): "STD.IG",
            _d("ArchiveLocationID"): f"LF.{dataset.name}",
        }
        if standard == "SDTM":
            attributes["Domain"] = dataset.name[4:] if dataset.name.startswith("SUPP") else dataset.name
        if dataset.comment:
            attributes[_d("CommentOID")] = _comment(comments, dataset.comment)
        group = ET.SubElement(mdv, _o("ItemGroupDef"), attributes)
        _description(group, dataset.label)
        for order, variable in enumerate(dataset.variables, start=1):
            ref = {"ItemOID": item_oid(dataset, variable.name), "OrderNumber": str(order)}
            ref["Mandatory"] = (
                "Yes" if variable.name in dataset.keys or variable.name in ("STUDYID", "DOMAIN", "USUBJID") else "No"
            )
            if variable.name in dataset.keys:
                ref["KeySequence"] = str(dataset.keys.index(variable.name) + 1)
            if variable.method:
                oid, _ = methods.setdefault(
                    variable.method, (f"MT.{len(methods) + 1}", f"{dataset.name}.{variable.name}")
                )
                ref["MethodOID"] = oid
            if variable.role and standard == "SDTM":
                ref["Role"] = variable.role
            ET.SubElement(group, _o("ItemRef"), ref)
        ET.SubElement(group, _d("Class"), {"Name": dataset.klass})
        leaf = ET.SubElement(
            group, _d("leaf"), {"ID": f"LF.{dataset.name}", f"{{{XLINK_NS}}}href": f"{dataset.file_stem}.xpt"}
        )
        ET.SubElement(leaf, _d("title")).text = f"{dataset.file_stem}.xpt"
    # ---- variables ------------------------------------------------------------------------------------------
    for dataset in datasets:
        lists = {var_name for var_name, _, _, _ in value_lists[dataset.name]}
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
            if variable.display_format:
                attributes[_d("DisplayFormat")] = variable.display_format
            if variable.comment:
                attributes[_d("CommentOID")] = _comment(comments, variable.comment)
            item = ET.SubElement(mdv, _o("ItemDef"), attributes)
            _description(item, variable.label)
            if variable.codelist:
                ET.SubElement(item, _o("CodeListRef"), {"CodeListOID": f"CL.{variable.codelist}"})
                values = {_term(v) for v in dataset.frame[variable.name].drop_nulls().to_list() if v != ""}
                used.setdefault(variable.codelist, set()).update(values)
            _origin(item, variable, acrf=bool(acrf) and standard == "SDTM")
            if variable.name in lists:
                ET.SubElement(item, _d("ValueListRef"), {"ValueListOID": f"VL.{dataset.name}.{variable.name}"})
        # value-level ItemDefs
        for variable_name, selector, value, units in value_lists[dataset.name]:
            variable = dataset.variable(variable_name)
            rows = dataset.frame.filter(dataset.frame[selector] == value)
            data_type, length = _data_type(replace_frame(dataset, rows), variable_name)
            attributes = {
                "OID": f"{item_oid(dataset, variable_name)}.{value}",
                "Name": variable_name,
                "DataType": data_type,
                "SASFieldName": variable_name,
            }
            if length is not None:
                attributes["Length"] = str(length)
            if data_type == "float":
                attributes["SignificantDigits"] = "6"
            item = ET.SubElement(mdv, _o("ItemDef"), attributes)
            unit_text = f" ({', '.join(units)})" if units else ""
            _description(item, f"{variable.label}: {selector} = {value}{unit_text}")
            _origin(item, variable, acrf=bool(acrf) and standard == "SDTM")
    # ---- codelists --------------------------------------------------------------------------------------------
    for name in sorted(used):
        codelist = CODELISTS[name]
        data_type = "integer" if name.endswith("N") and all(t.isdigit() for t in codelist.terms) else "text"
        element = ET.SubElement(
            mdv,
            _o("CodeList"),
            {
                "OID": f"CL.{name}",
                "Name": name,
                "DataType": data_type,
                **({_d("StandardOID"): "STD.CT"} if codelist.nci_code else {}),
                **({_d("IsNonStandard"): "Yes"} if not codelist.nci_code else {}),
            },
        )
        terms = [t for t in codelist.terms if t in used[name]] or list(codelist.terms)
        for order, term in enumerate(terms, start=1):
            entry_attributes = {"CodedValue": term, "OrderNumber": str(order)}
            if term in codelist.extended:
                entry_attributes[_d("ExtendedValue")] = "Yes"
            entry = ET.SubElement(element, _o("CodeListItem"), entry_attributes)
            decode = ET.SubElement(entry, _o("Decode"))
            ET.SubElement(decode, _o("TranslatedText"), {XML_LANG: "en"}).text = codelist.terms[term]
        if codelist.nci_code:
            ET.SubElement(element, _o("Alias"), {"Context": "nci:ExtCodeID", "Name": codelist.nci_code})
    # ---- methods, comments, documents ---------------------------------------------------------------------------
    for text, (oid, name) in methods.items():
        method = ET.SubElement(
            mdv, _o("MethodDef"), {"OID": oid, "Name": f"Algorithm for {name}", "Type": "Computation"}
        )
        _description(method, text)
    for text, oid in comments.items():
        _description(ET.SubElement(mdv, _d("CommentDef"), {"OID": oid}), text)
    if acrf:
        leaf = ET.SubElement(mdv, _d("leaf"), {"ID": "LF.ACRF", f"{{{XLINK_NS}}}href": acrf})
        ET.SubElement(leaf, _d("title")).text = "Annotated Case Report Form"
    ET.indent(root)
    return ET.ElementTree(root)


def _term(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def replace_frame(dataset: Dataset, frame: Any) -> Dataset:
    from dataclasses import replace

    return replace(dataset, frame=frame)


def _origin(item: ET.Element, variable: Any, *, acrf: bool) -> None:
    attributes = {"Type": variable.origin}
    if variable.origin == "Collected":
        attributes["Source"] = "Investigator"
    elif variable.origin in ("Derived", "Assigned", "Protocol"):
        attributes["Source"] = "Sponsor"
    origin = ET.SubElement(item, _d("Origin"), attributes)
    if variable.source:
        _description(origin, variable.source)
    if acrf and variable.origin == "Collected":
        ET.SubElement(origin, _d("DocumentRef"), {"leafID": "LF.ACRF"})


def write_define(
    datasets: list[Dataset], path: Path, *, study_id: str, study_name: str, created: datetime, acrf: str | None = None
) -> Path:
    tree = build_define(datasets, study_id=study_id, study_name=study_name, created=created, acrf=acrf)
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
