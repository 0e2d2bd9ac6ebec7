"""FHIR R4 in, SDTM out: a Bundle built from the simulator's own values pre-fills LAB values that, once the
coordinator confirms them, reach LB with their LOINC codes; unknown codes and units are reported, not guessed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_fhir_bundle_prefills_lab_values_that_reach_lb_with_their_loinc(
    cohort: dict[str, Any], tmp_path: Path, fhir_bundle: Any
) -> None:
    from iliad7.standards.exports import sdtm_datasets
    from iliad7.standards.fhir import confirm_prefill, import_fhir
    from iliad7.store.models import AuditRecord, ItemValue, Participant

    person = Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).order_by("usubjid").first()
    bundle, expected = fhir_bundle(person)
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(bundle))
    before = ItemValue.objects.count()
    proposal = import_fhir(cohort["coord"], source, person.screening_number)
    assert ItemValue.objects.count() == before  # a proposal only, until the coordinator confirms
    assert {(e["item"], e["loinc"], e["resource"]) for e in proposal["lab"]} == {
        ("alc", "731-0", "Observation/o-alc"), ("crp", "1988-5", "Observation/o-crp")
    }  # fmt: skip
    problems = {u["resource"]: u["problem"] for u in proposal["unknown"]}
    assert "unit '{cells}/uL'" in problems["Observation/o-cd4"]
    assert "LOINC 2345-7" in problems["Observation/o-glu"]
    assert proposal["not_mapped"] == ["Encounter/e1"]
    assert Path(proposal["proposal_file"]).is_file()

    confirmed = confirm_prefill(cohort["coord"], proposal, visit="SCREENING")
    assert sorted(confirmed["recorded"]) == ["alc", "crp"]
    assert sorted(confirmed["not_recorded_screening_closed"]) == ["alc", "birth_date", "sex"]  # randomized already
    alc = ItemValue.objects.get(participant=person, form="LAB", visit="SCREENING", item="alc")
    assert "Observation/o-alc" in alc.reason and "731-0" in alc.reason and alc.recorded_by == cohort["coord"]
    assert AuditRecord.objects.filter(object_id__endswith="/LAB/SCREENING/1/alc").exists()

    _, datasets = sdtm_datasets(cohort["stat"])
    lb = next(d for d in datasets if d.name == "LB").frame
    # The LAB form's screening results (the screening record's own counts are LB records too, LBSPID SCREENING-...)
    mine = (lb["USUBJID"] == person.usubjid) & (lb["VISIT"] == "SCREENING") & lb["LBSPID"].str.starts_with("LAB-")
    rows = lb.filter(mine).to_dicts()
    by_code = {r["LBLOINC"]: r for r in rows}
    assert set(by_code) == {"731-0", "1988-5"}
    assert math.isclose(by_code["731-0"]["LBSTRESN"], expected["alc"]) and by_code["731-0"]["LBSTRESU"] == "10^9/L"
    assert math.isclose(by_code["1988-5"]["LBSTRESN"], expected["crp"])
    assert by_code["731-0"]["LBDTC"] and by_code["731-0"]["LBDY"] < 0


def test_bulk_ndjson_folder_is_read_and_invalid_resources_refused(
    cohort: dict[str, Any], tmp_path: Path, fhir_bundle: Any
) -> None:
    from iliad7.errors import InputError
    from iliad7.standards.fhir import propose_prefill, read_resources
    from iliad7.store.models import Participant

    person = Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).order_by("usubjid").first()
    bundle, _ = fhir_bundle(person)
    folder = tmp_path / "bulk"
    folder.mkdir()
    by_type: dict[str, list[str]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(json.dumps(entry["resource"]))
    for kind, lines in by_type.items():
        (folder / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
    (folder / "manifest.json").write_text("{}")
    proposal = propose_prefill(read_resources(folder), participant=person.screening_number, source=str(folder))
    assert {e["loinc"] for e in proposal.lab} == {"731-0", "1988-5"}
    (folder / "Observation.ndjson").write_text(json.dumps({"resourceType": "Observation", "id": "bad"}) + "\n")
    with pytest.raises(InputError, match="not valid FHIR"):
        read_resources(folder)
