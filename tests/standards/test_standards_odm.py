"""ODM 1.3.2: the export is schema-valid, re-imports into an empty database with every value and version
through the eCRF's own checks (derived values recomputed, a dose given never imported around the dose
record), and an import never overwrites a different stored value."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

NS = "{http://www.cdisc.org/ns/odm/v1.3}"
PG_BASE_URL_ENV = "ILIAD7_TEST_PG_BASE_URL"  # set by tests/conftest.py under PostgreSQL
REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh process against an empty database: create the schema, load the protocol, add the
# importing coordinator, import the file, export again.
_ROUND_TRIP = """
import sys
from pathlib import Path
from iliad7.store import runtime
runtime.setup()
runtime.migrate()
from iliad7.store.actions import add_user, load_protocol_version
from iliad7.standards.odm import export_odm, import_odm
from iliad7.errors import ActionRefused
from iliad7.store.models import ItemValue
load_protocol_version(Path(sys.argv[1]), channel="system")
user = add_user("importer", password="correct-horse-battery-staple", roles=["coordinator"], sites=["MSKCC", "MDACC"],
                full_name="Importer", acting_user=None, channel="system")
try:
    import_odm(user, Path(sys.argv[4]))  # the whole export, doses given included
except ActionRefused as exc:
    refusal = str(exc)
else:
    refusal = ""
assert ItemValue.objects.count() == 0
result = import_odm(user, Path(sys.argv[2]))
print(result["recorded"], len(result["created_subjects"]), len(result["derived_differ"]))
print(refusal)
export_odm(user, Path(sys.argv[3]))
"""


def _item_data(path: Path) -> list[tuple[str, ...]]:
    """(subject, event, form, repeat, item, value, unit, version, derivation) of every ItemData."""
    root = ET.parse(path).getroot()
    rows = []
    for subject in root.iter(f"{NS}SubjectData"):
        for event in subject.iter(f"{NS}StudyEventData"):
            for form in event.iter(f"{NS}FormData"):
                for item in form.iter(f"{NS}ItemData"):
                    unit = item.find(f"{NS}MeasurementUnitRef")
                    source = item.findtext(f"{NS}AuditRecord/{NS}SourceID") or ""
                    rows.append((
                        subject.get("SubjectKey", ""), event.get("StudyEventOID", ""), form.get("FormOID", ""),
                        form.get("FormRepeatKey", ""), item.get("ItemOID", ""), item.get("Value", ""),
                        "" if unit is None else unit.get("MeasurementUnitOID", ""), source.split(";")[0],
                        item.findtext(f"{NS}Annotation/{NS}Comment") or "",
                    ))  # fmt: skip
    return sorted(rows)


def _subjects(path: Path) -> list[str]:
    return sorted(s.get("SubjectKey", "") for s in ET.parse(path).getroot().iter(f"{NS}SubjectData"))


def _empty_database_env(tmp_path: Path) -> tuple[dict[str, str], str | None]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    env["ILIAD7_HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    base = os.environ.get(PG_BASE_URL_ENV)
    if not base:
        return env, None
    import psycopg

    name = f"iliad7_odm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = f"{base}/{name}"
    return env, name


def _drop(name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect(f"{os.environ[PG_BASE_URL_ENV]}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _correct_one_value(cohort: dict[str, Any]) -> Any:
    """A correction (version 2) so that the export carries more than first entries; its CTCAE grades follow."""
    from iliad7.store.actions.items import record_form_item
    from iliad7.store.models import ItemValue

    first = ItemValue.objects.filter(form="LAB", item="alc", participant__site__code="MSKCC").order_by("id").first()
    return record_form_item(
        first.participant, form="LAB", item="alc", value=str(float(first.value) + 1), unit=first.unit,
        visit=first.visit, acting_user=cohort["coord"], channel="cli", reason="transcription error",
    )  # fmt: skip


def test_odm_export_is_schema_valid_and_round_trips_into_an_empty_database(
    cohort: dict[str, Any], tmp_path: Path
) -> None:
    from iliad7.standards.odm import export_odm, validate_odm
    from iliad7.store.models import ItemValue, Participant

    _correct_one_value(cohort)
    exported = tmp_path / "study.xml"
    result = export_odm(cohort["dm"], exported)
    assert result["schema_errors"] == []
    assert result["values"] == ItemValue.objects.count()
    root = ET.parse(exported).getroot()
    mdv = root.find(f"{NS}Study/{NS}MetaDataVersion")
    assert mdv is not None
    assert {e.get("OID") for e in mdv.iter(f"{NS}StudyEventDef")} >= {"SE.BASELINE", "SE.D30", "SE.COMMON"}
    assert {f.get("OID") for f in mdv.iter(f"{NS}FormDef")} >= {"F.LAB", "F.VITALS", "F.ADVERSE-EVENT", "F.DEATH"}
    assert any(r.get("SoftHard") == "Hard" for r in mdv.iter(f"{NS}RangeCheck"))
    assert any(r.get("SoftHard") == "Soft" for r in mdv.iter(f"{NS}RangeCheck"))
    assert mdv.find(f"{NS}CodeList[@OID='CL.VITALS.consciousness']") is not None
    updates = [i for i in root.iter(f"{NS}ItemData") if i.get("TransactionType") == "Update"]
    reasons = {i.get("ItemOID"): i.findtext(f"{NS}AuditRecord/{NS}ReasonForChange") for i in updates}
    assert reasons.pop("IT.LAB.alc") == "transcription error"
    assert reasons and set(reasons.values()) == {"recomputed on save: transcription error"}  # its CTCAE grades

    # A dose given is recorded only with its dose record (the dose page): the STUDY-DRUG forms of the
    # export cannot be imported into a database that has no such record; the rest of the file can.
    without_doses = tmp_path / "without-doses.xml"
    tree = ET.parse(exported)
    for group in tree.getroot().iter(f"{NS}StudyEventData"):
        for form in group.findall(f"{NS}FormData"):
            if form.get("FormOID") == "F.STUDY-DRUG":
                group.remove(form)
    tree.write(without_doses, encoding="UTF-8", xml_declaration=True)
    env, name = _empty_database_env(tmp_path)
    again = tmp_path / "again.xml"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ROUND_TRIP, str(REPO / "protocols" / "iliad-7-us-o.yaml"), str(without_doses),
             str(again), str(exported)],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        _drop(name)
    assert done.returncode == 0, done.stderr[-3000:]
    counts, refusal = done.stdout.splitlines()[:2]
    recorded, created, derived_differ = map(int, counts.split())
    assert "STUDY-DRUG" in refusal and "nothing was imported" in refusal and "dose" in refusal
    assert recorded == ItemValue.objects.exclude(form="STUDY-DRUG").count()  # derived values recomputed alike
    assert derived_differ == 0
    assert created == Participant.objects.count()
    assert validate_odm(again) == []
    assert _subjects(again) == _subjects(exported)
    assert _item_data(again) == _item_data(without_doses)


def test_odm_import_is_idempotent_and_refuses_to_overwrite(cohort: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.errors import ActionRefused
    from iliad7.standards.odm import export_odm, import_odm
    from iliad7.store.models import AuditRecord, ItemValue

    exported = tmp_path / "study.xml"
    export_odm(cohort["dm"], exported)
    again = import_odm(cohort["importer"], exported)
    assert again["recorded"] == 0 and again["unchanged"] == ItemValue.objects.count() and not again["conflicts"]
    # The database moves on (a correction); the older file now disagrees with version 2: refused, nothing written.
    _correct_one_value(cohort)
    text = exported.read_text()
    corrected = ItemValue.objects.filter(version=2, item="alc").get()
    # The file has only version 1 of that item: importing it changes nothing and conflicts with nothing.
    assert import_odm(cohort["importer"], exported)["recorded"] == 0
    # A file whose version 1 differs from the database's version 1 is a conflict.
    original = ItemValue.objects.get(participant=corrected.participant, form="LAB", item="alc",
                                     visit=corrected.visit, version=1)  # fmt: skip
    tampered = tmp_path / "tampered.xml"
    target = f'ItemOID="IT.LAB.alc" Value="{original.value}"'
    assert target in text
    tampered.write_text(text.replace(target, 'ItemOID="IT.LAB.alc" Value="999"', 1))
    before = (ItemValue.objects.count(), AuditRecord.objects.count())
    with pytest.raises(ActionRefused, match="differ"):
        import_odm(cohort["importer"], tampered)
    assert (ItemValue.objects.count(), AuditRecord.objects.count()) == before
