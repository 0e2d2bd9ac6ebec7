"""Synthetic screening records for throughput benchmarks and property tests.

These are not clinical data and stand for no patient: each field is drawn
uniformly over, and a little beyond, the range the criteria read, so that every
criterion passes, fails and is unknown in a share of records.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEVICES = ["none", "nasal_cannula", "mask", "high_flow", "niv", "mechanical_ventilation", "ecmo"]


def _maybe(rng: random.Random, value: Any, missing: float = 0.02) -> Any:
    return None if rng.random() < missing else value


def _day(t0: datetime, rng: random.Random, span_days: int) -> str | None:
    if rng.random() < 0.5:
        return None
    return (t0.date() - timedelta(days=rng.randint(-5, span_days))).isoformat()


def record(rng: random.Random) -> dict[str, Any]:
    t0 = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 500 * 24 * 60))
    birth = date(t0.year - rng.randint(20, 85), rng.randint(1, 12), rng.randint(1, 28))
    device = rng.choice(DEVICES)
    flow = rng.choice([2, 3, 4, 4.5, 6, 10, 15]) if device in ("nasal_cannula", "mask") else None
    alc_unit = rng.choice(["cells/uL", "10^9/L", "/mm3"])
    alc = [
        {
            "time": (t0 - timedelta(hours=rng.uniform(-5, 90))).isoformat(),
            "value": round(rng.uniform(200, 1400) / (1000 if alc_unit == "10^9/L" else 1), 3),
            "unit": alc_unit,
        }
        for _ in range(rng.randint(0, 3))
    ]
    news2 = [
        {
            "time": (t0 - timedelta(hours=rng.uniform(0, 80))).isoformat(),
            "score": rng.randint(0, 15),
        }
        for _ in range(rng.randint(0, 4))
    ]
    uln = rng.choice([33, 40, 45])
    return {
        "baseline_time": t0.isoformat(),
        "birth_date": birth.isoformat(),
        "sex": rng.choice(["male", "female"]),
        "consent": {
            "obtained": rng.random() < 0.97,
            "type": rng.choice(["written", "emergency_oral"]),
            "by": rng.choice(["participant", "legally_authorized_representative"]),
            "reconsent_anticipated": rng.random() < 0.98,
        },
        "oncology": {
            "last_chemo_or_immunotherapy_date": _day(t0, rng, 300),
            "hsct_date": _day(t0, rng, 500),
            "hsct_for_lymphoma": rng.random() < 0.2,
            "car_t_date": _day(t0, rng, 500),
            "on_hormonal_therapy": rng.random() < 0.2,
            "last_cancer_surgery_or_radiotherapy_date": _day(t0, rng, 300),
            "new_untreated_biopsy_proven_malignancy": rng.random() < 0.1,
        },
        "hospitalized": rng.random() < 0.97,
        "alc": alc,
        "respiratory_support": {"device": device, "oxygen_flow_lpm": flow},
        "covid_confirmed": _maybe(rng, rng.random() < 0.98),
        "contraception_agreed": rng.random() < 0.97,
        "pregnant": rng.random() < 0.01,
        "breastfeeding": rng.random() < 0.01,
        "alt": {"value": rng.randint(10, 300), "uln": uln},
        "ast": {"value": rng.randint(10, 300), "uln": uln},
        "active_autoimmune_disease": rng.random() < 0.03,
        "lymphoid_malignancy_history": rng.random() < 0.1,
        "malignancy_life_expectancy_under_6_months": rng.random() < 0.05,
        "unresolved_crs": rng.random() < 0.01,
        "unresolved_icans": rng.random() < 0.01,
        "max_unresolved_prior_therapy_toxicity_grade": rng.randint(0, 4),
        "solid_organ_transplant_history": _maybe(rng, rng.random() < 0.02),
        "active_tuberculosis": False,
        "uncontrolled_hbv": rng.random() < 0.01,
        "uncontrolled_hcv": rng.random() < 0.01,
        "hiv_viral_load_detectable": rng.random() < 0.01,
        "hours_spo2_at_or_below_85_on_maximal_therapy": rng.choice([0, 1.5, 6, 7]),
        "mechanical_ventilation_start": (
            (t0 - timedelta(hours=rng.uniform(1, 300))).isoformat()
            if device in ("mechanical_ventilation", "ecmo")
            else None
        ),
        "chronic_dialysis": rng.random() < 0.02,
        "sofa": rng.randint(0, 12),
        "weight_kg": _maybe(rng, round(rng.uniform(45, 130), 1)),
        "height_cm": round(rng.uniform(150, 195), 1),
        "news2": news2,
        "clinical_frailty_scale": rng.randint(1, 9),
        "under_guardianship": rng.random() < 0.01,
    }


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [record(rng) for _ in range(n)]
