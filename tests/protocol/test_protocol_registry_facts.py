"""The real protocol file loads, and what it says matches the registry record and the rules.

The expected values are written here from the record (NCT04426201) and from
shared/spec/clinical-rules.md, not read back from the loader's own lists, so a
wrong edit to the protocol file or the vocabulary fails a test.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from iliad7.protocol import Protocol, default_protocol_path, load_protocol

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "protocols" / "iliad-7-us-o.yaml"
REGISTRY_RECORD = REPO.parent / "shared" / "seed" / "000_f049ddc667601eb6.txt"

SPEC_CRITERIA = [
    "INC-CONSENT",
    "INC-ONCOLOGY",
    "INC-AGE",
    "INC-ALC",
    "INC-HYPOXEMIA",
    "INC-COVID",
    "INC-CONTRACEPTION",
    "EXC-PREGNANCY",
    "EXC-LIVER",
    "EXC-AUTOIMMUNE",
    "EXC-LYMPHOID-MALIGNANCY",
    "EXC-LIFE-EXPECTANCY",
    "EXC-CART",
    "EXC-TOXICITY",
    "EXC-TRANSPLANT",
    "EXC-INFECTION",
    "EXC-REFRACTORY-HYPOXIA",
    "EXC-PROLONGED-MV",
    "EXC-DIALYSIS",
    "EXC-SOFA",
    "EXC-BMI",
    "EXC-NEWS2-RISE",
    "EXC-FRAILTY",
    "EXC-GUARDIANSHIP",
]
RECORD_OUTCOMES = [
    "ALC",
    "WHO-SCALE",
    "VIRAL-LOAD",
    "SECONDARY-INFECTIONS",
    "HOSPITAL-LOS",
    "ICU-LOS",
    "ICU-READMISSIONS",
    "OSFD",
    "REHOSPITALIZATION",
    "MORTALITY-D45",
    "CD4-CD8",
    "FERRITIN",
    "CRP",
    "D-DIMER",
    "NEWS2",
    "AE-GRADE-3-4",
]


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol(REAL)


def test_default_path_is_the_repository_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ILIAD7_PROTOCOL", raising=False)
    assert default_protocol_path() == REAL
    assert load_protocol().id == "ILIAD-7-US-O"


def test_environment_variable_overrides_the_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_bytes(REAL.read_bytes())
    monkeypatch.setenv("ILIAD7_PROTOCOL", str(copy))
    assert default_protocol_path() == copy
    assert load_protocol().path == copy


def test_sha256_is_of_the_file_bytes(protocol: Protocol) -> None:
    assert protocol.sha256 == hashlib.sha256(REAL.read_bytes()).hexdigest()


def test_identity_matches_the_record(protocol: Protocol) -> None:
    assert protocol.id == "ILIAD-7-US-O"
    assert protocol.identifiers.nct_id == "NCT04426201"
    assert protocol.identifiers.other_ids == ("ILIAD-7 COVID US ONCO",)
    assert protocol.titles.acronym == "ILIAD-7-US-O"
    assert protocol.titles.official.startswith("A Multicenter, Randomized, Double-blinded")
    assert protocol.titles.official.endswith("US Oncology Cohort")
    assert protocol.sponsor.responsible_party == "Revimmune"
    assert protocol.design.phase == 2
    assert protocol.design.study_type == "interventional"
    assert str(protocol.dates.study_start.date) == "2020-12-20"
    assert protocol.dates.study_start.status == "actual"
    assert str(protocol.dates.primary_completion.date) == "2022-06-30"


def test_enrollment_is_48_planned_and_10_actual(protocol: Protocol) -> None:
    assert protocol.enrollment.planned == 48
    assert protocol.enrollment.actual == 10


def test_two_sites_with_their_codes_and_addresses(protocol: Protocol) -> None:
    assert [(s.code, s.name) for s in protocol.sites] == [
        ("MSKCC", "Memorial Sloan Kettering Cancer Center"),
        ("MDACC", "MD Anderson Cancer Center"),
    ]
    mskcc, mdacc = protocol.sites
    assert (mskcc.address.city, mskcc.address.state, mskcc.address.postal_code) == (
        "New York",
        "NY",
        "10065",
    )
    assert (mdacc.address.city, mdacc.address.state, mdacc.address.postal_code) == (
        "Houston",
        "TX",
        "77030",
    )
    assert {s.address.country for s in protocol.sites} == {"US"}
    assert [i.name for i in mskcc.principal_investigators] == [
        "Steve Pastores",
        "Marcel van den Brink",
    ]
    assert "code" in mskcc.interpreted  # the codes are ours, and say so


def test_arms_are_cyt107_and_placebo_allocated_1_to_1(protocol: Protocol) -> None:
    assert [a.code for a in protocol.arms] == ["CYT107", "placebo"]
    assert protocol.randomization.allocation.ratio == {"CYT107": 1, "placebo": 1}
    assert protocol.arm("CYT107").intervention.other_names == ("Interleukin-7",)
    assert protocol.arm("placebo").intervention.other_names == ("Saline",)


def test_stratified_permuted_blocks_are_marked_as_interpretation(protocol: Protocol) -> None:
    randomization = protocol.randomization
    assert randomization.allocation.source == "registry"
    assert randomization.stratification.factors == ("site",)
    assert randomization.stratification.source == "interpretation"
    assert randomization.blocking.block_sizes == (2, 4)
    assert randomization.blocking.source == "interpretation"
    assert randomization.blocking.interpretation


def test_masking_is_quadruple_with_the_unblinded_roles(protocol: Protocol) -> None:
    masking = protocol.masking
    assert masking.level == "quadruple"
    assert set(masking.masked) == {
        "participant",
        "care-provider",
        "investigator",
        "outcomes-assessor",
    }
    assert masking.unblinded_roles == {
        "unblinded-pharmacist",
        "unblinded-statistician",
        "dsmb-closed-session",
    }
    sources = {u.role: u.source for u in masking.unblinded}
    assert sources["unblinded-pharmacist"] == "registry"
    assert sources["unblinded-statistician"] == "interpretation"


def test_dosing_follows_clinical_rules_section_4(protocol: Protocol) -> None:
    dosing = protocol.dosing
    assert (dosing.source, dosing.rule) == ("clinical-rules", "4")
    assert dosing.target_days == (0, 3, 7, 10, 14, 17, 21)
    assert dosing.max_doses == 7
    assert dosing.dose_ug_per_kg == Decimal(10)
    assert dosing.route == "intramuscular"
    assert dosing.observation_hours_before_dose_2 == 72
    assert dosing.min_hours_between_doses == 72
    assert [dosing.window_for_dose(d) for d in range(1, 8)] == [0, 1, 1, 1, 1, 1, 1]
    assert set(dosing.no_dose_on_or_after) == {"discharge", "death", "withdrawal"}
    assert dosing.dose_rounding_ug == Decimal(1)
    assert dosing.volume_rounding_ml == Decimal("0.01")  # exact, not the float 0.01
    assert dosing.concentration == "configured"
    assert dosing.missed_dose_made_up_outside_window is False


def test_every_dose_has_a_visit_on_its_target_day(protocol: Protocol) -> None:
    dose_visits = {v.dose: v.target_day for v in protocol.schedule.visits if v.dose is not None}
    assert dose_visits == dict(enumerate((0, 3, 7, 10, 14, 17, 21), start=1))


def test_schedule_has_the_outcome_visits(protocol: Protocol) -> None:
    days = {v.id: v.target_day for v in protocol.schedule.visits}
    assert days["SCREENING"] < 0
    assert (days["BASELINE"], days["D21"], days["D30"], days["D45"]) == (0, 21, 30, 45)
    assert protocol.schedule.visit("D30").occurs == "day-30-or-discharge"


def test_viral_load_is_at_the_record_time_points(protocol: Protocol) -> None:
    viral_load = protocol.schedule.assessment("VIRAL-LOAD")
    assert viral_load.source == "registry"
    days = [protocol.schedule.visit(v).target_day for v in viral_load.visits]
    assert days == [0, 10, 14, 21, 30]  # baseline, dose 4, dose 5, day 21, day 30/discharge


def test_who_scale_and_news2_are_daily_while_hospitalized(protocol: Protocol) -> None:
    for assessment in ("WHO-SCALE", "NEWS2"):
        assert protocol.schedule.assessment(assessment).daily_while_hospitalized


@pytest.mark.parametrize("lab", ["ALC", "CD4-CD8", "FERRITIN", "CRP", "D-DIMER"])
def test_outcome_labs_are_drawn_at_baseline_and_day_30(protocol: Protocol, lab: str) -> None:
    visits = protocol.schedule.assessment(lab).visits
    assert "BASELINE" in visits
    assert "D30" in visits


def test_criteria_are_the_spec_ids_in_spec_order(protocol: Protocol) -> None:
    assert [c.id for c in protocol.eligibility.criteria] == SPEC_CRITERIA
    kinds = [c.kind for c in protocol.eligibility.criteria]
    assert kinds == ["inclusion"] * 7 + ["exclusion"] * 17


@pytest.mark.parametrize(
    ("criterion", "parameter", "value"),
    [
        ("INC-AGE", "min_age_years", 25),
        ("INC-AGE", "max_age_years", 80),
        ("INC-ALC", "max_alc_cells_per_mm3", 1000),
        ("INC-ALC", "lookback_hours", 72),
        ("INC-HYPOXEMIA", "oxygen_flow_above_lpm", 4),
        ("INC-ONCOLOGY", "car_t_not_within_days", 30),
        ("INC-ONCOLOGY", "hsct_for_lymphoma_qualifies", False),
        ("INC-CONTRACEPTION", "months_after_last_dose", 5),
        ("EXC-LIVER", "above_uln_multiple", 5),
        ("EXC-CART", "car_t_within_days", 30),
        ("EXC-TOXICITY", "min_unresolved_grade", 3),
        ("EXC-REFRACTORY-HYPOXIA", "max_spo2_percent", 85),
        ("EXC-REFRACTORY-HYPOXIA", "above_hours", 6),
        ("EXC-PROLONGED-MV", "min_ventilation_hours", 168),
        ("EXC-SOFA", "min_sofa", 9),
        ("EXC-BMI", "above_bmi", 40),
        ("EXC-NEWS2-RISE", "rise_above_points", 6),
        ("EXC-NEWS2-RISE", "lookback_hours", 72),
        ("EXC-FRAILTY", "min_cfs", 6),
    ],
)
def test_criterion_thresholds_are_data(protocol: Protocol, criterion: str, parameter: str, value: object) -> None:
    assert protocol.eligibility.criterion(criterion).parameters[parameter] == value


def test_sixteen_outcomes_with_alc_primary(protocol: Protocol) -> None:
    assert [o.id for o in protocol.outcomes] == RECORD_OUTCOMES
    assert [o.id for o in protocol.outcomes if o.kind == "primary"] == ["ALC"]
    assert protocol.primary_outcome.id == "ALC"


def test_primary_analysis_is_the_ancova_of_log_alc(protocol: Protocol) -> None:
    analysis = protocol.outcome("ALC").analysis
    assert "ANCOVA of log ALC" in analysis.method
    assert "geometric mean ratio" in analysis.statistic
    assert "ALC-ANCOVA" in analysis.analysis_ids
    assert "analysis" in protocol.outcome("ALC").interpreted  # the record gives no methods


def test_every_outcome_method_is_marked_as_interpretation(protocol: Protocol) -> None:
    assert all("analysis" in o.interpreted for o in protocol.outcomes)


def test_osfd_window_is_45_days(protocol: Protocol) -> None:
    assert protocol.osfd_window_days == 45
    assert protocol.outcome("OSFD").variable.horizon_day == 45


def _normalise(text: str) -> str:
    lines = [re.sub(r"^\s*(-\s*|\d+\.\s+)?", "", line) for line in text.splitlines()]
    joined = re.sub(r"\s+", " ", " ".join(lines))
    return re.sub(r" ([.,;])", r"\1", joined)


@pytest.mark.skipif(not REGISTRY_RECORD.exists(), reason="the shared registry record is absent")
def test_registry_texts_are_quoted_from_the_record(protocol: Protocol) -> None:
    record = _normalise(REGISTRY_RECORD.read_text(encoding="utf-8"))
    quoted = [c.registry_text for c in protocol.eligibility.criteria]
    quoted += [o.title for o in protocol.outcomes] + [o.description for o in protocol.outcomes]
    quoted += [protocol.titles.official, protocol.masking.description]
    missing = [text for text in quoted if _normalise(text) not in record]
    assert missing == []


def test_same_bytes_load_as_the_same_immutable_protocol(tmp_path: Path) -> None:
    assert load_protocol(REAL) is load_protocol(REAL)
    changed = tmp_path / "changed.yaml"
    changed.write_text(REAL.read_text().replace('version: "1.0.0"', 'version: "1.0.1"'))
    assert load_protocol(changed).version == "1.0.1"
    assert load_protocol(changed).sha256 != load_protocol(REAL).sha256


def test_protocol_is_frozen(protocol: Protocol) -> None:
    with pytest.raises(ValidationError):
        protocol.enrollment.planned = 50  # type: ignore[misc]


def test_protocol_can_key_a_cache(protocol: Protocol) -> None:
    assert {protocol: "cached"}[load_protocol(REAL)] == "cached"


def test_protocol_package_imports_no_django_or_database() -> None:
    code = (
        "import sys, iliad7.protocol, iliad7.protocol.loader; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'django', 'psycopg', 'sqlite3'}]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_decimal_parameters_are_exact(tmp_path: Path) -> None:
    changed = tmp_path / "decimal.yaml"
    changed.write_text(REAL.read_text().replace("{above_bmi: 40}", "{above_bmi: 40.1}"))
    value = load_protocol(changed).eligibility.criterion("EXC-BMI").parameters["above_bmi"]
    assert value == Decimal("40.1")
