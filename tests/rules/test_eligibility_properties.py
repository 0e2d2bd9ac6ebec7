"""Invariants of the eligibility verdict, over generated screening records (hypothesis)."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from iliad7.eligibility import CRITERION_IDS, parse_record, screen
from iliad7.eligibility.record import SCREENING_RECORDS

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from screening_inputs import record as generated_record

FIELDS = [
    "baseline_time", "birth_date", "consent", "oncology", "hospitalized", "alc", "respiratory_support",
    "covid_confirmed", "contraception_agreed", "pregnant", "breastfeeding", "alt", "ast",
    "active_autoimmune_disease", "lymphoid_malignancy_history", "malignancy_life_expectancy_under_6_months",
    "unresolved_crs", "unresolved_icans", "max_unresolved_prior_therapy_toxicity_grade",
    "solid_organ_transplant_history", "active_tuberculosis", "uncontrolled_hbv", "uncontrolled_hcv",
    "hiv_viral_load_detectable", "hours_spo2_at_or_below_85_on_maximal_therapy", "mechanical_ventilation_start",
    "chronic_dialysis", "sofa", "weight_kg", "height_cm", "news2", "clinical_frailty_scale", "under_guardianship",
]  # fmt: skip


def generated(seed: int) -> dict[str, Any]:
    return generated_record(random.Random(seed))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_verdict_follows_the_criteria(seed: int) -> None:
    result = screen(parse_record(generated(seed)))
    statuses = {c.id: c.status for c in result.criteria}
    assert list(statuses) == list(CRITERION_IDS)
    assert result.failed == tuple(cid for cid in CRITERION_IDS if statuses[cid] == "fail")
    assert result.unknown == tuple(cid for cid in CRITERION_IDS if statuses[cid] == "unknown")
    if result.failed:
        assert result.verdict == "ineligible"  # one failing criterion is never eligible
    elif result.unknown:
        assert result.verdict == "incomplete"
    else:
        assert result.verdict == "eligible"
    for c in result.criteria:
        assert c.reason
        assert bool(c.missing) == (c.status == "unknown")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), dropped=st.sets(st.sampled_from(FIELDS), min_size=1, max_size=6))
def test_removing_data_never_changes_a_decided_criterion(seed: int, dropped: set[str]) -> None:
    """Three-valued soundness: what the remaining inputs decide, the full record decides the same way."""
    full_record = generated(seed)
    full = {c.id: c.status for c in screen(parse_record(full_record)).criteria}
    partial_record = {k: v for k, v in full_record.items() if k not in dropped}
    for c in screen(parse_record(partial_record)).criteria:
        if c.status != "unknown":
            assert c.status == full[c.id], (c.id, dropped, c.reason)


def test_batch_and_single_validation_agree() -> None:
    records = [generated(seed) for seed in range(50)]
    batch = SCREENING_RECORDS.validate_json(orjson.dumps(records))
    assert [screen(r) for r in batch] == [screen(parse_record(r)) for r in records]
