"""A simulated trial cohort at the data level: screening, allocation, and each participant's days.

:func:`simulate_cohort` screens simulated patients (:mod:`iliad7.simulate.population`, judged by
the real ``screen()``) until `n` are eligible, allocates each eligible patient to the next slot of
their site's stratum in an allocation list, and draws their days
(:mod:`iliad7.simulate.trajectories`). It touches no database: the path that drives the trial
database's services (``iliad7 simulate cohort``) is built on top of it.

The list is, by default, the simulated world's own: the real generator
(:func:`iliad7.randomization.generate_allocation_list`, the protocol's design) with its arms and
kit codes from the cohort's seed, so that the cohort is reproducible; no blinded reader ever sees
it. Replayed into a trial database, the cohort is given that database's list instead (its free
slots, generated from a secret seed) and a secret `course_key` that enters the draws of the
courses: a blinded user who knows the cohort's seed can then neither re-derive the arms nor
re-simulate a participant under either arm and see which one matches the database.

:func:`cohort_json` is the deterministic export (same seed, byte-identical bytes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from iliad7.simulate.parameters import Parameters
from iliad7.simulate.population import SITE_ZONES, ScreenedPatient, baseline_alc, draw_screening_records
from iliad7.simulate.trajectories import Baseline, Participant, simulate_participants

if TYPE_CHECKING:
    from iliad7.randomization import Slot

SCREENING_BATCH = 64


@dataclass(frozen=True)
class Randomized:
    screening_index: int
    randomization_number: str
    kit_code: str
    participant: Participant


@dataclass(frozen=True)
class Cohort:
    seed: int
    screened: tuple[ScreenedPatient, ...]
    randomized: tuple[Randomized, ...]


def _baseline(patient: ScreenedPatient, arm: str) -> Baseline:
    record = patient.record
    t0 = datetime.fromisoformat(record["baseline_time"])
    day0: date = t0.astimezone(ZoneInfo(SITE_ZONES.get(patient.site, "UTC"))).date()
    if patient.severity is None:
        raise ValueError("an eligible record always has a qualifying respiratory support")
    return Baseline(
        site=patient.site,
        arm=arm,
        severity=patient.severity,
        alc0=baseline_alc(record),
        weight_kg=float(record["weight_kg"]),
        device=record["respiratory_support"]["device"],
        day0=day0,
        randomized_at=t0,
    )


def simulate_cohort(
    params: Parameters, seed: int, n: int, *, allocation: Sequence[Slot] | None = None, course_key: int | None = None
) -> Cohort:
    """Screen until `n` patients are eligible, randomize them, and simulate their 45 days.

    `allocation`: the slots to allocate from, in list order (a trial database's free slots);
    by default the world's own list from `seed`. `course_key`: a secret mixed into the draws
    of the courses (see the module text); by default the courses follow from `seed` alone.
    """
    from iliad7.protocol import load_protocol
    from iliad7.randomization import SeededKitCodes, generate_allocation_list

    protocol = load_protocol()
    strata = [site.code for site in protocol.sites]
    slots = (
        list(allocation)
        if allocation is not None
        else generate_allocation_list(
            protocol.randomization, strata, seed=seed, slots_per_stratum=max(n, 1), kit_codes=SeededKitCodes(seed)
        )
    )
    next_slot = {code: iter([s for s in slots if s.stratum == code]) for code in strata}
    rng = np.random.default_rng([seed, 0x5C])
    screened: list[ScreenedPatient] = []
    chosen: list[tuple[ScreenedPatient, Any]] = []
    while len(chosen) < n:
        for patient in draw_screening_records(params, rng, SCREENING_BATCH):
            patient = ScreenedPatient(
                len(screened), patient.site, patient.severity, patient.record, patient.made_to_fail, patient.screening
            )
            screened.append(patient)
            if patient.eligible:
                slot = next(next_slot[patient.site], None)
                if slot is None:
                    raise ValueError(f"the allocation list has no free slot left in stratum {patient.site}")
                chosen.append((patient, slot))
                if len(chosen) == n:
                    break
    baselines = [_baseline(patient, slot.arm) for patient, slot in chosen]
    course_entropy = [seed, 0x7A] if course_key is None else [seed, 0x7A, course_key]
    participants = simulate_participants(baselines, params, np.random.default_rng(course_entropy))
    randomized = tuple(
        Randomized(patient.index, slot.randomization_number, slot.kit_code, participant)
        for (patient, slot), participant in zip(chosen, participants, strict=True)
    )
    return Cohort(seed=seed, screened=tuple(screened), randomized=randomized)


def _number(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 4)


def participant_dict(item: Randomized) -> dict[str, Any]:
    """One randomized participant as JSON-compatible data (floats rounded to 4 decimals)."""
    p = item.participant
    b = p.baseline
    series = {
        name: [_number(v) for v in getattr(p, name)]
        for name in ("alc", "cd4", "cd8", "ferritin", "crp", "d_dimer", "viral_load_log10")
    }
    return {
        "screening_index": item.screening_index,
        "randomization_number": item.randomization_number,
        "kit_code": item.kit_code,
        "site": b.site,
        "arm": b.arm,
        "severity": b.severity,
        "alc0": b.alc0,
        "weight_kg": b.weight_kg,
        "device": b.device,
        "day0": b.day0.isoformat(),
        "who": p.who.tolist(),
        "news2": [None if s < 0 else int(s) for s in p.news2],
        "vitals": list(p.vitals),
        **series,
        "support": [e.__dict__ for e in p.support],
        "icu_stays": [e.__dict__ for e in p.icu_stays],
        "hospital_stays": [e.__dict__ for e in p.hospital_stays],
        "infections": [i.__dict__ for i in p.infections],
        "adverse_events": [a.__dict__ for a in p.adverse_events],
        "doses": [
            {"number": d.number, "study_day": d.study_day, "given_at": d.given_at.isoformat(), "dose_ug": d.dose_ug}
            for d in p.doses
        ],
        "death_day": p.death_day,
        "discharge_day": p.discharge_day,
        "readmission_day": p.readmission_day,
        "endpoint_day": p.endpoint_day,
        "primary_alc": None if p.primary_alc is None else round(p.primary_alc, 4),
        "osfd": p.osfd,
    }


def cohort_json(cohort: Cohort) -> bytes:
    """The cohort as JSON: screening log (records and verdicts) and randomized participants."""
    document = {
        "seed": cohort.seed,
        "screening": [
            {
                "index": s.index,
                "site": s.site,
                "record": s.record,
                "verdict": s.screening.verdict,
                "failed": list(s.screening.failed),
                "unknown": list(s.screening.unknown),
            }
            for s in cohort.screened
        ],
        "participants": [participant_dict(item) for item in cohort.randomized],
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
