"""Fixtures of the standards tests: a simulated cohort entered through the actions, and users by role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def cohort(db: None) -> dict[str, Any]:
    """Four randomized participants followed to day 45 (more screened), plus a blinded data manager
    and an MSKCC coordinator; `stat` is the simulator's unblinded statistician."""
    from iliad7.store.actions import add_user, load_protocol_version
    from iliad7.store.models import User
    from iliad7.store.simulation import run_simulated_cohort

    load_protocol_version(PROTOCOL_FILE, channel="system")
    run_simulated_cohort(n=4, seed=11, allocation_seed=1111, course_key=3)

    def make(username: str, roles: list[str], sites: list[str]) -> Any:
        return add_user(username, password=PASSWORD, roles=roles, sites=sites, full_name=username.title(),
                        acting_user=None, channel="system")  # fmt: skip

    return {
        "stat": User.objects.get(username="sim-statistician"),
        "dm": make("dm", ["data-manager"], []),
        "coord": User.objects.get(username="sim-coordinator-mskcc"),
        "importer": make("importer", ["coordinator"], ["MSKCC", "MDACC"]),
    }


def _observation(ident: str, loinc: str, value: float, ucum: str, when: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": ident, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": ucum, "system": "http://unitsofmeasure.org", "code": ucum},
    }  # fmt: skip


def _bundle(participant: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """A Bundle carrying the participant's own BASELINE lab values from the simulated cohort, re-expressed
    as the hospital's laboratory would send them (ALC in 10*9/L)."""
    from iliad7.store.actions import current_values, doses_given, latest_screening

    stored = {(v.visit, v.item): v for v in current_values(participant) if v.form == "LAB"}
    alc = float(stored[("BASELINE", "alc")].value) / 1000  # cells/mm3 -> 10^9/L
    crp = float(stored[("BASELINE", "crp")].value)
    cd4 = float(stored[("BASELINE", "cd4")].value)
    when = (doses_given(participant)[0].given_at - timedelta(days=3)).isoformat()
    record = latest_screening(participant).data
    entries = [
        {"resourceType": "Patient", "id": "p1", "birthDate": record["birth_date"], "gender": record["sex"]},
        {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}},
        _observation("o-alc", "731-0", alc, "10*9/L", when, "p1"),
        _observation("o-crp", "1988-5", crp, "mg/L", when, "p1"),
        _observation("o-cd4", "24467-3", cd4, "{cells}/uL", when, "p1"),  # the LAB form takes cells/mm3 only
        _observation("o-glu", "2345-7", 5.4, "mmol/L", when, "p1"),  # glucose: not collected by this trial
    ]  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]}
    return bundle, {"alc": alc, "crp": crp}


@pytest.fixture
def fhir_bundle() -> Callable[[Any], tuple[dict[str, Any], dict[str, float]]]:
    """fhir_bundle(participant): a FHIR Bundle of that participant's own simulated BASELINE lab values."""
    return _bundle
