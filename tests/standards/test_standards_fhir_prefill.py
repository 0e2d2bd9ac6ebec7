"""FHIR pre-fill of a participant still being screened (issue 21): lab results reach the screening record by the
pre-screening's own mapping so that INC-ALC and EXC-LIVER decide; only results (final, amended, corrected) count;
a comparator is a bound, never an exact value; each timed result keeps its own time; a proposal is confirmed once."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"
PASSWORD = "correct-horse-battery-staple"
_VECTORS = json.loads((REPO / "tests" / "vectors" / "contract_examples.json").read_text())
# The spec's eligible example (tests/vectors), the record the FHIR results complete.
ELIGIBLE: dict[str, Any] = next(
    e["input"] for e in _VECTORS if e["kind"] == "screen" and e["expected"]["verdict"] == "eligible"
)


def eligible_record(**changes: Any) -> dict[str, Any]:
    """The eligible example with top-level fields changed (None removes one)."""
    record = copy.deepcopy(ELIGIBLE)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat(eligible_record()["baseline_time"])


def _at(hours_before_t0: float) -> str:
    return (T0 - timedelta(hours=hours_before_t0)).isoformat()


def _obs(ident: str, loinc: str, value: float, ucum: str, hours: float, *, status: str = "final",
         comparator: str | None = None, uln: float | None = None) -> dict[str, Any]:  # fmt: skip
    quantity: dict[str, Any] = {"value": value, "unit": ucum, "system": "http://unitsofmeasure.org", "code": ucum}
    if comparator is not None:
        quantity["comparator"] = comparator
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": ident, "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": _at(hours), "valueQuantity": quantity,
    }  # fmt: skip
    if uln is not None:
        resource["referenceRange"] = [{"high": {"value": uln, "unit": ucum, "system": "http://unitsofmeasure.org",
                                                "code": ucum}}]  # fmt: skip
    return resource


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


@pytest.fixture
def screening(db: None, tmp_path: Path) -> dict[str, Any]:
    """An MSKCC coordinator and a participant whose screening record has no ALC, ALT nor AST yet."""
    from iliad7.store.actions import add_user, create_participant, load_protocol_version, save_screening

    load_protocol_version(PROTOCOL_FILE, channel="system")
    coord = add_user("coord", password=PASSWORD, roles=["coordinator"], sites=["MSKCC"], full_name="Coord",
                     acting_user=None, channel="system")  # fmt: skip
    person = create_participant(site="MSKCC", acting_user=coord, channel="cli")
    save_screening(person, eligible_record(alc=None, alt=None, ast=None), acting_user=coord, channel="cli")
    return {"coord": coord, "person": person, "tmp": tmp_path}


def _import(screening: dict[str, Any], bundle: dict[str, Any]) -> dict[str, Any]:
    from iliad7.standards.fhir import import_fhir

    source = screening["tmp"] / f"bundle-{len(list(screening['tmp'].iterdir()))}.json"
    source.write_text(json.dumps(bundle))
    return import_fhir(screening["coord"], source, screening["person"].screening_number)


def _criteria(person: Any) -> dict[str, str]:
    from iliad7.store.actions import latest_screening

    version = latest_screening(person)
    return {c["id"]: c["status"] for c in version.criteria}


def test_alc_alt_and_ast_reach_the_screening_record_so_inc_alc_and_exc_liver_decide(screening: dict[str, Any]) -> None:
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.actions import current_values, latest_screening

    person = screening["person"]
    assert _criteria(person)["INC-ALC"] == "unknown" and _criteria(person)["EXC-LIVER"] == "unknown"
    proposal = _import(screening, _bundle(
        _obs("alc", "731-0", 0.42, "10*9/L", 10), _obs("alt", "1742-6", 62, "U/L", 10, uln=41),
        _obs("ast", "1920-8", 55, "U/L", 10, uln=37),
    ))  # fmt: skip
    assert {e["field"] for e in proposal["screening"]} == {"alc", "alt", "ast"}
    assert {e["item"] for e in proposal["lab"]} == {"alc", "alt", "ast"}
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    record = latest_screening(person)
    assert record.data["alc"] == [{"time": _at(10), "value": 0.42, "unit": "10^9/L"}]
    assert record.data["alt"]["value"] == 62 and record.data["alt"]["uln"] == 41
    assert record.data["ast"]["value"] == 55 and record.data["ast"]["uln"] == 37
    assert "Observation/alc" in record.reason
    assert _criteria(person)["INC-ALC"] == "pass" and _criteria(person)["EXC-LIVER"] == "pass"
    lab = {v.item: v.value for v in current_values(person) if v.form == "LAB" and v.visit == "SCREENING"}
    assert {k: float(lab[k]) for k in ("alc", "alt", "ast")} == {"alc": 0.42, "alt": 62, "ast": 55}


def test_an_alt_above_five_times_its_uln_excludes(screening: dict[str, Any]) -> None:
    from iliad7.standards.fhir import confirm_prefill

    proposal = _import(screening, _bundle(_obs("alc", "731-0", 0.42, "10*9/L", 10),
                                          _obs("alt", "1742-6", 206, "U/L", 10, uln=41)))  # fmt: skip
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    assert _criteria(screening["person"])["EXC-LIVER"] == "fail"  # 206 > 5 x 41 = 205


def test_the_screening_mapping_is_the_prescreens_own_definition(
    screening: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drop 731-0 from the pre-screening's ALC mapping: the FHIR import no longer puts that ALC in the record."""
    import iliad7.prescreen.mapping as mapping
    from iliad7.standards.fhir import propose_prefill

    real = mapping.prescreen_mappings()
    changed = real.model_copy(update={"mappings": tuple(
        m.model_copy(update={"concepts": tuple(c.model_copy(update={"codes": tuple(x for x in c.codes if x != "731-0")})
                                               for c in m.concepts)}) if m.id == "ALC" else m
        for m in real.mappings
    )})  # fmt: skip
    resources = [_obs("alc", "731-0", 0.42, "10*9/L", 10), _obs("alc2", "26474-7", 0.5, "10*9/L", 11)]
    before = propose_prefill(resources, participant="x", source="s")
    assert [e["resource"] for e in before.screening] == ["Observation/alc", "Observation/alc2"]
    monkeypatch.setattr(mapping, "prescreen_mappings", lambda *a: changed)
    after = propose_prefill(resources, participant="x", source="s")
    assert [e["resource"] for e in after.screening] == ["Observation/alc2"]


@pytest.mark.parametrize("status", ["preliminary", "registered", "entered-in-error", "cancelled"])
def test_only_final_amended_or_corrected_results_count(screening: dict[str, Any], status: str) -> None:
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.actions import latest_screening

    proposal = _import(screening, _bundle(
        _obs("bad", "731-0", 0.3, "10*9/L", 5, status=status), _obs("amended", "731-0", 0.6, "10*9/L", 20,
                                                                    status="amended"),
        _obs("corrected", "1742-6", 30, "U/L", 20, status="corrected", uln=41),
    ))  # fmt: skip
    assert proposal["not_used"] == [{"resource": "Observation/bad", "status": status,
                                     "problem": f"status {status!r}: only final, amended or corrected results are used"}]  # fmt: skip
    everything = json.dumps({k: proposal[k] for k in ("lab", "screening", "unknown")})
    assert "Observation/bad" not in everything
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    assert [e["value"] for e in latest_screening(screening["person"]).data["alc"]] == [0.6]


def test_a_less_than_alc_is_decided_by_its_bound_and_never_entered_as_exact(screening: dict[str, Any]) -> None:
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.actions import current_values, latest_screening

    proposal = _import(screening, _bundle(_obs("alc", "731-0", 0.2, "10*3/uL", 10, comparator="<")))
    assert proposal["lab"] == []  # the LAB form takes exact values
    assert "is a bound, not a value" in proposal["unknown"][0]["problem"]
    (entry,) = proposal["screening"]
    assert entry["value"] == {"time": _at(10), "value": 0.2, "unit": "10^3/uL"}
    assert "INC-ALC" in entry["note"] and "recorded as its bound" in entry["note"]
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    assert _criteria(screening["person"])["INC-ALC"] == "pass"  # < 200 cells/uL: at most 1,000 whatever it is
    assert "recorded as its bound" in latest_screening(screening["person"]).reason
    assert not [v for v in current_values(screening["person"]) if v.form == "LAB"]


@pytest.mark.parametrize(
    ("comparator", "value", "decided"),
    [("<", 1.0, True), ("<=", 1.0, True), ("<=", 1.5, False), ("<", 1.5, False),
     (">", 1.0, False), (">=", 1.0, False), (">", 1.2, True), (">=", 1.2, True)],
)  # fmt: skip
def test_an_alc_bound_is_recorded_only_where_it_decides_inc_alc(
    screening: dict[str, Any], comparator: str, value: float, decided: bool
) -> None:
    """1.0 x10^3/uL is the 1,000 cells/uL threshold itself: `>1.0` decides (not qualifying) but no number the
    record can hold says so, and `>=1.0` allows exactly 1,000: both are left undecided, with the reason."""
    proposal = _import(screening, _bundle(_obs("alc", "731-0", value, "10*3/uL", 10, comparator=comparator)))
    assert bool(proposal["screening"]) is decided
    if not decided:
        problems = [u["problem"] for u in proposal["unknown"]]
        assert any("undecided" in p and "INC-ALC" in p for p in problems), problems


def test_liver_bounds_need_their_uln_and_decide_only_beyond_five_times_it(screening: dict[str, Any]) -> None:
    from iliad7.standards.fhir import confirm_prefill

    proposal = _import(screening, _bundle(
        _obs("alc", "731-0", 0.42, "10*9/L", 10),
        _obs("alt", "1742-6", 300, "U/L", 10, comparator=">", uln=41),  # > 205: excluded whatever it is
        _obs("ast", "1920-8", 300, "U/L", 10, comparator="<", uln=37),  # < 300 but 5 x 37 = 185: undecided
    ))  # fmt: skip
    assert [e["field"] for e in proposal["screening"]] == ["alc", "alt"]
    assert any("undecided" in u["problem"] and "EXC-LIVER" in u["problem"] for u in proposal["unknown"])
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    assert _criteria(screening["person"])["EXC-LIVER"] == "fail"
    no_uln = _import(screening, _bundle(_obs("alt2", "1742-6", 10, "U/L", 5, comparator="<")))
    assert no_uln["screening"] == [] and "upper limit of normal" in no_uln["unknown"][0]["problem"]


def test_three_timed_alcs_each_keep_their_own_time(screening: dict[str, Any]) -> None:
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.actions import current_values, latest_screening

    proposal = _import(screening, _bundle(
        _obs("a1", "731-0", 0.9, "10*9/L", 50), _obs("a3", "731-0", 0.5, "10*9/L", 2),
        _obs("a2", "731-0", 0.7, "10*9/L", 26), _obs("crp-old", "1988-5", 80, "mg/L", 50),
    ))  # fmt: skip
    # The LAB form holds one collection: the latest (a3); the others are listed, never given a3's time.
    assert [(e["resource"], e["effective"]) for e in proposal["lab"]] == [("Observation/a3", _at(2))]
    listed = {u["resource"] for u in proposal["unknown"]}
    assert {"Observation/a1", "Observation/a2", "Observation/crp-old"} <= listed
    confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    counts = latest_screening(screening["person"]).data["alc"]
    assert sorted((c["time"], c["value"]) for c in counts) == sorted(
        [(_at(50), 0.9), (_at(26), 0.7), (_at(2), 0.5)]
    )  # fmt: skip
    lab = {v.item: v for v in current_values(screening["person"]) if v.form == "LAB"}
    assert float(lab["alc"].value) == 0.5 and "crp" not in lab
    assert datetime.fromisoformat(str(lab["collected_at"].value)) == datetime.fromisoformat(_at(2))


@pytest.mark.parametrize("second_visit", ["SCREENING", "BASELINE"])
def test_a_proposal_is_confirmed_once_only(screening: dict[str, Any], second_visit: str) -> None:
    from iliad7.errors import ActionRefused, InputError
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.models import AuditRecord, ItemValue, ScreeningVersion

    proposal = _import(screening, _bundle(_obs("alc", "731-0", 0.42, "10*9/L", 10),
                                          _obs("crp", "1988-5", 80, "mg/L", 10)))  # fmt: skip
    on_file = json.loads(Path(proposal["proposal_file"]).read_text())
    assert on_file["proposal_id"] == proposal["proposal_id"]
    confirm_prefill(screening["coord"], on_file, visit="SCREENING")
    counts = (ItemValue.objects.count(), ScreeningVersion.objects.count(), AuditRecord.objects.count())
    with pytest.raises(ActionRefused, match="already confirmed by coord"):
        confirm_prefill(screening["coord"], on_file, visit=second_visit)
    assert (ItemValue.objects.count(), ScreeningVersion.objects.count(), AuditRecord.objects.count()) == counts
    edited = {k: v for k, v in on_file.items() if k != "proposal_id"}  # stripping the identity does not help
    with pytest.raises(InputError, match="proposal_id"):
        confirm_prefill(screening["coord"], edited, visit=second_visit)
    assert (ItemValue.objects.count(), ScreeningVersion.objects.count(), AuditRecord.objects.count()) == counts
    # A fresh import of the same source is a new proposal, confirmed on its own.
    again = _import(screening, _bundle(_obs("crp", "1988-5", 81, "mg/L", 10)))
    assert again["proposal_id"] != proposal["proposal_id"]
    confirm_prefill(screening["coord"], again, visit=second_visit)


def test_a_confirmation_the_screening_record_refuses_writes_nothing_not_even_the_lab_form(
    screening: dict[str, Any],
) -> None:
    """An ALT taken after T0 is not the latest before T0: the record refuses it, naming the field, and the LAB
    values of the same confirmation are not written either (one transaction); the proposal can be fixed and
    imported again."""
    from iliad7.errors import InputError
    from iliad7.standards.fhir import confirm_prefill
    from iliad7.store.models import AuditRecord, ItemValue, ScreeningVersion

    proposal = _import(screening, _bundle(_obs("alt", "1742-6", 30, "U/L", -3, uln=41)))  # 3 h after T0
    assert proposal["lab"] and proposal["screening"]
    counts = (ItemValue.objects.count(), ScreeningVersion.objects.count(), AuditRecord.objects.count())
    with pytest.raises(InputError) as refused:
        confirm_prefill(screening["coord"], proposal, visit="SCREENING")
    assert refused.value.field.startswith("alt")
    assert (ItemValue.objects.count(), ScreeningVersion.objects.count(), AuditRecord.objects.count()) == counts
