"""CDISC ODM 1.3.2: the study metadata from the protocol's forms, and the clinical data with its audit records.

Export (`export_odm`): one ODM document, FileType Transactional, validated
against the ODM 1.3.2 XSD that odmlib ships:

- MetaDataVersion: one StudyEventDef per protocol visit (plus `SE.COMMON` for
  the forms filled outside a visit: daily and event forms), one FormDef and
  ItemGroupDef per protocol form, one ItemDef per form item (and per derived
  item: NEWS2, SOFA, WHO scale, CTCAE grades), a CodeList per choice item,
  MeasurementUnits, and RangeChecks (physical range: Hard; expected: Soft).
- AdminData: the users who recorded values and the sites.
- ClinicalData: every visible participant (SubjectKey = screening number);
  every stored version of every item value as its own ItemData
  (TransactionType Insert for version 1, Update after) carrying an
  AuditRecord (who, where, when, the reason for change, `SourceID` the
  version and channel); a derived value carries its derivation as an
  Annotation comment.

Import (`import_odm`): the ClinicalData of a file whose StudyOID is this
study's and whose items are this protocol's, written through the same action
and edit checks as the eCRF pages. Inside one transaction: a subject not in
the database is created at its site under its screening number; for each
item, the file's versions not yet in the database are grouped back into the
saves that made them (same subject, form, visit, instance, author and time:
one save stamps every version it writes with one time), and each save is
replayed, oldest first, by the importing user through `save_form(only=...)`:
the form's checks run on the whole form, corrections keep the file's reason
(with the original author and time), and the values derived on save (NEWS2,
SOFA, the WHO scale, CTCAE grades) are recomputed, never copied from the file
(`derived_differ` lists where the file's derived value is not what the rules
give). A save the checks refuse refuses the whole import, naming it: a dose
recorded as given in STUDY-DRUG, for example, is written only by recording
the dose (the dose page), never by an import. When the database already holds
a different value for a version the file also has, nothing is overwritten:
the item is reported as a conflict and the whole import is refused
(ActionRefused), so nothing is written silently.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from iliad7 import __version__ as ILIAD7_VERSION
from iliad7.errors import ActionRefused, InputError

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
COMMON_EVENT = "SE.COMMON"
ET.register_namespace("", NS)
_TYPES = {
    "integer": "integer",
    "decimal": "float",
    "text": "text",
    "choice": "text",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
}


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    ET.SubElement(element, _q("TranslatedText"), {XML_LANG: "en"}).text = text
    return element


def _oid(*parts: str) -> str:
    return ".".join(part.replace(" ", "_") for part in parts)


def _unit_oid(unit: str) -> str:
    return "MU." + "".join(c if c.isalnum() else f"_{ord(c):x}_" for c in unit)


def _metadata(study: ET.Element, protocol: Any, derived: dict[str, set[str]]) -> None:
    units = sorted({u for f in protocol.forms for i in f.items for u in i.units})
    basic = ET.SubElement(study, _q("BasicDefinitions"))
    for unit in units:
        mu = ET.SubElement(basic, _q("MeasurementUnit"), {"OID": _unit_oid(unit), "Name": unit})
        _text(mu, "Symbol", unit)
    mdv = ET.SubElement(
        study,
        _q("MetaDataVersion"),
        {
            "OID": metadata_oid(protocol),
            "Name": f"{protocol.id} protocol file {protocol.version}",
            "Description": f"protocol sha256 {protocol.sha256}",
        },
    )
    events = [(f"SE.{v.id}", v.name, v.id) for v in protocol.schedule.visits] + [(COMMON_EVENT, "Outside visits", "")]
    proto = ET.SubElement(mdv, _q("Protocol"))
    for order, (oid, _, _) in enumerate(events, start=1):
        ET.SubElement(proto, _q("StudyEventRef"), {"StudyEventOID": oid, "OrderNumber": str(order), "Mandatory": "No"})
    for oid, name, visit_id in events:
        event = ET.SubElement(
            mdv,
            _q("StudyEventDef"),
            {"OID": oid, "Name": name, "Repeating": "No", "Type": "Scheduled" if visit_id else "Common"},
        )
        for form in protocol.forms:
            if (form.repeat == "visit") == bool(visit_id):
                ET.SubElement(event, _q("FormRef"), {"FormOID": f"F.{form.id}", "Mandatory": "No"})
    for form in protocol.forms:
        form_def = ET.SubElement(mdv, _q("FormDef"), {"OID": f"F.{form.id}", "Name": form.title, "Repeating": "Yes"})
        ET.SubElement(form_def, _q("ItemGroupRef"), {"ItemGroupOID": f"IG.{form.id}", "Mandatory": "Yes"})
    for form in protocol.forms:
        group = ET.SubElement(mdv, _q("ItemGroupDef"), {"OID": f"IG.{form.id}", "Name": form.title, "Repeating": "No"})
        for item in form.items:
            ET.SubElement(
                group,
                _q("ItemRef"),
                {"ItemOID": f"IT.{form.id}.{item.id}", "Mandatory": "Yes" if item.required else "No"},
            )
        for name in sorted(derived.get(form.id, set())):
            ET.SubElement(group, _q("ItemRef"), {"ItemOID": f"IT.{form.id}.{name}", "Mandatory": "No"})
    for form in protocol.forms:
        for item in form.items:
            item_def = ET.SubElement(
                mdv, _q("ItemDef"), {"OID": f"IT.{form.id}.{item.id}", "Name": item.id, "DataType": _TYPES[item.type]}
            )
            _text(item_def, "Question", item.label)
            for unit in item.units:
                ET.SubElement(item_def, _q("MeasurementUnitRef"), {"MeasurementUnitOID": _unit_oid(unit)})
            for bounds, soft_hard in ((item.physical, "Hard"), (item.expected, "Soft")):
                if bounds is None:
                    continue
                for comparator, limit in (("GE", bounds.min), ("LE", bounds.max)):
                    if limit is None:
                        continue
                    check = ET.SubElement(item_def, _q("RangeCheck"), {"Comparator": comparator, "SoftHard": soft_hard})
                    ET.SubElement(check, _q("CheckValue")).text = str(limit)
                    _text(
                        check,
                        "ErrorMessage",
                        f"{item.label}: {'at least' if comparator == 'GE' else 'at most'} {limit}",
                    )
            if item.choices:
                ET.SubElement(item_def, _q("CodeListRef"), {"CodeListOID": f"CL.{form.id}.{item.id}"})
        for name in sorted(derived.get(form.id, set())):
            item_def = ET.SubElement(
                mdv,
                _q("ItemDef"),
                {"OID": f"IT.{form.id}.{name}", "Name": name, "DataType": "text", "Comment": "derived on save"},
            )
            _text(item_def, "Question", f"{name} (derived on save from the form's items)")
    for form in protocol.forms:
        for item in form.items:
            if not item.choices:
                continue
            codelist = ET.SubElement(
                mdv, _q("CodeList"), {"OID": f"CL.{form.id}.{item.id}", "Name": item.label, "DataType": "text"}
            )
            for choice in item.choices:
                entry = ET.SubElement(codelist, _q("CodeListItem"), {"CodedValue": choice.code})
                _text(entry, "Decode", choice.label)


def metadata_oid(protocol: Any) -> str:
    return f"MDV.{protocol.id}.{protocol.sha256[:12]}"


def build_odm(user: Any) -> tuple[ET.ElementTree, int]:
    """The ODM document of everything `user` may see (site scoping applies), and the number of ItemData."""
    from iliad7.store import access
    from iliad7.store.actions._common import current_protocol, now
    from iliad7.store.models import ItemValue

    protocol = current_protocol()
    participants = list(access.visible_participants(user).order_by("site_id", "screening_number"))
    values = list(
        ItemValue.objects.filter(participant__in=participants)
        .select_related("recorded_by", "participant")
        .order_by("participant__screening_number", "visit", "form", "instance", "item", "version")
    )
    items_of = {f.id: {i.id for i in f.items} for f in protocol.forms}
    derived: dict[str, set[str]] = defaultdict(set)
    for value in values:
        if value.item not in items_of.get(value.form, set()):
            derived[value.form].add(value.item)
    created = now()
    root = ET.Element(
        _q("ODM"),
        {
            "FileType": "Transactional",
            "Granularity": "All",
            "FileOID": f"ODM.{protocol.id}.{created:%Y%m%dT%H%M%S}",
            "CreationDateTime": created.replace(microsecond=0).isoformat(),
            "ODMVersion": "1.3.2",
            "Originator": user.username,
            "SourceSystem": "iliad7",
            "SourceSystemVersion": ILIAD7_VERSION,
        },
    )
    study = ET.SubElement(root, _q("Study"), {"OID": protocol.id})
    globals_ = ET.SubElement(study, _q("GlobalVariables"))
    ET.SubElement(globals_, _q("StudyName")).text = protocol.id
    ET.SubElement(globals_, _q("StudyDescription")).text = " ".join(protocol.titles.official.split())
    ET.SubElement(globals_, _q("ProtocolName")).text = protocol.identifiers.nct_id
    _metadata(study, protocol, derived)
    admin = ET.SubElement(root, _q("AdminData"), {"StudyOID": protocol.id})
    for username in sorted({v.recorded_by.username for v in values}):
        person = ET.SubElement(admin, _q("User"), {"OID": f"USR.{username}"})
        ET.SubElement(person, _q("LoginName")).text = username
    for site in protocol.sites:
        location = ET.SubElement(
            admin, _q("Location"), {"OID": f"LOC.{site.code}", "Name": site.name, "LocationType": "Site"}
        )
        ET.SubElement(
            location,
            _q("MetaDataVersionRef"),
            {
                "StudyOID": protocol.id,
                "MetaDataVersionOID": metadata_oid(protocol),
                "EffectiveDate": protocol.dates.study_start.date.isoformat(),
            },
        )
    clinical = ET.SubElement(
        root, _q("ClinicalData"), {"StudyOID": protocol.id, "MetaDataVersionOID": metadata_oid(protocol)}
    )
    by_subject: dict[int, list[Any]] = defaultdict(list)
    for value in values:
        by_subject[value.participant.pk].append(value)
    for participant in participants:
        subject = ET.SubElement(
            clinical, _q("SubjectData"), {"SubjectKey": participant.screening_number, "TransactionType": "Insert"}
        )
        ET.SubElement(subject, _q("SiteRef"), {"LocationOID": f"LOC.{participant.site.code}"})
        grouped: dict[str, dict[tuple[str, int], list[Any]]] = defaultdict(lambda: defaultdict(list))
        for value in by_subject[participant.pk]:
            grouped[value.visit][(value.form, value.instance)].append(value)
        for visit, forms in grouped.items():
            event = ET.SubElement(
                subject, _q("StudyEventData"), {"StudyEventOID": f"SE.{visit}" if visit else COMMON_EVENT}
            )
            for (form, instance), form_values in forms.items():
                form_data = ET.SubElement(
                    event, _q("FormData"), {"FormOID": f"F.{form}", "FormRepeatKey": str(instance)}
                )
                group = ET.SubElement(form_data, _q("ItemGroupData"), {"ItemGroupOID": f"IG.{form}"})
                for value in form_values:
                    _item_data(group, value, participant.site.code)
    ET.indent(root)
    return ET.ElementTree(root), len(values)


def _item_data(group: ET.Element, value: Any, site: str) -> None:
    item = ET.SubElement(
        group,
        _q("ItemData"),
        {
            "ItemOID": f"IT.{value.form}.{value.item}",
            "Value": value.value,
            "TransactionType": "Insert" if value.version == 1 else "Update",
        },
    )
    audit = ET.SubElement(item, _q("AuditRecord"))
    ET.SubElement(audit, _q("UserRef"), {"UserOID": f"USR.{value.recorded_by.username}"})
    ET.SubElement(audit, _q("LocationRef"), {"LocationOID": f"LOC.{site}"})
    ET.SubElement(audit, _q("DateTimeStamp")).text = value.recorded_at.isoformat()
    if value.reason:
        ET.SubElement(audit, _q("ReasonForChange")).text = value.reason
    ET.SubElement(audit, _q("SourceID")).text = f"version={value.version};channel={value.channel}"
    if value.unit:
        ET.SubElement(item, _q("MeasurementUnitRef"), {"MeasurementUnitOID": _unit_oid(value.unit)})
    if value.derivation is not None:
        annotation = ET.SubElement(item, _q("Annotation"), {"SeqNum": "1"})
        ET.SubElement(annotation, _q("Comment"), {"SponsorOrSite": "Sponsor"}).text = value.derivation


def export_odm(user: Any, path: Path, *, channel: str = "cli") -> dict[str, Any]:
    """Write the ODM document of what `user` may see to `path`; an audited read (`read.export`)."""
    from iliad7.store.actions.reads import audit_read

    tree, count = build_odm(user)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    audit_read(user, "export", "odm", channel=channel, detail={"kind": "odm", "file": path.name})
    return {"file": str(path), "values": count, "schema_errors": validate_odm(path)}


def validate_odm(path: Path) -> list[str]:
    """The ODM 1.3.2 XSD's complaints about `path` (empty when valid), offline with odmlib's schema files."""
    from iliad7.standards.define import _schema_errors

    return _schema_errors(path, "odm", "1.3.2")


# ---- import -----------------------------------------------------------------------------------------


def _units(root: ET.Element) -> dict[str, str]:
    return {mu.get("OID", ""): mu.get("Name", "") for mu in root.iter(_q("MeasurementUnit"))}


def read_clinical_data(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """(StudyOID, one dict per ItemData in file order: subject, site, visit, form, instance, item, value, ...)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError("FILE", f"{path} is not well-formed XML: {exc}") from exc
    if root.tag != _q("ODM"):
        raise InputError("FILE", f"{path} is not an ODM 1.3 document")
    units = _units(root)
    study_oid = ""
    records = []
    for clinical in root.iter(_q("ClinicalData")):
        study_oid = clinical.get("StudyOID", "")
        for subject in clinical.iter(_q("SubjectData")):
            site_ref = subject.find(_q("SiteRef"))
            site = (site_ref.get("LocationOID", "") if site_ref is not None else "").removeprefix("LOC.")
            for event in subject.iter(_q("StudyEventData")):
                event_oid = event.get("StudyEventOID", "")
                visit = "" if event_oid == COMMON_EVENT else event_oid.removeprefix("SE.")
                for form in event.iter(_q("FormData")):
                    form_id = form.get("FormOID", "").removeprefix("F.")
                    instance = int(form.get("FormRepeatKey", "1"))
                    for item in form.iter(_q("ItemData")):
                        audit = item.find(_q("AuditRecord"))
                        unit_ref = item.find(_q("MeasurementUnitRef"))
                        comment = item.find(f"{_q('Annotation')}/{_q('Comment')}")
                        source = (audit.findtext(_q("SourceID")) or "") if audit is not None else ""
                        fields = dict(part.split("=", 1) for part in source.split(";") if "=" in part)
                        user_ref = audit.find(_q("UserRef")) if audit is not None else None
                        records.append(
                            {
                                "subject": subject.get("SubjectKey", ""),
                                "site": site,
                                "visit": visit,
                                "form": form_id,
                                "instance": instance,
                                "item": item.get("ItemOID", "").removeprefix(f"IT.{form_id}."),
                                "value": item.get("Value", ""),
                                "unit": units.get(unit_ref.get("MeasurementUnitOID", ""), "")
                                if unit_ref is not None
                                else "",
                                "version": int(fields.get("version", "0")) or None,
                                "reason": (audit.findtext(_q("ReasonForChange")) or "") if audit is not None else "",
                                "author": (user_ref.get("UserOID", "") if user_ref is not None else "").removeprefix(
                                    "USR."
                                ),
                                "at": (audit.findtext(_q("DateTimeStamp")) or "") if audit is not None else "",
                                "derivation": None if comment is None else (comment.text or ""),
                            }
                        )
        for subject in clinical.iter(_q("SubjectData")):
            site_ref = subject.find(_q("SiteRef"))
            records.append(
                {
                    "subject": subject.get("SubjectKey", ""),
                    "site": (site_ref.get("LocationOID", "") if site_ref is not None else "").removeprefix("LOC."),
                    "item": None,
                }
            )
    return study_oid, records


def _moment(text: str) -> tuple[int, str]:
    from datetime import datetime

    try:
        return 0, datetime.fromisoformat(text).isoformat()
    except ValueError:
        return 1, text


def _saves(pending: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The file's new versions grouped back into the saves that wrote them, oldest save first."""
    grouped: dict[tuple[Any, ...], list[list[dict[str, Any]]]] = defaultdict(list)
    for record in pending:
        key = (record["subject"], record["form"], record["visit"], record["instance"], record["author"], record["at"])
        runs = grouped[key]
        if not runs or any(r["item"] == record["item"] for r in runs[-1]):
            runs.append([])  # the same item twice at one moment: two saves, in version order
        runs[-1].append(record)
    saves = [run for runs in grouped.values() for run in runs]
    saves.sort(key=lambda run: (_moment(run[0]["at"]), run[0]["subject"], run[0]["form"], run[0]["visit"]))
    return saves


def import_odm(user: Any, path: Path, *, channel: str = "cli") -> dict[str, Any]:
    """Replay the file's new item versions as saves of their forms by `user` (see the module text)."""
    from django.db import transaction

    from iliad7.capture.spec import unit_key
    from iliad7.store import access
    from iliad7.store.actions import create_participant
    from iliad7.store.actions._common import current_protocol
    from iliad7.store.actions.capture import FormRejected, save_form
    from iliad7.store.models import ItemValue, Participant

    protocol = current_protocol()
    study_oid, records = read_clinical_data(path)
    if study_oid != protocol.id:
        raise InputError("FILE", f"the file's study {study_oid!r} is not this study ({protocol.id!r})")
    known = {f.id: {i.id: i for i in f.items} for f in protocol.forms}
    visits = {v.id for v in protocol.schedule.visits} | {""}
    for record in records:
        if record["item"] is None:
            continue
        if record["form"] not in known or record["visit"] not in visits:
            raise InputError(
                "FILE", f"form {record['form']!r} at visit {record['visit']!r} is not in this study's metadata"
            )
        if record["item"] not in known[record["form"]] and record["derivation"] is None:
            raise InputError("FILE", f"item {record['item']!r} is not in form {record['form']} of this study")
    result: dict[str, Any] = {
        "file": str(path), "created_subjects": [], "recorded": 0, "unchanged": 0, "conflicts": [], "saves": 0,
        "derived_differ": [],
    }  # fmt: skip
    with transaction.atomic():
        participants: dict[str, Any] = {}
        for record in records:
            key = record["subject"]
            if key in participants:
                continue
            found = Participant.objects.filter(screening_number=key).select_related("site").first()
            if found is None:
                found = create_participant(site=record["site"], acting_user=user, channel=channel, screening_number=key)
                result["created_subjects"].append(key)
            elif found.site.code != record["site"]:
                raise InputError("FILE", f"subject {key} is at {found.site.code} here, at {record['site']} in the file")
            participants[key] = found
        for key in participants:
            access.access_participant(user, key)  # NotFound for a participant this user may not see
        versions: dict[tuple[str, str, str, int, str], list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            if record["item"] is not None:
                versions[
                    (record["subject"], record["form"], record["visit"], record["instance"], record["item"])
                ].append(record)
        pending: list[dict[str, Any]] = []
        derived_incoming: dict[tuple[str, str, str, int, str], list[dict[str, Any]]] = {}
        for (subject, form, visit, instance, item), incoming in versions.items():
            stored = list(
                ItemValue.objects.filter(
                    participant=participants[subject], form=form, visit=visit, instance=instance, item=item
                ).order_by("version")
            )
            for index, record in enumerate(incoming[: len(stored)]):
                have = stored[index]
                if (have.value, have.unit, have.derivation) == (record["value"], record["unit"], record["derivation"]):
                    result["unchanged"] += 1
                    continue
                result["conflicts"].append(
                    {"subject": subject, "form": form, "visit": visit, "instance": instance, "item": item,
                     "version": index + 1, "database": have.value, "file": record["value"]}
                )  # fmt: skip
            if item in known[form]:
                pending += incoming[len(stored) :]
            elif len(incoming) > len(stored):
                derived_incoming[(subject, form, visit, instance, item)] = incoming
        if result["conflicts"]:
            first = result["conflicts"][0]
            raise ActionRefused(
                f"{len(result['conflicts'])} values in the file differ from the database's versions (first: "
                f"{first['subject']} {first['form']}/{first['visit']}/{first['item']} v{first['version']}); "
                "nothing was imported — correct them as new versions with a reason instead"
            )
        for run in _saves(pending):
            head = run[0]
            values: dict[str, Any] = {}
            for record in run:
                values[record["item"]] = record["value"]
                if known[head["form"]][record["item"]].units:
                    values[unit_key(record["item"])] = record["unit"]
            origin = f"ODM import of {path.name}: entered by {head['author'] or 'unknown'} at {head['at'] or '?'}"
            given_reason = next((r["reason"] for r in run if r["reason"]), "")
            where = f"{head['subject']} {head['form']}/{head['visit'] or '-'} instance {head['instance']}"
            try:
                saved = save_form(
                    participants[head["subject"]], head["form"], values, visit=head["visit"],
                    instance=head["instance"], acting_user=user, channel=channel,
                    reason=f"{given_reason} ({origin})" if given_reason else origin, only={r["item"] for r in run},
                    item_reasons={r["item"]: f"{r['reason']} ({origin})" if r["reason"] else origin for r in run},
                )  # fmt: skip
            except FormRejected as exc:
                problems = "; ".join(f"{m.field}: {m.message}" for m in exc.messages)
                raise ActionRefused(f"{where} fails the form's checks, nothing was imported: {problems}") from None
            except InputError as exc:
                raise ActionRefused(f"{where} refused, nothing was imported: {exc.field}: {exc.message}") from None
            result["saves"] += 1
            result["recorded"] += len(saved.written)
        for (subject, form, visit, instance, item), incoming in derived_incoming.items():
            computed = list(
                ItemValue.objects.filter(
                    participant=participants[subject], form=form, visit=visit, instance=instance, item=item
                ).order_by("version")
            )
            for index, record in enumerate(incoming):
                have = computed[index] if index < len(computed) else None
                if have is None or (have.value, have.derivation) != (record["value"], record["derivation"]):
                    computed_value = None if have is None else have.value
                    result["derived_differ"].append(
                        {"subject": subject, "form": form, "visit": visit, "instance": instance, "item": item,
                         "version": index + 1, "file": record["value"], "computed": computed_value}
                    )  # fmt: skip
    return result
